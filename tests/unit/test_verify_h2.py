"""The HTTP/2 bytes `envoyscope verify` sends for h2c and h2 hops."""

from __future__ import annotations

from envoyscope.verify import h2


def test_a_request_is_preface_settings_and_one_headers_frame() -> None:
    data = h2.request("GET", "http", "reviews:9080", "/x", [("x-case", "1")])
    assert data.startswith(h2.PREFACE)
    rest = data[len(h2.PREFACE):]
    assert rest[:9] == b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # an empty SETTINGS frame
    headers = rest[9:]
    length = int.from_bytes(headers[:3], "big")
    assert headers[3] == h2.HEADERS and headers[4] == h2.END_STREAM | h2.END_HEADERS
    assert int.from_bytes(headers[5:9], "big") == 1 and len(headers) == 9 + length
    assert b"\x10\x0a:authority\x0creviews:9080" in headers


def test_long_strings_use_hpack_integer_continuation() -> None:
    assert h2._integer(126, 7) == b"\x7e"
    assert h2._integer(127, 7) == b"\x7f\x00"
    assert h2._integer(1337, 5) == b"\x1f\x9a\x0a"  # RFC 7541 C.1.2


def test_the_answer_ends_with_end_stream_or_goaway() -> None:
    settings = h2.frame(h2.SETTINGS, 0, 0, b"")
    assert not h2.answered(settings)
    assert h2.answered(settings + h2.frame(h2.HEADERS, h2.END_STREAM | h2.END_HEADERS, 1, b"\x88"))
    assert h2.answered(h2.frame(h2.GOAWAY, 0, 0, bytes(8)))
    assert not h2.answered(h2.frame(h2.HEADERS, h2.END_HEADERS, 1, b"\x88"))
