"""A trace that starts at a gateway, as a person types it: the Service port (80) rather than the pod's (8080), and a
client that is not the gateway itself. On the real multiparty-lb ingress gateway (Istio 1.22), whose only listener
is 8080 and whose virtual hosts are named `app1.mplb.com:80`."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO, SAMPLES, shared_path

GATEWAY_IP = "172.24.88.175"
POD_NETWORK = {"address_prefix": "172.24.0.0", "prefix_len": 16}


def ingress() -> Path:
    return shared_path("real-dumps", "multiparty-lb-1.22", "ingressgateway_config_dump.json")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=REPO,
                          check=False, timeout=120)


def trace_json(*args: str) -> dict[str, Any]:
    proc = cli("trace", *args, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def with_source_chains(path: Path, out: Path) -> Path:
    """The ingress dump with two more filter chains on `0.0.0.0_8080` (the same HTTP connection manager): one for
    connections from the pod network (source_prefix_ranges), one for local connections (source_type)."""
    doc = json.loads(path.read_text())
    for config in doc["configs"]:
        for entry in config.get("dynamic_listeners") or ():
            listener = entry["active_state"]["listener"]
            if listener["name"] == "0.0.0.0_8080":
                chain = listener["filter_chains"][0]
                pods = {**copy.deepcopy(chain), "name": "pod-network",
                        "filter_chain_match": {"source_prefix_ranges": [POD_NETWORK]}}
                local = {**copy.deepcopy(chain), "name": "local",
                         "filter_chain_match": {"source_type": "SAME_IP_OR_LOOPBACK"}}
                listener["filter_chains"] += [pods, local]
    out.write_text(json.dumps(doc))
    return out


def test_the_service_port_reaches_the_listener_of_its_target_port() -> None:
    result = trace_json(str(ingress()), "--to", "app1.mplb.com:80")
    hop = result["hops"][0]
    assert hop["received"]["destination"] == f"{GATEWAY_IP}:8080" and hop["received"]["authority"] == "app1.mplb.com"
    assert (hop["listener"], hop["virtual_host"], hop["route"]) == ("0.0.0.0_8080", "app1.mplb.com:80", "#3")
    assert result["outcome"]["kind"] != "no_listener"
    said = [a for a in result["assumptions"] if a.startswith("Service port 80 → targetPort 8080")]
    assert said and "`0.0.0.0_8080` serves virtual host `app1.mplb.com:80`" in said[0]
    text = cli("trace", str(ingress()), "--to", "app1.mplb.com:80").stdout
    assert "assumed: Service port 80 → targetPort 8080" in " ".join(text.split())


def test_the_pods_own_address_on_the_service_port_finds_nothing_and_says_what_would() -> None:
    """`--ip` the pod's IP: no Service in between, so port 80 is the pod's, where nothing listens."""
    result = trace_json(str(ingress()), "--to", "app1.mplb.com:80", "--ip", GATEWAY_IP)
    assert result["outcome"]["kind"] == "no_listener"
    [step] = result["hops"][0]["steps"]
    assert [m["candidate"] for m in step["near_misses"]] == ["0.0.0.0_8080"]
    assert step["near_misses"][0]["reason"] == (
        "no listener on 80; `0.0.0.0_8080` serves virtual host `app1.mplb.com:80` — a Service port 80 → targetPort "
        "8080 would reach it; try `--to app1.mplb.com:8080`")
    text = " ".join(cli("trace", str(ingress()), "--to", "app1.mplb.com:80", "--ip", GATEWAY_IP).stdout.split())
    assert "near miss 0.0.0.0_8080: no listener on 80;" in text and "try `--to app1.mplb.com:8080`" in text


def test_a_port_no_virtual_host_names_is_not_mapped() -> None:
    result = trace_json(str(ingress()), "--to", "app1.mplb.com:81")
    assert result["outcome"]["kind"] == "no_listener" and result["hops"][0]["steps"][0]["near_misses"] == []
    assert not any("targetPort" in a for a in result["assumptions"])


def test_a_gateways_client_is_outside_the_cluster_unless_given() -> None:
    result = trace_json(str(ingress()), "--to", "app1.mplb.com:8080")
    assert result["hops"][0]["received"]["source"] == "203.0.113.10"
    assert any(a.startswith("source IP 203.0.113.10: a client outside the cluster") for a in result["assumptions"])
    given = trace_json(str(ingress()), "--to", "app1.mplb.com:8080", "--source-ip", "172.24.1.5")
    assert given["hops"][0]["received"]["source"] == "172.24.1.5"
    assert not any(a.startswith("source IP") for a in given["assumptions"])
    v6 = trace_json(str(ingress()), "--to", "app1.mplb.com:8080", "--ip", "fd00::5")
    assert v6["hops"][0]["received"]["source"] == "2001:db8::10"


def test_a_sidecars_client_is_its_own_app() -> None:
    result = trace_json(str(SAMPLES / "egress-mtls-subsets"), "--to", "nginx.external.svc.cluster.local:80",
                        "-H", "want: v2", "--ip", "10.96.30.30")
    assert result["hops"][0]["received"]["source"] == "10.244.0.12"  # the sleep pod
    assert not any(a.startswith("source IP") for a in result["assumptions"])


def test_the_filter_chain_follows_the_source_address(tmp_path: Path) -> None:
    """What depends on the client's address changes with it: `source_prefix_ranges` and `source_type`. (Envoy agrees:
    tests/proof/test_gateway_entry_vs_envoy.py.)"""
    dump = str(with_source_chains(ingress(), tmp_path / "ingress.json"))

    def chain(*args: str) -> str:
        return str(trace_json(dump, "--to", "app1.mplb.com:80", *args)["hops"][0]["filter_chain"])

    assert chain() == "0"  # from outside: neither the pod network nor local
    assert chain("--source-ip", "172.24.1.5") == "pod-network"
    assert chain("--source-ip", GATEWAY_IP) == "local"  # what the gateway's own address as the client's gave
