"""The indexed bundle layout (issue 16): the manifest first, each file its own gzip member, indexed in the manifest.

- opening such a bundle decodes no proxy, and a trace decodes (and decompresses) only the proxies it crosses;
- it is still one valid ``.tar.gz``: Python's `tarfile` and the system ``tar xzf`` unpack it to the same files;
- a bundle of the old layout (one gzip stream, the manifest last) still reads, unpacked whole;
- a truncated or corrupt member fails that proxy alone, with one line, exit 1.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.sources import files, members
from envoyscope.sources.bundle import ProxyCapture, write_bundle
from envoyscope.sources.files import load_sources
from envoyscope.sources.lazy import LazyDump
from tests.cli.test_scale import SAMPLES, run, sleep_copies

TO = ("nginx.external.svc.cluster.local", 80)


def captures_of(folder: Path) -> list[ProxyCapture]:
    found = []
    for path in sorted(folder.glob("*.config_dump.json")):
        files = {"config_dump": path.read_bytes()}
        status = path.with_name(path.name.replace("config_dump", "clusters"))
        if status.exists():
            files["clusters"] = status.read_bytes()
        found.append(ProxyCapture(path.name.removesuffix(".config_dump.json"), files))
    return found


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full decode of an input, by source."""
    seen: list[str] = []
    real = files.parse_bytes

    def counting(data: bytes, source: str):  # type: ignore[no-untyped-def]
        seen.append(source)
        return real(data, source)

    monkeypatch.setattr(files, "parse_bytes", counting)
    return seen


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every member decompressed whole, by file name."""
    seen: list[str] = []
    real = members.read_member

    def counting(path: str) -> bytes | None:
        if path in members.MEMBERS:
            seen.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(members, "read_member", counting)
    monkeypatch.setattr("envoyscope.sources.files.read_member", counting)
    return seen


def test_a_trace_over_an_indexed_bundle_decodes_only_those_it_crosses(tmp_path: Path, decodes: list[str],
                                                                      reads: list[str]) -> None:
    folder = sleep_copies(tmp_path / "mesh", 40)
    bundle = tmp_path / "capture.tar.gz"
    manifest = write_bundle(bundle, captures_of(folder), ["test"])
    assert manifest["bundle_layout"] == 2
    dumps = load_sources([str(bundle)])
    assert len(dumps) == 42 and all(isinstance(d, LazyDump) for d in dumps)
    assert decodes == [] and reads == [], "opening the bundle decoded or decompressed proxies"
    unpacked = Path(dumps[0].source).parent
    assert sorted(p.name for p in unpacked.iterdir()) == ["manifest.json"], "files were written to disk"
    # the head of a member (what the identity scan and the status sniffing read) is the file's start
    sleep = str(unpacked / "sleep.config_dump.json")
    assert members.head_of_member(sleep, 300) == (folder / "sleep.config_dump.json").read_bytes()[:300]
    result = trace(TraceRequest(*TO, ip="10.96.30.30", headers=(("want", "v1"),), from_proxy="sleep"), dumps)
    crossed = [hop.proxy for hop in result.hops]
    assert len(crossed) == 2 and "egressgateway" in crossed[1], crossed
    assert sorted(d.identity.name for d in dumps if d.loaded) == sorted(crossed)
    expected = ["egressgateway.clusters.json", "egressgateway.config_dump.json", "sleep.clusters.json",
                "sleep.config_dump.json"]
    assert sorted(Path(s).name for s in decodes) == expected
    assert sorted(reads) == expected
    # the same answer as on the folder it was written from
    on_folder = trace(TraceRequest(*TO, ip="10.96.30.30", headers=(("want", "v1"),), from_proxy="sleep"),
                      load_sources([str(folder)]))
    assert [(h.proxy, h.route) for h in on_folder.hops] == [(h.proxy, h.route) for h in result.hops]


def test_tar_unpacks_an_indexed_bundle_to_the_same_files(tmp_path: Path) -> None:
    scenario = SAMPLES / "mesh-mtls"
    bundle = tmp_path / "capture.tar.gz"
    manifest = write_bundle(bundle, captures_of(scenario), ["test"])
    expected = {name: record["sha256"] for entry in manifest["proxies"] for name, record in entry["files"].items()}
    by_python = tmp_path / "python"
    with tarfile.open(bundle, "r:gz") as tar:
        assert tar.getnames()[0] == "manifest.json"
        tar.extractall(by_python, filter="data")
    by_tar = tmp_path / "tar"
    by_tar.mkdir()
    if shutil.which("tar"):
        subprocess.run(["tar", "xzf", str(bundle), "-C", str(by_tar)], check=True, capture_output=True)
    for where in (by_python, by_tar) if shutil.which("tar") else (by_python,):
        names = {p.name for p in where.iterdir()}
        assert names == {*expected, "manifest.json"}, where
        assert {n: hashlib.sha256((where / n).read_bytes()).hexdigest() for n in expected} == expected
        assert json.loads((where / "manifest.json").read_bytes()) == manifest
    for name in expected:  # each body is the scenario's file, unchanged (no private keys in the samples)
        assert (by_python / name).read_bytes() == (scenario / name).read_bytes()


def test_an_old_layout_bundle_still_reads(tmp_path: Path, decodes: list[str]) -> None:
    """One gzip stream, the manifest last, no index: unpacked whole, as before."""
    scenario = SAMPLES / "mesh-mtls"
    manifest = write_bundle(tmp_path / "new.tar.gz", captures_of(scenario), ["test"])
    old_manifest = {k: v for k, v in manifest.items() if k != "bundle_layout"}
    for entry in old_manifest["proxies"]:
        for record in entry["files"].values():
            record.pop("gzip_member")
    bundle = tmp_path / "old.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        for path in [*sorted(scenario.glob("*.json")), None]:
            body = path.read_bytes() if path else json.dumps(old_manifest).encode()
            info = tarfile.TarInfo(path.name if path else "manifest.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    decodes.clear()
    dumps = load_sources([str(bundle)])
    assert decodes == []
    unpacked = Path(dumps[0].source).parent
    assert (unpacked / "sleep.config_dump.json").exists(), "the old layout is unpacked whole"
    new = load_sources([str(tmp_path / "new.tar.gz")])
    assert [d.identity for d in dumps] == [d.identity for d in new]
    assert [len(d.listeners) for d in dumps] == [len(d.listeners) for d in new]


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_broken_member_fails_that_proxy_alone(tmp_path: Path, damage: str) -> None:
    scenario = SAMPLES / "mesh-mtls"
    bundle = tmp_path / "capture.tar.gz"
    captures = captures_of(scenario)  # the gateway's dump last: a bundle cut short loses it alone
    gateway = captures.pop(0)
    captures.append(ProxyCapture(gateway.name, {"config_dump": gateway.files["config_dump"]}))
    manifest = write_bundle(bundle, captures, ["test"])
    data = bytearray(bundle.read_bytes())
    head = len(data) - sum(r["gzip_member"][1] for e in manifest["proxies"] for r in e["files"].values()) - \
        _end_member_length(data)
    offset, length, _ = manifest["proxies"][-1]["files"]["egressgateway.config_dump.json"]["gzip_member"]
    start = head + offset
    if damage == "truncated":  # the bundle cut short in the middle of the gateway's member
        del data[start + length // 2:]
    else:  # bytes of its deflate stream overwritten
        data[start + length // 2:start + length // 2 + 64] = bytes(64)
    bundle.write_bytes(bytes(data))
    result = run("trace", str(bundle), "--from", "sleep", "--to", "httpbin.web.svc.cluster.local:8000", "-o", "json")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "(left out)" in line]
    assert len(lines) == 1 and "egressgateway.config_dump.json" in lines[0], result.stderr
    hops = [h["proxy"] for h in json.loads(result.stdout)["hops"]]
    assert hops[0].startswith("sleep") and any(h.startswith("httpbin") for h in hops), hops


def _end_member_length(data: bytearray) -> int:
    """The compressed length of the last gzip member (the end of the archive), found by decompressing from each
    gzip header near the end."""
    import zlib

    for start in range(len(data) - 18, 0, -1):
        if data[start:start + 3] == b"\x1f\x8b\x08":
            inflate = zlib.decompressobj(wbits=31)
            try:
                inflate.decompress(bytes(data[start:]))
            except zlib.error:
                continue
            if inflate.eof and not inflate.unused_data:
                return len(data) - start
    raise AssertionError("no last gzip member")
