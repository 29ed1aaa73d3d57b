"""Trace reports: stable goldens for every sample scenario, a JSON schema every report obeys, redaction, errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import yaml

from envoyscope.report.write import render_report
from tests.conftest import REPO, SAMPLES
from tests.proof.test_scenarios_vs_envoy import CASES, trace_request

GOLDENS = REPO / "tests" / "golden" / "reports"
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
CAPTURED = dt.datetime(2026, 10, 31, 9, 30, tzinfo=dt.UTC)  # every sample file's modification time, injected
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
        return render_report(result, dumps, fmt, argv, redact=redact, now=NOW,
                             mtime=lambda path: CAPTURED.timestamp())
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
@pytest.mark.parametrize("redact", [False, True], ids=["plain", "redacted"])
def test_every_json_report_follows_the_schema(name: str, index: int, redact: bool) -> None:
    jsonschema.validate(json.loads(report(name, index, "json", redact=redact)), SCHEMA)


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
    if suffix == ".json":
        jsonschema.validate(json.loads(text), SCHEMA)


@pytest.mark.parametrize(("name", "to", "extra"), [
    ("registry-only", "www.google.com:80", ["--ip", "142.250.2.2"]),
    ("tcp-mysql", "mysql.external.example:3306", ["--scheme", "tcp"]),
    ("egress-mtls-subsets", "nginx.external.svc.cluster.local:80", ["-H", "want: v2", "--ip", "10.96.30.30"]),
])
@pytest.mark.parametrize("redact", [False, True], ids=["plain", "redacted"])
def test_cli_json_report_follows_the_schema(tmp_path: Path, name: str, to: str, extra: list[str],
                                            redact: bool) -> None:
    out = tmp_path / "report.json"
    proc = _cli("trace", str(SAMPLES / name), "--to", to, *extra, "--report", str(out),
                *(["--redact"] if redact else []), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["provenance"]["command"][:3] == ["envoyscope", "trace", str(SAMPLES / name)]
    assert data["provenance"]["sources"][0]["captured_at_basis"] == "file_mtime"
    assert ("10.244.0.12" in out.read_text()) is not redact


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


class _Page(HTMLParser):
    """What a rendered page holds: the SVG diagram's boxes, texts and arrows, and every tag and attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.in_svg, self.in_text = 0, False
        self.svg: dict[str, list[str]] = {"rect": [], "text": [], "line": []}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "svg":
            self.in_svg += 1
        elif self.in_svg and tag in ("rect", "line"):
            self.svg[tag].append(str(dict(attrs)))
        self.in_text = bool(self.in_svg) and tag == "text"

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.in_svg -= 1
        if tag == "text":
            self.in_text = False

    def handle_data(self, data: str) -> None:
        if self.in_text:
            self.svg["text"].append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _no_external_resources(page: _Page, text: str) -> None:
    assert not [tag for tag, _ in page.tags if tag in ("script", "iframe", "object", "embed", "link", "img")]
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "data", "action", "xlink:href"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "ftp:")), (tag, name, value)
    lowered = text.lower()
    assert "@import" not in lowered and "url(http" not in lowered and "url(//" not in lowered
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]  # no inline event handlers


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG, decoded with zlib only."""
    pos, data, width, height, channels = 8, b"", 0, 0, 3
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunk = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            data += chunk
        pos += 12 + length
    raw, stride, rows, previous = zlib.decompress(data), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line) if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
        previous = line
    return width, height, rows


@pytest.mark.parametrize("name", ["egress-mtls-subsets", "registry-only"])
def test_html_report_renders_in_headless_chromium(chromium: str, tmp_path: Path, name: str) -> None:
    html = report(name, 0, "html")
    data = json.loads(report(name, 0, "json"))
    proxies = [hop["proxy"] for hop in data["trace"]["hops"]]
    page = tmp_path / "report.html"
    page.write_text(html)
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--hide-scrollbars"]

    def run(*extra: str, target: Path = page) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*args, *extra, target.as_uri()], capture_output=True, text=True, timeout=120,
                              check=False, cwd=tmp_path)

    # 1. The page as Chromium built it: its text, and an SVG with a box and a label per node, arrows between.
    dom = run("--dump-dom").stdout
    assert f"Hop {len(proxies)}: {proxies[-1]}" in dom and data["verdict"]["text"].split(":")[0] in dom
    parsed = _parse(dom)
    nodes = len(proxies) + 2  # the app, every proxy, where the request ends
    assert len(parsed.svg["rect"]) == nodes and len(parsed.svg["line"]) == nodes - 1
    labels = [t.strip() for t in parsed.svg["text"]]
    for proxy in proxies:
        assert proxy in labels, (proxy, labels)
    assert labels[0].startswith("app ")

    # 2. Nothing from the network: no scripts, no external src/href, neither in the file nor in the DOM.
    _no_external_resources(_parse(html), html)
    _no_external_resources(parsed, dom)

    # 3. The diagram element itself, drawn: the page with everything but the diagram hidden, screenshot at the
    #    size of the SVG, and every node's box must hold the box colours, not just background.
    svg = re.search(r'<svg [^>]*width="(\d+)" height="(\d+)"', html)
    assert svg is not None
    width, height = int(svg.group(1)), int(svg.group(2))
    only = tmp_path / "diagram.html"
    only.write_text(html.replace("</style>", "body{margin:0!important;max-width:none!important}"
                                 "body>:not(.diagram){display:none!important}"
                                 ".diagram{border:0!important;padding:0!important;overflow:hidden!important}"
                                 "</style>"))
    shot = tmp_path / "diagram.png"
    run(f"--screenshot={shot}", f"--window-size={width},{height}", target=only)
    assert shot.exists(), "Chromium wrote no screenshot"
    shot_w, shot_h, rows = _pixels(shot.read_bytes())
    assert shot_w >= width and shot_h >= height
    white = b"\xff\xff\xff"
    inked = sum(1 for row in rows[:height] for x in range(0, width * 3, 3) if row[x:x + 3] != white)
    assert inked > width * height * 0.02, f"the diagram is nearly blank ({inked} non-white pixels)"
    for i in range(nodes):  # svg.py draws node i at y = 10 + 96 i, 36 high, from x = 20
        y = 10 + 96 * i + 18
        box = {rows[y][x:x + 3] for x in range(21 * 3, 150 * 3, 3)}
        assert box - {white}, f"node {i} has no box drawn at y={y}"
        assert any(abs(px[0] - 0x33) < 24 and abs(px[2] - 0x55) < 24 for px in
                   (rows[yy][60:63] for yy in range(y - 20, y + 20))), f"node {i} has no border"

    # 4. It prints: a PDF with at least one page.
    pdf = tmp_path / "report.pdf"
    run(f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert pdf.exists(), "Chromium printed no PDF"
    body = pdf.read_bytes()
    assert body.startswith(b"%PDF-") and len(body) > 10_000 and body.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", body))
    assert pages >= 1, "the PDF has no page"
    import shutil

    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=False).stdout
        assert "Provenance" in text and proxies[0] in text.replace("\n", "")
