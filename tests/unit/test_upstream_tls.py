"""Upstream TLS: transport socket selection (TransportSocketMatcherImpl::resolve) and what each socket means."""

from __future__ import annotations

import pytest

from envoyscope.engine.tls import describe_socket, resolve_transport_socket

TLS = "envoy.transport_sockets.tls"
UPSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"


def tls_socket(**context: object) -> dict:
    return {"name": TLS, "typed_config": {"@type": UPSTREAM, **context}}


ISTIO = tls_socket(
    sni="outbound_.80_._.httpbin.default.svc.cluster.local",
    common_tls_context={
        "alpn_protocols": ["istio-peer-exchange", "istio"],
        "tls_certificate_sds_secret_configs": [{"name": "default"}],
        "combined_validation_context": {
            "default_validation_context": {"match_subject_alt_names": [{"exact": "spiffe://cluster.local/ns/a/sa/b"}]},
            "validation_context_sds_secret_config": {"name": "ROOTCA"},
        },
    },
)
SIMPLE = tls_socket(sni="www.googleapis.com")
MUTUAL = tls_socket(
    sni="nginx.external.svc.cluster.local",
    common_tls_context={
        "tls_certificates": [{"certificate_chain": {"filename": "/etc/certs/tls.crt"},
                              "private_key": {"filename": "/etc/certs/tls.key"}}],
        "validation_context": {"trusted_ca": {"filename": "/etc/certs/ca.crt"}},
    },
)


@pytest.mark.parametrize(
    ("socket", "mode", "sni", "cert", "validation"),
    [
        (None, "plaintext", None, None, None),
        ({"name": "envoy.transport_sockets.raw_buffer"}, "plaintext", None, None, None),
        (SIMPLE, "SIMPLE", "www.googleapis.com", None, None),
        (MUTUAL, "MUTUAL", "nginx.external.svc.cluster.local", "file:/etc/certs/tls.crt", "file:/etc/certs/ca.crt"),
        (ISTIO, "ISTIO_MUTUAL", "outbound_.80_._.httpbin.default.svc.cluster.local", "sds:default", "sds:ROOTCA"),
    ],
)
def test_describe_socket(socket, mode, sni, cert, validation):
    tls = describe_socket(socket)
    assert (tls.mode, tls.sni, tls.client_cert, tls.validation) == (mode, sni, cert, validation)


def test_private_key_never_in_description():
    assert "tls.key" not in repr(describe_socket(MUTUAL))


AUTO_MTLS = {
    "name": "outbound|80||httpbin.default.svc.cluster.local",
    "transport_socket_matches": [
        {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": ISTIO},
        {"name": "tlsMode-disabled", "match": {}, "transport_socket": {"name": "envoy.transport_sockets.raw_buffer"}},
    ],
}


@pytest.mark.parametrize(
    ("labels", "chosen", "mode", "misses"),
    [
        ({"tlsMode": "istio"}, "tlsMode-istio", "ISTIO_MUTUAL", 0),
        ({}, "tlsMode-disabled", "plaintext", 1),
        ({"tlsMode": "disabled"}, "tlsMode-disabled", "plaintext", 1),
    ],
)
def test_auto_mtls_by_endpoint_label(labels, chosen, mode, misses):
    tls, step = resolve_transport_socket(AUTO_MTLS, labels, "clusters[0]")
    assert (step.matched, tls.mode, len(step.near_misses)) == (chosen, mode, misses)
    if misses:
        assert "tlsMode=istio" in step.near_misses[0].reason


def test_no_match_falls_back_to_cluster_socket():
    cluster = {"transport_socket_matches": [{"name": "only-v1", "match": {"version": "v1"},
                                             "transport_socket": ISTIO}], "transport_socket": SIMPLE}
    tls, step = resolve_transport_socket(cluster, {"version": "v2"}, "c")
    assert tls.mode == "SIMPLE" and "no transport_socket_matches entry matched" in step.reason
