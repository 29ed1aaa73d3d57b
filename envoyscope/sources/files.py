"""Read dumps from files, folders, ``.gz`` files and standard input: the only place input bytes arrive.

A folder is read as a set of proxies: ``<proxy>.config_dump.json`` + ``<proxy>.clusters.json`` (the layout of
``sample_dumps/`` and of unpacked capture bundles) pair up by proxy name.
"""

from __future__ import annotations

import dataclasses
import gc
import gzip
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import orjson

from envoyscope.errors import DumpFormatError, EnvoyscopeError, InputError
from envoyscope.model.clusters_status import clusters_status_from_text, looks_like_clusters_text
from envoyscope.model.dump import ConfigDump
from envoyscope.model.identity import Identity
from envoyscope.model.parse import parse_document
from envoyscope.sources.lazy import LazyDump, Proxies
from envoyscope.sources.members import listing, member_of, read_member
from envoyscope.sources.scan import identity_of_file

_STATUS_SUFFIXES = (".clusters.json", ".clusters.txt", ".clusters", "_clusters.json", "-clusters.json")
_DUMP_SUFFIXES = (".config_dump.json", "_config_dump.json", "-config-dump.json", ".json", ".json.gz", ".txt")


def read_bytes(source: str) -> bytes:
    """The bytes of a file or of stdin (``-``), gunzipped when they are gzip (a bundle's file read in place:
    its member decompressed)."""
    member = read_member(source)
    if member is not None:
        return member
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


def load_sources(sources: list[str], progress: Callable[[int, int, str], None] | None = None) -> Proxies:
    """Every proxy in the given files and folders, status files attached to their dumps.

    One dump is read at once, as before. Several (a folder, a bundle, many files) open as `LazyDump`s that know
    their identity and decode when first used; one that cannot be read at all is left out with a line in
    ``failures`` (all of them failing is an error). ``progress(done, total, name)`` is called before each file is
    read (or scanned for its identity), and once at the end.
    """
    from envoyscope.sources.bugreport import bug_report_inputs
    from envoyscope.sources.bundle import is_bundle, manifest_identities, unpack, with_capture_time

    inputs: list[tuple[str, str]] = []  # (proxy key, file to read)
    notes: list[str] = []
    known: dict[str, Identity] = {}  # file → identity a bundle's manifest records
    for source in sources:
        path = Path(source)
        if source != "-" and is_bundle(path):
            path = unpack(path)
            known.update(manifest_identities(path))
        report = bug_report_inputs(path) if source != "-" and path.is_dir() else None
        if report is not None:  # an istioctl bug-report archive, or its unpacked folder
            inputs.extend(report[0])
            notes.extend(report[1])
            if not report[0]:
                raise InputError("an istioctl bug-report with no proxy config_dump in proxies/<namespace>/<pod>/ ("
                                 + "; ".join(report[1][:3]) + ")", source=source)
        elif source != "-" and path.is_dir():
            files, skipped = folder_inputs(path)
            notes.extend(skipped)
            if not files:
                raise InputError("folder holds no dump files (JSON dumps, .json.gz, /clusters text)", source=source)
            inputs.extend((str(p.parent / proxy_key(p)), str(p)) for p in files)  # a folder's pair up in it
        else:
            inputs.append((str(path.parent / proxy_key(path)) if source != "-" else "-", source))
    statuses = [(key, name) for key, name in inputs if name != "-" and is_status_file(name)]
    if "-" in sources or len(inputs) - len(statuses) <= 1:
        loaded: list[tuple[str, ConfigDump]] = []
        for done, (key, name) in enumerate(inputs):
            if progress:
                progress(done, len(inputs), name)
            loaded.append((key, load_file(name)))
        if progress:
            progress(len(inputs), len(inputs), "")
        return Proxies([with_capture_time(dump) for dump in pair_status(loaded)], notes)
    return _lazy_proxies(inputs, statuses, known, notes, progress)


def _lazy_proxies(inputs: list[tuple[str, str]], statuses: list[tuple[str, str]], known: dict[str, Identity],
                  notes: list[str], progress: Callable[[int, int, str], None] | None) -> Proxies:
    status_names = {name for _, name in statuses}
    dumps = [(key, name) for key, name in inputs if name not in status_names]
    keys = {key for key, _ in dumps}
    attached: dict[str, list[str]] = {}
    lone = []
    for key, name in statuses:
        if key in keys:
            attached.setdefault(key, []).append(name)
        else:
            lone.append(name)
    proxies = Proxies(notes=notes)
    first_error: EnvoyscopeError | None = None
    todo = [(name, attached.get(key, [])) for key, name in dumps] + [(name, []) for name in lone]
    done = 0
    for name, status_files in todo:
        for file in (name, *status_files):  # a step per file, as when reading them at once
            if progress:
                progress(done, len(inputs), file)
            done += 1
        identity = known.get(name) or identity_of_file(name)
        if identity is None:  # no bootstrap at the start (istioctl lists, /clusters alone): decode it to know
            try:
                identity = load_file(name).identity
            except EnvoyscopeError as exc:
                first_error = first_error or exc
                proxies.failures.append(f"{exc} (left out)")
                continue
        files = (name, *status_files)
        proxies.append(LazyDump(name, identity, partial(_read_proxy, name, tuple(status_files)),
                                size=sum(_size(f) for f in files), files=files))
    if progress:
        progress(len(inputs), len(inputs), "")
    if not proxies and first_error is not None:
        raise first_error
    return proxies


def _read_proxy(name: str, status_files: tuple[str, ...]) -> ConfigDump:
    from envoyscope.sources.bundle import with_capture_time

    dump = load_file(name)
    for status in status_files:
        dump = merge_status(dump, load_file(status))
    return with_capture_time(dump)


def _size(name: str) -> int:
    member = member_of(name)
    if member is not None:
        return member.size
    try:
        return Path(name).stat().st_size
    except OSError:
        return 0


# Files a folder holds beside dumps that are not dumps, left out without a note.
_NOT_DUMPS = (".yaml", ".yml", ".md", ".pem", ".crt", ".key", ".tar.gz", ".tgz")


def folder_inputs(folder: Path) -> tuple[list[Path], list[str]]:
    """The files of a folder to read as inputs, and a note for each file left out as not a dump.

    Names ending like dumps (.json, .json.gz, .clusters, .clusters.txt) are inputs; a file without such an ending
    is looked at (several public dumps have no extension): JSON or /clusters text is an input, anything else is
    left out with a note. Bundle manifests, capture side files and YAML/Markdown are left out silently.
    """
    from envoyscope.sources.bundle import AUX_SUFFIXES

    files, skipped = [], []
    in_place = listing(folder)  # a bundle read in place: its files are not on disk
    for path in sorted(in_place if in_place is not None else (p for p in folder.iterdir() if p.is_file())):
        name = path.name
        if name.startswith(".") or name in ("manifest.json", "scenario.json") or name.endswith(AUX_SUFFIXES):
            continue
        if name.endswith((".json", ".json.gz", ".clusters", ".clusters.txt")):
            files.append(path)
        elif name.endswith(_NOT_DUMPS):
            continue
        elif looks_like_input(str(path)):
            files.append(path)
        else:
            skipped.append(f"{path}: skipped: not a dump (neither JSON nor /clusters text)")
    return files, skipped


def _head_text(name: str) -> str | None:
    from envoyscope.sources.scan import head_bytes

    try:
        head = head_bytes(name, 8192)
    except (OSError, zlib.error):
        return None
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return head.decode("utf-16", errors="ignore")
    if b"\x00" in head:
        return None
    return head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="ignore")


def looks_like_input(name: str) -> bool:
    """Whether a file's first bytes look like a dump: JSON (an object or a list) or ``/clusters`` text."""
    text = _head_text(name)
    if text is None:
        return False
    stripped = text.lstrip()
    return stripped.startswith(("{", "[")) or looks_like_clusters_text(stripped)


_STATUS_JSON = re.compile(r'\{\s*"(cluster_statuses|clusterStatuses)"')


def is_status_file(name: str) -> bool:
    """Whether a file holds ``/clusters`` output (JSON or text) rather than a config dump, by its name or start."""
    if Path(name).name.removesuffix(".gz").endswith(_STATUS_SUFFIXES):
        return True
    text = _head_text(name)
    if text is None:
        return False
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return bool(_STATUS_JSON.match(stripped))
    return looks_like_clusters_text(stripped)


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
