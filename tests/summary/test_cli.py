"""``envoyscope clusters|…|all`` end to end through the command line entry point (in process, output captured)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest
import yaml

from envoyscope.cli import main
from tests.conftest import SAMPLES, shared_path
from tests.summary.builders import ADMIN, b64, make_cert
from tests.summary.goldens import PROXYCONFIG, WRITER

KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_all_prints_istioctls_summary(capsys: pytest.CaptureFixture[str]) -> None:
    dump = shared_path(*PROXYCONFIG, "config_dump.json")
    code, out, err = _run(capsys, "all", str(dump), "--today", "2025-01-01")
    assert code == 0
    assert out == shared_path(*PROXYCONFIG, "config_dump_summary.txt").read_text()  # istioctl's, byte for byte
    assert err == ("== waypoint httpbin-istio-waypoint-58f646c5ff-dbfkz.default  ips 192.168.252.229  "
                   f"istio 1.21.0-1226  ({dump})\n")  # who the proxy is, on stderr
    code, out, err = _run(capsys, "all", str(dump), "--today", "2025-01-01", "--with-headers", "--no-header")
    assert out == shared_path(*PROXYCONFIG, "config_dump_summary_withheaders.txt").read_text()
    assert err == ""


def test_endpoint_port_filter_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "endpoints", str(shared_path(*WRITER, "endpoint", "configdump.json")), "--port", "8080")
    assert code == 0
    assert out == shared_path(*WRITER, "endpoint", "portfilter_output.txt").read_text()


def test_several_sources_get_one_section_each(capsys: pytest.CaptureFixture[str]) -> None:
    first = shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json")
    second = shared_path("real-dumps", "jewertow-egressgateway-1.12", "egress.json")
    code, out, err = _run(capsys, "clusters", str(first), str(second), "--fqdn", "details")
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("== ")]
    assert len(headers) == 2
    assert headers[0].startswith("== sidecar productpage-v1-7d6cfb7dfd-ccspq.default") and "istio 1.5.4" in headers[0]
    assert headers[1].startswith("== gateway istio-egressgateway-687f4db598-j2rfw.istio-system")
    assert "istio 1.12.1" in headers[1]
    sections = out.split("\n== ")
    assert "details.default.svc.cluster.local" in sections[0]


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_json_and_yaml_are_the_resources(capsys: pytest.CaptureFixture[str], output: str) -> None:
    dump = shared_path("real-dumps", "multiparty-lb-1.22", "ingressgateway_config_dump.json")
    code, out, _ = _run(capsys, "clusters", str(dump), "-o", output, "--subset", "app1-0")
    assert code == 0
    data = orjson.loads(out) if output == "json" else yaml.safe_load(out)
    assert [c["name"] for c in data] == ["outbound|3333|app1-0|app1.default.svc.cluster.local"]


def test_wide_adds_columns(capsys: pytest.CaptureFixture[str]) -> None:
    dump = shared_path("real-dumps", "multiparty-lb-1.22", "sidecar_config_dump.json")
    _, out, _ = _run(capsys, "clusters", str(dump), "-o", "wide")
    assert out.splitlines()[0].split()[-1] == "TLS"
    _, out, _ = _run(capsys, "routes", str(dump), "-o", "wide")
    assert out.splitlines()[0].split()[-1] == "CLUSTER"


def _secret_dump(tmp_path: Path) -> Path:
    import datetime as dt

    start, end = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    cert = make_cert(not_before=start, not_after=end)
    doc = {"configs": [{"@type": ADMIN + "SecretsConfigDump", "dynamic_active_secrets": [{"name": "default", "secret": {
        "name": "default", "tls_certificate": {"certificate_chain": {"inline_bytes": b64(cert)},
                                               "private_key": {"inline_bytes": b64(KEY.encode())}}}}]}]}
    path = tmp_path / "leaky.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    return path


@pytest.mark.parametrize("argv", [["secrets"], ["secrets", "-o", "json"], ["secrets", "-o", "yaml"],
                                  ["all", "-o", "json"], ["secrets", "-o", "wide"]])
def test_private_keys_never_printed(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]) -> None:
    code, out, err = _run(capsys, *argv, str(_secret_dump(tmp_path)), "--today", "2024-01-15")
    assert code == 0
    assert b64(KEY.encode()) not in out and "PRIVATE KEY" not in out
    if argv[-1] in ("json", "yaml"):
        assert "[redacted]" in out
    else:
        assert "Cert Chain     ACTIVE     true" in out


def test_missing_section_degrades_with_a_note(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "only-bootstrap.json"
    path.write_text(json.dumps({"configs": [{"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {}}}]}))
    code, out, err = _run(capsys, "listeners", str(path))
    assert code == 0
    assert out == "ADDRESSES PORT MATCH DESTINATION\n"
    assert err == f"== envoy envoy  ({path})\nenvoyscope: note: no listeners section in this dump\n"


@pytest.mark.parametrize("command", ["clusters", "listeners", "routes", "endpoints", "secrets", "bootstrap", "all"])
def test_every_summary_is_headed_by_the_proxy_identity(capsys: pytest.CaptureFixture[str], command: str) -> None:
    """One proxy: the identity line on stderr, before the notes; stdout is the table alone, as istioctl's."""
    dump = SAMPLES / "egress-mtls-subsets" / "egressgateway.config_dump.json"
    day = ["--today", "2025-01-01"] if command in ("secrets", "all") else []
    code, out, err = _run(capsys, command, str(dump), *day)
    assert code == 0 and not out.startswith("==")
    assert err.splitlines()[0] == ("== gateway istio-egressgateway-5d8c7b8f9-q2w7x.istio-system  ips 10.244.0.31  "
                                   "istio 1.22.3  envoy 1.40.0/Clean/RELEASE/BoringSSL  mesh cluster.local  "
                                   f"({dump})")
    code, quiet, err = _run(capsys, command, str(dump), *day, "--no-header")
    assert quiet == out and "==" not in err
    code, both, _ = _run(capsys, command, str(dump), str(SAMPLES / "egress-mtls-subsets" / "sleep.config_dump.json"),
                         *day)
    assert both.startswith("== gateway istio-egressgateway-5d8c7b8f9-q2w7x.istio-system") and "\n== sidecar " in both


def test_aliases_and_unknown_output(capsys: pytest.CaptureFixture[str]) -> None:
    dump = str(shared_path(*WRITER, "configdump.json"))
    code, out, _ = _run(capsys, "bootstrap", dump)
    assert out == shared_path(*WRITER, "versionsummary.txt").read_text()
    with pytest.raises(SystemExit) as exc:
        main(["cluster", dump, "-o", "table"])
    assert exc.value.code == 2
