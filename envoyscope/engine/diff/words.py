"""Each change in a sentence: "route `r1` of virtual host `80/web:80` moved from position 1 to 2",
"cluster `outbound|443||x` connect_timeout 5s → 10s"."""

from __future__ import annotations

from typing import Any

import orjson

from envoyscope.engine.diff.changes import ADDED, REMOVED, Change, FieldChange

_WORDS = {"route_config": "route configuration", "virtual_host": "virtual host", "filter_chain": "filter chain"}
MAX_VALUE = 120


def value_text(value: Any) -> str:
    """A value as the text output shows it: strings bare, the rest as compact JSON, long ones cut."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        text = orjson.dumps(value).decode()
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def subject(change: Change) -> str:
    """What the change is about: ``route `r` of virtual host `rc/vh```, ``cluster `c```."""
    kind, name = change.kind, change.name
    if kind == "route":
        host, _, route = name.rpartition("/")
        return f"route `{route}` of virtual host `{host}`"
    if kind == "virtual_host":
        config, _, host = name.partition("/")
        return f"virtual host `{host}` of route configuration `{config}`"
    if kind == "filter_chain":
        listener, _, chain = name.partition("/")
        return f"filter chain `{chain}` of listener `{listener}`"
    if kind == "endpoint":
        return f"endpoints of cluster `{name}`"
    return f"{_WORDS.get(kind, kind)} `{name}`"


def field_sentence(what: str, field: FieldChange) -> str:
    path, old, new = field.path, field.old, field.new
    if path == "position":
        return f"{what} moved from position {old} to {new}"
    if path.endswith(".order"):
        return f"{what} {path[:-len('.order')]} order {', '.join(map(str, old))} → {', '.join(map(str, new))}"
    if path.startswith(("endpoints[", "hosts[")) and path.endswith("]") and (old is None or new is None):
        where = "EDS" if path.startswith("endpoints[") else "/clusters"
        address = path[path.index("[") + 1:-1]
        if old is None:
            return f"{what}: {address} added ({where}: {value_text(new)})"
        return f"{what}: {address} removed ({where})"
    if _scalars(old) and _scalars(new):
        added = [value_text(v) for v in new if v not in old]
        removed = [value_text(v) for v in old if v not in new]
        parts = [f"added {', '.join(added)}"] if added else []
        parts += [f"removed {', '.join(removed)}"] if removed else []
        return f"{what} {path}: {'; '.join(parts) or 'reordered'}"
    if old is None:
        return f"{what} {path} set to {value_text(new)}"
    if new is None:
        return f"{what} {path} unset (was {value_text(old)})"
    return f"{what} {path} {value_text(old)} → {value_text(new)}"


def _scalars(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)


def sentences(change: Change) -> list[str]:
    """One line per field of a modified resource; one line for an added or removed one."""
    what = subject(change)
    if change.change in (ADDED, REMOVED):
        position = change.field("position")
        where = ""
        if position is not None:
            where = f" at position {position.new}" if change.change == ADDED else f" (was at position {position.old})"
        return [f"{what} {change.change}{where}"]
    return [field_sentence(what, field) for field in change.fields] or [f"{what} modified"]
