"""The upstream every replayed cluster points at: it accepts, and hangs up once the first bytes arrive.

A refused upstream would make Envoy's tcp_proxy (which connects upstream as soon as a connection is accepted)
close the client's connection before the client's TLS handshake could fail or succeed, hiding what the listener's
TLS does. Accepting, then closing on the first bytes (an HTTP request, a ClientHello, the app's data) ends every
request at once, with the decision made, and never answers anything.
"""

from __future__ import annotations

import contextlib
import socket
import threading

HOLD_SECONDS = 3.0  # a connection that sends nothing is closed after this


class Sink:
    def __init__(self, host: str) -> None:
        self.server = socket.create_server((host, 0))
        self.port = int(self.server.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="envoyscope-verify-sink", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                threading.Thread(target=self._hang_up, args=(conn,), daemon=True).start()

    @staticmethod
    def _hang_up(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(HOLD_SECONDS)
            conn.recv(4096)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
