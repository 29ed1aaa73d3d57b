"""Capture bundles: every proxy's admin answers in one ``.tar.gz`` with a manifest, readable offline later.

Layout (flat, so the unpacked folder is an ordinary SOURCE folder): ``<proxy>.config_dump.json``,
``<proxy>.clusters.json``, ``<proxy>.server_info.json``, ``<proxy>.certs.json``, ``<proxy>.listeners.json`` and
``manifest.json`` (identity, labels, IPs, capture time, envoyscope version, sha256 of every file, failures).
Each proxy's entry also holds ``identity``: who the proxy is exactly as its config dump's bootstrap says (what every
command would compute by reading it), so that opening a bundle of hundreds of proxies decodes none of them
(`manifest_identities`); bundles written before it are read as before, each identity found by a scan of its file.
Private keys never enter a bundle: every file is scanned for PEM private key blocks before it is written.

The bundle is laid out so that a proxy is read without the others (``"bundle_layout": 2`` in the manifest; bundles
without it were one gzip stream with the manifest last, and are still read by unpacking them whole): the bundle is
a concatenation of gzip members — a valid gzip stream, which ``tar xzf`` unpacks as one — the first holding the
manifest's tar entry alone, then one member per file (its tar header, body and padding), then one for the end of
the archive. Each file's manifest record has ``gzip_member``: ``[offset, length, start]``, the member's compressed
offset counted from the end of the manifest's member, its compressed length, and where the body starts in it once
decompressed. Counting from the end of the manifest's member is what lets the manifest be written first: its own
compressed size is known only once it is compressed, and the reader learns it by decompressing that member (the
end of the first gzip member). Opening a bundle reads that member alone; a proxy is one seek and one member
decompressed, in memory.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envoyscope import __version__
from envoyscope.errors import EnvoyscopeError, InputError, SourceError
from envoyscope.model.identity import Identity
from envoyscope.sources.lazy import identity_from_json, identity_to_json
from envoyscope.sources.scan import identity_from_head

if TYPE_CHECKING:
    from envoyscope.model.dump import ConfigDump

PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
BASE64_PEM = re.compile(rb'"(LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2})"')  # base64 of "-----BEGIN"
REMOVED = b"[private key removed by envoyscope]"
LAYOUT = 2  # the manifest's ``bundle_layout``: manifest first, one gzip member per file, each member indexed
AUX_SUFFIXES = (".server_info.json", ".certs.json", ".listeners.json")


@dataclass
class ProxyCapture:
    name: str
    files: dict[str, bytes] = field(default_factory=dict)  # kind (config_dump, clusters, …) → body
    identity: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def scrub(body: bytes) -> tuple[bytes, int]:
    """The body with every PEM private key block replaced, and how many there were.

    Both forms a JSON answer can hold are found: the PEM text itself (``inline_string``, with its newlines
    escaped) and the PEM base64-encoded as one string (``inline_bytes``, which starts ``LS0tLS1CRUdJTi``).
    """
    count = len(PRIVATE_KEY.findall(body))
    if count:
        body = PRIVATE_KEY.sub(REMOVED, body)

    def encoded(match: re.Match[bytes]) -> bytes:
        nonlocal count
        try:
            decoded = base64.b64decode(match.group(1), validate=True)
        except (binascii.Error, ValueError):
            return match.group(0)
        if not PRIVATE_KEY.search(decoded):
            return match.group(0)
        count += 1
        return b'"' + REMOVED + b'"'

    return BASE64_PEM.sub(encoded, body), count


def write_bundle(target: Path, captures: list[ProxyCapture], command: list[str],
                 now: dt.datetime | None = None) -> dict[str, Any]:
    """Write the bundle atomically; returns the manifest."""
    now = now or dt.datetime.now(dt.UTC)
    members: dict[str, bytes] = {}
    proxies = []
    for capture in captures:
        entry: dict[str, Any] = {"name": capture.name, **capture.identity, "files": {}}
        if capture.error:
            entry["error"] = capture.error
        for kind, body in capture.files.items():
            clean, removed = scrub(body)
            name = f"{capture.name}.{kind}.json"
            members[name] = clean
            entry["files"][name] = {"sha256": hashlib.sha256(clean).hexdigest(), "bytes": len(clean)}
            if removed:
                entry.setdefault("private_keys_removed", {})[name] = removed
            if kind == "config_dump":
                found = _identity_of(clean, name)
                if found is not None:
                    entry["identity"] = {"file": name, **identity_to_json(found)}
        proxies.append(entry)
    manifest = {"envoyscope_version": __version__, "bundle_layout": LAYOUT,
                "captured_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command, "proxies": proxies,
                "failures": [{"proxy": c.name, "source": c.identity.get("source", c.name), "error": c.error}
                             for c in captures if c.error]}
    mtime = int(now.timestamp())
    compressed: list[bytes] = []
    offset = 0  # from the end of the manifest's member
    uncompressed = 0
    for entry in proxies:
        for name, record in entry["files"].items():
            start, raw = _tar_entry(name, members[name], mtime)
            packed = _gzip_member(raw)
            record["gzip_member"] = [offset, len(packed), start]
            compressed.append(packed)
            offset += len(packed)
            uncompressed += len(raw)
    _, head = _tar_entry("manifest.json", json.dumps(manifest, indent=1).encode(), mtime)
    uncompressed += len(head)
    end = tarfile.NUL * (2 * tarfile.BLOCKSIZE)  # the end-of-archive blocks, then the record's padding as tar does
    end += tarfile.NUL * (-(uncompressed + len(end)) % tarfile.RECORDSIZE)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.resolve().parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_gzip_member(head))
            for packed in compressed:
                out.write(packed)
            out.write(_gzip_member(end))
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SourceError(f"{target}: cannot write the bundle: {exc.strerror or exc}") from exc
    return manifest


def _tar_entry(name: str, body: bytes, mtime: int) -> tuple[int, bytes]:
    """One file as tar writes it (header, body, padding to a block), and where its body starts."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(body), mtime, 0o644
    header = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    return len(header), header + body + tarfile.NUL * (-len(body) % tarfile.BLOCKSIZE)


def _gzip_member(raw: bytes) -> bytes:
    pack = zlib.compressobj(6, zlib.DEFLATED, 31)
    return pack.compress(raw) + pack.flush()


def _identity_of(body: bytes, name: str) -> Identity | None:
    """The identity a reader of this config dump computes: from the bootstrap at its start, else decoding it."""
    found = identity_from_head(body, name)
    if found is not None:
        return found
    from envoyscope.sources.files import parse_bytes

    try:
        return parse_bytes(body, name).identity
    except EnvoyscopeError:
        return None


def manifest_identities(folder: Path) -> dict[str, Identity]:
    """File (in the unpacked folder) → the identity the bundle's manifest records for it; empty for bundles
    written before manifests held identities, or a manifest that cannot be read."""
    try:
        manifest = json.loads((folder / "manifest.json").read_bytes())
    except (OSError, ValueError):
        return {}
    found: dict[str, Identity] = {}
    for entry in manifest.get("proxies") or () if isinstance(manifest, dict) else ():
        record = entry.get("identity") if isinstance(entry, dict) else None
        identity = identity_from_json(record)
        if identity is not None and isinstance(record, dict) and isinstance(record.get("file"), str) \
                and "/" not in record["file"]:
            found[str(folder / record["file"])] = identity
    return found


def is_bundle(path: Path) -> bool:
    return path.is_file() and path.name.endswith((".tar.gz", ".tgz"))


# Every folder `unpack` made, and the bundle it came from: reports name the bundle, not the temporary folder.
UNPACKED: dict[Path, Path] = {}


def bundle_origin(source: str) -> tuple[Path, str, dict[str, Any]] | None:
    """For a file read from an unpacked bundle: (the bundle, the member's name, the bundle's manifest)."""
    path = Path(source)
    bundle = UNPACKED.get(path.parent)
    if bundle is None:
        return None
    try:
        manifest = json.loads((path.parent / "manifest.json").read_bytes())
    except (OSError, ValueError):
        manifest = {}
    return bundle, path.name, manifest if isinstance(manifest, dict) else {}


def with_capture_time(dump: ConfigDump) -> ConfigDump:
    """A dump read from a bundle, with the capture time its manifest recorded (when the dump has none): the
    moment its certificates are judged at, and its findings (`envoyscope.model.captured`)."""
    origin = bundle_origin(dump.source)
    stamp = origin[2].get("captured_at") if origin is not None else None
    if dump.captured_at or not isinstance(stamp, str) or not stamp:
        return dump
    return replace(dump, captured_at=stamp, _index={})


MANIFEST_LIMIT = 64 << 20  # decompressed bytes of a first member read to find an indexed bundle's manifest


def _indexed_manifest(path: Path) -> tuple[bytes, dict[str, Any], int] | None:
    """An indexed bundle's manifest (its bytes, decoded) and where its gzip member ends; None for another layout
    (read by unpacking it whole), found from the first bytes: a bundle of the old layout is one gzip member whose
    first tar entry is not the manifest."""
    inflate = zlib.decompressobj(wbits=31)
    out = bytearray()
    read = 0
    expected: int | None = None  # the first entry's decompressed bytes (header and padded body)
    try:
        with path.open("rb") as handle:
            while not inflate.eof:
                chunk = handle.read(1 << 16)
                if not chunk:
                    return None
                read += len(chunk)
                out += inflate.decompress(chunk)
                if expected is None and len(out) >= tarfile.BLOCKSIZE:
                    info = tarfile.TarInfo.frombuf(bytes(out[:tarfile.BLOCKSIZE]), "utf-8", "surrogateescape")
                    if info.name != "manifest.json" or not info.isfile() or info.size > MANIFEST_LIMIT:
                        return None
                    expected = tarfile.BLOCKSIZE + info.size + (-info.size % tarfile.BLOCKSIZE)
                if expected is not None and len(out) > expected:
                    return None  # more than the manifest in its member: not the indexed layout
    except (OSError, EOFError, zlib.error, tarfile.TarError):
        return None  # unpacking it says what is wrong
    if expected is None or len(out) != expected:
        return None
    body = bytes(out[tarfile.BLOCKSIZE:expected]).rstrip(tarfile.NUL)
    try:
        manifest = json.loads(body)
    except ValueError:
        return None
    if not isinstance(manifest, dict) or manifest.get("bundle_layout") != LAYOUT:
        return None
    return body, manifest, read - len(inflate.unused_data)


def _open_indexed(path: Path, folder: Path, body: bytes, manifest: dict[str, Any], base: int) -> Path:
    """The folder of an indexed bundle: its manifest written, every other file registered to be read in place."""
    from envoyscope.sources.members import Member, register

    (folder / "manifest.json").write_bytes(body)
    for entry in manifest.get("proxies") or ():
        files = entry.get("files") if isinstance(entry, dict) else None
        for name, record in (files or {}).items() if isinstance(files, dict) else ():
            where = record.get("gzip_member") if isinstance(record, dict) else None
            if not isinstance(name, str) or "/" in name or name.startswith(".") or name == "manifest.json":
                raise InputError(f"unexpected member `{name}` in the manifest", source=str(path))
            if not (isinstance(where, list) and len(where) == 3 and all(type(n) is int and n >= 0 for n in where)
                    and isinstance(record.get("bytes"), int)):
                raise InputError(f"the manifest's index of `{name}` is not [offset, length, start] ({where!r})",
                                 source=str(path))
            # a member past the end of a bundle cut short fails when read, that proxy alone
            register(folder, name, Member(path, base + where[0], where[1], where[2], record["bytes"]))
    return folder


def unpack(path: Path) -> Path:
    """Unpack a bundle into a folder kept until the process ends; refuses unsafe member names.

    A bundle of the indexed layout is not unpacked: its folder holds the manifest alone, and every other file is
    read from its own gzip member when asked for (`envoyscope.sources.members`).

    An ``istioctl bug-report`` archive (`envoyscope.sources.bugreport`) is recognised by its layout: only its
    proxies' config dumps and ``/clusters`` answers are extracted, under ``bug-report/proxies/<ns>/<pod>/``."""
    from envoyscope.sources.bugreport import PROXIES, admin_file_kind, pod_folder, proxy_member

    indexed = _indexed_manifest(path)
    folder = Path(tempfile.mkdtemp(prefix="envoyscope-bundle-"))
    UNPACKED[folder] = path
    atexit.register(shutil.rmtree, folder, True)
    if indexed is not None:
        return _open_indexed(path, folder, *indexed)
    unexpected: str | None = None
    pods = 0
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = member.name.removeprefix("./").split("/")
                found = proxy_member(parts) if member.isfile() else None
                pod = pod_folder(parts)
                if pod is not None:  # a bug-report pod folder: its config dump and /clusters, or just its place
                    where = folder / "bug-report" / PROXIES / pod[0] / pod[1]
                    where.mkdir(parents=True, exist_ok=True)
                    pods += 1
                    kind = admin_file_kind(found[2]) if found else None
                    data = tar.extractfile(member) if kind else None
                    if kind and data is not None:
                        (where / kind).write_bytes(data.read())
                    continue
                if not member.isfile() or len(parts) != 1 or parts[0].startswith("."):
                    unexpected = unexpected or member.name
                    continue
                data = tar.extractfile(member)
                if data is not None:
                    (folder / parts[0]).write_bytes(data.read())
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise InputError(f"not a readable .tar.gz bundle ({exc})", source=str(path)) from exc
    if pods:
        return folder
    if unexpected is not None:
        raise InputError(f"unexpected member `{unexpected}` (not an envoyscope bundle, nor an istioctl bug-report "
                         "archive)", source=str(path))
    if not (folder / "manifest.json").exists():
        raise InputError("no manifest.json: not an envoyscope capture bundle (nor an istioctl bug-report archive: "
                         "no proxies/<namespace>/<pod>/)", source=str(path))
    return folder
