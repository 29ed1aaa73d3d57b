"""The ambient-waypoint scenario: a real Envoy 1.40 acting as a waypoint, and HBONE sent to it as ztunnel does.

Two forms of the same resources (as tests/lab/runner.py does for the sidecar scenarios):
- capture: the addresses istiod would send (connect_terminate on 0.0.0.0:15008, pods in 10.244.0.0/16); its
  ``/config_dump?include_eds`` is ``sample_dumps/ambient-waypoint/waypoint.config_dump.json``.
- replay: connect_terminate on a free loopback port, every pod IP ``10.244.x.y`` renamed ``127.244.x.y`` (so that
  connect_originate's HBONE to ``IP:15008`` stays on this machine, where nothing listens: the upstream connection
  is refused, after Envoy has chosen it), and a JSON access log on every listener, HTTP connection manager and
  tcp_proxy. Names are unchanged, so the decisions read the same as in the captured dump.

``WaypointLab().send(case)`` opens mTLS to connect_terminate with a client certificate, ALPN h2, sends an HTTP/2
CONNECT whose ``:authority`` is the destination, then the application's bytes inside the stream; it returns the
lines Envoy logged for that case at each listener, in the order the connection crossed them.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envoyscope.verify import h2
from tests.lab import ambient_xds as W  # noqa: N812
from tests.lab.envoy import TYPE_URLS, EnvoyProcess, free_port, json_access_log, read_json_lines, xds_file
from tests.lab.istio import node

WAYPOINT_IP = "10.244.0.40"
POD = "waypoint-6d9f8b7c5-k2x9p"
CLIENT_SPIFFE = f"spiffe://{W.TD}/ns/default/sa/productpage"
GATEWAY_IP = "10.244.0.50"
GATEWAY_POD = "istio-ingressgateway-7b9c8d6f5-m4n8q"
GATEWAY_SPIFFE = f"spiffe://{W.TD}/ns/istio-system/sa/istio-ingressgateway"
FIELDS = {"chain": "%FILTER_CHAIN_NAME%", "route": "%ROUTE_NAME%", "cluster": "%UPSTREAM_CLUSTER%",
          "upstream": "%UPSTREAM_HOST%", "flags": "%RESPONSE_FLAGS%", "code": "%RESPONSE_CODE%",
          "case": "%REQ(X-CASE)%", "authority": "%REQ(:AUTHORITY)%", "local": "%DOWNSTREAM_LOCAL_ADDRESS%",
          "method": "%REQ(:METHOD)%", "peer": "%DOWNSTREAM_PEER_URI_SAN%", "alpn": "%REQUESTED_SERVER_NAME%",
          "details": "%RESPONSE_CODE_DETAILS%"}


def policies() -> dict[str, list[dict[str, Any]]]:
    """AuthorizationPolicies targeting the waypoint's services, as istiod puts them on main_internal's chains:
    details allows only productpage's identity and denies ``/details/admin`` to everyone; ratings allows
    productpage by the sidecar form of the principal (``authenticated``, which the internal connection lacks)."""
    productpage = W.peer_principal(CLIENT_SPIFFE)
    deny_admin = W.rbac("DENY", {"ns[default]-policy[details-deny-admin]-rule[0]": (
        [{"and_rules": {"rules": [{"or_rules": {"rules": [{"url_path": {"path": {"prefix": "/details/admin"}}}]}}]}}],
        [{"and_ids": {"ids": [{"any": True}]}}])})
    allow_pp = W.rbac("ALLOW", {"ns[default]-policy[details-allow-productpage]-rule[0]": (
        [{"and_rules": {"rules": [{"any": True}]}}],
        [{"and_ids": {"ids": [{"or_ids": {"ids": [productpage]}}]}}])})
    allow_auth = W.rbac("ALLOW", {"ns[default]-policy[ratings-allow-authenticated]-rule[0]": (
        [{"and_rules": {"rules": [{"any": True}]}}],
        [{"and_ids": {"ids": [{"or_ids": {"ids": [W.authenticated(CLIENT_SPIFFE)]}}]}}])})
    return {"details.default.svc.cluster.local": [deny_admin, allow_pp],
            "ratings.default.svc.cluster.local": [allow_auth]}


def services(policy: bool = False) -> list[W.Service]:
    svcs = _services()
    if policy:
        for svc in svcs:
            svc.policies = policies().get(svc.host, [])
        svcs.append(W.Service(HOSTNAME_SERVICE, "", 80, "http", {"http": ["10.244.7.71"]}))
    return svcs


HOSTNAME_SERVICE = "api.example.com"  # a host without a VIP: main_internal finds it by the CONNECT authority


def _services() -> list[W.Service]:
    reviews = "reviews.default.svc.cluster.local"
    return [
        W.Service(reviews, "10.96.0.20", 9080, "http", {"http": ["10.244.1.11"], "v2": ["10.244.1.12"]}, routes=[
            W.route("jason-v2", f"inbound-vip|9080|v2|{reviews}", prefix="/reviews", header=("end-user", "jason")),
            W.route("reviews", f"inbound-vip|9080|http|{reviews}", prefix="/reviews"),
            W.route("default", f"inbound-vip|9080|http|{reviews}")]),
        W.Service("ratings.default.svc.cluster.local", "10.96.0.30", 9080, "http", {"http": ["10.244.2.21"]}),
        W.Service("details.default.svc.cluster.local", "10.96.0.50", 9080, "http", {"http": ["10.244.2.31"]}, routes=[
            W.route("details", "inbound-vip|9080|http|details.default.svc.cluster.local", prefix="/details")]),
        W.Service("mysqldb.default.svc.cluster.local", "10.96.0.40", 3306, "tcp", {"tcp": ["10.244.3.31"]}),
        W.Service("productpage.default.svc.cluster.local", "10.96.0.60", 9080, "http", {"http": ["10.244.4.41"]},
                  waypoint="10.244.0.41:15008"),
    ]


def pod_ips(svcs: list[W.Service]) -> list[str]:
    return sorted({ip for s in svcs for pods in s.pods.values() for ip in pods})


def resources(policy: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The waypoint's listeners, clusters and endpoints; policy: the second scenario, with the AuthorizationPolicies
    of policies() and a host without a VIP (main_internal's hostname fallback)."""
    svcs = services(policy)
    listeners = [W.connect_terminate(authority=policy), W.main_internal(svcs, pod_ips(svcs)), W.connect_originate()]
    return listeners, W.clusters(svcs), W.endpoints(svcs)


@dataclass(frozen=True)
class Certs:
    ca: str
    waypoint: tuple[str, str]
    client: tuple[str, str]
    gateway: tuple[str, str]


def make_certs() -> Certs:
    """A throwaway mesh CA, the waypoint's SPIFFE certificate, and a client workload's (ztunnel presents the
    client's identity)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, W.TD)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM

    def leaf(uri: str, serial: int) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(serial).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=825))
                .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True)
                .sign(ca_key, hashes.SHA256()))
        return cert.public_bytes(pem).decode(), key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                                   serialization.NoEncryption()).decode()

    return Certs(ca.public_bytes(pem).decode(), leaf(f"spiffe://{W.TD}/ns/default/sa/waypoint", 2),
                 leaf(CLIENT_SPIFFE, 3), leaf(GATEWAY_SPIFFE, 4))


def _secrets(certs: Certs, who: str) -> dict[str, dict[str, Any]]:
    own = certs.gateway if who == "gateway" else certs.waypoint
    return {"default": {"name": "default", "tls_certificate": {
                "certificate_chain": {"inline_string": own[0]},
                "private_key": {"inline_string": own[1]}}},
            "ROOTCA": {"name": "ROOTCA", "validation_context": {"trusted_ca": {"inline_string": certs.ca}}}}


def _local_sources(node_: Any, folder: Path) -> None:
    """Every ADS config source in the resources reads a file instead (SDS by secret name, EDS by service)."""
    if isinstance(node_, dict):
        if "sds_config" in node_ and "name" in node_:
            node_["sds_config"] = {"path_config_source": {"path": str(folder / f"sds-{node_['name']}.json")},
                                   "resource_api_version": "V3"}
        if "eds_config" in node_ and "service_name" in node_:
            path = folder / f"eds-{_safe(node_['service_name'])}.json"
            node_["eds_config"] = {"path_config_source": {"path": str(path)}, "resource_api_version": "V3"}
        for value in node_.values():
            _local_sources(value, folder)
    elif isinstance(node_, list):
        for value in node_:
            _local_sources(value, folder)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)


def bootstrap(folder: Path, listeners: list[dict[str, Any]], clusters: list[dict[str, Any]],
              assignments: list[dict[str, Any]], certs: Certs, who: str = "waypoint") -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    listeners, clusters = copy.deepcopy(listeners), copy.deepcopy(clusters)
    _local_sources(listeners, folder)
    _local_sources(clusters, folder)
    for name, secret in _secrets(certs, who).items():
        xds_file(folder / f"sds-{name}.json", [secret], TYPE_URLS["secrets"])
    for assignment in assignments:
        xds_file(folder / f"eds-{_safe(assignment['cluster_name'])}.json", [assignment], TYPE_URLS["endpoints"])
    lds = xds_file(folder / "lds.json", listeners, TYPE_URLS["listeners"])
    cds = xds_file(folder / "cds.json", clusters, TYPE_URLS["clusters"])
    labels = {"gateway.istio.io/managed": "istio.io-mesh-controller", "gateway.networking.k8s.io/gateway-name":
              "waypoint", "istio.io/dataplane-mode": "none"}
    ident = (node("router", GATEWAY_IP, GATEWAY_POD, "istio-system", {"app": "istio-ingressgateway",
                                                                        "istio": "ingressgateway"})
             if who == "gateway" else node("waypoint", WAYPOINT_IP, POD, "default", labels))
    return {"node": ident,
            "bootstrap_extensions": [{"name": "envoy.bootstrap.internal_listener", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"}}],
            "dynamic_resources": {
                "lds_config": {"path_config_source": {"path": str(lds)}, "resource_api_version": "V3"},
                "cds_config": {"path_config_source": {"path": str(cds)}, "resource_api_version": "V3"}}}


def loaded(listeners: list[dict[str, Any]]) -> Any:
    names = [str(lst["name"]) for lst in listeners]
    return lambda text: all(f'"{n}"' in text for n in names) and (
        '"dynamic_warming_clusters"' not in text and '"warming_state"' not in text)


def capture(workdir: Path, who: str = "waypoint", *, policy: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """The waypoint's (or the ingress gateway's) /config_dump?include_eds and /clusters?format=json, captured."""
    from tests.lab.runner import as_ads

    listeners, clusters, assignments = resources(policy) if who == "waypoint" else gateway_resources()
    with EnvoyProcess(who, workdir, bootstrap(workdir / "xds", listeners, clusters, assignments,
                                              make_certs(), who)) as envoy:
        envoy.wait_for("/config_dump", loaded(listeners), timeout=20)
        time.sleep(0.3)
        return as_ads(envoy.get_json("/config_dump?include_eds")), envoy.get_json("/clusters?format=json")


def gateway_resources() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The ingress gateway in front of the waypoint: bookinfo.example.com's paths to services it serves."""
    targets, routes = {}, []
    for svc in services():
        if svc.protocol != "http":
            continue
        name = f"outbound|{svc.port}||{svc.host}"
        targets[name] = (f"{svc.vip}:{svc.port}", svc.waypoint or f"{WAYPOINT_IP}:15008")
        short = svc.host.split(".")[0]
        routes.append(W.route(short, name, prefix=f"/{short}"))
    routes.append(W.route("jason", "outbound|9080||reviews.default.svc.cluster.local", prefix="/",
                          header=("end-user", "jason")))
    return W.ingress_gateway(routes, targets)


def instrument(listeners: list[dict[str, Any]], log: Path, proxy: str) -> None:
    """A JSON access log on every listener, HTTP connection manager and tcp_proxy."""
    for listener in listeners:
        fields = dict(FIELDS, listener=listener["name"], proxy=proxy)
        listener["access_log"] = [json_access_log(log, {**fields, "kind": "connection"})]
        for chain in listener["filter_chains"]:
            for filt in chain["filters"]:
                typed = filt["typed_config"]
                if typed["@type"].endswith(("HttpConnectionManager", "TcpProxy")):
                    typed["access_log"] = [json_access_log(log, {**fields, "kind": "stream"})]


def _replay(doc: Any) -> Any:
    """Pod IPs 10.244.x.y → 127.244.x.y, everywhere in the resources."""
    return json.loads(json.dumps(doc).replace('"10.244.', '"127.244.').replace(':"10.244.', ':"127.244.'))


def _back(value: Any) -> Any:
    return value.replace("127.244.", "10.244.") if isinstance(value, str) else value


@dataclass(frozen=True)
class Case:
    authority: str  # the CONNECT target, VIP:port or podIP:port
    payload: str  # http | tcp | tls (the app's own TLS: a ClientHello with SNI host)
    path: str = "/"
    host: str = ""
    headers: tuple[tuple[str, str], ...] = ()


class WaypointLab:
    """The waypoint in the replay form, with an access log per listener."""

    def __init__(self, workdir: Path, *, certs: Certs | None = None, bind: tuple[str, int] | None = None,
                 policy: bool = False) -> None:
        """bind: connect_terminate's address (default: a free loopback port); ``127.244.0.40:15008`` is where
        another Envoy's HBONE to the waypoint's pod IP arrives in the replay form. policy: with policies()."""
        self.workdir = workdir
        self.certs = certs or make_certs()
        self.log = workdir / "access.jsonl"
        self.bind = bind or ("127.0.0.1", free_port())
        self.port = self.bind[1]
        self.envoy: EnvoyProcess | None = None
        self.policy = policy

    def __enter__(self) -> WaypointLab:
        listeners, clusters, assignments = (_replay(r) for r in resources(self.policy))
        instrument(listeners, self.log, "waypoint")
        for listener in listeners:
            if "address" in listener:
                listener["address"]["socket_address"].update(address=self.bind[0], port_value=self.bind[1])
        self.envoy = EnvoyProcess("waypoint", self.workdir, bootstrap(self.workdir / "xds", listeners, clusters,
                                                                       assignments, self.certs)).start()
        self.envoy.wait_for("/config_dump", loaded(listeners), timeout=20)
        self.contexts = {who: self._context(who, pair) for who, pair in
                         (("client", self.certs.client), ("gateway", self.certs.gateway))}
        return self

    def _context(self, who: str, pair: tuple[str, str]) -> ssl.SSLContext:
        """mTLS as ztunnel opens it for a workload: its certificate, ALPN h2."""
        path = self.workdir / who
        path.with_suffix(".crt").write_text(pair[0])
        path.with_suffix(".key").write_text(pair[1])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.load_cert_chain(path.with_suffix(".crt"), path.with_suffix(".key"))
        ctx.set_alpn_protocols(["h2"])
        return ctx

    def __exit__(self, *exc: object) -> None:
        if self.envoy is not None:
            self.envoy.stop()

    def send(self, case: Case, label: str, client: str = "client") -> list[dict[str, Any]]:
        """Send one HBONE connection with the certificate of ``client`` (``client``: productpage's identity,
        ``gateway``: the ingress gateway's); Envoy's log lines for it, connection lines after stream lines."""
        before = len(read_json_lines(self.log))
        authority = _replay_text(case.authority)
        with socket.create_connection(self.bind, timeout=5) as raw, \
                self.contexts[client].wrap_socket(raw) as tls:
            tls.settimeout(3)
            headers = h2.header_block([(":method", "CONNECT"), (":authority", authority)])
            opening = h2.frame(h2.SETTINGS, 0, 0, b"") + h2.frame(h2.HEADERS, h2.END_HEADERS, 1, headers)
            tls.sendall(h2.PREFACE + opening)
            if _tunnel_open(tls):
                if case.payload == "http":
                    lines = [f"GET {case.path} HTTP/1.1", f"Host: {case.host}", f"x-case: {label}", "Connection: close",
                             *(f"{n}: {v}" for n, v in case.headers)]
                    body = ("\r\n".join(lines) + "\r\n\r\n").encode()
                elif case.payload == "tls":
                    body = client_hello(case.host)
                else:
                    body = b"\x0a5.7.0-mysql-handshake\x00"
                tls.sendall(h2.frame(0x0, 0, 1, body))
                _drain(tls, until_end=case.payload == "http")
        return self._lines(before)

    def _lines(self, before: int) -> list[dict[str, Any]]:
        """Wait until the connection's lines are all written: connect_terminate's connection line comes last."""
        deadline = time.monotonic() + 6
        lines: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            lines = read_json_lines(self.log)[before:]
            if any(line["listener"] == "connect_terminate" and line["kind"] == "connection" for line in lines):
                time.sleep(0.05)
                lines = read_json_lines(self.log)[before:]
                break
            time.sleep(0.02)
        return [{k: _back(v) for k, v in line.items()} for line in lines]


def client_hello(server_name: str) -> bytes:
    """The first bytes of an app that speaks TLS itself: a ClientHello with that SNI."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name or None)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def _replay_text(text: str) -> str:
    return text.replace("10.244.", "127.244.")


def _frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    out, at = [], 0
    while at + 9 <= len(data):
        length = int.from_bytes(data[at:at + 3], "big")
        if at + 9 + length > len(data):
            break
        out.append((data[at + 3], data[at + 4], int.from_bytes(data[at + 5:at + 9], "big") & 0x7FFFFFFF,
                    data[at + 9:at + 9 + length]))
        at += 9 + length
    return out


def _tunnel_open(tls: ssl.SSLSocket) -> bool:
    """Read until stream 1's response HEADERS: open (no END_STREAM) or refused (END_STREAM, RST, GOAWAY)."""
    data = b""
    acked = False
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            chunk = tls.recv(65536)
        except (OSError, TimeoutError):
            return False
        if not chunk:
            return False
        data += chunk
        for kind, flags, stream, _payload in _frames(data):
            if kind == h2.SETTINGS and not flags & 0x1 and not acked:
                tls.sendall(h2.frame(h2.SETTINGS, 0x1, 0, b""))
                acked = True
            if stream == 1 and kind == h2.HEADERS:
                return not flags & h2.END_STREAM
            if kind in (0x3, h2.GOAWAY):  # RST_STREAM, GOAWAY
                return False
    return False


def _drain(tls: ssl.SSLSocket, *, until_end: bool) -> None:
    """Read the tunnel's answer until stream 1 ends (HTTP) or a short quiet period (TCP)."""
    data = b""
    deadline = time.monotonic() + (4 if until_end else 1.5)
    with contextlib.suppress(OSError, TimeoutError):
        tls.settimeout(0.5 if until_end else 0.3)
        while time.monotonic() < deadline:
            try:
                chunk = tls.recv(65536)
            except TimeoutError:
                if not until_end:
                    return
                continue
            if not chunk:
                return
            data += chunk
            if any(stream == 1 and (flags & h2.END_STREAM or kind == 0x3) for kind, flags, stream, _ in _frames(data)):
                return


WAYPOINT_VIP = "10.96.0.99"
SLEEP_IP, LEGACY_IP = "10.244.5.51", "10.244.6.61"


def ztunnel_config() -> dict[str, Any]:
    """The same mesh as a ztunnel on the client's node reports it (``/config_dump`` on 15000, the list form of
    recent ztunnels): the services above behind the waypoint, the waypoint itself, a client ``sleep`` in the mesh
    without a waypoint and a ``legacy`` pod outside the mesh, one policy and the client's certificate."""
    workloads, services = [], []

    def workload(name: str, ip: str, account: str, *, protocol: str = "HBONE", waypoint: bool = False) -> str:
        uid = f"Kubernetes//Pod/default/{name}"
        entry: dict[str, Any] = {
            "uid": uid, "workloadIps": [ip], "protocol": protocol, "name": name, "namespace": "default",
            "serviceAccount": account, "workloadName": name.rsplit("-", 2)[0], "workloadType": "deployment",
            "canonicalName": name.split("-")[0], "canonicalRevision": "v1", "clusterId": "Kubernetes",
            "trustDomain": W.TD, "node": "ambient-worker", "status": "Healthy"}
        if waypoint:
            entry["waypoint"] = {"destination": f"/{WAYPOINT_VIP}", "hboneMtlsPort": 15008}
        workloads.append(entry)
        return uid

    def service(host: str, vip: str, ports: dict[int, int], uids: dict[str, str], *, waypoint: bool) -> None:
        entry: dict[str, Any] = {
            "name": host.split(".")[0], "namespace": "default", "hostname": host, "vips": [f"/{vip}"],
            "ports": {str(p): t for p, t in ports.items()}, "ipFamilies": "IPv4",
            "endpoints": {f"{uid}:/{ip}": {"workloadUid": uid, "service": f"default/{host}", "address": f"/{ip}",
                                           "port": {str(p): t for p, t in ports.items()}} for ip, uid in uids.items()}}
        if waypoint:
            entry["waypoint"] = {"destination": f"/{WAYPOINT_VIP}", "hboneMtlsPort": 15008}
        services.append(entry)

    waypoint_uid = workload(POD, WAYPOINT_IP, "waypoint")
    service("waypoint.default.svc.cluster.local", WAYPOINT_VIP, {15008: 15008, 15021: 15021},
            {WAYPOINT_IP: waypoint_uid}, waypoint=False)
    for svc in services_():
        uids = {ip: workload(f"{svc.host.split('.')[0]}-{subset}-7d8f9c6b5d-{ip.rsplit('.', 1)[1]}x", ip,
                             svc.host.split(".")[0]) for subset, ips in svc.pods.items() for ip in ips}
        service(svc.host, svc.vip, {svc.port: svc.port}, uids, waypoint=True)
    sleep_uid = workload("sleep-5d8c6c9b4b-x2x7k", SLEEP_IP, "sleep")
    service("sleep.default.svc.cluster.local", "10.96.0.70", {80: 8080}, {SLEEP_IP: sleep_uid}, waypoint=False)
    legacy_uid = workload("legacy-6f7d8c9b5d-q2w7x", LEGACY_IP, "default", protocol="TCP")
    service("legacy.default.svc.cluster.local", "10.96.0.80", {80: 80}, {LEGACY_IP: legacy_uid}, waypoint=False)
    policies = [{"name": "allow-via-waypoint", "namespace": "default", "scope": "Namespace", "action": "Allow",
                 "rules": [[[{"principals": [{"Exact": f"{W.TD}/ns/default/sa/waypoint"}]}]]]}]
    certificates = [{"identity": CLIENT_SPIFFE.replace("productpage", "sleep"), "state": "Available", "certChain": [
        {"pem": "", "serialNumber": "305554775863395697262503895661564044819", "validFrom": "2026-01-01T00:00:00Z",
         "expirationTime": "2026-01-02T00:00:00Z"}]}]
    return {"workloads": workloads, "services": services, "policies": policies, "certificates": certificates}


services_ = services
