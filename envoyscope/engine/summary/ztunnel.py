"""The tables of ``istioctl ztunnel-config workload|service|policy`` (and certificates), from a ztunnel's dump.

Same rows, order and columns as istioctl's ``writer/ztunnel/configdump``: workloads sorted by namespace.name
then node (``NAMESPACE NAME IP NODE``; wide adds NETWORK, WAYPOINT, PROTOCOL), services by namespace, name and
hostname (``NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT``), policies by namespace and name
(``NAMESPACE NAME ACTION SCOPE``). A WAYPOINT cell is the waypoint service's name, ``None`` without one, ``NA``
when the dump does not know it.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoyscope.model.ztunnel import ZtunnelConfig

KINDS = ("workload", "service", "policy", "certificate")


@dataclass(frozen=True, slots=True)
class ZtunnelFilter:
    namespace: str = ""
    address: str = ""
    node: str = ""


def workload_rows(zt: ZtunnelConfig, filt: ZtunnelFilter, *, wide: bool) -> list[list[str]]:
    chosen = [w for w in zt.workloads
              if (not filt.namespace or w.namespace.lower() == filt.namespace.lower())
              and (not filt.address or any(ip.lower() == filt.address.lower() for ip in w.ips))
              and (not filt.node or w.node.lower() == filt.node.lower())]
    chosen.sort(key=lambda w: (f"{w.namespace}.{w.name}", w.node))
    if wide:
        rows = [["NAMESPACE", "NAME", "NETWORK", "IP", "NODE", "WAYPOINT", "PROTOCOL"]]
        rows += [[w.namespace, w.name, w.network, w.ips[0] if w.ips else "", w.node, zt.gateway_name(w.waypoint),
                  w.protocol] for w in chosen]
        return rows
    return [["NAMESPACE", "NAME", "IP", "NODE"]] + [[w.namespace, w.name, w.ips[0] if w.ips else "", w.node]
                                                    for w in chosen]


def service_rows(zt: ZtunnelConfig, filt: ZtunnelFilter) -> list[list[str]]:
    chosen = [s for s in zt.services if not filt.namespace or s.namespace.lower() == filt.namespace.lower()]
    chosen.sort(key=lambda s: (s.namespace, s.name, s.hostname))
    return [["NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT"]] + [
        [s.namespace, s.name, s.vips[0] if s.vips else "", zt.gateway_name(s.waypoint)] for s in chosen]


def policy_rows(zt: ZtunnelConfig, filt: ZtunnelFilter) -> list[list[str]]:
    chosen = [p for p in zt.policies if not filt.namespace or p.namespace.lower() == filt.namespace.lower()]
    chosen.sort(key=lambda p: (p.namespace, p.name))
    return [["NAMESPACE", "NAME", "ACTION", "SCOPE"]] + [[p.namespace, p.name, p.action, p.scope] for p in chosen]


def certificate_rows(zt: ZtunnelConfig) -> list[list[str]]:
    rows = [["IDENTITY", "STATE", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"]]
    for cert in zt.certificates:
        serial, valid_from, expires = cert.chain[0] if cert.chain else ("", "", "")
        rows.append([cert.identity, cert.state, serial, expires, valid_from])
    return rows
