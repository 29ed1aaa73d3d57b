"""Envoy's admin API over HTTP (httpx): the dumps of a running proxy, live.

``AdminClient(url)`` fetches ``/config_dump?include_eds``, ``/clusters?format=json``, ``/server_info``, ``/certs``
and ``/listeners?format=json`` with a timeout, one retry when the connection is reset, gzip, and a size guard.
Every failure becomes one `AdminError` sentence naming the URL (refused, timed out, not an Envoy, HTTP error).
A custom ``transport`` (e.g. a Kubernetes port-forward) can be given; httpx does the rest.

``dump()`` (what ``--admin URL`` and ``--pod`` give every command) reads ``/config_dump?include_eds``,
``/clusters?format=json`` and ``/server_info``: the Envoy version, state (LIVE, DRAINING…), uptime and command-line
options travel with the dump as a `LiveDump`, and the server's node fills the identity when the bootstrap lacks it
(e.g. a node id given with ``--service-node``). ``certs()`` and ``listeners()`` read the other two on demand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from envoyscope.errors import AdminError
from envoyscope.model.dump import ConfigDump
from envoyscope.model.identity import identity_from_bootstrap
from envoyscope.model.parse import parse_document
from envoyscope.model.ztunnel import is_ztunnel_document

MAX_BYTES = 512 * 1024 * 1024  # a 9,000-cluster dump is ~60 MB; this leaves room and stops runaway answers
CAPTURE_PATHS = {
    "config_dump": "/config_dump?include_eds",
    "clusters": "/clusters?format=json",
    "server_info": "/server_info",
    "certs": "/certs",
    "listeners": "/listeners?format=json",
}


@dataclass(frozen=True, slots=True)
class Fetched:
    path: str
    body: bytes


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What Envoy's ``/server_info`` says about the running server."""

    version: str  # as Envoy prints it: ``<sha>/1.31.0/Clean/RELEASE/BoringSSL``
    state: str  # LIVE | DRAINING | PRE_INITIALIZING | INITIALIZING
    uptime_current_epoch: str  # ``1234s``
    uptime_all_epochs: str
    hot_restart_version: str
    command_line_options: dict[str, Any]
    node: dict[str, Any]

    @classmethod
    def from_json(cls, doc: Any, label: str) -> ServerInfo:
        if not isinstance(doc, dict) or "version" not in doc or "state" not in doc:
            raise AdminError(f"{label}: /server_info does not look like Envoy's (no version/state)")
        options, node = doc.get("command_line_options"), doc.get("node")
        return cls(version=str(doc["version"]), state=str(doc["state"]),
                   uptime_current_epoch=str(doc.get("uptime_current_epoch", "")),
                   uptime_all_epochs=str(doc.get("uptime_all_epochs", "")),
                   hot_restart_version=str(doc.get("hot_restart_version", "")),
                   command_line_options=options if isinstance(options, dict) else {},
                   node=node if isinstance(node, dict) else {})

    @property
    def envoy_version(self) -> str:
        """The version without the leading commit sha, in the form the bootstrap's build version gives."""
        head, _, rest = self.version.partition("/")
        return rest if rest and re.fullmatch(r"[0-9a-f]{40}", head) else self.version

    def summary(self) -> str:
        """``LIVE, up 3600s, envoy 1.31.0/Clean/RELEASE/BoringSSL``: one phrase for a header."""
        parts = [self.state]
        if self.uptime_current_epoch:
            parts.append(f"up {self.uptime_current_epoch}")
        if self.envoy_version:
            parts.append(f"envoy {self.envoy_version}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class LiveDump(ConfigDump):
    """A dump read from a running Envoy, with what its ``/server_info`` said at the time."""

    server_info: ServerInfo | None = None


def with_server_info(dump: ConfigDump, info: ServerInfo) -> LiveDump:
    """The dump as a `LiveDump`; the server's node fills the identity when the bootstrap names no node."""
    identity = dump.identity
    if not identity.node_id and info.node:
        identity = identity_from_bootstrap({"node": info.node})
    if identity.envoy_version in ("", "0.0.0") and info.envoy_version:
        identity = dataclasses.replace(identity, envoy_version=info.envoy_version)
    fields = {f.name: getattr(dump, f.name) for f in dataclasses.fields(ConfigDump) if f.name != "_index"}
    fields["identity"] = identity
    return LiveDump(**fields, server_info=info)


class AdminClient:
    """One Envoy admin endpoint."""

    def __init__(self, url: str, *, timeout: float = 15.0, transport: httpx.BaseTransport | None = None,
                 max_bytes: int = MAX_BYTES, label: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            url = f"http://{url}"
        self.url = url.rstrip("/")
        self.label = label or self.url
        self.max_bytes = max_bytes
        self.client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                   headers={"Accept-Encoding": "gzip"}, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, progress: Callable[[int], None] | None = None) -> Fetched:
        """GET ``path``; retried once when the connection drops (a port-forward may reset it)."""
        for attempt in (1, 2):
            try:
                return self._get_once(path, progress)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if attempt == 2:
                    raise AdminError(f"{self.label}{path}: the connection dropped twice during the transfer "
                                     f"({type(exc).__name__})") from exc
            except httpx.ConnectError as exc:
                raise AdminError(f"{self.label}: connection refused or unreachable — is the Envoy admin listening "
                                 "there?") from exc
            except httpx.TimeoutException as exc:
                raise AdminError(f"{self.label}{path}: no answer within {self.client.timeout.read}s") from exc
            except httpx.HTTPError as exc:
                raise AdminError(f"{self.label}{path}: {exc}") from exc
        raise AssertionError("unreachable")

    def _get_once(self, path: str, progress: Callable[[int], None] | None) -> Fetched:
        with self.client.stream("GET", path) as answer:
            if answer.status_code != 200:
                answer.read()
                reason = answer.text.strip().splitlines()[0][:120] if answer.text.strip() else answer.reason_phrase
                raise AdminError(f"{self.label}{path}: HTTP {answer.status_code} ({reason})")
            chunks, size = [], 0
            for chunk in answer.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise AdminError(f"{self.label}{path}: the answer passed {self.max_bytes // 2**20} MB; "
                                     "refusing to read more")
                chunks.append(chunk)
                if progress:
                    progress(size)
        return Fetched(path, b"".join(chunks))

    def get_json(self, path: str) -> Any:
        fetched = self.get(path)
        try:
            return json.loads(fetched.body)
        except ValueError as exc:
            raise AdminError(f"{self.label}{path}: the answer is not JSON — not an Envoy admin endpoint?") from exc

    def server_info(self) -> ServerInfo:
        """``/server_info``: version, state, uptime, command-line options and the node."""
        return ServerInfo.from_json(self.get_json(CAPTURE_PATHS["server_info"]), self.label)

    def certs(self) -> list[dict[str, Any]]:
        """``/certs``: the certificates the server holds (``ca_cert`` and ``cert_chain`` of each TLS context)."""
        doc = self.get_json(CAPTURE_PATHS["certs"])
        if not isinstance(doc, dict) or not isinstance(doc.get("certificates", []), list):
            raise AdminError(f"{self.label}/certs: answered, but not like Envoy (no `certificates` list)")
        return list(doc.get("certificates") or [])

    def listeners(self) -> list[dict[str, Any]]:
        """``/listeners?format=json``: each listener's name and the addresses it is bound to."""
        doc = self.get_json(CAPTURE_PATHS["listeners"])
        if not isinstance(doc, dict) or not isinstance(doc.get("listener_statuses", []), list):
            raise AdminError(f"{self.label}/listeners: answered, but not like Envoy (no `listener_statuses`)")
        return list(doc.get("listener_statuses") or [])

    def dump(self) -> LiveDump:
        """The proxy's config dump with EDS, /clusters health merged in, and /server_info attached."""
        import orjson

        from envoyscope.sources.files import merge_status, quiet_gc

        fetched = self.get(CAPTURE_PATHS["config_dump"])
        captured_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with quiet_gc():  # as for files: a big dump decodes twice as fast without the cycle collector
            try:
                doc = orjson.loads(fetched.body)
            except ValueError as exc:
                raise AdminError(f"{self.label}{fetched.path}: the answer is not JSON — not an Envoy admin endpoint?"
                                 ) from exc
            if is_ztunnel_document(doc):  # a ztunnel's admin (Istio ambient): its own dump, no /clusters
                return _ztunnel_live(parse_document(doc, self.label), fetched.body, captured_at)
            if not isinstance(doc, dict) or "configs" not in doc:
                raise AdminError(f"{self.label}/config_dump: answered, but not like Envoy (no `configs`)")
            parsed = parse_document(doc, self.label)
        # Provenance for reports: the hash of the bytes Envoy sent and when they were read.
        dump = dataclasses.replace(parsed, sha256=hashlib.sha256(fetched.body).hexdigest(),
                                   captured_at=captured_at, _index={})
        clusters = self.get_json(CAPTURE_PATHS["clusters"])
        if clusters:  # an Envoy with no cluster at all answers {}
            dump = merge_status(dump, parse_document(clusters, f"{self.label}/clusters"))
        return with_server_info(dump, self.server_info())


def _ztunnel_live(parsed: ConfigDump, body: bytes, captured_at: str) -> LiveDump:
    fields = {f.name: getattr(parsed, f.name) for f in dataclasses.fields(ConfigDump) if f.name != "_index"}
    fields.update(sha256=hashlib.sha256(body).hexdigest(), captured_at=captured_at)
    return LiveDump(**fields)


def load_admin(url: str, *, timeout: float = 15.0, transport: httpx.BaseTransport | None = None,
               label: str | None = None) -> LiveDump:
    with AdminClient(url, timeout=timeout, transport=transport, label=label) as client:
        return client.dump()
