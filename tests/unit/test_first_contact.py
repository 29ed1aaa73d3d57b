"""What a person types first: a pasted URL as --to, and --sni meaning TLS."""

from __future__ import annotations

import pytest

from envoyscope.engine.validate import checked_request
from envoyscope.errors import ArgumentError


@pytest.mark.parametrize(("to", "scheme", "host", "port", "path"), [
    ("https://api.example.com/path?q=1", "https", "api.example.com", 443, "/path?q=1"),
    ("http://api.example.com", "http", "api.example.com", 80, "/"),
    ("http://[::1]:9080/", "http", "::1", 9080, "/"),
    ("tcp://db.example.com:3306", "tcp", "db.example.com", 3306, "/"),
    ("tls://db.example.com", "tls", "db.example.com", 443, "/"),
    ("HTTPS://API.example.com:8443/x", "https", "api.example.com", 8443, "/x"),
])
def test_a_pasted_url(to: str, scheme: str, host: str, port: int, path: str) -> None:
    request = checked_request(to=to, scheme=None)
    assert (request.scheme, request.host.lower(), request.port, request.path) == (scheme, host, port, path)


@pytest.mark.parametrize("to", ["ftp://x.com/", "http://", "http://x.com:99999/", "tcp://db.example.com"])
def test_a_bad_url_is_one_error_naming_the_flag(to: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        checked_request(to=to, scheme=None)
    assert str(caught.value).startswith("--to ")


def test_an_sni_means_tls_and_https_when_http_parts_are_given() -> None:
    assert checked_request(to="x.com:443", scheme=None, server_name="x.com").scheme == "tls"
    assert checked_request(to="x.com:443", scheme=None, server_name="x.com", req_path="/a").scheme == "https"
    assert checked_request(to="x.com:443", scheme=None, server_name="x.com", headers=["a: b"]).scheme == "https"
    assert checked_request(to="x.com:443", scheme=None).scheme == "http"  # plain HTTP, as TLS origination expects
    assert checked_request(to="x.com:443", scheme="tcp", server_name="x.com").scheme == "tcp"  # said explicitly


def test_from_matches_a_unique_part_of_a_name_and_lists_the_candidates_otherwise() -> None:
    from envoyscope.engine.trace import pick_start
    from envoyscope.errors import TraceError
    from envoyscope.sources.files import load_sources
    from tests.conftest import SAMPLES

    dumps = load_sources([str(SAMPLES / "mesh-mtls")])
    assert pick_start(dumps, "egressgateway").identity.pod.startswith("istio-egressgateway-")  # inside the name
    assert pick_start(dumps, "httpbin").identity.pod.startswith("httpbin-")  # a prefix of the pod
    with pytest.raises(TraceError) as caught:
        pick_start(dumps, "e")
    assert "3 proxies match" in str(caught.value) and "httpbin-5b9f7c6d8-w4n2z.web" in str(caught.value)
