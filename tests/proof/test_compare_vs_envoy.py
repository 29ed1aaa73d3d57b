"""``trace OLD --compare NEW`` on the seed scenarios where one config change flips the outcome, both sides proven.

Each pair is a sample captured from Envoy and either another sample (REGISTRY_ONLY vs ALLOW_ANY) or a copy the test
changes the way the Istio change would (a route timeout removed, the ServiceEntry's virtual host removed, the egress
gateway's subset route pointed at the other subset). The comparison must part at the step the change decides and
name that change; and both sides are replayed by ``envoyscope verify`` in real Envoys, which must agree with the
trace on each side.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envoyscope.cli import main as envoyscope_main
from tests.conftest import SAMPLES

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("compare")]


def _cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = envoyscope_main(argv)
    return code, out.getvalue()


def _edit(folder: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = folder / f"{name}.config_dump.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _route_configs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["route_config"] for c in doc["configs"] for e in c.get("dynamic_route_configs", [])]


def _no_timeout(doc: dict[str, Any]) -> None:
    for config in _route_configs(doc):
        for vhost in config["virtual_hosts"]:
            for route in vhost.get("routes", []):
                route.get("route", {}).pop("timeout", None)


def _no_service_entry(doc: dict[str, Any]) -> None:
    for config in _route_configs(doc):
        config["virtual_hosts"] = [v for v in config["virtual_hosts"] if v["name"] != "httpbin.org:80"]


def _v2_to_v1(doc: dict[str, Any]) -> None:
    for config in _route_configs(doc):
        for vhost in config["virtual_hosts"]:
            for route in vhost.get("routes", []):
                if route.get("name") == "nginx-v2":
                    route["route"]["cluster"] = route["route"]["cluster"].replace("|v2|", "|v1|")


# (id, old sample, new sample or (sample, proxy, edit), trace flags, parting step kind, words the explanation holds)
PAIRS: list[tuple[str, str, Any, list[str], str, str]] = [
    ("allow-any-vs-registry-only", "allow-any", "registry-only", ["--to", "www.google.com:80", "--ip", "142.250.2.2"],
     "virtual_host", "block_all"),
    ("route-timeout-removed", "timeout", ("timeout", "sleep", _no_timeout),
     ["--to", "httpbin.org:80", "--path", "/delay/5"], "route_action", "timeout"),
    ("service-entry-removed", "egress-gateway-http", ("egress-gateway-http", "sleep", _no_service_entry),
     ["--to", "httpbin.org:80", "--ip", "10.96.20.20"], "virtual_host", "httpbin.org:80"),
    ("egress-subset-route-changed", "egress-mtls-subsets", ("egress-mtls-subsets", "egressgateway", _v2_to_v1),
     ["--to", "nginx.external.svc.cluster.local:80", "--ip", "10.96.30.30", "-H", "want: v2"], "route_action",
     "nginx-v2"),
]


def _new_side(spec: Any, tmp: Path) -> Path:
    if isinstance(spec, str):
        return SAMPLES / spec
    sample, proxy, edit = spec
    folder = tmp / sample
    shutil.copytree(SAMPLES / sample, folder)
    _edit(folder, proxy, edit)
    return folder


@pytest.mark.parametrize(("pair", "old", "new", "flags", "kind", "words"), PAIRS, ids=[p[0] for p in PAIRS])
def test_compare_parts_where_the_change_decides_and_envoy_agrees_on_both(
        tmp_path: Path, pair: str, old: str, new: Any, flags: list[str], kind: str, words: str) -> None:
    new_folder = _new_side(new, tmp_path)
    code, out = _cli(["trace", str(SAMPLES / old), *flags, "--compare", str(new_folder), "-o", "json"])
    assert code == 0
    compare = json.loads(out)["compare"]
    parting = compare["parting"]
    assert parting is not None, pair
    assert (parting["new"] or parting["old"])["kind"] == kind, parting
    explained = json.dumps(parting["explained_by"])
    assert parting["explained_by"] and words in explained, explained
    _, text = _cli(["trace", str(SAMPLES / old), *flags, "--compare", str(new_folder)])
    assert "they part at hop" in text and "explained by:" in text
    for folder in (SAMPLES / old, new_folder):  # each side's trace is what a real Envoy does with that config
        code, verified = _cli(["verify", str(folder), *flags])
        assert code == 0, verified


def test_the_same_config_compares_equal() -> None:
    folder = str(SAMPLES / "tls-origination")
    code, out = _cli(["trace", folder, "--to", "www.googleapis.com:443", "--compare", folder])
    assert code == 0 and "the two traces make the same decisions at every step" in out


def test_reports_carry_the_before_and_after(tmp_path: Path) -> None:
    flags = ["--to", "www.google.com:80", "--ip", "142.250.2.2", "--compare", str(SAMPLES / "registry-only")]
    for suffix in (".md", ".html", ".json"):
        target = tmp_path / f"report{suffix}"
        code, _ = _cli(["trace", str(SAMPLES / "allow-any"), *flags, "--report", str(target)])
        assert code == 0
        text = target.read_text()
        assert "block_all" in text and "allow_any" in text and "blackhole" in text
        if suffix == ".json":
            section = json.loads(text)["compare"]
            changed = {row["field"] for row in section["rows"] if row["changed"]}
            assert {"virtual_host", "route", "cluster", "outcome"} <= changed
            assert section["parting"]["hop"] == 1 and section["explained_by"]
        else:
            assert "Before / after" in text and "They part at hop 1" in text
