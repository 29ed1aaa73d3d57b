"""``--redact``: IP addresses and pod names replaced by stable placeholders throughout a report.

The same value always gets the same placeholder within one report (``10.244.0.12`` → ``ip-1`` everywhere, also
inside names such as ``10.244.0.12_80``, ``outbound|3306||10.1.2.3`` or ``outbound_.80_._.10.1.2.3``), so the path
still reads right. The placeholders are given while the report's content is redacted, before it is laid out, so
Markdown, HTML and JSON of one trace use the same ones.

Kept as they are: the addresses that identify nothing but carry meaning — ``0.0.0.0`` and ``::`` (the wildcard a
listener binds, which the reasons rely on: "matches by the wildcard address") and the loopback ``127.0.0.1`` and
``::1`` (every pod has them). Every other IPv4 and IPv6 address is replaced, whatever surrounds it.

Private keys are never in a report to begin with (see ``model.certs.redact``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

KEEP = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1"})

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Not inside a longer dotted number (a version such as 1.2.3.4.5): no digit or "digit." before, no digit or
# ".digit" after. Anything else may touch it: `_80`, `|`, `:`, `/8`, `.svc`.
_IPV4 = re.compile(rf"(?<!\d)(?<!\d\.){_OCTET}(?:\.{_OCTET}){{3}}(?!\d|\.\d)")
# Candidates for IPv6: a run of hex digits and colons (with at least two colons, optionally an IPv4 tail and a
# zone), not glued to a word before it; `ipaddress` then decides whether the run is an address.
_IPV6 = re.compile(r"(?<![\w:])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]+(?:\.\d{1,3}){0,3}(?:%[\w.]+)?")


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


class Redactor:
    def __init__(self, pod_names: list[str]) -> None:
        self.table: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        pods = sorted({p for p in pod_names if p}, key=len, reverse=True)
        self._pods = (re.compile(r"(?<![\w-])(" + "|".join(re.escape(p) for p in pods) + r")(?![\w-])")
                      if pods else None)

    def _placeholder(self, value: str, kind: str) -> str:
        if value not in self.table:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.table[value] = f"{kind}-{self.counts[kind]}"
        return self.table[value]

    def _ipv6(self, match: re.Match[str]) -> str:
        text = match.group(0)
        address = text.split("%", 1)[0]
        if not _is_ipv6(address):
            return text
        canonical = str(ipaddress.IPv6Address(address))
        if canonical in KEEP:
            return text
        v4 = ipaddress.IPv6Address(address).ipv4_mapped
        if v4 is not None:  # ::ffff:10.1.2.3 is the IPv4 address: the same placeholder
            return self._placeholder(str(v4), "ip") if str(v4) not in KEEP else text
        return self._placeholder(canonical, "ip")

    def _ipv4(self, match: re.Match[str]) -> str:
        text = match.group(0)
        return text if text in KEEP else self._placeholder(text, "ip")

    def text(self, value: str) -> str:
        if self._pods is not None:
            value = self._pods.sub(lambda m: self._placeholder(m.group(1), "pod"), value)
        if ":" in value:
            value = _IPV6.sub(self._ipv6, value)
        return _IPV4.sub(self._ipv4, value)

    def apply(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self.apply(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.apply(v) for k, v in value.items()}
        return value
