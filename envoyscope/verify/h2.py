"""The few bytes of HTTP/2 a verify request needs: the client preface, SETTINGS, and one HEADERS frame.

Enough for h2c with prior knowledge and for TLS connections that negotiate ``h2``: headers are HPACK literals
(never indexed, no Huffman), the stream ends with the headers (a GET with no body).
"""

from __future__ import annotations

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, HEADERS, GOAWAY = 0x4, 0x1, 0x7
END_STREAM, END_HEADERS = 0x1, 0x4


def _integer(value: int, prefix_bits: int) -> bytes:
    """HPACK integer encoding with an N-bit prefix (the first byte's high bits are left zero)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([value])
    out = bytearray([limit])
    value -= limit
    while value >= 128:
        out.append((value % 128) + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def _literal(name: str, value: str) -> bytes:
    """A literal header field never indexed, with a literal name (0x10, then name and value strings)."""
    raw_name, raw_value = name.lower().encode(), value.encode()
    return b"\x10" + _integer(len(raw_name), 7) + raw_name + _integer(len(raw_value), 7) + raw_value


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def header_block(pairs: list[tuple[str, str]]) -> bytes:
    """An HPACK block of literal fields (pseudo-headers first, as given)."""
    return b"".join(_literal(n, v) for n, v in pairs)


def request(method: str, scheme: str, authority: str, path: str, headers: list[tuple[str, str]]) -> bytes:
    """Preface, an empty SETTINGS, and stream 1's HEADERS (END_STREAM | END_HEADERS)."""
    block = b"".join(_literal(n, v) for n, v in [(":method", method), (":scheme", scheme),
                                                   (":authority", authority), (":path", path), *headers])
    return PREFACE + frame(SETTINGS, 0, 0, b"") + frame(HEADERS, END_STREAM | END_HEADERS, 1, block)


def answered(data: bytes) -> bool:
    """Whether the server's frames so far end stream 1 (a HEADERS or DATA frame with END_STREAM) or the
    connection (GOAWAY)."""
    at = 0
    while at + 9 <= len(data):
        length = int.from_bytes(data[at:at + 3], "big")
        kind, flags = data[at + 3], data[at + 4]
        stream = int.from_bytes(data[at + 5:at + 9], "big") & 0x7FFFFFFF
        if at + 9 + length > len(data):
            return False
        if kind == GOAWAY or (stream == 1 and kind in (0x0, HEADERS) and flags & END_STREAM):
            return True
        at += 9 + length
    return False
