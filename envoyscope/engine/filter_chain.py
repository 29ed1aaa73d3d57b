"""Which filter chain of a listener takes a connection: Envoy's ``FilterChainManagerImpl::findFilterChain``.

The criteria are tried in a fixed order, each narrowing the candidates to the most specific ones that match
and never coming back up (a chain that matches the destination port exactly hides every chain that does not
name a port, even when the exact one then fails on the server name):
destination port, destination IP (longest prefix), server name (exact, then the longest ``*.suffix``),
transport protocol, application protocols (in the connection's order), direct source IP, source type, source
IP, source port. Nothing left: the ``default_filter_chain``, else the connection is closed.
A listener with ``filter_chain_matcher`` uses that matcher tree instead (`filter_chain_matcher.py`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from envoyscope.engine.filter_chain_matcher import evaluate_matcher
from envoyscope.engine.listener_filters import Detected, detect
from envoyscope.engine.request import Wire
from envoyscope.engine.steps import NearMiss, Step
from envoyscope.model.dump import Resource


@dataclass(frozen=True, slots=True)
class Candidate:
    index: int
    chain: dict[str, Any]
    match: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.chain.get("name") or self.index)


# One stage: (name, select(candidates, detected) -> (survivors, how), describe(candidate, detected) -> why not).
Selector = Callable[[list[Candidate], Detected], tuple[list[Candidate], str]]
Stage = tuple[str, Selector, Callable[[Candidate, Detected], str]]


def _cidrs(ranges: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for cidr in ranges or ():
        try:
            prefix_len = int(cidr.get("prefix_len", {}).get("value", 0) if isinstance(cidr.get("prefix_len"), dict)
                             else cidr.get("prefix_len", 0) or 0)
            out.append(ipaddress.ip_network(f"{cidr.get('address_prefix', '')}/{prefix_len}", strict=False))
        except ValueError:
            continue
    return out


_ANY = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]


def _fmt_cidrs(ranges: Any) -> str:
    return ", ".join(str(n) for n in _cidrs(ranges)) or "(none)"


def _longest_prefix(field: str, ip: str) -> Selector:
    def select(cands: list[Candidate], det: Detected) -> tuple[list[Candidate], str]:
        try:
            addr = ipaddress.ip_address(getattr(det, ip).strip("[]"))
        except ValueError:
            addr = None
        best, best_len = [], -1
        for cand in cands:
            # Envoy builds one trie per level; a chain without ranges sits under 0.0.0.0/0 and ::/0, so it ties
            # with an explicit /0 and loses to any longer prefix that contains the address.
            nets = _cidrs(cand.match.get(field)) or _ANY
            for net in nets:
                if addr is not None and addr.version == net.version and addr in net:
                    if net.prefixlen > best_len:
                        best, best_len = [cand], net.prefixlen
                    elif net.prefixlen == best_len and cand not in best:
                        best.append(cand)
        if best_len > 0:
            return best, f"{field} contains {getattr(det, ip)} (longest prefix /{best_len})"
        explicit = [c for c in best if c.match.get(field)]
        if explicit and len(explicit) < len(best):
            # Envoy keeps "no range" and "an explicit /0" as two entries of one trie; which one a lookup returns
            # changes from one Envoy start to the next (measured against Envoy 1.40).
            return best, (f"AMBIGUOUS: for {getattr(det, ip)}, chains with {field} 0.0.0.0/0 "
                          f"({', '.join(c.label for c in explicit)}) and chains without {field} tie; Envoy picks "
                          "one side unpredictably (envoyscope follows both)")
        return best, f"no {field}" if not explicit else f"{field} /0"
    return select


def _why_prefix(field: str, ip: str) -> Callable[[Candidate, Detected], str]:
    return lambda c, det: f"{field} {_fmt_cidrs(c.match.get(field))} does not win for {getattr(det, ip)}"


def _select_port(cands: list[Candidate], det: Detected) -> tuple[list[Candidate], str]:
    exact = [c for c in cands if _int(c.match.get("destination_port")) == det.dst_port]
    if exact:
        return exact, f"destination_port {det.dst_port}"
    return [c for c in cands if not _int(c.match.get("destination_port"))], "no destination_port"


def _int(value: Any) -> int:
    if isinstance(value, dict):
        value = value.get("value")
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _select_server_name(cands: list[Candidate], det: Detected) -> tuple[list[Candidate], str]:
    sni = det.server_name.lower()
    if sni:
        exact = [c for c in cands if sni in [s.lower() for s in c.match.get("server_names") or ()]]
        if exact:
            return exact, f"server_names has {sni} exactly"
        labels = sni.split(".")
        for i in range(1, len(labels)):
            wildcard = "*." + ".".join(labels[i:])
            wild = [c for c in cands if wildcard in [s.lower() for s in c.match.get("server_names") or ()]]
            if wild:
                return wild, f"server_names has {wildcard}"
    return [c for c in cands if not c.match.get("server_names")], "no server_names"


def _select_transport(cands: list[Candidate], det: Detected) -> tuple[list[Candidate], str]:
    exact = [c for c in cands if c.match.get("transport_protocol") == det.transport_protocol]
    if exact:
        return exact, f"transport_protocol {det.transport_protocol}"
    return [c for c in cands if not c.match.get("transport_protocol")], "no transport_protocol"


def _select_alpn(cands: list[Candidate], det: Detected) -> tuple[list[Candidate], str]:
    for proto in det.application_protocols:
        found = [c for c in cands if proto in (c.match.get("application_protocols") or ())]
        if found:
            return found, f"application_protocols has {proto}"
    return [c for c in cands if not c.match.get("application_protocols")], "no application_protocols"


def _is_local(det: Detected) -> bool:
    try:
        src = ipaddress.ip_address(det.src_ip.strip("[]"))
    except ValueError:
        return False
    return src.is_loopback or det.src_ip == det.dst_ip


def _select_source_type(cands: list[Candidate], det: Detected) -> tuple[list[Candidate], str]:
    wanted = "SAME_IP_OR_LOOPBACK" if _is_local(det) else "EXTERNAL"
    exact = [c for c in cands if c.match.get("source_type") == wanted]
    if exact:
        return exact, f"source_type {wanted}"
    return [c for c in cands if c.match.get("source_type", "ANY") == "ANY"], "source_type ANY"


def _select_source_port(cands: list[Candidate], det: Detected) -> tuple[list[Candidate], str]:
    exact = [c for c in cands if det.src_port in [_int(p) for p in c.match.get("source_ports") or ()]]
    if exact:
        return exact, f"source_ports has {det.src_port}"
    return [c for c in cands if not c.match.get("source_ports")], "no source_ports"


STAGES: list[Stage] = [
    ("destination port", _select_port,
     lambda c, det: f"destination_port {_int(c.match.get('destination_port'))}, the connection's is {det.dst_port}"),
    ("destination IP", _longest_prefix("prefix_ranges", "dst_ip"), _why_prefix("prefix_ranges", "dst_ip")),
    ("server name", _select_server_name,
     lambda c, det: f"server_names {', '.join(c.match.get('server_names') or ()) or '(none)'}, the SNI is "
                    f"{det.server_name or '(none)'}"),
    ("transport protocol", _select_transport,
     lambda c, det: f"transport_protocol {c.match.get('transport_protocol') or '(any)'}, the connection is "
                    f"{det.transport_protocol}"),
    ("application protocols", _select_alpn,
     lambda c, det: f"application_protocols {','.join(c.match.get('application_protocols') or ()) or '(any)'}, "
                    f"the connection offers {','.join(det.application_protocols) or 'none'}"),
    ("direct source IP", _longest_prefix("direct_source_prefix_ranges", "direct_source"),
     _why_prefix("direct_source_prefix_ranges", "direct_source")),
    ("source type", _select_source_type,
     lambda c, det: f"source_type {c.match.get('source_type', 'ANY')}, the source {det.src_ip} is "
                    f"{'local' if _is_local(det) else 'external'}"),
    ("source IP", _longest_prefix("source_prefix_ranges", "src_ip"), _why_prefix("source_prefix_ranges", "src_ip")),
    ("source port", _select_source_port,
     lambda c, det: f"source_ports {','.join(str(p) for p in c.match.get('source_ports') or ())}, the source port "
                    f"is {det.src_port}"),
]


def find_filter_chain(listener: dict[str, Any], det: Detected) -> tuple[Candidate | None, list[str], list[NearMiss]]:
    """``findFilterChain``: the chain, the reasons at each stage, and the chains eliminated (nearest first)."""
    cands = [Candidate(i, chain, chain.get("filter_chain_match") or {})
             for i, chain in enumerate(listener.get("filter_chains") or ())]
    reasons: list[str] = []
    eliminated: list[tuple[int, NearMiss]] = []
    for depth, (stage, select, why_not) in enumerate(STAGES):
        survivors, how = select(cands, det)
        for cand in cands:
            if cand not in survivors:
                eliminated.append((depth, NearMiss(f"filter chain {cand.label}", f"{stage}: {why_not(cand, det)}",
                                                   f"filter_chains[{cand.index}]")))
        if not survivors:
            reasons.append(f"no chain matches on {stage} ({how} among the chains left)")
            return None, reasons, [m for _, m in sorted(eliminated, key=lambda x: -x[0])]
        specific = not how.startswith("no ") and how != "source_type ANY"
        if specific or len(survivors) < len(cands):
            reasons.append(how)
        cands = survivors
    eliminated.sort(key=lambda x: -x[0])
    if len(cands) > 1:
        # Only chains whose ranges differ in writing but not in effect (none vs an explicit /0) can tie here.
        reasons.append(f"AMBIGUOUS: chains {', '.join(c.label for c in cands)} match this connection equally "
                       "(an explicit 0.0.0.0/0 against no range); Envoy picks one of them unpredictably")
    return cands[-1], reasons, [m for _, m in eliminated]


def select_filter_chain(listener: Resource, wire: Wire) -> tuple[dict[str, Any] | None, str, list[Step]]:
    """The filter chain of ``listener`` for the connection, its label (name or index) and the steps taken."""
    raw = listener.raw
    det = detect(raw, wire)
    steps = []
    if det.notes:
        steps.append(Step("listener_filters", None, "; ".join(det.notes), f"{listener.path}.listener_filters"))
    default = raw.get("default_filter_chain")
    if raw.get("filter_chain_matcher"):
        name, why = evaluate_matcher(raw["filter_chain_matcher"], det)
        chains = {str(c.get("name")): (i, c) for i, c in enumerate(raw.get("filter_chains") or ())}
        if name is not None and name in chains:
            index, chain = chains[name]
            steps.append(Step("filter_chain", name, f"filter_chain_matcher: {why}",
                              f"{listener.path}.filter_chains[{index}]", raw=chain))
            return chain, name, steps
        if name is not None:
            why += f"; it names chain `{name}`, which the listener does not have"
        return _default(listener, default, f"filter_chain_matcher: {why}", steps)
    chosen, reasons, misses = find_filter_chain(raw, det)
    if chosen is None:
        return _default(listener, default, "; ".join(reasons), steps, tuple(misses[:6]))
    reason = ("matches " + ", ".join(reasons)) if reasons else "has no filter_chain_match: it takes any connection"
    steps.append(Step("filter_chain", chosen.label, f"filter chain {chosen.label} {reason}",
                      f"{listener.path}.filter_chains[{chosen.index}]", tuple(misses[:6]), chosen.chain))
    return chosen.chain, chosen.label, steps


def _default(listener: Resource, default: Any, why: str, steps: list[Step],
             misses: tuple[NearMiss, ...] = ()) -> tuple[dict[str, Any] | None, str, list[Step]]:
    if isinstance(default, dict):
        label = str(default.get("name") or "default")
        steps.append(Step("filter_chain", label, f"{why}; the listener's default_filter_chain takes it",
                          f"{listener.path}.default_filter_chain", misses, default))
        return default, label, steps
    steps.append(Step("filter_chain", None, f"{why}; there is no default_filter_chain, so Envoy closes the connection",
                      f"{listener.path}.filter_chains", misses))
    return None, "", steps
