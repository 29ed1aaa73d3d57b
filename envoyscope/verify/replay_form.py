"""One proxy's captured config in the form a local Envoy loads to replay it.

- listeners, clusters and route configurations are the dump's active ones (raw, as `envoyscope.model` normalised
  them to snake_case v3), delivered by file xDS; names are unchanged, so Envoy's access logs read like the dump;
- every real listener has ``bind_to_port: false``; the connection enters through the sidecar's virtual outbound
  (or inbound) listener bound to loopback with the PROXY-protocol listener filter in front (the iptables
  stand-in), or, when the proxy has no ``use_original_dst`` listener (a gateway), through a synthetic entry
  listener that hands it to the real listeners and keeps it when none matches ("no listener");
- unnamed filter chains, routes and static listeners get a synthetic name carrying their index;
- upstreams (EDS, DNS, ORIGINAL_DST, static) become STATIC clusters of the same name pointing at a closed loopback
  port, so Envoy logs the cluster and fails fast; clusters with no endpoints in the dump's EDS keep none (UH);
- Istio-only extensions are removed (`strip`), config-less filters of v2-era dumps get their default v3 type
  (`legacy`), weighted clusters pick with a request header (the trace's ``--random-value``), SDS secrets and
  certificate files are throwaway test certificates (`certs`), and every listener and HTTP connection manager
  writes the JSON access log `send` reads.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envoyscope.model.dump import ConfigDump
from envoyscope.verify import secrets
from envoyscope.verify.envoy import free_port, write_json
from envoyscope.verify.legacy import type_untyped
from envoyscope.verify.strip import strip_cluster, strip_listener

T = "type.googleapis.com/"
TYPES = {"listeners": T + "envoy.config.listener.v3.Listener", "clusters": T + "envoy.config.cluster.v3.Cluster",
         "routes": T + "envoy.config.route.v3.RouteConfiguration"}
HCM = "envoy.filters.network.http_connection_manager"
VHOST_HEADER = "x-envoyscope-vhost"
RANDOM_HEADER = "x-envoyscope-random-value"  # weighted clusters pick with it (`--random-value`), not at random
ENTRY = "envoyscope-entry"
CLOSED_HOST = "127.0.0.2"
UNNAMED_CHAIN = "envoyscope-unnamed-chain#"
UNNAMED_DEFAULT = "envoyscope-unnamed-default-chain"
UNNAMED_ROUTE = "envoyscope-unnamed-route#"
UNNAMED_LISTENER = "envoyscope-unnamed-listener#"
NO_LISTENER_CLUSTER = "envoyscope-no-listener"
PROXY_PROTOCOL = {"name": "envoy.filters.listener.proxy_protocol",
                  "typed_config": {"@type": T + "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"}}
FIELDS = {"chain": "%FILTER_CHAIN_NAME%", "route": "%ROUTE_NAME%", "cluster": "%UPSTREAM_CLUSTER%",
          "flags": "%RESPONSE_FLAGS%", "code": "%RESPONSE_CODE%", "case": "%REQ(X-ENVOYSCOPE-CASE)%",
          "vhost": f"%RESP({VHOST_HEADER})%", "direct": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%",
          "details": "%RESPONSE_CODE_DETAILS%", "failure": "%DOWNSTREAM_TRANSPORT_FAILURE_REASON%",
          "protocol": "%PROTOCOL%"}


@dataclass
class ReplayForm:
    """What `build` wrote into ``folder`` and how to use it."""

    folder: Path
    bootstrap: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, int] = field(default_factory=dict)  # outbound | inbound | direct → loopback port
    log: Path = Path()
    labels: dict[str, str] = field(default_factory=dict)  # a synthetic name → envoyscope's label for it
    notes: list[str] = field(default_factory=list)
    listeners: list[str] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    ca: Any = None
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # listeners | clusters → as written

    def write(self, kind: str) -> Path:
        """(Re)write the LDS or CDS file; Envoy notices the move and loads it again."""
        return write_json(self.folder / f"{kind}.json", {"version_info": str(len(self.notes)), "resources": [
            {"@type": TYPES[kind], **r} for r in self.resources[kind]]})

    def drop(self, kind: str, name: str, reason: str) -> None:
        """Leave out a listener or cluster Envoy rejects (one rejection fails the whole file update)."""
        self.resources[kind] = [r for r in self.resources[kind] if r.get("name") != name]
        self.notes.append(f"cannot replay {kind[:-1]} {name}: the local Envoy rejects it: {reason}")
        self.write(kind)

    def label(self, name: str | None) -> str | None:
        """envoyscope's label for a name Envoy logged (a synthetic name back to an index; ``-`` to None)."""
        if name in (None, "", "-"):
            return None
        return self.labels.get(str(name), str(name))


def access_log(path: Path, fields: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": T + "envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": str(path),
        "log_format": {"json_format": fields}}}]


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:150] or "_"


def _chains(listener: dict[str, Any]) -> list[dict[str, Any]]:
    chains = list(listener.get("filter_chains") or ())
    if isinstance(listener.get("default_filter_chain"), dict):
        chains.append(listener["default_filter_chain"])
    return chains


def _is_true(value: Any) -> bool:
    return bool(value.get("value") if isinstance(value, dict) else value)


class _Builder:
    def __init__(self, dump: ConfigDump, folder: Path) -> None:
        self.dump = dump
        self.form = ReplayForm(folder=folder, log=folder / "access.json")
        # nothing listens there (on 127.0.0.2, where no other test binds): DNS lookups are refused
        self.closed_port = free_port(CLOSED_HOST)
        self.upstream_port = self.closed_port  # every cluster's endpoint: the sink's port when the replay has one
        self.secrets = secrets.Secrets(folder / "sds", self.form.notes, self._known_secret)
        self.route_names: set[str] = set()
        (folder / "rds").mkdir(parents=True, exist_ok=True)

    def _known_secret(self, name: str) -> dict[str, Any] | None:
        found = self.dump.secret(name)
        return found.raw if found is not None else None

    def source(self, kind: str, name: str) -> dict[str, Any]:
        return {"path_config_source": {"path": str(self.form.folder / kind / f"{safe(name)}.json")},
                "resource_api_version": "V3"}

    # -- listeners --
    def listener(self, raw: dict[str, Any], index: int) -> dict[str, Any]:
        listener = copy.deepcopy(raw)
        name = str(listener.get("name") or "")
        if not name:
            name = f"{UNNAMED_LISTENER}{index}"
            self.form.labels[name] = ""
            listener["name"] = name
        strip_listener(listener, self.form.notes)
        type_untyped(listener, self.form.notes)
        listener["access_log"] = access_log(self.form.log, {**FIELDS, "kind": "connection", "listener": name})
        for cindex, chain in enumerate(listener.get("filter_chains") or ()):
            if not chain.get("name"):
                chain["name"] = f"{UNNAMED_CHAIN}{cindex}"
                self.form.labels[chain["name"]] = str(cindex)
        default = listener.get("default_filter_chain")
        if isinstance(default, dict) and not default.get("name"):
            default["name"] = UNNAMED_DEFAULT
            self.form.labels[UNNAMED_DEFAULT] = "default"
        for chain in _chains(listener):
            for filt in chain.get("filters") or ():
                self.network_filter(filt, name)
        self.secrets.localize(listener)
        if "listener_filters" in listener:
            listener["listener_filters"] = [f for f in listener["listener_filters"]
                                            if not str(f.get("name", "")).endswith("original_dst")]
        self.place(listener, name)
        return listener

    def place(self, listener: dict[str, Any], name: str) -> None:
        """Where the connection enters: loopback with a PROXY header for the virtual listeners, else unbound."""
        sock = (listener.get("address") or {}).get("socket_address")
        if sock is None:
            return  # an internal listener (no socket)
        inbound = listener.get("traffic_direction") == "INBOUND" and int(sock.get("port_value", 0)) == 15006
        if inbound or _is_true(listener.get("use_original_dst")):
            kind = "inbound" if inbound else "outbound"
            if kind not in self.form.entries:
                port = free_port()
                self.form.entries[kind] = port
                sock.update(address="127.0.0.1", port_value=port)
                listener["listener_filters"] = [PROXY_PROTOCOL, *listener.get("listener_filters", [])]
                listener.pop("bind_to_port", None)
                listener.pop("additional_addresses", None)
                return
        listener["bind_to_port"] = False

    def network_filter(self, filt: dict[str, Any], listener: str) -> None:
        typed = filt.get("typed_config") or {}
        kind = str(typed.get("@type", ""))
        if kind.endswith("HttpConnectionManager") or filt.get("name") == HCM:
            typed["access_log"] = access_log(self.form.log, {**FIELDS, "kind": "http", "listener": listener})
            typed.pop("access_log_options", None)
            typed["delayed_close_timeout"] = "0s"  # a connection Envoy ends is closed at once (only timing changes)
            rds = typed.get("rds")
            if isinstance(rds, dict) and rds.get("route_config_name"):
                rds["config_source"] = self.source("rds", rds["route_config_name"])
                self.route_names.add(str(rds["route_config_name"]))
            if isinstance(typed.get("route_config"), dict):
                self.route_config(typed["route_config"])
        elif "access_log" in typed:
            typed["access_log"] = []

    def entry_listener(self) -> dict[str, Any]:
        """A gateway's stand-in for the network: takes the connection and hands it to the listener of its
        original destination; keeps it (its one chain, to a closed port) when no listener matches."""
        port = free_port()
        self.form.entries["direct"] = port
        return {"name": ENTRY, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "use_original_dst": True, "listener_filters": [PROXY_PROTOCOL],
                "access_log": access_log(self.form.log, {**FIELDS, "kind": "connection", "listener": ENTRY}),
                "filter_chains": [{"name": ENTRY, "filters": [{"name": "envoy.filters.network.tcp_proxy",
                                                               "typed_config": {
                    "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    "stat_prefix": "entry", "cluster": NO_LISTENER_CLUSTER}}]}]}

    # -- routes --
    def route_config(self, config: dict[str, Any]) -> dict[str, Any]:
        for vhost in config.get("virtual_hosts") or ():
            vhost.setdefault("response_headers_to_add", []).append({
                "header": {"key": VHOST_HEADER, "value": str(vhost.get("name", ""))},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"})
            for rindex, route in enumerate(vhost.get("routes") or ()):
                if not route.get("name"):
                    route["name"] = f"{UNNAMED_ROUTE}{rindex}"
                    self.form.labels[route["name"]] = f"#{rindex}"
                weighted = (route.get("route") or {}).get("weighted_clusters")
                if isinstance(weighted, dict) and "header_name" not in weighted:
                    weighted["header_name"] = RANDOM_HEADER  # Envoy draws what the trace was told to draw
        from envoyscope.verify.strip import strip_per_filter_config

        strip_per_filter_config(config, self.form.notes)
        type_untyped(config, self.form.notes)
        self.secrets.localize(config)
        return config

    # -- clusters --
    def endpoint(self, health: str | None = None) -> dict[str, Any]:
        lb: dict[str, Any] = {"endpoint": {"address": {"socket_address": {
            "address": CLOSED_HOST, "port_value": self.upstream_port}}}}
        if health:
            lb["health_status"] = health
        return lb

    def cluster(self, raw: dict[str, Any]) -> dict[str, Any]:
        cluster = copy.deepcopy(raw)
        strip_cluster(cluster, self.form.notes)
        name = str(cluster.get("name", ""))
        kind = str(cluster.get("type") or ("EDS" if "eds_cluster_config" in cluster else "STATIC"))
        if "cluster_type" in cluster:
            return self.secrets.localize(cluster) or cluster  # aggregate, dynamic forward proxy: as they are
        service = str((cluster.get("eds_cluster_config") or {}).get("service_name") or name)
        assignment = cluster.get("load_assignment")
        if kind == "EDS":
            found = self.dump.endpoint(service)
            assignment = found.raw if found is not None else None
        groups = []
        for group in (assignment or {}).get("endpoints") or ():
            lbs = [self.endpoint(lb.get("health_status")) for lb in group.get("lb_endpoints") or ()]
            out = {k: v for k, v in group.items() if k not in ("lb_endpoints", "leds_cluster_locality_config")}
            groups.append({**out, "lb_endpoints": lbs})
        if assignment is None or kind == "ORIGINAL_DST":
            groups = [{"lb_endpoints": [self.endpoint()]}]
        for key in ("eds_cluster_config", "original_dst_lb_config", "dns_lookup_family", "dns_refresh_rate",
                    "respect_dns_ttl", "dns_resolvers", "typed_dns_resolver_config", "dns_failure_refresh_rate",
                    "health_checks", "upstream_bind_config"):
            cluster.pop(key, None)
        if cluster.get("lb_policy") in ("CLUSTER_PROVIDED", "ORIGINAL_DST_LB"):
            cluster.pop("lb_policy")
        cluster["type"] = "STATIC"
        cluster["load_assignment"] = {"cluster_name": name, "endpoints": groups}
        if "policy" in (assignment or {}):
            cluster["load_assignment"]["policy"] = assignment["policy"]  # type: ignore[index]
        cluster["connect_timeout"] = "1s"
        type_untyped(cluster, self.form.notes)
        self.secrets.localize(cluster)
        return cluster


def build(dump: ConfigDump, folder: Path, ca: Any = None, upstream_port: int | None = None) -> ReplayForm:
    """Write the replay form of ``dump`` into ``folder`` (created); ``upstream_port``: where every cluster's
    endpoint is (on 127.0.0.2; default a closed port)."""
    folder.mkdir(parents=True, exist_ok=True)
    b = _Builder(dump, folder)
    if upstream_port is not None:
        b.upstream_port = upstream_port
    if ca is not None:
        b.secrets.ca = ca
    form = b.form
    form.ca = b.secrets.ca
    listeners = [b.listener(r.raw, i) for i, r in enumerate(dump.active_listeners())]
    if "outbound" not in form.entries:
        listeners.append(b.entry_listener())
    clusters = [b.cluster(r.raw) for r in dump.clusters if r.state in ("static", "dynamic_active")]
    clusters.append({"name": NO_LISTENER_CLUSTER, "type": "STATIC", "connect_timeout": "1s",
                     "load_assignment": {"cluster_name": NO_LISTENER_CLUSTER, "endpoints": [
                         {"lb_endpoints": [b.endpoint()]}]}})
    configs = {r.name: copy.deepcopy(r.raw) for r in dump.route_configs if r.state != "inline"}
    for name in sorted(b.route_names):
        config = b.route_config(configs.get(name) or {"name": name})
        write_json(folder / "rds" / f"{safe(name)}.json",
                   {"version_info": "1", "resources": [{"@type": TYPES["routes"], **config}]})
        form.routes.append(name)
    b.secrets.write()
    form.listeners = [str(lst["name"]) for lst in listeners]
    form.clusters = [str(c["name"]) for c in clusters]
    form.resources = {"listeners": listeners, "clusters": clusters}
    lds, cds = form.write("listeners"), form.write("clusters")
    form.bootstrap = bootstrap(dump, lds, cds, b.closed_port)
    return form


def bootstrap(dump: ConfigDump, lds: Path, cds: Path, closed_port: int) -> dict[str, Any]:
    captured = dump.bootstrap or {}
    captured = captured.get("bootstrap", captured) if isinstance(captured, dict) else {}
    node = captured.get("node") or {}
    out: dict[str, Any] = {
        "node": {"id": str(node.get("id") or dump.identity.name or "envoyscope-verify"),
                 "cluster": str(node.get("cluster") or "envoyscope-verify")},
        "dynamic_resources": {
            "lds_config": {"path_config_source": {"path": str(lds)}, "resource_api_version": "V3"},
            "cds_config": {"path_config_source": {"path": str(cds)}, "resource_api_version": "V3"}},
        "typed_dns_resolver_config": {"name": "envoy.network.dns_resolver.cares", "typed_config": {
            "@type": T + "envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
            "resolvers": [{"socket_address": {"address": CLOSED_HOST, "port_value": closed_port}}]}},
        "bootstrap_extensions": [{"name": "envoy.bootstrap.internal_listener", "typed_config": {
            "@type": T + "envoy.extensions.bootstrap.internal_listener.v3.InternalListener"}}],
    }
    layers = [layer for layer in (captured.get("layered_runtime") or {}).get("layers") or ()
              if isinstance(layer, dict) and "static_layer" in layer]
    if layers:
        out["layered_runtime"] = {"layers": layers}
    return out
