"""Proxies known by who they are, read when a question reaches them: what makes a folder of hundreds cheap.

A folder or bundle of several proxies opens as `LazyDump`s: each knows its identity (node id, IPs, pod, namespace,
type, labels) from the bootstrap's node alone — found by a bounded scan of the first bytes of the file
(`envoyscope.sources.scan`), or taken from a capture bundle's manifest — and decodes the whole file only when
something asks for a resource. A trace therefore reads the proxies it crosses, and the commands that go over every
proxy (`envoyscope.sources.every`) read one at a time and let it go.

A `LazyDump` *is* a `ConfigDump`: every field but ``source`` and ``identity`` reads the decoded dump. A proxy whose
file cannot be decoded keeps its error (``error``); ``readable()`` says so instead of raising, so that a trace or
a summary over many proxies leaves that one out with a note.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from envoyscope.errors import EnvoyscopeError
from envoyscope.model.dump import ConfigDump
from envoyscope.model.identity import Identity

# every dataclass field of ConfigDump but the two a LazyDump knows up front: a field added there is delegated too
_DELEGATED = tuple(f.name for f in dataclasses.fields(ConfigDump) if f.name not in ("source", "identity"))


class LazyDump(ConfigDump):
    """One proxy of a folder or bundle: its identity now, its dump on first use (then kept until `unload`)."""

    _read: Callable[[], ConfigDump]
    _dump: ConfigDump | None
    _lock: threading.Lock
    size: int
    files: tuple[str, ...]
    error: EnvoyscopeError | None
    on_load: Callable[[LazyDump], None] | None

    def __init__(self, source: str, identity: Identity, read: Callable[[], ConfigDump], *, size: int = 0,
                 files: tuple[str, ...] = ()) -> None:
        setter = object.__setattr__
        setter(self, "source", source)
        setter(self, "identity", identity)
        setter(self, "_read", read)
        setter(self, "_dump", None)
        setter(self, "_lock", threading.Lock())
        setter(self, "size", size)  # bytes of its file(s): what decoding it costs, roughly
        setter(self, "files", files)  # the files it is read from (its dump, then its /clusters output)
        setter(self, "error", None)  # why it cannot be read, once that is known
        setter(self, "on_load", None)  # called with the proxy when it has been decoded (the CLI prints its notes)

    def load(self) -> ConfigDump:
        """The decoded dump (decoding it now if needed); raises the source's `EnvoyscopeError` if it cannot be."""
        dump = self._dump
        if dump is not None:
            return dump
        with self._lock:
            dump = self._dump
            if dump is None:
                if self.error is not None:
                    raise self.error
                try:
                    dump = self._read()
                except EnvoyscopeError as exc:
                    object.__setattr__(self, "error", exc)
                    raise
                object.__setattr__(self, "_dump", dump)
                if self.on_load is not None:
                    self.on_load(self)
        return dump

    @property
    def loaded(self) -> bool:
        return self._dump is not None

    def readable(self) -> bool:
        try:
            self.load()
        except EnvoyscopeError:
            return False
        return True

    def watch(self, on_load: Callable[[LazyDump], None] | None) -> None:
        """Call ``on_load(self)`` each time the proxy is decoded."""
        object.__setattr__(self, "on_load", on_load)

    def unload(self) -> None:
        """Let the decoded dump go (it is read again if asked for)."""
        object.__setattr__(self, "_dump", None)

    def mentions(self, text: str) -> bool:
        """Whether the proxy's files name ``text`` at all (case-insensitive), without decoding them."""
        if self.loaded or not self.files:
            return True
        from envoyscope.sources.files import read_bytes

        needle = text.lower().encode()
        try:
            return any(needle in read_bytes(name).lower() for name in self.files)
        except EnvoyscopeError:
            return True  # let the decode say what is wrong

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        state = "decoded" if self.loaded else "error" if self.error is not None else "not decoded"
        return f"LazyDump({self.source!r}, {self.identity.name!r}, {state})"


def _delegate(name: str) -> property:
    return property(lambda self: getattr(self.load(), name))


for _name in _DELEGATED:  # the dataclass fields of ConfigDump, read from the decoded dump
    setattr(LazyDump, _name, _delegate(_name))

def unreadable(dumps: Any) -> list[str]:
    """One line per proxy that could not be read: at opening (``dumps.failures``) or when it was reached."""
    lines = list(getattr(dumps, "failures", ()))
    lines += [f"{d.error} (left out)" for d in dumps if isinstance(d, LazyDump) and d.error is not None]
    return lines


class Proxies(list[ConfigDump]):
    """The proxies of the sources, plus what opening them noted: files skipped, proxies that could not be read."""

    def __init__(self, dumps: Any = (), notes: list[str] | None = None, failures: list[str] | None = None) -> None:
        super().__init__(dumps)
        self.notes: list[str] = notes or []
        self.failures: list[str] = failures or []


# --- identities recorded in a file (a bundle's manifest, the identity cache) ---

def identity_to_json(identity: Identity) -> dict[str, Any]:
    return {"node_id": identity.node_id, "node_cluster": identity.node_cluster, "proxy_type": identity.proxy_type,
            "pod": identity.pod, "namespace": identity.namespace, "instance_ips": list(identity.instance_ips),
            "istio_version": identity.istio_version, "istio_proxy_sha": identity.istio_proxy_sha,
            "envoy_version": identity.envoy_version, "mesh_id": identity.mesh_id, "cluster_id": identity.cluster_id,
            "labels": [list(pair) for pair in identity.labels]}


def identity_from_json(doc: Any) -> Identity | None:
    """An identity recorded by `identity_to_json` (a bundle's manifest); None when it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("node_id"), str):
        return None
    try:
        strings = {key: str(doc.get(key) or "") for key in (
            "node_id", "node_cluster", "pod", "namespace", "istio_version", "istio_proxy_sha", "envoy_version",
            "mesh_id", "cluster_id")}
        return Identity(**strings, proxy_type=str(doc.get("proxy_type") or "envoy"),
                        instance_ips=tuple(str(ip) for ip in doc.get("instance_ips") or ()),
                        labels=tuple((str(k), str(v)) for k, v in doc.get("labels") or ()))
    except (TypeError, ValueError):
        return None
