"""The trace before and after: the same request on two captures, where the two part, and which change explains it.

The steps of both traces are walked hop by hop, in Envoy's order; the first step whose decision (its kind, what it
matched and why: a new timeout changes only the why) differs is where they part — or, when every step agrees, the
outcome. The changes of the semantic diff that touch the resources the parting step names (its listener, route
configuration, cluster, on that proxy) are the ones that explain it; when none does, every change of that proxy is
offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoyscope.engine.diff import Change, ProxyDiff, diff_proxies, touching
from envoyscope.engine.steps import Step
from envoyscope.engine.trace import Hop, Trace
from envoyscope.model.dump import ConfigDump

# Which resource a step's decision reads, by the Hop field naming it (kind of the diff, attribute of the Hop).
STEP_RESOURCE = {"listener": ("listener", "listener"), "listener_filters": ("listener", "listener"),
                 "filter_chain": ("listener", "listener"), "downstream_tls": ("listener", "listener"),
                 "network_filter": ("listener", "listener"), "virtual_host": ("route_config", "route_config"),
                 "route": ("route_config", "route_config"), "route_action": ("route_config", "route_config"),
                 "cluster": ("cluster", "cluster"), "endpoint": ("endpoint", "cluster"), "tls": ("cluster", "cluster")}


@dataclass(frozen=True, slots=True)
class Parting:
    """Where two traces of one request part: hop and step index (1-based), the two steps (None past one's end)."""

    hop: int
    step: int
    old: Step | None
    new: Step | None
    old_hop: Hop | None
    new_hop: Hop | None
    explained_by: tuple[Change, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"hop": self.hop, "step": self.step,
                "old": self.old.to_json() if self.old else None, "new": self.new.to_json() if self.new else None,
                "explained_by": [c.to_json() for c in self.explained_by]}


@dataclass(frozen=True, slots=True)
class Comparison:
    old: Trace
    new: Trace
    parting: Parting | None  # None: the same decisions and outcome on both
    diffs: tuple[ProxyDiff, ...] = ()

    @property
    def same(self) -> bool:
        return self.parting is None

    def to_json(self) -> dict[str, Any]:
        first = None if self.parting is None else {"hop": self.parting.hop, "step": self.parting.step}
        return {"first_difference": first, "parting": self.parting.to_json() if self.parting else None,
                "old": self.old.to_json(), "new": self.new.to_json(),
                "outcome": {"old": self.old.outcome.kind, "new": self.new.outcome.kind}}


def _decision(step: Step) -> tuple[str, str | None, str]:
    """What a step decided: its kind, what it matched, and why (a route's timeout or retries live in the reason)."""
    return step.kind, step.matched, step.reason


def first_parting(old: Trace, new: Trace) -> tuple[int, int, Step | None, Step | None] | None:
    for h in range(max(len(old.hops), len(new.hops))):
        a = old.hops[h] if h < len(old.hops) else None
        b = new.hops[h] if h < len(new.hops) else None
        if a is None or b is None or a.proxy != b.proxy:
            return h + 1, 1, a.steps[0] if a and a.steps else None, b.steps[0] if b and b.steps else None
        for s in range(max(len(a.steps), len(b.steps))):
            x = a.steps[s] if s < len(a.steps) else None
            y = b.steps[s] if s < len(b.steps) else None
            if x is None or y is None or _decision(x) != _decision(y):
                return h + 1, s + 1, x, y
    if old.outcome.kind != new.outcome.kind or old.outcome.response_code != new.outcome.response_code:
        last = len(old.hops)
        return last, len(old.hops[-1].steps) if old.hops else 0, None, None
    return None


def _explaining(diffs: list[ProxyDiff], hop: Hop | None, step: Step | None) -> tuple[Change, ...]:
    if hop is None:
        return ()
    mine = [d for d in diffs if (d.new is not None and d.new.identity.name == hop.proxy)
            or (d.old is not None and d.old.identity.name == hop.proxy)]
    changes = [c for d in mine for c in d.changes]
    if step is not None and step.kind in STEP_RESOURCE:
        kind, attribute = STEP_RESOURCE[step.kind]
        name = getattr(hop, attribute) or (step.matched if step.kind in ("listener", "cluster") else None)
        if name:
            found = touching(changes, kind, name)
            if found:
                return tuple(found)
    return tuple(changes)


def compare_traces(old: Trace, new: Trace, old_dumps: list[ConfigDump], new_dumps: list[ConfigDump]) -> Comparison:
    diffs = diff_proxies(old_dumps, new_dumps)
    found = first_parting(old, new)
    if found is None:
        return Comparison(old, new, None, tuple(diffs))
    hop, step, a, b = found
    old_hop = old.hops[hop - 1] if 0 < hop <= len(old.hops) else None
    new_hop = new.hops[hop - 1] if 0 < hop <= len(new.hops) else None
    explained = _explaining(diffs, new_hop or old_hop, b or a)
    if not explained and old_hop is not None and new_hop is not None:  # the step's own resource did not change
        explained = _explaining(diffs, old_hop, a)
    return Comparison(old, new, Parting(hop, step, a, b, old_hop, new_hop, explained), tuple(diffs))
