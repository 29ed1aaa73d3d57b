"""Set Envoy's decisions beside envoyscope's, hop by hop: listener, filter chain, virtual host, route, cluster,
outcome. Each hop is replayed on its own proxy, with the connection envoyscope says that hop receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envoyscope.engine.trace import Hop, Trace
from envoyscope.model.dump import ConfigDump
from envoyscope.verify.envoy import EnvoyFailed
from envoyscope.verify.replay import Replay
from envoyscope.verify.send import Decision, send

FIELDS = ("listener", "filter_chain", "virtual_host", "route", "cluster", "outcome")
UPSTREAM = "upstream"  # Envoy connected (or tried to) to the cluster's endpoint: the request left this proxy
UPSTREAM_KINDS = frozenset({"external", "mesh_internal", "endpoints_unknown", "loop"})
SPECIAL = {"PassthroughCluster": "passthrough", "BlackHoleCluster": "blackhole"}


def cannot_replay_reason(dump: ConfigDump) -> str | None:
    """Why a dump has no replay form at all (None: it has one)."""
    if not any(True for _ in dump.active_listeners()):
        return "the dump holds no listeners (a partial dump)"
    return None


def chain_terminates_tls(dump: ConfigDump, listener: str | None, chain: str | None) -> bool:
    """Whether the filter chain Envoy chose (by envoyscope's label: its name or index) has a TLS transport socket."""
    from envoyscope.engine.downstream_tls import downstream_context

    resource = dump.listener(listener) if listener else None
    if resource is None or chain is None:
        return False
    chains = list(resource.raw.get("filter_chains") or ())
    named = [raw for index, raw in enumerate(chains) if str(raw.get("name") or index) == chain]
    if named:  # Istio names a port's TLS and plaintext chains alike: only when every one of them is TLS
        return all(downstream_context(raw) is not None for raw in named)
    default = resource.raw.get("default_filter_chain")
    return isinstance(default, dict) and downstream_context(default) is not None


def envoy_outcome(d: Decision, terminates_tls: bool = False) -> str:
    """The outcome kind Envoy's decision at one proxy shows (``upstream``: it forwarded the request).

    ``terminates_tls``: the chain Envoy chose has a TLS transport socket (from the dump), so a transport failure
    logged on the connection is that chain's handshake failing."""
    flags = set(d.response_flags.split(",")) - {""}
    if d.listener is None:
        return "no_listener"
    if d.details.startswith("rbac_access_denied"):  # an RBAC filter answered (the route's cluster is still logged)
        return "denied"
    if d.cluster in SPECIAL:
        return SPECIAL[d.cluster]
    if "NR" in flags and not d.http:
        return "no_filter_chain"
    if d.virtual_host == "block_all" or d.route == "block_all":
        return "blackhole"
    if "NR" in flags:
        return "no_route"
    if "NC" in flags:
        return "unknown_cluster"
    if "UH" in flags:
        return "no_healthy_upstream"
    if terminates_tls and not d.http and "TLS_error" in d.downstream_failure:
        # tcp_proxy connects upstream at once, so the cluster is logged, but the handshake failed after that.
        # (An HTTP request the connection manager logged went through any handshake there was.)
        return "tls_handshake_failed"
    if "DPE" in flags or (d.http and d.cluster is None and d.response_code == 400):
        return "reset"
    if d.cluster is None and d.response_code:
        return "redirect" if 300 <= d.response_code < 400 else "direct_response"
    if d.cluster is not None:
        return UPSTREAM
    if "TLS" in d.details.upper() or "SSL" in d.details.upper():
        return "tls_handshake_failed"
    return "reset"


def envoyscope_outcome(result: Trace, index: int) -> str:
    if index < len(result.hops) - 1:
        return UPSTREAM  # the trace goes on to the next proxy: this one forwarded the request
    kind = result.outcome.kind
    return UPSTREAM if kind in UPSTREAM_KINDS else kind


@dataclass(frozen=True, slots=True)
class FieldCheck:
    name: str
    envoy: str | None
    envoyscope: str | None

    @property
    def agree(self) -> bool:
        return self.envoy == self.envoyscope

    def to_json(self) -> dict[str, Any]:
        return {"field": self.name, "agree": self.agree, "envoy": self.envoy, "envoyscope": self.envoyscope}


@dataclass
class HopCheck:
    proxy: str
    hop: Hop
    checks: list[FieldCheck] = field(default_factory=list)
    decision: Decision | None = None
    cannot: str | None = None  # why this hop could not be replayed

    @property
    def agree(self) -> bool:
        return self.cannot is None and all(c.agree for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"proxy": self.proxy, "agree": self.agree, "cannot_replay": self.cannot,
                "received": self.hop.to_json()["received"], "checks": [c.to_json() for c in self.checks],
                "envoy": self.decision.to_json() if self.decision else None}


@dataclass
class Verification:
    trace: Trace
    hops: list[HopCheck] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # proxy → what its replay form changed
    envoy_version: str = ""

    @property
    def agree(self) -> bool:
        return all(h.agree for h in self.hops) and bool(self.hops)

    @property
    def replayed(self) -> bool:
        return any(h.cannot is None for h in self.hops)

    def to_json(self) -> dict[str, Any]:
        return {"agree": self.agree, "envoy_version": self.envoy_version or None,
                "replay": "each hop replayed on its own proxy, with the connection envoyscope says it receives",
                "hops": [h.to_json() for h in self.hops], "outcome": self.trace.outcome.to_json(),
                "replay_notes": self.notes}


class ReplayPool:
    """One running replay per proxy, started when first needed, all stopped at the end."""

    def __init__(self) -> None:
        self.replays: dict[int, Replay | str] = {}

    def get(self, dump: ConfigDump) -> Replay | str:
        """The proxy's running replay, or why it cannot be replayed."""
        key = id(dump)
        if key not in self.replays:
            reason = cannot_replay_reason(dump)
            if reason is not None:
                self.replays[key] = reason
            else:
                try:
                    self.replays[key] = Replay(dump).start()
                except EnvoyFailed as exc:
                    self.replays[key] = f"Envoy would not load it: {exc}"
        return self.replays[key]

    def close(self) -> None:
        for replay in self.replays.values():
            if isinstance(replay, Replay):
                replay.stop()
        self.replays.clear()

    def __enter__(self) -> ReplayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hop_fields(hop: Hop, outcome: str) -> dict[str, str | None]:
    return {"listener": hop.listener, "filter_chain": hop.filter_chain, "virtual_host": hop.virtual_host,
            "route": hop.route, "cluster": hop.cluster, "outcome": outcome}


def check_hop(replay: Replay, hop: Hop, entry: str, payload_http: bool, outcome: str,
              random_value: int = 0) -> HopCheck:
    result = HopCheck(proxy=hop.proxy, hop=hop)
    assert replay.form is not None
    rejected = replay.rejected.get(hop.listener or "")
    if rejected:
        result.cannot = f"the local Envoy rejects listener {hop.listener}: {rejected}"
        if "with type URL: ''" in rejected:
            result.cannot += " (a filter named without a typed config, as v2-era dumps write them)"
        return result
    try:
        decision = send(replay, entry, hop.wire, payload_http, random_value=random_value)
    except (OSError, TimeoutError) as exc:
        result.cannot = f"no answer from the replay: {exc}"
        return result
    result.decision = decision
    theirs = {"listener": decision.listener, "filter_chain": decision.filter_chain,
              "virtual_host": decision.virtual_host, "route": decision.route, "cluster": decision.cluster,
              "outcome": envoy_outcome(decision, chain_terminates_tls(replay.dump, decision.listener,
                                                                       decision.filter_chain))}
    ours = _hop_fields(hop, outcome)
    if theirs["virtual_host"] is None and decision.http and ours["route"] is None:
        theirs["virtual_host"] = ours["virtual_host"]  # no route: Envoy adds no virtual host header to say which
    if "NC" in decision.response_flags and theirs["cluster"] is None and ours["cluster"] is not None and (
            replay.dump.cluster(ours["cluster"]) is None):
        theirs["cluster"] = ours["cluster"]  # Envoy logs no name for a cluster it does not have (NC)
    result.checks = [FieldCheck(name, theirs[name], ours[name]) for name in FIELDS]
    return result


def verify(result: Trace, dumps: list[ConfigDump], pool: ReplayPool) -> Verification:
    """Replay every hop of ``result`` on its own proxy."""
    out = Verification(trace=result)
    by_name = {d.identity.name: d for d in dumps}
    payload_http = result.request.scheme in ("http", "https")
    for index, hop in enumerate(result.hops):
        dump = by_name.get(hop.proxy) or next((d for d in dumps if hop.proxy in (d.identity.pod, d.source)), None)
        if index > 0:
            previous = result.hops[index - 1]
            payload_http = payload_http if previous.route_config is None else True
        if dump is None:
            out.hops.append(HopCheck(proxy=hop.proxy, hop=hop, cannot="no dump of this proxy"))
            continue
        replay = pool.get(dump)
        if isinstance(replay, str):
            out.hops.append(HopCheck(proxy=hop.proxy, hop=hop, cannot=replay))
            continue
        assert replay.form is not None
        out.notes[hop.proxy] = list(replay.form.notes)
        sidecar = dump.identity.proxy_type == "sidecar"
        entry = ("outbound" if index == 0 else "inbound") if sidecar else "direct"
        out.hops.append(check_hop(replay, hop, entry, payload_http, envoyscope_outcome(result, index),
                                  random_value=result.request.random_value))
    return out


def verify_inbound(dump: ConfigDump, wire: Any, request: Any, payload_http: bool, pool: ReplayPool) -> HopCheck:
    """One connection arriving at a sidecar's pod (another sidecar's, or anyone's), checked on that hop alone."""
    from envoyscope.engine.hop import leaves, run_hop

    result = run_hop(dump, wire, "inbound", request)
    if result.outcome is not None:
        kind = result.outcome.kind
    else:
        kind = leaves(result).kind if (result.hop.cluster or "").startswith("inbound|") else UPSTREAM
    replay = pool.get(dump)
    if isinstance(replay, str):
        return HopCheck(proxy=result.hop.proxy, hop=result.hop, cannot=replay)
    return check_hop(replay, result.hop, "inbound", payload_http, UPSTREAM if kind in UPSTREAM_KINDS else kind)
