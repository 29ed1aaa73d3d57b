"""Loopback stand-ins for an Envoy admin port, for what a real Envoy will not do on demand.

`StandIn(mode, upstream)` listens on 127.0.0.1 and counts every connection it accepts. Modes:

- ``silent``: accepts, reads the request, never answers (a hung admin, or a black-holed port-forward);
- ``reset``: answers the first ``resets`` connections with a TCP reset (SO_LINGER 0) after reading the request,
  then relays to the real Envoy at ``upstream``;
- ``gzip``: relays to the real Envoy and sends the body gzip-encoded (``Content-Encoding: gzip``) when the client
  accepts it — Envoy's admin never compresses, a proxy in front of it may;
- ``relay``: relays unchanged, except that ``rewrite(path, body)`` may change a body (to put a private key in it).

Relaying is plain HTTP/1.1 with ``Connection: close`` to a loopback Envoy; nothing leaves loopback.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import urllib.error
import urllib.request
from collections.abc import Callable


class StandIn:
    def __init__(self, mode: str, upstream: str | None = None, *, resets: int = 1,
                 rewrite: Callable[[str, bytes], bytes] | None = None) -> None:
        self.mode, self.upstream, self.resets, self.rewrite = mode, upstream, resets, rewrite
        self.connections = 0
        self.reset_sent = 0
        self.gzipped: list[str] = []  # paths answered gzip-encoded
        self.accept_encoding: list[str] = []
        self.sent: list[bytes] = []  # every body sent (after rewrite and before gzip)
        self._lock = threading.Lock()
        self._held: list[socket.socket] = []
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = int(self.server.getsockname()[1])
        self.thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        for conn in self._held:
            conn.close()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                conn.close()
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        self.accept_encoding.append(headers.get("accept-encoding", ""))
        if self.mode == "silent":
            self._held.append(conn)  # kept open, never answered
            return
        if self.mode == "reset" and number <= self.resets:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # with linger 0: RST instead of FIN
            with self._lock:
                self.reset_sent += 1
            return
        assert self.upstream is not None
        try:
            with urllib.request.urlopen(self.upstream + path, timeout=10) as answer:  # noqa: S310 (loopback Envoy)
                status, body, ctype = answer.status, answer.read(), answer.headers.get("content-type", "")
        except urllib.error.HTTPError as exc:
            status, body, ctype = exc.code, exc.read(), exc.headers.get("content-type", "")
        if self.rewrite is not None:
            body = self.rewrite(path, body)
        self.sent.append(body)
        extra = ""
        if self.mode == "gzip" and "gzip" in headers.get("accept-encoding", ""):
            body = gzip.compress(body)
            extra = "Content-Encoding: gzip\r\n"
            self.gzipped.append(path)
        with conn:
            conn.sendall(f"HTTP/1.1 {status} OK\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + body)
