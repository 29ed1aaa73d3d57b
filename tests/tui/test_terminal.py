"""The real thing in a real terminal: `envoyscope tui` as a separate process on a pseudo-terminal (pty), its screen
read back through a VT100 emulator (pyte), keys typed as a person types them. No Textual test harness involved."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pyte
import pytest

from tests.conftest import REPO

COLS, ROWS = 140, 40


class Terminal:
    def __init__(self, *args: str) -> None:
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        master, slave = pty.openpty()
        os.set_blocking(master, False)
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS),
               "TEXTUAL_ANIMATIONS": "none"}
        env.pop("KUBECONFIG", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "envoyscope", *args], stdin=slave, stdout=slave,
                                     stderr=slave, cwd=REPO, env=env, start_new_session=True, close_fds=True)
        os.close(slave)
        self.master = master

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                self.stream.feed(data)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, needle: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.2)
            if needle in self.text():
                return self.text()
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"`{needle}` never appeared on the terminal; it shows:\n{self.text()}")

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())
        self.pump(0.3)

    def close(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        code = self.proc.wait(timeout=10)
        os.close(self.master)
        return code


@pytest.fixture
def terminal() -> object:
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        started.append(Terminal(*args))
        return started[-1]

    yield start
    for term in started:
        if term.proc.poll() is None:
            term.close()


def test_a_person_at_a_terminal(terminal: object) -> None:
    term = terminal("tui", "sample_dumps/egress-mtls-subsets")  # type: ignore[operator]
    screen = term.wait_for("ADDRESSES")  # the listeners tab, istioctl's columns
    assert "istio-egressgateway-5d8c7b8f9" in screen and "sleep-7f8d9c6b5d-x2x7k" in screen
    term.type("3")  # the clusters tab
    screen = term.wait_for("SERVICE FQDN")
    assert "nginx.external.svc.cluster.local" in screen and "PassthroughCluster" in screen
    term.type("/")
    term.type("v2")
    screen = term.wait_for("v2")
    rows = [line for line in screen.splitlines() if "nginx.external.svc.cluster.local" in line]
    assert rows and all(" v2 " in row for row in rows)  # the filter left only subset v2
    term.type("\x1b")  # Esc clears the filter
    term.pump(0.5)
    term.type("?")
    term.wait_for("cycle the proxy list")  # the help screen
    term.type("\x1b")
    term.type("q")
    deadline = time.monotonic() + 10
    while term.proc.poll() is None and time.monotonic() < deadline:
        term.pump(0.1)
    assert term.proc.poll() == 0, term.text()


def test_envoyscope_alone_opens_the_samples_in_a_terminal(terminal: object, tmp_path: object,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """No argument, a terminal, no kubeconfig: the TUI on the bundled samples, saying so."""
    monkeypatch.setenv("HOME", str(tmp_path))
    term = terminal()  # type: ignore[operator]
    screen = term.wait_for("FROM")  # several sample folders: the proxy list names the folder of each
    assert "egress-mtls-subsets" in screen or "allow-any" in screen
    term.type("q")
    deadline = time.monotonic() + 10
    while term.proc.poll() is None and time.monotonic() < deadline:
        term.pump(0.1)
    assert term.proc.poll() == 0


def test_first_contact_keys_at_a_terminal(terminal: object) -> None:
    """Issue 12 in a real terminal: the highlighted proxy's whole name; `/` then Enter opens the only match; Enter
    follows a reference even with the YAML focused (Tab); the trace form has its "from" field."""
    term = terminal("tui", "sample_dumps/egress-mtls-subsets")  # type: ignore[operator]
    screen = term.wait_for("ADDRESSES")
    assert "istio-egressgateway-5d8c7b8f9-q2w7x.istio-system  gateway" in screen  # highlighted: not cut
    term.type("3")
    term.wait_for("SERVICE FQDN")
    term.type("/")
    term.type("v2")
    term.type("\r")
    screen = term.wait_for("refers to")
    assert "Cluster outbound|443|v2|nginx.external.svc.cluster.local" in screen
    term.type("\x1b")  # back to the tables
    term.pump(0.5)
    term.type("\x1b")  # the filter goes
    term.pump(0.5)
    term.type("1")
    term.wait_for("ADDRESSES")
    term.type("\r")
    term.wait_for("Listener 0.0.0.0_8080")
    term.type("\t")  # the YAML pane takes the focus
    term.type("\r")
    term.wait_for("Filter chain 0.0.0.0_8080/0")
    term.type("\x1b")
    term.type("\x1b")
    term.type("t")
    screen = term.wait_for("from:istio-egressgateway")
    term.type("\x1b")
    term.type("q")
    deadline = time.monotonic() + 10
    while term.proc.poll() is None and time.monotonic() < deadline:
        term.pump(0.1)
    assert term.proc.poll() == 0, term.text()
