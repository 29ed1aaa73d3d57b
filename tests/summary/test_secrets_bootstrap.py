"""Secrets (certificates decoded with `cryptography`, validity for a given day, redaction) and the bootstrap."""

from __future__ import annotations

import datetime as dt

import pytest

from envoyscope.engine.summary import selected_resources, summarize, summarize_all
from envoyscope.model.certs import REDACTED, decode_certificate, go_serial, redact
from tests.summary.builders import b64, config_dump, make_cert

UTC = dt.UTC
START, END = dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC), dt.datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
LEAF = make_cert(not_before=START, not_after=END, serial=0xABC, uri="spiffe://corp.example/ns/shop/sa/reviews",
                 dns="reviews.shop")
ROOT = make_cert(not_before=START, not_after=dt.datetime(2034, 1, 1, tzinfo=UTC), serial=2**158 + 5, ca=True,
                 cn="root-ca")
KEY_TEXT = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"


def _secret(name: str, body: dict, version: str = "2024-01-01T00:00:00Z/1") -> dict:
    return {"name": name, "version_info": version, "last_updated": "2024-01-01T00:00:01Z",
            "secret": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                       "name": name, **body}}


def _dump():  # type: ignore[no-untyped-def]
    leaf = {"tls_certificate": {"certificate_chain": {"inline_bytes": b64(LEAF)},
                                "private_key": {"inline_bytes": b64(KEY_TEXT.encode())}}}
    root = {"validation_context": {"trusted_ca": {"inline_bytes": b64(ROOT)}}}
    upstream = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
    return config_dump(
        secrets=[_secret("default", leaf), _secret("ROOTCA", root),
                 _secret("broken", {"tls_certificate": {"certificate_chain": {"inline_bytes": b64(b"nope")}}}),
                 _secret("pending", {}, version="uninitialized")],
        static_clusters=[{"name": "to-db", "type": "STATIC", "transport_socket": {
            "name": "envoy.transport_sockets.tls", "typed_config": {"@type": upstream, "common_tls_context": {
                "tls_certificates": [{"certificate_chain": {"inline_string": LEAF.decode()},
                                      "private_key": {"inline_string": KEY_TEXT}}]}}}}])


def test_certificate_decoded() -> None:
    cert = decode_certificate(b"garbage before\n" + LEAF + ROOT)
    assert cert is not None
    assert cert.serial == "00000000000000000000000000000abc"
    assert cert.trust_domain == "corp.example"
    assert cert.sans == ("spiffe://corp.example/ns/shop/sa/reviews", "reviews.shop")
    assert (cert.not_before, cert.not_after, cert.kind) == (START, END, "Cert Chain")
    assert cert.valid_on(dt.date(2024, 1, 15)) and not cert.valid_on(dt.date(2024, 1, 31))
    assert cert.valid_on(dt.datetime(2024, 1, 31, 11, 0, tzinfo=UTC))
    assert cert.days_left(dt.date(2024, 1, 21)) == 10 and cert.days_left(dt.date(2024, 2, 2)) == -2
    root = decode_certificate(ROOT)
    assert root is not None and root.kind == "CA" and root.subject == "CN=root-ca"
    assert root.serial == format(2**158 + 5, "x")  # longer than 32 digits: not cut
    assert decode_certificate(b"no pem here") is None


def test_go_serial_pads_like_percent_032x() -> None:
    assert go_serial(255) == "000000000000000000000000000000ff"
    assert go_serial(-255) == "-00000000000000000000000000000ff"


def test_secrets_summary_rows() -> None:
    table = summarize(_dump(), "secrets", today=dt.date(2024, 1, 15))
    assert table.columns == ("RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER",
                             "NOT BEFORE")
    assert [row.cells for row in table.rows] == [
        ("default", "Cert Chain", "ACTIVE", "true", "00000000000000000000000000000abc", "2024-01-31T12:00:00Z",
         "2024-01-01T00:00:00Z"),
        ("ROOTCA", "CA", "ACTIVE", "true", format(2**158 + 5, "x"), "2034-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
        ("broken", "", "ACTIVE", "false", "", "", ""),
        ("pending", "", "UNINITIALIZED", "false", "", "", ""),
        ("cluster/to-db", "Cert Chain", "INLINE", "true", "00000000000000000000000000000abc",
         "2024-01-31T12:00:00Z", "2024-01-01T00:00:00Z"),
    ]
    assert table.rows[0].ref == ("secret", "default") and table.rows[-1].ref == ("cluster", "to-db")


def test_secrets_wide_days_left_subject_sans() -> None:
    table = summarize(_dump(), "secrets", wide=True, today=dt.date(2024, 2, 10))
    assert table.columns[-4:] == ("DAYS LEFT", "IDENTITY", "SUBJECT", "SANS")
    first, root = table.rows[0].cells, table.rows[1].cells
    # captured 2024-01-01 (the secrets' last_updated): 30 days left then, expired 10 days before today
    assert first[3] == "false" and first[-4] == "30 at capture, -10 today"
    assert first[-1] == "spiffe://corp.example/ns/shop/sa/reviews,reviews.shop"
    assert first[-3] == "spiffe://corp.example/ns/shop/sa/reviews"  # the workload's identity, its SPIFFE ID
    assert root[-3] == root[-2] == "CN=root-ca"  # a CA without a SPIFFE ID: its subject
    assert [n for n in table.notes if n.startswith("VALID CERT is for 2024-02-10")] == [
        "VALID CERT is for 2024-02-10, as istioctl judges it; at capture, 2024-01-01 (the dump's newest update or "
        "certificate; no earlier), default, cluster/to-db were valid"]
    same_day = summarize(_dump(), "secrets", wide=True, today=dt.date(2024, 1, 1)).rows[0].cells
    assert same_day[-4] == "30"  # captured today: one number


def test_trust_domain_column_only_when_every_row_has_one() -> None:
    validator = {"custom_validator_config": {"typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig",
        "trust_domains": [{"name": "east.local", "trust_bundle": {"inline_bytes": b64(ROOT)}},
                          {"name": "west.local", "trust_bundle": {"inline_bytes": b64(ROOT)}}]}}}
    leaf = {"tls_certificate": {"certificate_chain": {"inline_bytes": b64(LEAF)}}}
    dump = config_dump(secrets=[_secret("default", leaf), _secret("ROOTCA", {"validation_context": validator})])
    table = summarize(dump, "secrets", today=dt.date(2024, 1, 2))
    assert table.columns[-1] == "TRUST DOMAIN"
    assert [(r.cells[0], r.cells[-1]) for r in table.rows] == [
        ("default", "corp.example"), ("ROOTCA", "east.local"), ("ROOTCA", "west.local")]


def test_no_private_key_in_any_output() -> None:
    dump = _dump()
    key_b64 = b64(KEY_TEXT.encode())
    for kind in ("secrets", "clusters", "all"):
        text = repr(selected_resources(dump, kind))
        assert key_b64 not in text and "PRIVATE KEY" not in text
        assert REDACTED in text
    for table in summarize_all(dump, today=dt.date(2024, 1, 2)):
        assert "PRIVATE KEY" not in repr(table)


@pytest.mark.parametrize("value,expected", [
    ({"private_key": {"inline_bytes": "c2VjcmV0"}}, {"private_key": {"inline_bytes": REDACTED}}),
    ({"private_key": {"filename": "/k.pem"}}, {"private_key": {"filename": REDACTED}}),
    ({"generic_secret": {"secret": {"inline_string": "s"}}},
     {"generic_secret": {"secret": {"inline_string": REDACTED}}}),
    ({"secret": {"name": "x", "tls_certificate": {"certificate_chain": {"inline_string": "c"}}}},
     {"secret": {"name": "x", "tls_certificate": {"certificate_chain": {"inline_string": "c"}}}}),
    ([{"session_ticket_keys": {"keys": [{"inline_bytes": "a"}]}}],
     [{"session_ticket_keys": {"keys": [{"inline_bytes": REDACTED}]}}]),
])
def test_redact(value: object, expected: object) -> None:
    assert redact(value) == expected


def _node(**extra: object) -> dict:
    return {"node": {"id": "router~10.0.0.9~istio-egressgateway-1.istio-system~istio-system.svc.cluster.local",
                     "metadata": {"ISTIO_VERSION": "1.22.3", "ISTIO_PROXY_SHA": "istio-proxy:abc123",
                                  "MESH_ID": "cluster.local"}, **extra}}


def test_bootstrap_summary() -> None:
    version = {"version": {"major_number": 1, "minor_number": 30, "patch": 5},
               "metadata": {"build.label": "dev", "revision.status": "Clean", "build.type": "RELEASE",
                            "ssl.version": "BoringSSL"}}
    table = summarize(config_dump(bootstrap=_node(user_agent_build_version=version)), "bootstrap", wide=True)
    cells = [row.cells for row in table.rows]
    assert cells[:3] == [("Istio Version:", "1.22.3"), ("Istio Proxy Version:", "abc123"),
                         ("Envoy Version:", "1.30.5-dev/Clean/RELEASE/BoringSSL")]
    assert ("Proxy Type:", "gateway") in cells and ("Instance IPs:", "10.0.0.9") in cells
    plain = summarize(config_dump(bootstrap={"node": {"id": "plain"}}), "bootstrap")
    assert [row.cells for row in plain.rows] == [("Envoy Version:", "0.0.0")]
    missing = summarize(config_dump(clusters=[]), "bootstrap")
    assert missing.rows == () and missing.notes == ("no bootstrap section in this dump",)
