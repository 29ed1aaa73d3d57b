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
from tests.lab.relay import Relay
from tests.lab.scenarios import Proxy, Scenario

FIELDS = {"listener": "", "chain": "%FILTER_CHAIN_NAME%", "route": "%ROUTE_NAME%", "cluster": "%UPSTREAM_CLUSTER%",
          "upstream": "%UPSTREAM_HOST%", "flags": "%RESPONSE_FLAGS%", "code": "%RESPONSE_CODE%",
          "case": "%REQ(X-CASE)%", "direct": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%", "start": "%START_TIME(%s.%6f)%",
          "sni_in": "%REQUESTED_SERVER_NAME%", "peer_in": "%DOWNSTREAM_PEER_URI_SAN%",
          "tls_in": "%DOWNSTREAM_TLS_VERSION%", "upstream_tls": "%UPSTREAM_TLS_VERSION%",
          "details": "%RESPONSE_CODE_DETAILS%"}
# No command operator names the virtual host (Envoy 1.40 has none): the replay form gives every virtual host a
# response header with its name, per proxy, and the access log reads it back.
VHOST_HEADER = "x-envoyscope-vhost-{}"
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

def make_certs(names: list[str], proxies: list[Proxy] | None = None) -> dict[str, dict[str, Any]]:
    """SDS secrets for ``file-cert:``/``file-root:`` names and Istio's ``default``/``ROOTCA``: one throwaway CA, a
    client certificate for ``file-cert:``, and for ``default`` one workload certificate per proxy (URI SAN
    ``spiffe://cluster.local/ns/NS/sa/SA``), keyed ``default@<proxy name>``."""
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
    pem = serialization.Encoding.PEM

    def leaf(common_name: str, san: x509.GeneralName, serial: int) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(serial).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=825))
                .add_extension(x509.SubjectAlternativeName([san]), critical=False).sign(ca_key, hashes.SHA256()))
        key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        return cert.public_bytes(pem).decode(), key_pem

    def tls_secret(name: str, cert_key: tuple[str, str]) -> dict[str, Any]:
        return {"name": name, "tls_certificate": {"certificate_chain": {"inline_string": cert_key[0]},
                                                  "private_key": {"inline_string": cert_key[1]}}}

    client = leaf("istio-egressgateway.istio-system", x509.DNSName("istio-egressgateway.istio-system"), 8193)
    out = {}
    for name in names:
        if name.startswith("file-root:") or name == "ROOTCA":
            out[name] = {"name": name, "validation_context": {"trusted_ca": {"inline_string": ca.public_bytes(pem)
                                                                             .decode()}}}
        elif name == "default":
            for index, proxy in enumerate(proxies or ()):
                if name in proxy.secrets:
                    account = proxy.node["metadata"]["SERVICE_ACCOUNT"]
                    uri = f"spiffe://cluster.local/ns/{proxy.namespace}/sa/{account}"
                    out[f"default@{proxy.name}"] = tls_secret(name, leaf(
                        f"{account}.{proxy.namespace}", x509.UniformResourceIdentifier(uri), 12289 + index))
        else:
            out[name] = tls_secret(name, client)
    return out


def proxy_secrets(proxy: Proxy, secrets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s: secrets.get(f"{s}@{proxy.name}") or secrets[s] for s in proxy.secrets}


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

    def _local_sds(self, node: Any) -> None:
        """Every SDS reference (``{"name", "sds_config"}``) in a resource reads the proxy's secret file."""
        if isinstance(node, dict):
            if "sds_config" in node and "name" in node:
                node["sds_config"] = self.source("sds", node["name"])
            for value in node.values():
                self._local_sds(value)
        elif isinstance(node, list):
            for value in node:
                self._local_sds(value)

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
            self._local_sds(cluster)
            out_clusters.append(cluster)
        for listener in out_listeners:
            self._local_sds(listener)
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
    secrets = make_certs(sorted({s for p in scenario.proxies for s in p.secrets}), scenario.proxies)
    out = {}
    for proxy in scenario.proxies:
        files = ProxyFiles(proxy, workdir / proxy.name, proxy_secrets(proxy, secrets))
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

    def __init__(self, scenario: Scenario, workdir: Path, *, probe_external: bool = False,
                 direct: bool = False) -> None:
        """probe_external: endpoints outside the lab accept the connection and record its ClientHello before
        closing it (instead of refusing it), so Envoy's upstream TLS is seen there too; their response flags
        then read UC/UF-after-connect rather than a refused connection."""
        self.scenario = scenario
        self.probe_external = probe_external
        # direct: endpoints of proxies bound here point straight at their loopback port, without a relay in
        # between (no ClientHello recorded), so a trace of the live dumps is told `--proxy NAME=127.0.0.1:PORT`
        # with the port the next proxy's listener really has
        self.direct = direct
        self.relays: list[Relay] = []
        self.inbound: dict[str, int] = {}  # sidecar ip → loopback port of its virtualInbound
        self.workdir = workdir
        self.envoys: dict[str, EnvoyProcess] = {}
        self.logs: dict[str, Path] = {}
        self.back: dict[str, str] = {}  # loopback ip:port → captured-form address
        self.bound: dict[tuple[str, int], int] = {}  # (proxy ip, listener port) → loopback port
        self.entry: dict[str, int] = {}  # proxy name → loopback port of its virtual outbound listener
        self._cases = itertools.count()
        self._seen: dict[int, int] = {}

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
            fields = dict(FIELDS, listener=name, vhost=f"%RESP({VHOST_HEADER.format(proxy.name)})%")
            listener["access_log"] = [json_access_log(log, {**fields, "kind": "connection"})]
            for chain in listener.get("filter_chains") or ():
                for filt in chain.get("filters") or ():
                    typed = filt.get("typed_config") or {}
                    if "HttpConnectionManager" in typed.get("@type", ""):
                        typed["access_log"] = [json_access_log(log, {**fields, "kind": "http"})]
            sock = listener["address"]["socket_address"]
            if listener.get("traffic_direction") == "INBOUND" and sock["port_value"] == 15006:
                port = free_port()  # the relay's PROXY header stands in for iptables and original_dst
                self.inbound[proxy.ip] = port
                listener["listener_filters"] = [PROXY_PROTOCOL, *(
                    f for f in listener.get("listener_filters", []) if not f["name"].endswith("original_dst"))]
                sock.update(address="127.0.0.1", port_value=port)
            elif listener.get("use_original_dst"):
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

    def _relay(self, original: str, sender: Proxy, target: int | None, header: bytes = b"") -> int:
        for relay in self.relays:
            if (relay.original, relay.sender) == (original, sender.name):
                return relay.port
        relay = Relay(original, sender.name, target, header)
        self.relays.append(relay)
        self.back[f"127.0.0.1:{relay.port}"] = original
        return relay.port

    def _rewrite_endpoint(self, sock: dict[str, Any], sender: Proxy) -> None:
        original = f"{sock['address']}:{sock['port_value']}"
        host, port = str(sock["address"]), int(sock["port_value"])
        pod_dns = re.fullmatch(r"(\d+)-(\d+)-(\d+)-(\d+)\.[^.]+\.pod\..*", host)
        ip = ".".join(pod_dns.groups()) if pod_dns else host  # a pod's DNS name is its IP
        if (ip, port) in self.bound and self.direct:
            sock.update(address="127.0.0.1", port_value=self.bound[(ip, port)])
            self.back[f"127.0.0.1:{self.bound[(ip, port)]}"] = original
        elif (ip, port) in self.bound:
            sock.update(address="127.0.0.1", port_value=self._relay(original, sender, self.bound[(ip, port)]))
        elif ip in self.inbound:  # a sidecar's pod: iptables redirects to its virtualInbound
            header = f"PROXY TCP4 {sender.ip} {ip} 40001 {port}\r\n".encode()
            sock.update(address="127.0.0.1", port_value=self._relay(original, sender, self.inbound[ip], header))
        elif self.probe_external:
            sock.update(address="127.0.0.1", port_value=self._relay(original, sender, None))
        else:
            loop = self._closed_port_for(original)
            loop_host, port_text = loop.rsplit(":", 1)
            sock.update(address=loop_host, port_value=int(port_text))

    def _clusters(self, proxy: Proxy) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        clusters = []
        for cluster in copy.deepcopy(proxy.clusters):
            if cluster.get("type") == "ORIGINAL_DST":
                port = free_port()
                inbound = re.fullmatch(r"inbound\|(\d+)\|.*", cluster["name"])  # the app, on the pod's own IP
                self.back[f"127.0.0.1:{port}"] = f"{proxy.ip}:{inbound.group(1)}" if inbound else "ORIGINAL_DST"
                cluster = {"name": cluster["name"], "type": "STATIC", "connect_timeout": "1s",
                           "load_assignment": {"cluster_name": cluster["name"], "endpoints": [{"lb_endpoints": [
                               {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                            "port_value": port}}}}]}]}}
                clusters.append(cluster)
                continue
            for group in (cluster.get("load_assignment") or {}).get("endpoints") or ():
                for lb in group.get("lb_endpoints") or ():
                    self._rewrite_endpoint(lb["endpoint"]["address"]["socket_address"], proxy)
            if cluster.get("type") == "STRICT_DNS":
                cluster["type"] = "STATIC"  # its endpoints are loopback literals now
            cluster["connect_timeout"] = "1s"
            clusters.append(cluster)
        assignments = copy.deepcopy(proxy.endpoints)
        for assignment in assignments:
            for group in assignment.get("endpoints") or ():
                for lb in group.get("lb_endpoints") or ():
                    self._rewrite_endpoint(lb["endpoint"]["address"]["socket_address"], proxy)
        return clusters, assignments

    def __enter__(self) -> ScenarioLab:
        secrets = make_certs(sorted({s for p in self.scenario.proxies for s in p.secrets}), self.scenario.proxies)
        # Listeners first, so that every proxy's bound port is known before endpoints are rewritten.
        listeners = {}
        for proxy in self.scenario.proxies:
            self.logs[proxy.name] = self.workdir / f"{proxy.name}.access.json"
            listeners[proxy.name] = self._listeners(proxy, self.logs[proxy.name])
        try:
            for proxy in reversed(self.scenario.proxies):
                clusters, assignments = self._clusters(proxy)
                files = ProxyFiles(proxy, self.workdir / proxy.name, proxy_secrets(proxy, secrets))
                bootstrap = files.write(listeners[proxy.name], clusters, self._routes(proxy), assignments)
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
        for relay in self.relays:
            relay.close()

    def _routes(self, proxy: Proxy) -> list[dict[str, Any]]:
        """The proxy's route configurations, every virtual host answering with its name (VHOST_HEADER)."""
        routes = copy.deepcopy(proxy.routes)
        for config in routes:
            for vhost in config.get("virtual_hosts") or ():
                vhost.setdefault("response_headers_to_add", []).append({
                    "header": {"key": VHOST_HEADER.format(proxy.name), "value": vhost["name"]},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"})
        return routes

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
        self._seen = {id(relay): len(relay.records) for relay in self.relays}
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
                            and scheme in ("tcp", "https", "tls")) or (
                            # a later proxy where no filter chain took the connection: nothing but its listener
                            # logs it (requests are sent one at a time, so a new such line is this request's)
                            proxy is not start and line.get("kind") == "connection"
                            and line.get("chain") in (None, "", "-") and "NR" in str(line.get("flags") or "")):
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
        out = {"proxy": proxy, "listener": line["listener"], "filter_chain": clean(line.get("chain")),
               "virtual_host": clean(line.get("vhost")),
               "route": clean(line.get("route")), "cluster": clean(line.get("cluster")), "upstream_host": upstream,
               "response_flags": clean(line.get("flags")),
               "response_code": int(code) if code and code != "0" else None}
        if str(line.get("details") or "").startswith("rbac_access_denied"):  # an RBAC filter answered
            out["response_code_details"] = line["details"]
        if clean(line.get("tls_in")):  # the connection this proxy received was TLS it terminated
            out["downstream_tls"] = {"sni": clean(line.get("sni_in")), "peer_uri_san": clean(line.get("peer_in"))}
        for relay in self.relays:  # what this proxy's upstream connection started with, as the relay saw it
            if relay.sender == proxy and relay.original == upstream and relay.records:
                # a new connection for this request, else the pooled one it reused (the latest the relay saw)
                seen = self._seen.get(id(relay), 0)
                out["upstream_tls"] = dict(relay.records[seen if len(relay.records) > seen else -1])
        return out
