"""Envoy's admin API over HTTP (httpx): the dumps of a running proxy, live.

``AdminClient(url)`` fetches ``/config_dump?include_eds``, ``/clusters?format=json``, ``/server_info``, ``/certs``
and ``/listeners?format=json`` with a timeout, one retry when the connection is reset, gzip, and a size guard.
Every failure becomes one `AdminError` sentence naming the URL (refused, timed out, not an Envoy, HTTP error).
A custom ``transport`` (e.g. a Kubernetes port-forward) can be given; httpx does the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from envoyscope.errors import AdminError
from envoyscope.model.dump import ConfigDump
from envoyscope.model.parse import parse_document

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

    def server_info(self) -> dict[str, Any]:
        info = self.get_json("/server_info")
        if not isinstance(info, dict) or "version" not in info or "state" not in info:
            raise AdminError(f"{self.label}: /server_info does not look like Envoy's (no version/state)")
        return info

    def dump(self) -> ConfigDump:
        """The proxy's config dump with EDS, and /clusters health merged in."""
        from envoyscope.sources.files import merge_status

        doc = self.get_json(CAPTURE_PATHS["config_dump"])
        if not isinstance(doc, dict) or "configs" not in doc:
            raise AdminError(f"{self.label}/config_dump: answered, but not like Envoy (no `configs`)")
        dump = parse_document(doc, self.label)
        clusters = self.get_json(CAPTURE_PATHS["clusters"])
        if not clusters:  # an Envoy with no cluster at all answers {}
            return dump
        return merge_status(dump, parse_document(clusters, f"{self.label}/clusters"))


def load_admin(url: str, *, timeout: float = 15.0, transport: httpx.BaseTransport | None = None,
               label: str | None = None) -> ConfigDump:
    with AdminClient(url, timeout=timeout, transport=transport, label=label) as client:
        return client.dump()
