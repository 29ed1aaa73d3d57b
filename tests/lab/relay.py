"""The lab's stand-ins for the network between proxies, which also see what each upstream connection starts with.

A `Relay` listens on loopback where an endpoint's address was rewritten to. Every connection Envoy opens to it is
recorded — whether it starts with a TLS ClientHello, and then the SNI and the ALPN protocols Envoy offered, read
from the ClientHello itself — and then, like the network would:
- forwarded to the next proxy's listener (a gateway's bound port), or
- forwarded to a sidecar's ``virtualInbound`` with a PROXY-protocol header naming the original destination (the
  iptables REDIRECT to 15006 that ``original_dst`` would undo), or
- closed (an endpoint outside the lab: nothing answers).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any


def parse_client_hello(data: bytes) -> dict[str, Any] | None:
    """SNI and ALPN of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3, RFC 7301); None when not TLS."""
    if len(data) < 5 or data[0] != 0x16:
        return None
    out: dict[str, Any] = {"tls": True, "sni": None, "alpn": []}
    body = data[5:5 + struct.unpack("!H", data[3:5])[0]]
    if len(body) < 4 or body[0] != 1:
        return out
    pos = 4 + 2 + 32
    try:
        pos += 1 + body[pos]  # session id
        pos += 2 + struct.unpack("!H", body[pos:pos + 2])[0]  # cipher suites
        pos += 1 + body[pos]  # compression methods
        end = pos + 2 + struct.unpack("!H", body[pos:pos + 2])[0]
        pos += 2
        while pos + 4 <= end:
            kind, size = struct.unpack("!HH", body[pos:pos + 4])
            ext = body[pos + 4:pos + 4 + size]
            if kind == 0 and len(ext) > 5:  # server_name: list length, type 0, name length, name
                out["sni"] = ext[5:5 + struct.unpack("!H", ext[3:5])[0]].decode()
            elif kind == 16 and len(ext) > 2:  # application_layer_protocol_negotiation
                i, names = 2, []
                while i < len(ext):
                    names.append(ext[i + 1:i + 1 + ext[i]].decode())
                    i += 1 + ext[i]
                out["alpn"] = names
            pos += 4 + size
    except (IndexError, struct.error, UnicodeDecodeError):
        pass
    return out


@dataclass
class Relay:
    original: str  # the endpoint's captured-form address
    sender: str  # the proxy whose cluster has this endpoint
    target: int | None = None  # loopback port to forward to; None: close
    proxy_header: bytes = b""
    records: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _first_bytes(self, conn: socket.socket) -> bytes:
        conn.settimeout(2)
        data = b""
        with contextlib.suppress(OSError):
            data = conn.recv(65536)
            while len(data) >= 5 and data[0] == 0x16 and len(data) < 5 + struct.unpack("!H", data[3:5])[0]:
                more = conn.recv(65536)
                if not more:
                    break
                data += more
        return data

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = self._first_bytes(conn)
            hello = parse_client_hello(data) or {"tls": False, "sni": None, "alpn": []}
            self.records.append(hello)
            if self.target is None:
                return
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.target), timeout=5) as up:
                up.sendall(self.proxy_header + data)
                conn.settimeout(None)
                up.settimeout(None)
                self._splice(conn, up)

    @staticmethod
    def _splice(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        open_ = [a, b]
        while open_:
            readable, _, _ = select.select(open_, [], [], 10)
            if not readable:
                return
            for s in readable:
                try:
                    chunk = s.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    with contextlib.suppress(OSError):
                        peers[s].shutdown(socket.SHUT_WR)
                    open_.remove(s)
                    continue
                try:
                    peers[s].sendall(chunk)
                except OSError:
                    return

    def close(self) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self.sock.close()
