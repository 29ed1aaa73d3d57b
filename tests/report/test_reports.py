"""Trace reports: stable goldens for every sample scenario, a JSON schema every report obeys, redaction, errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from envoyscope.report.write import render_report
from tests.conftest import REPO, SAMPLES
from tests.proof.test_scenarios_vs_envoy import CASES, trace_request

GOLDENS = REPO / "tests" / "golden" / "reports"
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
SCHEMA = json.loads((REPO / "docs" / "report-schema.json").read_text())
UPDATE = os.environ.get("ENVOYSCOPE_UPDATE_GOLDENS") == "1"
FIRSTS = sorted({name for name, _ in CASES})


def report(name: str, index: int, fmt: str, *, redact: bool = False) -> str:
    from envoyscope.sources.files import load_sources

    request = yaml.safe_load((SAMPLES / name / "scenario.yaml").read_text())["requests"][index]
    cwd = os.getcwd()
    os.chdir(REPO)  # sources are named relative to the repository, so goldens do not depend on where it lives
    try:
        folder = Path("sample_dumps") / name
        result = trace_request(folder, request)
        dumps = load_sources([str(folder)])
        argv = ["envoyscope", "trace", str(folder), "--to", request["to"]]
        return render_report(result, dumps, fmt, argv, redact=redact, now=NOW)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("fmt", ["markdown", "html", "json"])
@pytest.mark.parametrize("name", FIRSTS)
def test_report_is_stable_byte_for_byte(name: str, fmt: str) -> None:
    text = report(name, 0, fmt)
    golden = GOLDENS / f"{name}.{ {'markdown': 'md', 'html': 'html', 'json': 'json'}[fmt] }"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden {golden}: run with ENVOYSCOPE_UPDATE_GOLDENS=1"
    assert text == golden.read_text()


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_every_json_report_follows_the_schema(name: str, index: int) -> None:
    jsonschema.validate(json.loads(report(name, index, "json")), SCHEMA)


def test_markdown_has_mermaid_and_details() -> None:
    text = report("egress-mtls-subsets", 0, "markdown")
    assert "```mermaid\nflowchart LR" in text and "<details>" in text
    assert "client certificate: CN=istio-egressgateway.istio-system" in text
    assert text.splitlines()[2].startswith("**✅")


def test_redact_replaces_ips_and_pods_consistently() -> None:
    plain = report("egress-mtls-subsets", 0, "json")
    hidden = report("egress-mtls-subsets", 0, "json", redact=True)
    for secret in ("10.244.0.12", "10.244.0.31", "192.168.0.64", "sleep-7f8d9c6b5d-x2x7k",
                   "istio-egressgateway-5d8c7b8f9-q2w7x"):
        assert secret in plain
        assert secret not in hidden
    data = json.loads(hidden)
    first, second = data["trace"]["hops"]
    assert first["endpoint"].split(":")[0] == second["received"]["destination"].split(":")[0]  # same placeholder


def test_no_private_key_in_any_report() -> None:
    for fmt in ("markdown", "html", "json"):
        assert "PRIVATE KEY" not in report("egress-mtls-subsets", 0, fmt)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=cwd,
                          check=False)


def test_unknown_extension_is_one_line_error_and_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "report.txt"
    proc = _cli("trace", str(SAMPLES / "allow-any"), "--to", "httpbin.org:80", "--report", str(out), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown report type" in proc.stderr
    assert not out.exists() and proc.stdout == ""


@pytest.mark.parametrize("suffix", [".md", ".html", ".json"])
def test_cli_writes_each_format(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"report{suffix}"
    proc = _cli("trace", str(SAMPLES / "registry-only"), "--to", "www.google.com:80", "--ip", "142.250.2.2",
                "--report", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "blackhole" in text
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left behind


def _chromium() -> str | None:
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    binary = _chromium()
    if binary is None and os.geteuid() == 0 and Path("/usr/bin/apt-get").exists():
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, check=False, timeout=600,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium (apt-get install chromium) to render the HTML report")
    return binary


def test_html_report_renders_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report("egress-mtls-subsets", 0, "html"))
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    dom = subprocess.run([*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=False).stdout
    assert "Hop 2: istio-egressgateway-5d8c7b8f9-q2w7x.istio-system" in dom
    assert dom.count("<rect") == 4 and "<line" in dom  # app, two proxies, the destination, and arrows
    shot = tmp_path / "page.png"
    subprocess.run([*args, f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()], capture_output=True,
                   timeout=120, check=False, cwd=tmp_path)
    assert shot.exists() and shot.stat().st_size > 10_000
    assert _not_blank(shot.read_bytes())


def _not_blank(png: bytes) -> bool:
    """A PNG with more than one colour: the page drew something (decoded without extra packages)."""
    import struct
    import zlib

    pos, data, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunk = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width = struct.unpack(">I", chunk[:4])[0]
        elif kind == b"IDAT":
            data += chunk
        pos += 12 + length
    raw = zlib.decompress(data)
    return len(set(raw[1:width * 3 * 40:7])) > 3


