"""``--redact``: no IP address or pod name of the dumps survives, in any scenario and format, placeholders stable."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from envoyscope.report.redact import KEEP, Redactor
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES
from tests.report.test_reports import CASES, report

FORMATS = ("markdown", "html", "json")


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.1_80", "ip-1_80"),
    ("192.168.10.50_3306", "ip-1_3306"),
    ("outbound|3306||10.1.2.3", "outbound|3306||ip-1"),
    ("inbound|8080||", "inbound|8080||"),
    ("inbound|8080||10.244.0.12", "inbound|8080||ip-1"),
    ("outbound_.3306_._.10.1.2.3", "outbound_.3306_._.ip-1"),
    ("10.1.2.3:443 then 10.1.2.3.", "ip-1:443 then ip-1."),
    ("10.96.0.0/12", "ip-1/12"),
    ("sidecar~10.244.0.12~sleep.default~default.svc", "sidecar~ip-1~sleep.default~default.svc"),
    ("0.0.0.0_80 and 0.0.0.0:15001", "0.0.0.0_80 and 0.0.0.0:15001"),
    ("127.0.0.1:15000", "127.0.0.1:15000"),
    ("[::]:80, [::1]:15000, ::_80", "[::]:80, [::1]:15000, ::_80"),
    ("[2001:db8::1]:443", "[ip-1]:443"),
    ("2001:db8::1_443", "ip-1_443"),
    ("fd00:10:96::a_8080 outbound|80||fd00:10:96::a", "ip-1_8080 outbound|80||ip-1"),
    ("2001:DB8:0:0:0:0:0:1 is 2001:db8::1", "ip-1 is ip-1"),
    ("fe80::1%eth0", "ip-1"),
    ("::ffff:10.1.2.3 is 10.1.2.3", "ip-1 is ip-1"),
    # not addresses: versions, times, hashes, MACs, C++ names
    ("envoy 1.31.0, istio 1.22.3, 2026-11-01T12:00:00Z", "envoy 1.31.0, istio 1.22.3, 2026-11-01T12:00:00Z"),
    ("1.2.3.4.5 and 999.1.1.1", "1.2.3.4.5 and 999.1.1.1"),
    ("aa:bb:cc:dd:ee:ff std::string", "aa:bb:cc:dd:ee:ff std::string"),
])
def test_redactor_replaces_every_address(text: str, expected: str) -> None:
    assert Redactor([]).text(text) == expected


def test_pod_names_are_replaced_as_whole_names_keeping_the_namespace() -> None:
    redactor = Redactor(["sleep-7f8d9c6b5d-x2x7k", "httpbin"])
    assert redactor.text("sleep-7f8d9c6b5d-x2x7k.default at sidecar~1.2.3.4~sleep-7f8d9c6b5d-x2x7k.default~x") == (
        "pod-1.default at sidecar~ip-1~pod-1.default~x")
    # a pod named like a service does not eat the service's names
    assert redactor.text("outbound|80||httpbin-v2.default and httpbin.default") == (
        "outbound|80||httpbin-v2.default and pod-2.default")


def _identities(name: str) -> tuple[set[str], set[str]]:
    """The pod names and IPs of the scenario's proxies, from the dumps themselves."""
    dumps = load_sources([str(SAMPLES / name)])
    pods = {d.identity.pod for d in dumps if d.identity.pod}
    ips = {ip for d in dumps for ip in d.identity.instance_ips}
    ips |= {part for d in dumps for part in d.identity.node_id.split("~") if _is_ip(part)}
    assert pods and ips, name
    return pods, ips


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_ANY_V4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d])")
_ANY_V6 = re.compile(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}")


def _addresses(text: str) -> set[str]:
    found = {m for m in _ANY_V4.findall(text) if _is_ip(m)}
    found |= {m for m in _ANY_V6.findall(text) if _is_ip(m)}
    return {a for a in found if str(ipaddress.ip_address(a)) not in KEEP}


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_no_ip_or_pod_survives_redaction(name: str, index: int) -> None:
    pods, ips = _identities(name)
    for fmt in FORMATS:
        plain = report(name, index, fmt)
        hidden = report(name, index, fmt, redact=True)
        assert any(pod in plain for pod in pods), (name, fmt)  # the test sees what it checks for
        assert _addresses(plain), (name, fmt)
        for secret in pods | ips:
            assert secret not in hidden, (name, index, fmt, secret)
        assert not _addresses(hidden), (name, index, fmt, _addresses(hidden))
        assert "ip-1" in hidden and "pod-1" in hidden


def test_tcp_mysql_listener_name_is_redacted() -> None:
    text = report("tcp-mysql", 0, "markdown", redact=True)
    assert "192.168.10.50" not in text
    assert re.search(r"ip-\d+_3306", text)


@pytest.mark.parametrize("name", sorted({n for n, _ in CASES}))
def test_placeholders_agree_across_formats(name: str) -> None:
    data = json.loads(report(name, 0, "json", redact=True))
    hop = data["trace"]["hops"][0]
    source_ip = hop["received"]["source"].rsplit(":", 1)[0]
    names = {hop["proxy"], hop["listener"] or "", hop["received"]["destination"], f"app {source_ip}"} - {""}
    assert any("ip-" in n for n in names) and "pod-" in hop["proxy"]
    for fmt in ("markdown", "html"):
        text = report(name, 0, fmt, redact=True)
        for value in names:
            assert value in text, (name, fmt, value)
    # one report, one table: a value seen twice has one placeholder
    again = json.loads(report(name, 0, "json", redact=True))
    assert again == data
