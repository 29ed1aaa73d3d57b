"""No private key reaches a report: real PEM keys injected into a dump's TLS contexts and secrets never come out."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from envoyscope.report.write import write_report
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES
from tests.proof.test_scenarios_vs_envoy import trace_request

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
T = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."


def _pem(key: Any, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {"rsa": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                        serialization.PrivateFormat.TraditionalOpenSSL),  # -----BEGIN RSA PRIVATE KEY-----
            "ec": _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)}


def _certificate(cert: str, key: str, *, as_bytes: bool) -> dict[str, Any]:
    """A tls_certificate with the key inline, and once more glued to the chain (a combined PEM file's content)."""
    private = ({"inline_bytes": base64.b64encode(key.encode()).decode()} if as_bytes else {"inline_string": key})
    return {"certificate_chain": {"inline_string": cert + key}, "private_key": private}


def _inject(dump: dict[str, Any], cert: str, keys: dict[str, str]) -> int:
    """Put the keys into every upstream and downstream TLS context and every secret; how many places."""
    count = 0
    for config in dump["configs"]:
        for entry in config.get("dynamic_active_clusters", []) + config.get("static_clusters", []):
            cluster = entry["cluster"]
            sockets = [cluster.get("transport_socket")] + [m.get("transport_socket")
                                                           for m in cluster.get("transport_socket_matches", [])]
            for socket in filter(None, sockets):
                context = socket.setdefault("typed_config", {}).setdefault("common_tls_context", {})
                context["tls_certificates"] = [_certificate(cert, keys["rsa"], as_bytes=True)]
                count += 1
        for entry in config.get("dynamic_listeners", []) + config.get("static_listeners", []):
            listener = (entry.get("active_state") or entry)["listener"]
            for chain in listener.get("filter_chains", []):
                chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
                    "@type": T + "DownstreamTlsContext",
                    "common_tls_context": {"tls_certificates": [_certificate(cert, keys["ec"], as_bytes=False)]}}}
                count += 1
        for entry in config.get("dynamic_active_secrets", []):
            secret = entry["secret"]
            if "tls_certificate" in secret:
                secret["tls_certificate"] = _certificate(cert, keys["rsa"], as_bytes=False)
                count += 1
        if "dynamic_active_secrets" in config:
            config["dynamic_active_secrets"].append({"name": "generic", "secret": {
                "@type": T + "Secret", "name": "generic",
                "generic_secret": {"secret": {"inline_bytes": base64.b64encode(keys["ec"].encode()).decode()}}}})
            count += 1
    return count


def _key_bytes(keys: dict[str, str]) -> list[str]:
    """Pieces that would show a key leaked in any encoding: each base64 line, the whole key as inline_bytes."""
    pieces = []
    for pem in keys.values():
        pieces += [line for line in pem.splitlines() if line and not line.startswith("-----")]
        pieces.append(base64.b64encode(pem.encode()).decode()[:60])
    return pieces


def test_injected_private_keys_never_reach_a_report(tmp_path: Path, keys: dict[str, str]) -> None:
    folder = tmp_path / "egress-mtls-subsets"
    shutil.copytree(SAMPLES / "egress-mtls-subsets", folder)
    places = 0
    for path in folder.glob("*.config_dump.json"):
        dump = json.loads(path.read_text())
        secret = next(e for c in json.loads((SAMPLES / "egress-mtls-subsets" / "egressgateway.config_dump.json")
                                            .read_text())["configs"]
                      for e in c.get("dynamic_active_secrets", []) if "tls_certificate" in e["secret"])
        cert = secret["secret"]["tls_certificate"]["certificate_chain"]["inline_string"]
        places += _inject(dump, cert, keys)
        path.write_text(json.dumps(dump))
    assert places >= 6
    raw = "".join(p.read_text() for p in folder.glob("*.config_dump.json"))
    assert "PRIVATE KEY" in raw and all(piece in raw for piece in _key_bytes(keys))  # the dump does hold them

    request = yaml.safe_load((folder / "scenario.yaml").read_text())["requests"][0]
    result = trace_request(folder, request)
    dumps = load_sources([str(folder)])
    # the path crosses the poisoned TLS contexts (every chain now terminates TLS: the plaintext request fails there)
    assert any(h.tls is not None or h.downstream_tls is not None for h in result.hops)
    written = 0
    for suffix in (".md", ".html", ".json"):
        for redact in (False, True):
            target = tmp_path / f"report{'-redacted' if redact else ''}{suffix}"
            write_report(result, dumps, str(target), ["envoyscope", "trace"], redact=redact, now=NOW)
            text = target.read_text()
            assert "PRIVATE KEY" not in text, target.name
            for piece in _key_bytes(keys):
                assert piece not in text, (target.name, piece)
            assert "BEGIN CERTIFICATE" in text, target.name  # the certificate beside the key is still shown
            written += 1
    assert written == 6
