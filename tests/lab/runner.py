"""Run a scenario's proxies as real Envoys: capture their dumps, or replay requests through them.

Two forms of the same resources:
- capture: the addresses Istio would use (pod IPs, external IPs, DNS names). Nothing is sent to them; DNS goes to
  an unused loopback port, so DNS clusters stay unresolved. The dumps in sample_dumps/ come from this form, with
  the lab's file-based xDS sources shown as the ADS sources istiod would have used.
- replay: every upstream address is rewritten to loopback (a closed port, or the next proxy's listener), the
  sidecar's virtual outbound listener takes a PROXY-protocol header (the iptables stand-in of the lab notes), and
  every listener and HTTP connection manager writes a JSON access log. Names (listeners, chains, routes,
  clusters) are unchanged, so Envoy's decisions read the same as in the captured dumps.

``ScenarioLab(scenario, workdir)`` is a context manager; ``lab.send(request_args)`` returns Envoy's decision at
each proxy the request crossed: ``[{"proxy", "listener", "filter_chain", "route", "cluster", "upstream_host",
"response_flags", "response_code"}]``, with upstream hosts mapped back to their captured-form addresses.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import itertools
import json
import re
import socket
import ssl
import time
from pathlib import Path
from typing import Any

from tests.lab import istio as I  # noqa: N812
from tests.lab.envoy import TYPE_URLS, EnvoyProcess, free_port, json_access_log, read_json_lines, xds_file
from tests.lab.scenarios import Proxy, Scenario

FIELDS = {"listener": "", "chain": "%FILTER_CHAIN_NAME%", "route": "%ROUTE_NAME%", "cluster": "%UPSTREAM_CLUSTER%",
          "upstream": "%UPSTREAM_HOST%", "flags": "%RESPONSE_FLAGS%", "code": "%RESPONSE_CODE%",
          "case": "%REQ(X-CASE)%", "direct": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%", "start": "%START_TIME(%s.%6f)%"}
PROXY_PROTOCOL = {"name": "envoy.filters.listener.proxy_protocol", "typed_config": {
    "@type": I.T + "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"}}
NO_DNS = {"name": "envoy.network.dns_resolver.cares", "typed_config": {
    "@type": I.T + "envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
    "resolvers": [{"socket_address": {"address": "127.0.0.1", "port_value": 1}}],
    "dns_resolver_options": {"no_default_search_domain": True}}}


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _walk_sources(node: Any, fn: Any) -> Any:
    """Apply ``fn`` to every ConfigSource-like dict (one with ``ads`` or ``path_config_source``)."""
    if isinstance(node, dict):
        if "ads" in node or "path_config_source" in node:
            return fn(node)
        return {k: _walk_sources(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_sources(v, fn) for v in node]
    return node


def as_ads(node: Any) -> Any:
    """Show the lab's file sources as the ADS sources istiod sends."""
    return _walk_sources(node, lambda _src: dict(I.ADS))


# --- certificates for SDS (made fresh each run; private keys never leave the lab's temporary folder) ---

def make_certs(names: list[str]) -> dict[str, dict[str, Any]]:
    """SDS secrets for ``file-cert:`` and ``file-root:`` names: a throwaway CA and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com root CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(4096).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "istio-egressgateway.istio-system")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(8193).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("istio-egressgateway.istio-system")]),
                           critical=False).sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    out = {}
    for name in names:
        if name.startswith("file-root:"):
            ca_pem = ca.public_bytes(pem).decode()
            out[name] = {"name": name, "validation_context": {"trusted_ca": {"inline_string": ca_pem}}}
        else:
            key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
            out[name] = {"name": name, "tls_certificate": {
                "certificate_chain": {"inline_string": cert.public_bytes(pem).decode()},
                "private_key": {"inline_string": key_pem}}}
    return out


class ProxyFiles:
    """One proxy's resources written as file-based xDS in its own folder."""

    def __init__(self, proxy: Proxy, folder: Path, secrets: dict[str, dict[str, Any]]) -> None:
        self.proxy = proxy
        self.folder = folder
        for sub in ("rds", "eds", "sds"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.secrets = secrets

    def source(self, kind: str, name: str) -> dict[str, Any]:
        return {"path_config_source": {"path": str(self.folder / kind / f"{safe(name)}.json")},
                "resource_api_version": "V3"}

    def write(self, listeners: list[dict[str, Any]], clusters: list[dict[str, Any]],
              routes: list[dict[str, Any]], assignments: list[dict[str, Any]]) -> dict[str, Any]:
        def localize(kind: str, name: str) -> Any:
            return lambda _src: self.source(kind, name)

        out_listeners = []
        for listener in listeners:
            listener = copy.deepcopy(listener)
            for chain in listener.get("filter_chains") or ():
                for filt in chain.get("filters") or ():
                    rds = (filt.get("typed_config") or {}).get("rds")
                    if rds:
                        rds["config_source"] = self.source("rds", rds["route_config_name"])
            out_listeners.append(listener)
        out_clusters = []
        by_cluster = {a["cluster_name"]: a for a in assignments}
        for cluster in clusters:
            cluster = copy.deepcopy(cluster)
            if cluster.get("type") == "EDS":
                service = cluster["eds_cluster_config"]["service_name"]
                cluster["eds_cluster_config"]["eds_config"] = self.source("eds", service)
                xds_file(self.folder / "eds" / f"{safe(service)}.json",
                         [by_cluster.get(service, {"cluster_name": service})], TYPE_URLS["endpoints"])
            socket_cfg = cluster.get("transport_socket")
            if socket_cfg:
                common = socket_cfg["typed_config"].get("common_tls_context", {})
                for sds in common.get("tls_certificate_sds_secret_configs") or ():
                    sds["sds_config"] = self.source("sds", sds["name"])
                combined = common.get("combined_validation_context") or {}
                if "validation_context_sds_secret_config" in combined:
                    sds = combined["validation_context_sds_secret_config"]
                    sds["sds_config"] = self.source("sds", sds["name"])
            out_clusters.append(cluster)
        for name, secret in self.secrets.items():
            xds_file(self.folder / "sds" / f"{safe(name)}.json", [secret], TYPE_URLS["secrets"])
        for config in routes:
            xds_file(self.folder / "rds" / f"{safe(config['name'])}.json", [config], TYPE_URLS["routes"])
        lds = xds_file(self.folder / "lds.json", out_listeners, TYPE_URLS["listeners"])
        cds = xds_file(self.folder / "cds.json", out_clusters, TYPE_URLS["clusters"])
        return {"node": self.proxy.node, "typed_dns_resolver_config": NO_DNS,
                "dynamic_resources": {"lds_config": {"path_config_source": {"path": str(lds)},
                                                     "resource_api_version": "V3"},
                                      "cds_config": {"path_config_source": {"path": str(cds)},
                                                     "resource_api_version": "V3"}}}


def wait_loaded(envoy: EnvoyProcess, proxy: Proxy) -> None:
    """Until every listener, cluster and route configuration of the proxy is active in the dump."""
    names = [lst["name"] for lst in proxy.listeners] + [c["name"] for c in proxy.clusters]
    names += [r["name"] for r in proxy.routes]

    def loaded(text: str) -> bool:
        return all(f'"{n}"' in text for n in names) and '"dynamic_warming_clusters"' not in text
    envoy.wait_for("/config_dump", loaded, timeout=20)


def capture(scenario: Scenario, workdir: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each proxy's (/config_dump?include_eds, /clusters?format=json) in the capture form."""
    secrets = make_certs(sorted({s for p in scenario.proxies for s in p.secrets}))
    out = {}
    for proxy in scenario.proxies:
        files = ProxyFiles(proxy, workdir / proxy.name, {s: secrets[s] for s in proxy.secrets})
        bootstrap = files.write(proxy.listeners, proxy.clusters, proxy.routes, proxy.endpoints)
        with EnvoyProcess(proxy.name, workdir / proxy.name, bootstrap) as envoy:
            wait_loaded(envoy, proxy)
            time.sleep(0.3)  # let DNS clusters finish their first (failed) resolution
            dump = as_ads(envoy.get_json("/config_dump?include_eds"))
            clusters = envoy.get_json("/clusters?format=json")
        out[proxy.name] = (dump, clusters)
    return out


class ScenarioLab:
    """A scenario's proxies running in the replay form."""

    def __init__(self, scenario: Scenario, workdir: Path) -> None:
        self.scenario = scenario
        self.workdir = workdir
        self.envoys: dict[str, EnvoyProcess] = {}
        self.logs: dict[str, Path] = {}
        self.back: dict[str, str] = {}  # loopback ip:port → captured-form address
        self.bound: dict[tuple[str, int], int] = {}  # (proxy ip, listener port) → loopback port
        self.entry: dict[str, int] = {}  # proxy name → loopback port of its virtual outbound listener
        self._cases = itertools.count()

    # -- the replay form --
    def _closed_port_for(self, original: str) -> str:
        for loop, orig in self.back.items():
            if orig == original and loop != "ORIGINAL_DST":
                return loop
        loop = f"127.0.0.1:{free_port()}"
        self.back[loop] = original
        return loop

    def _listeners(self, proxy: Proxy, log: Path) -> list[dict[str, Any]]:
        out = []
        for listener in copy.deepcopy(proxy.listeners):
            name = listener["name"]
            fields = dict(FIELDS, listener=name)
            listener["access_log"] = [json_access_log(log, {**fields, "kind": "connection"})]
            for chain in listener.get("filter_chains") or ():
                for filt in chain.get("filters") or ():
                    typed = filt.get("typed_config") or {}
                    if "HttpConnectionManager" in typed.get("@type", ""):
                        typed["access_log"] = [json_access_log(log, {**fields, "kind": "http"})]
            sock = listener["address"]["socket_address"]
            if listener.get("use_original_dst"):
                port = free_port()
                self.entry[proxy.name] = port
                listener["listener_filters"] = [PROXY_PROTOCOL, *listener.get("listener_filters", [])]
                sock.update(address="127.0.0.1", port_value=port)
            elif listener.get("bind_to_port", True):
                port = free_port()
                self.bound[(proxy.ip, int(sock["port_value"]))] = port
                self.back[f"127.0.0.1:{port}"] = f"{proxy.ip}:{sock['port_value']}"
                sock.update(address="127.0.0.1", port_value=port)
            out.append(listener)
        return out

    def _rewrite_endpoint(self, sock: dict[str, Any]) -> None:
        original = f"{sock['address']}:{sock['port_value']}"
        for (ip, port), loop_port in self.bound.items():
            if f"{ip}:{port}" == original:
                sock.update(address="127.0.0.1", port_value=loop_port)
                return
        loop = self._closed_port_for(original)
        host, port_text = loop.rsplit(":", 1)
        sock.update(address=host, port_value=int(port_text))

    def _clusters(self, proxy: Proxy) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        clusters = []
        for cluster in copy.deepcopy(proxy.clusters):
            if cluster.get("type") == "ORIGINAL_DST":
                port = free_port()
                self.back[f"127.0.0.1:{port}"] = "ORIGINAL_DST"
                cluster = {"name": cluster["name"], "type": "STATIC", "connect_timeout": "1s",
                           "load_assignment": {"cluster_name": cluster["name"], "endpoints": [{"lb_endpoints": [
                               {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                            "port_value": port}}}}]}]}}
                clusters.append(cluster)
                continue
            for group in (cluster.get("load_assignment") or {}).get("endpoints") or ():
                for lb in group.get("lb_endpoints") or ():
                    self._rewrite_endpoint(lb["endpoint"]["address"]["socket_address"])
            if cluster.get("type") == "STRICT_DNS":
                cluster["type"] = "STATIC"  # its endpoints are loopback literals now
            cluster["connect_timeout"] = "1s"
            clusters.append(cluster)
        assignments = copy.deepcopy(proxy.endpoints)
        for assignment in assignments:
            for group in assignment.get("endpoints") or ():
                for lb in group.get("lb_endpoints") or ():
                    self._rewrite_endpoint(lb["endpoint"]["address"]["socket_address"])
        return clusters, assignments

    def __enter__(self) -> ScenarioLab:
        secrets = make_certs(sorted({s for p in self.scenario.proxies for s in p.secrets}))
        # Listeners first, so that every proxy's bound port is known before endpoints are rewritten.
        listeners = {}
        for proxy in self.scenario.proxies:
            self.logs[proxy.name] = self.workdir / f"{proxy.name}.access.json"
            listeners[proxy.name] = self._listeners(proxy, self.logs[proxy.name])
        try:
            for proxy in reversed(self.scenario.proxies):
                clusters, assignments = self._clusters(proxy)
                files = ProxyFiles(proxy, self.workdir / proxy.name, {s: secrets[s] for s in proxy.secrets})
                bootstrap = files.write(listeners[proxy.name], clusters, proxy.routes, assignments)
                envoy = EnvoyProcess(proxy.name, self.workdir / proxy.name, bootstrap).start()
                self.envoys[proxy.name] = envoy
                wait_loaded(envoy, proxy)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for envoy in self.envoys.values():
            envoy.stop()

    # -- sending a request and reading Envoy's decisions --
    def send(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        from envoyscope.engine.request import TraceRequest, parse_to

        scheme = args.get("scheme", "http")
        host, port = parse_to(args["to"], scheme)
        headers = [tuple(p.strip() for p in h.split(":", 1)) for h in args.get("headers", [])]
        request = TraceRequest(host=host, port=port, scheme=scheme, path=args.get("path", "/"),
                               headers=tuple(headers), sni=args.get("sni"))  # type: ignore[arg-type]
        start = self._start_proxy(args)
        case = f"case-{next(self._cases)}"
        counts = {name: len(read_json_lines(log)) for name, log in self.logs.items()}
        dst_ip = args.get("ip") or self._assumed_ip(host, start)
        with socket.create_connection(("127.0.0.1", self._port_for(start, port)), timeout=5) as sock:
            direct = "{}:{}".format(*sock.getsockname()[:2])
            if start.role == "sidecar":
                sock.sendall(f"PROXY TCP4 {start.ip} {dst_ip} 40000 {port}\r\n".encode())
            if scheme in ("https", "tls"):
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                with contextlib.suppress(OSError), ctx.wrap_socket(sock, server_hostname=request.server_name) as tls:
                    tls.settimeout(3)
                    tls.do_handshake()
            elif scheme == "tcp":
                sock.sendall(b"\x0a5.7.0-mysql-handshake\x00")
                with contextlib.suppress(OSError):
                    while sock.recv(4096):
                        pass
            else:
                lines = [f"{args.get('method', 'GET')} {request.path} HTTP/1.1", f"Host: {request.authority}",
                         f"x-case: {case}", "Connection: close"]
                lines += [f"{n}: {v}" for n, v in headers if n.lower() != "host"]
                sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
                with contextlib.suppress(OSError):
                    while sock.recv(4096):
                        pass
        return self._decisions(start, case, direct, counts, f"{dst_ip}:{port}", scheme)

    def _start_proxy(self, args: dict[str, Any]) -> Proxy:
        wanted = args.get("from")
        for proxy in self.scenario.proxies:
            if wanted in (proxy.name, proxy.pod) or (not wanted and proxy.role == "sidecar"):
                return proxy
        return self.scenario.proxies[0]

    def _assumed_ip(self, host: str, proxy: Proxy) -> str:
        for listener in proxy.listeners:
            sock = listener["address"]["socket_address"]
            if sock["address"] not in ("0.0.0.0", "::") and host in json.dumps(listener):
                return str(sock["address"])
        return host if re.fullmatch(r"[0-9.]+", host) else proxy.ip if proxy.role != "sidecar" else "203.0.113.10"

    def _port_for(self, proxy: Proxy, port: int) -> int:
        if proxy.role == "sidecar":
            return self.entry[proxy.name]
        return self.bound[(proxy.ip, port)]

    def _decisions(self, start: Proxy, case: str, direct: str, counts: dict[str, int], original_dst: str,
                   scheme: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 8
        settled = False
        while time.monotonic() < deadline:
            lines = []
            for proxy in self.scenario.proxies:
                for line in read_json_lines(self.logs[proxy.name])[counts[proxy.name]:]:
                    if (line.get("kind") == "http" and line.get("case") == case) or (
                            proxy is start and line.get("kind") == "connection" and line.get("direct") == direct
                            and scheme in ("tcp", "https", "tls")):
                        lines.append((float(line.get("start") or 0), proxy.name, line))
            # A hop's line is written when its stream ends; the first proxy's comes last.
            if any(name == start.name for _, name, _ in lines):
                if not settled:  # the other hops wrote first, but give their log files one more flush
                    settled = True
                    time.sleep(0.1)
                    continue
                lines.sort(key=lambda item: item[0])
                return [self._decision(name, line, original_dst) for _, name, line in lines]
            time.sleep(0.02)
        raise RuntimeError(f"no access log line for {case} at {start.name}")

    def _decision(self, proxy: str, line: dict[str, Any], original_dst: str) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            return None if value in (None, "-", "") else value

        upstream = clean(line.get("upstream"))
        if upstream is not None:
            upstream = self.back.get(upstream, upstream)
            if upstream == "ORIGINAL_DST":
                upstream = original_dst
        code = clean(line.get("code"))
        return {"proxy": proxy, "listener": line["listener"], "filter_chain": clean(line.get("chain")),
                "route": clean(line.get("route")), "cluster": clean(line.get("cluster")), "upstream_host": upstream,
                "response_flags": clean(line.get("flags")),
                "response_code": int(code) if code and code != "0" else None}
