"""A proxy's replay form running in a local Envoy: start it, learn what it rejected, send it connections."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from envoyscope.model.dump import ConfigDump
from envoyscope.verify.envoy import Envoy, EnvoyFailed, require_binary
from envoyscope.verify.replay_form import ReplayForm, build

LOAD_TIMEOUT = 20.0


class Replay:
    """``with Replay(dump) as replay: replay.send(wire)``. ``rejected``: resource name → Envoy's reason."""

    def __init__(self, dump: ConfigDump, workdir: Path | None = None, ca: Any = None) -> None:
        self.dump = dump
        self.binary = require_binary()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="envoyscope-verify-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.ca = ca
        self.form: ReplayForm | None = None
        self.envoy: Envoy | None = None
        self.sink: Any = None
        self.rejected: dict[str, str] = {}
        self._offset = 0
        self._pending: list[dict[str, Any]] = []

    def start(self) -> Replay:
        from envoyscope.verify.replay_form import CLOSED_HOST
        from envoyscope.verify.sink import Sink

        self.sink = Sink(CLOSED_HOST)
        self.form = build(self.dump, self.workdir, self.ca, upstream_port=self.sink.port)
        self.envoy = Envoy(self.binary, self.workdir, self.form.bootstrap).start()
        try:
            self._wait_loaded()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_loaded(self) -> None:
        """Until Envoy holds every listener and cluster; one it rejects is left out (noted) and the rest reloaded."""
        assert self.envoy is not None and self.form is not None
        deadline = time.monotonic() + LOAD_TIMEOUT
        missing: list[str] = []
        while time.monotonic() < deadline:
            for kind, name, reason in _log_rejections(self.envoy.log_tail(100000)):
                if name not in self.rejected and any(r.get("name") == name for r in self.form.resources[kind]):
                    self.rejected[name] = reason
                    self.form.drop(kind, name, reason)
                    deadline = max(deadline, time.monotonic() + 5)
            dump = self.envoy.config_dump()
            active, warming = _listener_states(dump)
            clusters, warming_clusters = _cluster_states(dump)
            missing = [n for n in _names(self.form, "listeners") if n not in active]
            missing += [f"cluster {n}" for n in _names(self.form, "clusters") if n not in clusters]
            if not missing and not warming and not warming_clusters and self.envoy.ready() == "LIVE":
                return
            time.sleep(0.1)
        raise EnvoyFailed(f"the replay form did not load in {LOAD_TIMEOUT:.0f}s; still missing or warming: "
                          f"{', '.join(missing[:8]) or 'warming resources'}; /ready says {self.envoy.ready()}; "
                          f"{self.envoy.log_tail(5)}")

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
            self.envoy = None
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Replay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_lines(self) -> list[dict[str, Any]]:
        """Access-log lines not yet taken: those written since the last call, and any left over before."""
        assert self.form is not None
        if not self.form.log.exists():
            return self._pending
        with self.form.log.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
        self._offset += len(complete)
        self._pending.extend(json.loads(line) for line in complete.splitlines() if line.strip())
        return self._pending


def _names(form: ReplayForm, kind: str) -> list[str]:
    return [str(r.get("name")) for r in form.resources[kind]]


def _listener_states(dump: dict[str, Any]) -> tuple[set[str], bool]:
    active, warming = set(), False
    for config in dump.get("configs") or ():
        for entry in config.get("dynamic_listeners") or ():
            if entry.get("active_state"):
                active.add(str(entry.get("name", "")))
            if entry.get("warming_state"):
                warming = True
    return active, warming


def _cluster_states(dump: dict[str, Any]) -> tuple[set[str], bool]:
    names, warming = set(), False
    for config in dump.get("configs") or ():
        for key in ("static_clusters", "dynamic_active_clusters"):
            for entry in config.get(key) or ():
                names.add(str((entry.get("cluster") or {}).get("name", "")))
        if config.get("dynamic_warming_clusters"):
            warming = True
    return names, warming


REJECTED = (re.compile(r"lds: listener '(?P<name>[^']*)' config rejected: (?P<reason>.*)"),
            re.compile(r"Error adding/updating (?P<kind>listener|cluster)\(s\) (?P<name>[^:\s]+): (?P<reason>.*)"),
            re.compile(r"cds: (?:add/update )?cluster '(?P<name>[^']*)'.*?(?:failed|rejected)[^:]*: (?P<reason>.*)"))


def _log_rejections(log: str) -> list[tuple[str, str, str]]:
    """(listeners | clusters, name, reason) for each resource Envoy's log says it rejected."""
    out = []
    for line in log.splitlines():
        for pattern in REJECTED:
            found = pattern.search(line)
            if found:
                groups = found.groupdict()
                kind = groups.get("kind") or ("listener" if pattern is REJECTED[0] else "cluster")
                out.append((f"{kind}s", groups["name"], groups["reason"].strip()[:300]))
                break
    return out
