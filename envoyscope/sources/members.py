"""Files of a capture bundle read in place: each is one gzip member of the bundle, decompressed when read.

A bundle of the indexed layout (`envoyscope.sources.bundle`, ``bundle_layout`` 2) opens as a temporary folder
holding its manifest alone; every other file is registered here under the path it would have in that folder, with
where its gzip member lies in the bundle. Reading such a path (`envoyscope.sources.files.read_bytes`, the identity
scan's `head_bytes`) seeks to the member and decompresses just it, in memory: nothing else is written to disk.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from envoyscope.errors import InputError


@dataclass(frozen=True)
class Member:
    bundle: Path
    offset: int  # of its gzip member in the bundle, in bytes
    length: int  # compressed bytes of the member
    start: int  # where the file's bytes start in the decompressed member (after its tar header)
    size: int  # the file's bytes


# path in the bundle's folder → its member; a folder → the paths registered in it, in the bundle's order
MEMBERS: dict[str, Member] = {}
LISTINGS: dict[Path, list[Path]] = {}


def register(folder: Path, name: str, member: Member) -> None:
    MEMBERS[str(folder / name)] = member
    LISTINGS.setdefault(folder, []).append(folder / name)


def listing(folder: Path) -> list[Path] | None:
    """The files of a bundle's folder read in place, or None for an ordinary folder."""
    return LISTINGS.get(folder)


def member_of(path: str) -> Member | None:
    return MEMBERS.get(path)


def head_of_member(path: str, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of the start of a bundle's file read in place, decompressing only that far (None when
    ``path`` is not one); raises `OSError` or `zlib.error` as reading the head of a file on disk does."""
    member = MEMBERS.get(path)
    if member is None:
        return None
    with member.bundle.open("rb") as handle:
        handle.seek(member.offset)
        raw = handle.read(min(member.length, member.start + limit + 4096))  # deflate never grows text more
    data = zlib.decompressobj(wbits=31).decompress(raw, member.start + min(limit, member.size))
    return data[member.start:]


def read_member(path: str) -> bytes | None:
    """The bytes of a bundle's file read in place (None when ``path`` is not one); a member that is truncated or
    corrupt raises `InputError` naming the file, as a broken file on disk does."""
    member = MEMBERS.get(path)
    if member is None:
        return None
    try:
        with member.bundle.open("rb") as handle:
            handle.seek(member.offset)
            raw = handle.read(member.length)
    except OSError as exc:
        raise InputError(f"cannot read it from the bundle {member.bundle}: {exc.strerror or exc}",
                         source=path) from exc
    inflate = zlib.decompressobj(wbits=31)
    try:
        data = inflate.decompress(raw)
    except zlib.error as exc:
        raise InputError(f"broken gzip member in the bundle {member.bundle} ({exc})", source=path) from exc
    if not inflate.eof or len(data) < member.start + member.size:
        raise InputError(f"truncated gzip member in the bundle {member.bundle} ({len(raw)} of {member.length} "
                         "compressed bytes)", source=path)
    return data[member.start:member.start + member.size]
