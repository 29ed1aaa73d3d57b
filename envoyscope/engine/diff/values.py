"""Field by field differences of two canonical values, as paths with their old and new values.

Objects are compared key by key. A list of objects that all have distinct names (http_filters, listener_filters,
network filters, weighted clusters…) is paired by name, and a change of their order is one field,
``<list>.order``, with the names before and after (order matters to Envoy in these lists). Other lists of the
same length are compared element by element; lists of different lengths, or of scalars, are one field.
Lists Envoy reads as sets were sorted by `canonical`, so their order never shows here. A scalar left out on one
side is shown as its zero value (``true → false``, ``5 → 0``), as Envoy reads it.
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.diff.canonical import ENUM_DEFAULTS
from envoyscope.engine.diff.changes import FieldChange
from envoyscope.model.certs import scrub_private_keys


def zero_of(path: str, other: Any) -> Any:
    """What a field left out is worth, given the value the other side has: ``false``, ``0``, an enum's
    default, else None (a message or list left out)."""
    if isinstance(other, bool):
        return False
    if isinstance(other, int | float):
        return 0
    if isinstance(other, str):
        return ENUM_DEFAULTS.get(path.rsplit(".", 1)[-1])
    return None


def field_change(path: str, old: Any, new: Any) -> FieldChange:
    """A changed field (a scalar left out as its zero value), any private key a string of it holds blanked."""
    if old is None:
        old = zero_of(path, new)
    elif new is None:
        new = zero_of(path, old)
    return FieldChange(path, scrub_private_keys(old), scrub_private_keys(new))


def named(items: list[Any]) -> dict[str, Any] | None:
    """The elements of a list by name, when every element is an object with a name of its own."""
    by_name: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or item["name"] in by_name:
            return None
        by_name[item["name"]] = item
    return by_name


def common_order(old: list[str], new: list[str]) -> tuple[list[str], list[str]]:
    """The names both lists hold, in each list's order."""
    shared = set(old) & set(new)
    return [n for n in old if n in shared], [n for n in new if n in shared]


def diff_values(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Every difference between two canonical values; ``[]`` when they are equal."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[FieldChange] = []
        for key in sorted(old.keys() | new.keys()):
            found.extend(diff_values(old.get(key), new.get(key), f"{path}.{key}" if path else key))
        return found
    if isinstance(old, list) and isinstance(new, list) and old and new:
        return _diff_lists(old, new, path)
    return [field_change(path, old, new)]


def _diff_lists(old: list[Any], new: list[Any], path: str) -> list[FieldChange]:
    old_named, new_named = named(old), named(new)
    if old_named is not None and new_named is not None:
        found: list[FieldChange] = []
        before, after = common_order(list(old_named), list(new_named))
        if before != after:
            found.append(FieldChange(f"{path}.order", list(old_named), list(new_named)))
        for name in old_named:
            if name not in new_named:
                found.append(field_change(f"{path}[{name}]", old_named[name], None))
        for name, item in new_named.items():
            found.extend(diff_values(old_named.get(name), item, f"{path}[{name}]"))
        return found
    if len(old) == len(new) and all(isinstance(item, dict) for item in old + new):
        found = []
        for index, (left, right) in enumerate(zip(old, new, strict=True)):
            found.extend(diff_values(left, right, f"{path}[{index}]"))
        return found
    return [field_change(path, old, new)]
