"""A loopback stand-in for the Kubernetes API server: no API server can be installed on these machines.

It speaks the real protocol to the real kubernetes client: pod list/get JSON as the API returns them, and the
``pods/<name>/portforward`` WebSocket upgrade with subprotocol ``v4.channel.k8s.io`` (per port a data channel 0 and
an error channel 1, each opened by a frame holding the port number as two little-endian bytes), bridged to a real
TCP port (a real Envoy admin). RBAC refusals and missing pods are configurable.

Plain HTTP by default; ``FakeApiServer(tls_dir=...)`` serves HTTPS instead, as a real API server does, with a CA and
a server certificate for 127.0.0.1 (IP SAN) generated into that directory (``ca_file`` is what a pod finds in its
service-account mount). Every request's ``Authorization`` header is kept in ``authorizations``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import select
import socket
import socketserver
import ssl
import struct
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def pod(namespace: str, name: str, *, ip: str, labels: dict[str, str], containers: list[str],
        phase: str = "Running", node: str = "node-1", annotations: dict[str, str] | None = None,
        replica_set: str | None = None, ips: list[str] | None = None) -> dict[str, Any]:
    """A pod as the API returns it; ``replica_set`` makes it owned by that ReplicaSet (as a Deployment's pods are)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels, "uid": f"uid-{name}"}
    if annotations:
        metadata["annotations"] = annotations
    if replica_set:
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
                                        "uid": f"uid-{replica_set}", "controller": True,
                                        "blockOwnerDeletion": True}]
    pod_ips = [{"ip": i} for i in (ips or ([ip] if ip else []))]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"nodeName": node, "containers": [{"name": c, "image": f"{c}:1"} for c in containers]},
            "status": {"phase": phase, "podIP": ip, "podIPs": pod_ips, "containerStatuses": [
                {"name": c, "ready": phase == "Running", "restartCount": 0, "image": f"{c}:1", "imageID": "",
                 "started": True, "state": {"running": {}}} for c in containers]}}


def deployment(namespace: str, name: str, match_labels: dict[str, str]) -> dict[str, Any]:
    """An apps/v1 Deployment as the API returns it (the fields envoyscope reads, and the ones the client needs)."""
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
            "spec": {"replicas": 1, "selector": {"matchLabels": match_labels},
                     "template": {"metadata": {"labels": match_labels},
                                  "spec": {"containers": [{"name": name, "image": f"{name}:1"}]}}},
            "status": {"replicas": 1, "readyReplicas": 1}}


def service(namespace: str, name: str, selector: dict[str, str], ports: list[tuple[int, int | str]]
            ) -> dict[str, Any]:
    """A v1 Service as the API returns it: ``ports`` as (port, targetPort) pairs (targetPort a number or a name)."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace,
                                                               "uid": f"uid-svc-{name}"},
            "spec": {"type": "LoadBalancer", "selector": selector, "clusterIP": "10.96.0.80",
                     "ports": [{"name": f"port-{port}", "port": port, "targetPort": target, "protocol": "TCP"}
                               for port, target in ports]}}


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def make_ca(directory: Path, name: str = "lab-cluster-ca") -> tuple[Path, Any, Any]:
    """A self-signed CA: (its PEM file, certificate, private key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    path = directory / f"{name}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


def make_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and the API server's certificate it signed, for 127.0.0.1 (IP SAN): (CA file, cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_file, ca_cert, ca_key = make_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = directory / "apiserver.crt", directory / "apiserver.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


class FakeApiServer:
    def __init__(self, tls_dir: Path | None = None) -> None:
        self.pods: list[dict[str, Any]] = []
        self.deployments: list[dict[str, Any]] = []
        self.services: list[dict[str, Any]] = []
        self.forbid_services = False  # answer 403 to listing services, as a user without that RBAC right gets
        # (namespace, pod) → the loopback port any forwarded port reaches, or {pod port: loopback port}
        self.targets: dict[tuple[str, str], int | dict[int, int]] = {}
        self.requested: list[tuple[str, str, int]] = []  # every port-forward asked for: (namespace, pod, port)
        self.forbid_portforward: set[tuple[str, str]] = set()
        self.drop_after_bytes: int | None = None  # cut forwarded streams after this many bytes (once)
        self.forwards = 0
        self.authorizations: list[tuple[str, str | None]] = []  # (request path, its Authorization header)
        self.tls: ssl.SSLContext | None = None
        self.ca_file: Path | None = None
        if tls_dir is not None:
            self.ca_file, cert_file, key_file = make_server_cert(Path(tls_dir))
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(cert_file, key_file)
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if outer.tls is None:
                    outer._handle(self.request)
                else:
                    outer._handle_tls(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, path: Any, context: str = "lab", *, others: dict[str, int] | None = None) -> Any:
        """A kubeconfig whose ``context`` points here; ``others`` adds contexts pointing at other loopback ports
        (the first of them becomes the current context, so only ``--context`` reaches this server)."""
        others = others or {}
        here: dict[str, Any] = {"server": self.url}
        if self.ca_file is not None:
            here["certificate-authority"] = str(self.ca_file)
        clusters = [{"name": context, "cluster": here}]
        clusters += [{"name": name, "cluster": {"server": f"http://127.0.0.1:{port}"}} for name, port in others.items()]
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": next(iter(others), context),
            "clusters": clusters,
            "users": [{"name": "lab", "user": {"token": "lab-token"}}],
            "contexts": [{"name": c["name"], "context": {"cluster": c["name"], "user": "lab"}} for c in clusters]}))
        return path

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    # --- TLS: the handshake here, then the same handler behind a socket pair ---
    def _handle_tls(self, raw: socket.socket) -> None:
        assert self.tls is not None
        try:
            conn = self.tls.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):  # e.g. the client does not trust our CA, and says so
            return
        inner, outer = socket.socketpair()
        relay = threading.Thread(target=_relay, args=(conn, outer), daemon=True)
        relay.start()
        try:
            self._handle(inner)
        finally:
            with _quiet():
                inner.shutdown(socket.SHUT_RDWR)
            inner.close()
            relay.join(10)
            conn.close()

    # --- HTTP ---
    def _handle(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        url = urlparse(target)
        self.authorizations.append((url.path, headers.get("authorization")))
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        if parts[-1:] == ["portforward"] and headers.get("upgrade", "").lower() == "websocket":
            self._portforward(conn, parts[3], parts[5], int(query.get("ports", ["0"])[0]), headers)
            return
        code, body = self._api(method, parts, query)
        payload = json.dumps(body).encode()
        conn.sendall(f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)

    def _api(self, method: str, parts: list[str], query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        selector = dict(s.split("=", 1) for s in query.get("labelSelector", [""])[0].split(",") if "=" in s)

        def matches(p: dict[str, Any]) -> bool:
            labels = p["metadata"].get("labels") or {}
            return all(labels.get(k) == v for k, v in selector.items())

        if parts[:3] == ["api", "v1", "pods"]:
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                         "items": [p for p in self.pods if matches(p)]}
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) >= 5 and parts[4] == "pods":
            ns = parts[3]
            if len(parts) == 5:
                return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                             "items": [p for p in self.pods if p["metadata"]["namespace"] == ns and matches(p)]}
            for p in self.pods:
                if p["metadata"]["namespace"] == ns and p["metadata"]["name"] == parts[5]:
                    return 200, p
            return 404, status(404, "NotFound", f'pods "{parts[5]}" not found')
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 5 and parts[4] == "services":
            if self.forbid_services:
                return 403, status(403, "Forbidden", 'services is forbidden: cannot list resource "services"')
            return 200, {"kind": "ServiceList", "apiVersion": "v1", "metadata": {},
                         "items": [s for s in self.services if s["metadata"]["namespace"] == parts[3]]}
        if parts[:4] == ["apis", "apps", "v1", "namespaces"] and len(parts) == 7 and parts[5] == "deployments":
            for d in self.deployments:
                if d["metadata"]["namespace"] == parts[4] and d["metadata"]["name"] == parts[6]:
                    return 200, d
            return 404, status(404, "NotFound", f'deployments.apps "{parts[6]}" not found')
        return 404, status(404, "NotFound", "the server could not find the requested resource")

    # --- WebSocket port-forward ---
    def _portforward(self, conn: socket.socket, namespace: str, name: str, port: int, headers: dict[str, str]) -> None:
        if (namespace, name) in self.forbid_portforward:
            body = json.dumps(status(403, "Forbidden", f'pods "{name}" is forbidden: cannot create resource '
                                                        '"pods/portforward"')).encode()
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            return
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        if "v4.channel.k8s.io" not in offered:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n").encode())
        lo_hi = struct.pack("<H", port)
        conn.sendall(frame(b"\x00" + lo_hi) + frame(b"\x01" + lo_hi))
        self.forwards += 1
        self.requested.append((namespace, name, port))
        mapped = self.targets.get((namespace, name))
        target = mapped.get(port) if isinstance(mapped, dict) else mapped
        if target is None:
            conn.sendall(frame(b"\x01" + f"unable to forward port {port}: no such port".encode()) + frame(b"", 8))
            return
        upstream = socket.create_connection(("127.0.0.1", target))
        budget = [self.drop_after_bytes]
        self.drop_after_bytes = None

        def pump_up() -> None:  # pod → client
            try:
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    if budget[0] is not None:
                        if budget[0] <= 0:
                            break
                        data = data[: budget[0]]
                        budget[0] -= len(data)
                    conn.sendall(frame(b"\x00" + data))
                conn.sendall(frame(b"", 8))
            except OSError:
                pass
            finally:
                with _quiet():
                    conn.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump_up, daemon=True).start()
        try:
            for opcode, payload in read_frames(conn):
                if opcode == 8:
                    break
                if opcode == 2 and payload[:1] == b"\x00" and len(payload) > 1:
                    upstream.sendall(payload[1:])
        finally:
            upstream.close()


def _relay(tls: ssl.SSLSocket, plain: socket.socket) -> None:
    """Bytes both ways between the TLS connection and the plain handler, in one thread: an SSL socket must not be
    read and written by two threads at once (the port-forward pumps both directions concurrently)."""
    client_open = True
    try:
        while True:
            watched = [plain, tls] if client_open else [plain]
            readable = [tls] if client_open and tls.pending() else select.select(watched, [], [], 60)[0]
            if not readable:
                return
            if tls in readable:
                try:
                    data = tls.recv(65536)
                except (ssl.SSLError, OSError):
                    data = b""
                if data:
                    plain.sendall(data)
                else:  # the client is done sending
                    client_open = False
                    plain.shutdown(socket.SHUT_WR)
            if plain in readable:
                data = plain.recv(65536)
                if not data:  # the handler is done: so is the connection
                    return
                tls.sendall(data)
    except OSError:
        return
    finally:
        with _quiet():
            tls.settimeout(2)
            tls.unwrap()  # close_notify, as a real server ends a connection
        with _quiet():
            tls.shutdown(socket.SHUT_RDWR)
        plain.close()


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def frame(payload: bytes, opcode: int = 2) -> bytes:
    """A server frame (unmasked)."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return head + payload


def read_frames(conn: socket.socket) -> Any:
    buffer = b""

    def need(count: int) -> bytes:
        nonlocal buffer
        while len(buffer) < count:
            chunk = conn.recv(65536)
            if not chunk:
                raise EOFError
            buffer += chunk
        out, buffer = buffer[:count], buffer[count:]
        return out

    try:
        while True:
            b1, b2 = need(2)
            opcode, masked, length = b1 & 0x0F, b2 & 0x80, b2 & 0x7F
            if length == 126:
                length = struct.unpack("!H", need(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", need(8))[0]
            mask = need(4) if masked else b"\x00\x00\x00\x00"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(need(length)))
            yield opcode, data
    except (EOFError, OSError):
        return
