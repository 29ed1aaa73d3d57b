"""Mesh scale (issue 16): a folder or bundle of many proxies costs what the question needs.

- a trace over a large generated folder decodes only the proxies it crosses (decodes counted), its report lists
  those and counts the others without decoding them, and a bundle's manifest gives every identity without
  decoding anything (old bundles still open);
- a proxy that cannot be read fails alone: one line naming it, exit 1, and every command still answers for the
  others (trace: it is followed as if it were not given; summaries, egress, check: its section is left out;
  diff: its pair is left out);
- the commands over every proxy give the same output in a pool of processes as in one;
- folders read dumps by their content, not their names (a dump without an extension; a non-dump noted).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.sources import files
from envoyscope.sources.bundle import ProxyCapture, write_bundle
from envoyscope.sources.files import load_sources
from envoyscope.sources.lazy import LazyDump

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_dumps"
REAL = ROOT.parent / "shared" / "fixtures" / "real-dumps"
DSB = REAL / "deathstarbench-geo-sidecar-1.18" / "config_dump.json"
needs_real = pytest.mark.skipif(not DSB.exists(), reason="../shared/fixtures/real-dumps is absent")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, check=False, env={**os.environ, **(env or {})})


def with_identity(data: bytes, pod: bytes, ip: bytes, new_pod: str, new_ip: str) -> bytes:
    """A copy of a dump whose bootstrap names another pod and IP (the resources unchanged)."""
    end = data.index(b"ClustersConfigDump")
    return data[:end].replace(pod, new_pod.encode()).replace(ip, new_ip.encode()) + data[end:]


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


def sleep_copies(folder: Path, count: int) -> Path:
    """egress-mtls-subsets (sleep → egress gateway) plus ``count`` other sleep pods, each with its own name and IP."""
    scenario = SAMPLES / "egress-mtls-subsets"
    folder.mkdir()
    for path in scenario.glob("*.json"):
        shutil.copy(path, folder / path.name)
    sleep = (scenario / "sleep.config_dump.json").read_bytes()
    ident = json.loads(sleep)["configs"][0]["bootstrap"]["node"]["id"].split("~")
    pod, ip = ident[2].split(".")[0].encode(), ident[1].encode()
    for i in range(count):
        (folder / f"other-{i:03d}.config_dump.json").write_bytes(
            with_identity(sleep, pod, ip, f"other-{i:03d}-7f8d9c6b5d-abcde", f"10.250.{i // 200}.{i % 200 + 1}"))
    return folder


def test_a_trace_over_many_proxies_decodes_only_those_it_crosses(tmp_path: Path, decodes: list[str]) -> None:
    folder = sleep_copies(tmp_path / "mesh", 60)
    dumps = load_sources([str(folder)])
    assert len(dumps) == 62 and all(isinstance(d, LazyDump) for d in dumps)
    assert decodes == [], "opening the folder decoded dumps"
    result = trace(TraceRequest("nginx.external.svc.cluster.local", 80, ip="10.96.30.30", headers=(("want", "v1"),),
                                from_proxy="sleep"), dumps)
    crossed = [hop.proxy for hop in result.hops]
    assert len(crossed) == 2 and "egressgateway" in crossed[1], crossed
    assert sorted(d.identity.name for d in dumps if d.loaded) == sorted(crossed)
    # each crossed proxy decoded once (its dump, then its /clusters file attached)
    assert sorted(Path(s).name for s in decodes) == ["egressgateway.clusters.json", "egressgateway.config_dump.json",
                                                     "sleep.clusters.json", "sleep.config_dump.json"]


def test_a_report_over_many_proxies_lists_those_the_trace_read(tmp_path: Path, decodes: list[str]) -> None:
    """--report's provenance: the proxies the trace read, each hashed and dated, and a count of the others, which
    it does not decode."""
    from envoyscope.report.write import render_report

    folder = sleep_copies(tmp_path / "mesh", 60)
    dumps = load_sources([str(folder)])
    result = trace(TraceRequest("nginx.external.svc.cluster.local", 80, ip="10.96.30.30", headers=(("want", "v1"),),
                                from_proxy="sleep"), dumps)
    crossed = sorted(hop.proxy for hop in result.hops)
    before = len(decodes)
    report = json.loads(render_report(result, dumps, "json", ["envoyscope"]))
    assert len(decodes) == before == 4, "the report decoded proxies the trace did not read"
    provenance = report["provenance"]
    assert sorted(src["proxy"] for src in provenance["sources"]) == crossed
    assert all(src["sha256"] and src["last_config_update"] for src in provenance["sources"])
    assert provenance["unread_proxies"] == 60
    markdown = render_report(result, dumps, "markdown", ["envoyscope"])
    assert "60 other proxies of the sources were not read: the trace did not reach them." in markdown
    assert "other-000" not in markdown and len(decodes) == 4


def test_the_lazy_folder_traces_as_the_dumps_read_at_once(tmp_path: Path) -> None:
    """Same trace, same JSON, whether the proxies are read lazily (a folder) or each given as a file at once."""
    folder = sleep_copies(tmp_path / "mesh", 3)
    args = ["--to", "nginx.external.svc.cluster.local", "-H", "want: v2", "--from", "sleep", "-o", "json"]
    lazy = run("trace", str(folder), *args)
    each = run("trace", *[str(p) for p in sorted(folder.glob("*.config_dump.json"))], *args)
    assert lazy.returncode == 0, lazy.stderr
    assert json.loads(lazy.stdout)["hops"] and json.loads(lazy.stdout)["hops"] == json.loads(each.stdout)["hops"]


@needs_real
def test_real_dump_copies_decode_only_the_two_crossed(tmp_path: Path, decodes: list[str]) -> None:
    """40 copies of the DeathStarBench sidecar; the last one has profile.hr2's endpoint IP."""
    data = DSB.read_bytes()
    folder = tmp_path / "dsb"
    folder.mkdir()
    for i in range(40):
        ip = "172.16.188.22" if i == 39 else f"10.200.0.{i + 1}"
        (folder / f"geo-{i:02d}.config_dump.json").write_bytes(
            with_identity(data, b"geo-5c54dcd5bd-z5ghf", b"172.16.188.31", f"geo-5c54dcd5bd-c{i:04d}", ip))
    dumps = load_sources([str(folder)])
    assert decodes == []
    result = trace(TraceRequest("profile.hr2.svc.cluster.local", 8081, from_proxy="geo-5c54dcd5bd-c0007"), dumps)
    assert [h.proxy for h in result.hops] == ["geo-5c54dcd5bd-c0007.hr2", "geo-5c54dcd5bd-c0039.hr2"]
    assert len(decodes) == 2


def test_a_bundle_manifest_gives_every_identity_without_decoding(tmp_path: Path, decodes: list[str]) -> None:
    scenario = SAMPLES / "mesh-mtls"
    captures = [ProxyCapture(p.name.removesuffix(".config_dump.json"), {
        "config_dump": p.read_bytes(), "clusters": p.with_name(p.name.replace("config_dump", "clusters")).read_bytes()})
        for p in sorted(scenario.glob("*.config_dump.json"))]
    manifest = write_bundle(tmp_path / "new.tar.gz", captures, ["test"])
    assert all(entry["identity"]["node_id"] for entry in manifest["proxies"])
    decodes.clear()
    new = load_sources([str(tmp_path / "new.tar.gz")])
    assert decodes == [], "opening a bundle decoded dumps"
    # A bundle written before manifests held identities: the same proxies, found by their files.
    old_manifest = {**manifest, "proxies": [{k: v for k, v in e.items() if k != "identity"}
                                            for e in manifest["proxies"]]}
    folder = tmp_path / "old"
    folder.mkdir()
    for path in scenario.glob("*.json"):
        shutil.copy(path, folder / path.name)
    (folder / "manifest.json").write_text(json.dumps(old_manifest))
    old = load_sources([str(folder)])
    assert decodes == []
    full = [files.load_file(str(p)).identity for p in sorted(scenario.glob("*.config_dump.json"))]
    assert [d.identity for d in new] == [d.identity for d in old] == full


def broken_folder(tmp_path: Path) -> Path:
    """mesh-mtls (sleep, httpbin, egress gateway), plus a dump cut after its bootstrap and a file of garbage."""
    folder = tmp_path / "mesh"
    folder.mkdir()
    for path in (SAMPLES / "mesh-mtls").glob("*.json"):
        shutil.copy(path, folder / path.name)
    whole = (SAMPLES / "egress-mtls-subsets" / "sleep.config_dump.json").read_bytes()
    whole = with_identity(whole, b"sleep-7f8d9c6b5d-x2x7k", b"10.244.0.12", "cut-7f8d9c6b5d-x2x7k", "10.244.9.9")
    (folder / "cut.config_dump.json").write_bytes(whole[: whole.index(b"ClustersConfigDump") + 400])
    (folder / "garbage.json").write_bytes(b"{this is not json")
    return folder


def one_line_each(stderr: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "(left out)" in line]
    assert len([x for x in lines if "cut.config_dump.json" in x]) <= 1
    assert len([x for x in lines if "garbage.json" in x]) == 1, stderr


def test_a_corrupt_proxy_fails_alone_in_a_trace(tmp_path: Path) -> None:
    folder = broken_folder(tmp_path)
    result = run("trace", str(folder), "--from", "sleep", "--to", "httpbin.web.svc.cluster.local:8000",
                 "-o", "json")
    assert result.returncode == 1, result.stderr
    one_line_each(result.stderr)
    hops = [h["proxy"] for h in json.loads(result.stdout)["hops"]]
    assert hops[0].startswith("sleep") and any(h.startswith("httpbin") for h in hops), hops


def test_a_corrupt_proxy_that_the_trace_reaches_is_followed_as_absent(tmp_path: Path) -> None:
    folder = broken_folder(tmp_path)
    whole = (folder / "httpbin.config_dump.json").read_bytes()
    (folder / "httpbin.config_dump.json").write_bytes(whole[: whole.index(b"ClustersConfigDump") + 400])
    result = run("trace", str(folder), "--from", "sleep", "--to", "httpbin.web.svc.cluster.local:8000",
                 "-o", "json")
    assert result.returncode == 1
    assert "httpbin.config_dump.json" in result.stderr and "(left out)" in result.stderr
    out = json.loads(result.stdout)
    assert [h["proxy"][:5] for h in out["hops"]] == ["sleep"] and out["outcome"]["kind"] == "mesh_internal"


@pytest.mark.parametrize("command", ["clusters", "egress", "check"])
def test_a_corrupt_proxy_fails_alone_in_the_commands_over_every_proxy(tmp_path: Path, command: str) -> None:
    folder = broken_folder(tmp_path)
    result = run(command, str(folder))
    assert result.returncode == 1, result.stderr
    one_line_each(result.stderr)
    assert "cut.config_dump.json" in result.stderr
    for proxy in ("sleep", "httpbin", "istio-egressgateway"):
        assert proxy in result.stdout, f"{command} left out {proxy}"


def test_a_corrupt_proxy_fails_alone_in_a_diff(tmp_path: Path) -> None:
    old = broken_folder(tmp_path)
    new = tmp_path / "new"
    shutil.copytree(SAMPLES / "mesh-mtls", new, ignore=shutil.ignore_patterns("*.yaml"))
    result = run("diff", str(old), str(new))
    assert result.returncode == 1
    one_line_each(result.stderr)
    assert result.stdout.count("no changes") == 3, result.stdout


@pytest.mark.parametrize("command", [["clusters"], ["listeners", "-o", "json"], ["egress"], ["check"]])
def test_every_proxy_gives_the_same_answer_on_every_core(tmp_path: Path, command: list[str]) -> None:
    folder = sleep_copies(tmp_path / "mesh", 5)
    pooled = run(*command, str(folder), env={"ENVOYSCOPE_WORKERS": "2"})
    alone = run(*command, str(folder), env={"ENVOYSCOPE_WORKERS": "1"})
    assert pooled.returncode == alone.returncode and pooled.returncode in (0, 1), pooled.stderr
    assert pooled.stdout == alone.stdout and pooled.stdout.count("other-") >= 5
    assert sorted(pooled.stderr.splitlines()) == sorted(alone.stderr.splitlines())


def test_a_diff_of_two_bundles_pairs_every_proxy(tmp_path: Path) -> None:
    folder = sleep_copies(tmp_path / "mesh", 4)
    captures = [ProxyCapture(p.name.removesuffix(".config_dump.json"), {"config_dump": p.read_bytes()})
                for p in sorted(folder.glob("*.config_dump.json"))]
    write_bundle(tmp_path / "a.tar.gz", captures, ["test"])
    changed = [*captures[:-1], ProxyCapture(captures[-1].name, {"config_dump": captures[-1].files["config_dump"]
                                                                .replace(b'"connect_timeout": "10s"',
                                                                         b'"connect_timeout": "3s"', 1)})]
    write_bundle(tmp_path / "b.tar.gz", changed, ["test"])
    result = run("diff", str(tmp_path / "a.tar.gz"), str(tmp_path / "b.tar.gz"), env={"ENVOYSCOPE_WORKERS": "2"})
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("proxy ")]
    assert len(lines) == 6 and sum("no changes" in line for line in lines) == 5, result.stdout


# --- folders read by content ---

@needs_real
def test_a_dump_without_an_extension_is_read_and_a_non_dump_is_noted(tmp_path: Path) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    shutil.copy(REAL / "bookinfo-1.5" / "productpage-config-dump.json", folder / "productpage")
    (folder / "README").write_text("dumps taken on Tuesday\n")
    result = run("clusters", str(folder))
    assert result.returncode == 0, result.stderr
    assert "outbound|9080||reviews.default.svc.cluster.local" in result.stdout or "reviews.default" in result.stdout
    assert "README: skipped: not a dump" in result.stderr
    # two of them (read lazily) as well, gzipped and not
    multi = REAL / "multiparty-lb-1.22"
    shutil.copy(multi / "ingressgateway_config_dump.json", folder / "ingress")
    result = run("bootstrap", str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("== ") == 2 and "README: skipped" in result.stderr
