"""Read dumps from files, folders, ``.gz`` files and standard input: the only place input bytes arrive.

A folder is read as a set of proxies: ``<proxy>.config_dump.json`` + ``<proxy>.clusters.json`` (the layout of
``sample_dumps/`` and of unpacked capture bundles) pair up by proxy name.
"""

from __future__ import annotations

import dataclasses
import gc
import gzip
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from envoyscope.errors import DumpFormatError, InputError
from envoyscope.model.clusters_status import clusters_status_from_text, looks_like_clusters_text
from envoyscope.model.dump import ConfigDump
from envoyscope.model.identity import Identity
from envoyscope.model.parse import parse_document

_STATUS_SUFFIXES = (".clusters.json", ".clusters.txt", ".clusters", "_clusters.json", "-clusters.json")
_DUMP_SUFFIXES = (".config_dump.json", "_config_dump.json", "-config-dump.json", ".json", ".json.gz", ".txt")


def read_bytes(source: str) -> bytes:
    """The bytes of a file or of stdin (``-``), gunzipped when they are gzip."""
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except FileNotFoundError as exc:
        raise InputError("no such file", source=source) from exc
    except IsADirectoryError as exc:
        raise InputError("is a directory", source=source) from exc
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=source) from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"broken gzip data ({exc})", source=source) from exc
    return data


@contextmanager
def quiet_gc() -> Iterator[None]:
    """No cyclic garbage collection while a dump is decoded, then its objects frozen out of later collections.

    orjson builds millions of dicts and lists; each 700 allocations Python's collector runs, and the older
    generations walk the whole growing tree again and again: half of the load time of a 60 MB dump (bench/).
    A decoded dump holds no cycles, so reference counting frees it as well without the collector; frozen, its
    objects are not walked again by the collections the TUI triggers while it runs.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def parse_bytes(data: bytes, source: str) -> ConfigDump:
    """Decode and parse one input: JSON of any accepted form, or ``/clusters`` text."""
    with quiet_gc():
        return _parse_bytes(data, source)


def _parse_bytes(data: bytes, source: str) -> ConfigDump:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with a BOM, as PowerShell's `>` writes files
        data = data.decode("utf-16", errors="replace").encode()
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
    if not data.strip():
        raise InputError("file is empty", source=source)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        text = _as_text(data)
        if text is not None and looks_like_clusters_text(text):
            status = clusters_status_from_text(text)
            return ConfigDump(source=source, identity=Identity(), clusters_status=status,
                              sections=frozenset({"clusters_status"}))
        if text is None:
            raise InputError("binary data, not JSON or /clusters text", source=source) from exc
        raise DumpFormatError(f"invalid JSON: {_json_problem(exc)}", source=source) from exc
    return parse_document(doc, source)


def _as_text(data: bytes) -> str | None:
    if b"\x00" in data[:4096]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _json_problem(exc: orjson.JSONDecodeError) -> str:
    message = str(exc.msg) if hasattr(exc, "msg") else str(exc)
    if message.startswith("EOF") or "unexpected end" in message.lower():
        message = "truncated (ends before the JSON is complete)"
    return f"{message} at line {exc.lineno} column {exc.colno}"


def load_file(source: str) -> ConfigDump:
    if source != "-":
        return parse_bytes(read_bytes(source), source)
    # Standard input leaves no file behind: its hash and the time it was read are all a report can name.
    import datetime as dt
    import hashlib

    data = read_bytes(source)
    dump = parse_bytes(data, source)
    return dataclasses.replace(dump, sha256=hashlib.sha256(data).hexdigest(),
                               captured_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), _index={})


def proxy_key(path: Path) -> str:
    """The proxy a file belongs to: its name without the dump/status suffix."""
    name = path.name.removesuffix(".gz")
    for suffix in _STATUS_SUFFIXES + _DUMP_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def merge_status(dump: ConfigDump, status_dump: ConfigDump) -> ConfigDump:
    """A config dump with the /clusters health of another input attached."""
    return dataclasses.replace(
        dump,
        clusters_status=status_dump.clusters_status,
        sections=dump.sections | {"clusters_status"},
        _index={},
    )


def load_sources(sources: list[str], progress: Callable[[int, int, str], None] | None = None) -> list[ConfigDump]:
    """Every proxy in the given files and folders, status files attached to their dumps.

    ``progress(done, total, name)`` is called before each file is read, and once at the end.
    """
    from envoyscope.sources.bundle import is_bundle, unpack

    inputs: list[tuple[str, str]] = []  # (proxy key, file to read)
    for source in sources:
        path = Path(source)
        if source != "-" and is_bundle(path):
            path = unpack(path)
        if source != "-" and path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and _is_input(p))
            if not files:
                raise InputError("folder holds no dump files (*.json, *.json.gz, /clusters text)", source=source)
            inputs.extend((proxy_key(p), str(p)) for p in files)
        else:
            inputs.append((proxy_key(path) if source != "-" else "-", source))
    loaded: list[tuple[str, ConfigDump]] = []
    for done, (key, name) in enumerate(inputs):
        if progress:
            progress(done, len(inputs), name)
        loaded.append((key, load_file(name)))
    if progress:
        progress(len(inputs), len(inputs), "")
    from envoyscope.sources.bundle import with_capture_time

    return [with_capture_time(dump) for dump in pair_status(loaded)]


def _is_input(path: Path) -> bool:
    name = path.name
    from envoyscope.sources.bundle import AUX_SUFFIXES

    return name.endswith((".json", ".json.gz", ".clusters", ".clusters.txt")) and name not in (
        "manifest.json", "scenario.json") and not name.endswith(AUX_SUFFIXES)


def pair_status(loaded: list[tuple[str, ConfigDump]]) -> list[ConfigDump]:
    """Attach status-only inputs to the dump of the same proxy key (or to the only dump there is)."""
    dumps = [(key, dump) for key, dump in loaded if not _status_only(dump)]
    statuses = [(key, dump) for key, dump in loaded if _status_only(dump)]
    by_key = {key: index for index, (key, _) in enumerate(dumps)}
    result = [dump for _, dump in dumps]
    for key, status in statuses:
        if key in by_key:
            index = by_key[key]
        elif len(result) == 1:
            index = 0
        else:
            result.append(status)
            continue
        result[index] = merge_status(result[index], status)
    return result


def _status_only(dump: ConfigDump) -> bool:
    return dump.sections == frozenset({"clusters_status"})
