"""Which evaluator answers for which filter type: each module in MODULES exports
``EVALUATORS: dict[type name, Evaluator]`` (type names without ``type.googleapis.com/``)."""

from __future__ import annotations

import importlib
from functools import cache

from envoyscope.engine.http_filters.base import Evaluator

MODULES: tuple[str, ...] = ("rbac", "network_rbac", "header_to_metadata", "set_filter_state", "jwt_authn", "fault",
                            "ext_authz", "listed")


@cache
def _evaluators() -> dict[str, Evaluator]:
    found: dict[str, Evaluator] = {}
    for module in MODULES:
        found.update(importlib.import_module(f"envoyscope.engine.http_filters.{module}").EVALUATORS)
    return found


def evaluator_for(type_name: str) -> Evaluator | None:
    return _evaluators().get(type_name)
