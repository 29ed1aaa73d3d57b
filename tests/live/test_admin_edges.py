"""The Envoy admin source at its edges: /server_info, /certs and /listeners from a real Envoy; timeouts, resets
and gzip through loopback stand-ins (tests/live/standin.py) in front of that Envoy; private keys kept out of a
bundle even when an admin answer really holds one."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from envoyscope.errors import AdminError
from envoyscope.report.table import identity_header
from envoyscope.sources.admin import AdminClient, LiveDump, ServerInfo, load_admin
from tests.conftest import REPO
from tests.lab.envoy import EnvoyProcess
from tests.lab.runner import ScenarioLab
from tests.lab.scenarios import by_name
from tests.live.standin import StandIn

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("live-admin-edges")]

GATEWAY_POD = "istio-egressgateway-5d8c7b8f9-q2w7x"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with ScenarioLab(by_name("egress-mtls-subsets"), tmp_path_factory.mktemp("edges")) as running:
        yield running


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=120)


# --- /server_info, /certs, /listeners ---

def test_admin_dump_carries_server_info(lab: Any) -> None:
    gateway = lab.envoys["egressgateway"]
    real = gateway.get_json("/server_info")
    dump = load_admin(gateway.admin_url)
    assert isinstance(dump, LiveDump) and dump.server_info is not None
    assert dump.server_info.state == "LIVE" == real["state"]
    assert dump.server_info.version == real["version"]
    assert dump.server_info.envoy_version == real["version"].split("/", 1)[1]  # without the commit sha
    assert dump.server_info.uptime_current_epoch.endswith("s")
    assert dump.server_info.command_line_options["concurrency"] == 1
    assert dump.identity.pod == GATEWAY_POD  # the bootstrap's identity is kept
    assert "LIVE, up " in identity_header(dump)


def test_server_info_fills_identity_the_bootstrap_lacks(tmp_path: Path) -> None:
    """Envoy given its node on the command line: the bootstrap in /config_dump has no node id, /server_info has."""
    node_id = "sidecar~10.244.0.77~cli-pod.shop~shop.svc.cluster.local"
    with EnvoyProcess("cli-node", tmp_path, {}, extra_args=("--service-node", node_id,
                                                             "--service-cluster", "cli")) as envoy:
        bootstrap_node = envoy.get_json("/config_dump")["configs"][0]["bootstrap"].get("node", {})
        assert "id" not in bootstrap_node  # what makes this case: the bootstrap lacks it
        dump = load_admin(envoy.admin_url)
    assert dump.identity.node_id == node_id
    assert (dump.identity.pod, dump.identity.namespace, dump.identity.proxy_type) == ("cli-pod", "shop", "sidecar")
    assert dump.identity.instance_ips == ("10.244.0.77",)
    assert dump.identity.envoy_version.startswith("1.")


def test_summaries_show_server_state(lab: Any) -> None:
    proc = cli("clusters", "--admin", lab.envoys["sleep"].admin_url, "--admin", lab.envoys["egressgateway"].admin_url,
               "--fqdn", "nginx")
    assert proc.returncode == 0, proc.stderr
    headers = [line for line in proc.stdout.splitlines() if line.startswith("== ")]
    assert len(headers) == 2 and all("LIVE, up " in h and " envoy 1." in h for h in headers), headers


def test_certs_and_listeners_are_available(lab: Any) -> None:
    gateway = lab.envoys["egressgateway"]
    with AdminClient(gateway.admin_url) as client:
        certs, listeners = client.certs(), client.listeners()
    assert certs == gateway.get_json("/certs")["certificates"] and certs  # the gateway holds its client cert
    assert any(c.get("cert_chain") for c in certs)
    names = {item["name"] for item in listeners}
    assert "0.0.0.0_8080" in names
    bound = next(item for item in listeners if item["name"] == "0.0.0.0_8080")
    assert bound["local_address"]["socket_address"]["address"] == "127.0.0.1"


def test_server_info_that_is_not_envoy() -> None:
    with pytest.raises(AdminError, match="does not look like Envoy's"):
        ServerInfo.from_json({"hello": "world"}, "http://x")


# --- timeouts, resets, gzip ---

def test_timeout_is_one_clear_line() -> None:
    with StandIn("silent") as hung:
        started = time.monotonic()
        with pytest.raises(AdminError, match=r"no answer within 0\.5s"):
            load_admin(hung.url, timeout=0.5)
        elapsed = time.monotonic() - started
        proc = cli("clusters", "--admin", hung.url, "--admin-timeout", "0.5")
    assert hung.connections >= 1 and elapsed < 5
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"envoyscope: error: {hung.url}/config_dump?include_eds: no answer within 0.5s\n"


def test_reset_is_retried_once(lab: Any) -> None:
    with StandIn("reset", lab.envoys["egressgateway"].admin_url, resets=1) as flaky:
        dump = load_admin(flaky.url)
    assert dump.identity.pod == GATEWAY_POD
    assert flaky.reset_sent == 1
    # 1 reset + its retry, then /clusters and /server_info (Connection: close: one connection each)
    assert flaky.connections == 4


def test_reset_twice_is_a_clear_error(lab: Any) -> None:
    with StandIn("reset", lab.envoys["egressgateway"].admin_url, resets=100) as broken:
        with pytest.raises(AdminError) as info:
            load_admin(broken.url)
        proc = cli("clusters", "--admin", broken.url)
    assert broken.reset_sent == 2 + 2 and broken.connections == 4  # the test's try and retry, then the CLI's
    assert str(info.value).startswith(f"{broken.url}/config_dump?include_eds: the connection dropped twice")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "dropped twice" in proc.stderr


def test_gzip_answers(lab: Any) -> None:
    gateway = lab.envoys["egressgateway"]
    with StandIn("gzip", gateway.admin_url) as zipped:
        dump = load_admin(zipped.url)
    direct = load_admin(gateway.admin_url)
    assert all("gzip" in value for value in zipped.accept_encoding)
    assert zipped.gzipped == ["/config_dump?include_eds", "/clusters?format=json", "/server_info"]
    assert [c.name for c in dump.clusters] == [c.name for c in direct.clusters]
    assert dump.endpoint("outbound|443|v2|nginx.external.svc.cluster.local") is not None
    assert dump.clusters_status is not None


# --- private keys never enter a bundle ---

def _private_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_bundle_never_holds_a_private_key(lab: Any, tmp_path: Path) -> None:
    pem = _private_key_pem()

    def leak(path: str, body: bytes) -> bytes:
        doc = json.loads(body)
        if path.startswith("/certs"):  # the PEM text itself, as a careless admin (or proxy) would add it
            doc["certificates"][0]["private_key"] = pem.decode()
        elif path.startswith("/config_dump"):  # base64 PEM as `inline_bytes`, and PEM text as `inline_string`
            doc["configs"].append({"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                                   "static_secrets": [{"name": "leaked", "secret": {"name": "leaked",
                                       "tls_certificate": {"private_key": {"inline_bytes": base64.b64encode(pem)
                                                                           .decode()},
                                                           "password": {"inline_string": pem.decode()}}}}]})
        return json.dumps(doc).encode()

    bundle = tmp_path / "keys.tar.gz"
    with StandIn("relay", lab.envoys["egressgateway"].admin_url, rewrite=leak) as leaky:
        proc = cli("capture", "--admin", leaky.url, "-o", str(bundle), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    served = b"".join(leaky.sent)
    assert served.count(b"PRIVATE KEY-----") >= 4 and base64.b64encode(pem) in served  # the keys were really sent
    with tarfile.open(bundle) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert len(files) == 6
    for name, body in files.items():
        assert b"PRIVATE KEY-----" not in body, name
        assert b"LS0tLS1CRUdJTi" not in body or b"LS0tLS1CRUdJTiBDRVJU" in body, name  # no base64 "BEGIN" but certs
        assert base64.b64encode(pem)[:40] not in body, name
    manifest = json.loads(files["manifest.json"])
    (proxy,) = manifest["proxies"]
    assert proxy["private_keys_removed"] == {f"{GATEWAY_POD}.certs.json": 1, f"{GATEWAY_POD}.config_dump.json": 2}
    for name, entry in proxy["files"].items():
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest() and entry["bytes"] == len(files[name])
    json.loads(files[f"{GATEWAY_POD}.config_dump.json"])  # still JSON after the keys were cut out
    json.loads(files[f"{GATEWAY_POD}.certs.json"])
