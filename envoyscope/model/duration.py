"""A protobuf ``Duration`` as a dump holds it: JSON's ``"1.5s"`` (or the ``{"seconds", "nanos"}`` form), exactly.

Parsed to whole nanoseconds without floats, so ``"4.35s"`` is 4,350 ms, and milliseconds truncate as Envoy's
``DurationUtil::durationToMilliseconds`` does.
"""

from __future__ import annotations

import re
from typing import Any

_TEXT = re.compile(r"^(-?)(\d+)(?:\.(\d{1,9}))?s?$")  # the "s" optional, as the evaluators took it


def duration_nanos(value: Any) -> int | None:
    """Nanoseconds of a Duration; None when absent (``None`` or ``""``); ValueError when it is not one."""
    if value in (None, ""):
        return None
    if isinstance(value, dict):
        return int(value.get("seconds", 0) or 0) * 1_000_000_000 + int(value.get("nanos", 0) or 0)
    match = _TEXT.match(str(value).strip())
    if not match:
        raise ValueError(f"not a Duration: {value!r}")
    sign, whole, fraction = match.groups()
    nanos = int(whole) * 1_000_000_000 + int((fraction or "").ljust(9, "0"))
    return -nanos if sign else nanos


def duration_ms(value: Any) -> int | None:
    nanos = duration_nanos(value)
    return None if nanos is None else nanos // 1_000_000


def duration_seconds(value: Any) -> float | None:
    nanos = duration_nanos(value)
    return None if nanos is None else nanos / 1e9
