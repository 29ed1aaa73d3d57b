"""What every engine decision returns: the choice, why, where it came from, and what nearly matched."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A candidate that almost matched, and the one condition that failed."""

    candidate: str
    reason: str
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "reason": self.reason, "path": self.path}


@dataclass(frozen=True, slots=True)
class Step:
    """One decision of Envoy's.

    kind: listener | filter_chain | network_filter | virtual_host | route | cluster | endpoint | tls | outcome
    matched: the chosen element's name (or index as a string), None when nothing matched
    reason: a sentence saying why it matched, or why nothing did
    path: where in the dump the element lives, e.g. ``listeners[0_0_0_0_80].filter_chains[1]``
    changes: what it does to the request on its way (``request header: sets x-a: 1 (route r1)``), in order
    """

    kind: str
    matched: str | None
    reason: str
    path: str = ""
    near_misses: tuple[NearMiss, ...] = ()
    raw: Any = field(default=None, compare=False, repr=False)
    changes: tuple[str, ...] = ()  # what the step does to the request (or its response), e.g. a header it sets

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "matched": self.matched,
            "reason": self.reason,
            "path": self.path,
            "near_misses": [m.to_json() for m in self.near_misses],
        }
        if self.changes:
            out["changes"] = list(self.changes)
        return out
