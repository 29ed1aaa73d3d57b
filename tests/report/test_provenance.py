"""Provenance: every source's sha256 over the bytes read and its capture time, and how that time is known."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from pathlib import Path

import httpx
import jsonschema

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.model.dump import ConfigDump
from envoyscope.report.write import render_report
from envoyscope.sources.admin import load_admin
from envoyscope.sources.bundle import ProxyCapture, write_bundle
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES
from tests.report.test_reports import NOW, SCHEMA

REQUEST = TraceRequest(host="mysql.external.example", port=3306, scheme="tcp")
FOLDER = SAMPLES / "tcp-mysql"


def _json(dumps: list[ConfigDump], **kwargs: object) -> dict[str, object]:
    text = render_report(trace(REQUEST, dumps), dumps, "json", ["envoyscope"], now=NOW, **kwargs)  # type: ignore[arg-type]
    data = json.loads(text)
    jsonschema.validate(data, SCHEMA)
    return dict(data["provenance"]["sources"][0])


def test_a_file_is_hashed_and_dated_by_its_modification_time(tmp_path: Path) -> None:
    dump = tmp_path / "sleep.config_dump.json"
    dump.write_bytes((FOLDER / "sleep.config_dump.json").read_bytes())
    stamp = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC).timestamp()
    os.utime(dump, (stamp, stamp))
    src = _json(load_sources([str(dump)]))
    assert src["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert (src["captured_at"], src["captured_at_basis"]) == ("2026-03-04T05:06:07Z", "file_mtime")
    assert src["last_config_update"] == "2026-11-22T23:56:50.172Z"  # the newest resource: no longer the capture


def test_a_gzipped_file_is_hashed_as_it_is_on_disk(tmp_path: Path) -> None:
    import gzip

    dump = tmp_path / "sleep.config_dump.json.gz"
    dump.write_bytes(gzip.compress((FOLDER / "sleep.config_dump.json").read_bytes()))
    assert _json(load_sources([str(dump)]))["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()


def test_a_bundle_is_named_with_its_manifest_time_and_hash(tmp_path: Path) -> None:
    bundle = tmp_path / "incident.tar.gz"
    capture = ProxyCapture("sleep", files={"config_dump": (FOLDER / "sleep.config_dump.json").read_bytes(),
                                           "clusters": (FOLDER / "sleep.clusters.json").read_bytes()})
    manifest = write_bundle(bundle, [capture], ["envoyscope", "capture"],
                            now=dt.datetime(2026, 10, 30, 8, 15, tzinfo=dt.UTC))
    dumps = load_sources([str(bundle)])
    src = _json(dumps)
    assert src["source"] == str(bundle) and src["member"] == "sleep.config_dump.json"
    assert src["sha256"] == manifest["proxies"][0]["files"]["sleep.config_dump.json"]["sha256"]
    assert (src["captured_at"], src["captured_at_basis"]) == ("2026-10-30T08:15:00Z", "bundle_manifest")
    for fmt in ("markdown", "html"):
        text = render_report(trace(REQUEST, dumps), dumps, fmt, ["envoyscope"], now=NOW)
        assert "envoyscope-bundle-" not in text  # never the temporary folder it was unpacked into
        assert f"{bundle} › sleep.config_dump.json" in text
        assert "2026-10-30T08:15:00Z (bundle manifest)" in text
        assert str(src["sha256"]) in text


def test_an_admin_source_is_hashed_over_the_bytes_fetched() -> None:
    body = (FOLDER / "sleep.config_dump.json").read_bytes()
    answers = {"/config_dump": body, "/clusters": (FOLDER / "sleep.clusters.json").read_bytes(),
               "/server_info": json.dumps({"version": "abc/1.31.0/Clean/RELEASE/BoringSSL", "state": "LIVE",
                                           "node": {}}).encode()}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answers[request.url.path])

    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    dump = load_admin("http://127.0.0.1:15000", transport=httpx.MockTransport(handler))
    src = _json([dump])
    assert src["source"] == "http://127.0.0.1:15000"
    assert src["sha256"] == hashlib.sha256(body).hexdigest()
    assert src["captured_at_basis"] == "fetched"
    captured = dt.datetime.strptime(str(src["captured_at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert before <= captured <= dt.datetime.now(dt.UTC)


def test_markdown_shows_the_whole_sha256() -> None:
    dumps = load_sources([str(FOLDER)])
    text = render_report(trace(REQUEST, dumps), dumps, "markdown", ["envoyscope"], now=NOW)
    sha = hashlib.sha256((FOLDER / "sleep.config_dump.json").read_bytes()).hexdigest()
    assert re.search(rf"\| {sha} \|$", text, re.M)


def test_standard_input_is_hashed_over_the_bytes_read(monkeypatch: object) -> None:
    """`-` leaves no file to hash later: the hash of what was read, and when it was read."""
    import io
    import sys

    data = (FOLDER / "sleep.config_dump.json").read_bytes()

    class Stdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr(sys, "stdin", Stdin())  # type: ignore[attr-defined]
    source = _json(load_sources(["-"]))
    assert source["sha256"] == hashlib.sha256(data).hexdigest()
    assert source["captured_at_basis"] == "fetched" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                                                                     str(source["captured_at"]))
