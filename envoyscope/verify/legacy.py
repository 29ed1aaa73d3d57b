"""Old (v2-era, Envoy ≤1.16) dumps name some extensions without any config; Envoy 1.40 wants a typed config."""

from __future__ import annotations

from typing import Any

from envoyscope.model.legacy_names import LEGACY_TYPES

T = "type.googleapis.com/"

# Extensions old (v2-era) dumps name without any config: each one's v3 type with its default config, which is
# what Envoy then used (the table is the model's, shared with the trace's filter loop). Named extensions that carry
# a config are left alone (Envoy says if it cannot load them).
DEFAULT_TYPES = LEGACY_TYPES


def type_untyped(node: Any, notes: list[str]) -> None:
    """Give each config-less extension its v3 type (in place), noting which names were typed."""
    if isinstance(node, dict):
        name = node.get("name")
        if (isinstance(name, str) and name in DEFAULT_TYPES and not node.get("typed_config")
                and not node.get("config") and set(node) <= {"name", "config", "typed_config"}):
            node.pop("config", None)
            node["typed_config"] = {"@type": T + DEFAULT_TYPES[name]}
            note = f"typed the config-less {name} (as old dumps write it) with its default v3 config"
            if note not in notes:
                notes.append(note)
        for value in node.values():
            type_untyped(value, notes)
    elif isinstance(node, list):
        for value in node:
            type_untyped(value, notes)
