"""In-cluster configuration, as a pod running envoyscope uses it: no kubeconfig, ``KUBERNETES_SERVICE_HOST`` and
``KUBERNETES_SERVICE_PORT`` set, the service-account token and CA in the pod's mount. The API server is the loopback
stand-in over HTTPS (its certificate for 127.0.0.1 signed by a CA made here), real Envoys behind its port-forward.

The kubernetes client reads the mount from ``kubernetes.config.incluster_config.SERVICE_TOKEN_FILENAME`` and
``SERVICE_CERT_FILENAME`` when it loads the configuration; the tests point those at temporary files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import incluster_config

from envoyscope.errors import KubeError
from envoyscope.sources.kube import Kube
from tests.conftest import REPO
from tests.live.fake_apiserver import make_ca
from tests.live.mesh import GATEWAY, SLEEP, egress_mesh

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("live-kube")]

TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImxhYiJ9.service-account-envoyscope.signature"  # no newline, as Kubernetes writes
BEARER = f"bearer {TOKEN}"  # the client's spelling of the scheme


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("kube-incluster")
    with egress_mesh(work, tls=True) as mesh:
        mount = work / "serviceaccount"
        mount.mkdir()
        (mount / "token").write_text(TOKEN)
        (mount / "ca.crt").write_bytes(mesh["api"].ca_file.read_bytes())
        (mount / "namespace").write_text("default")
        mesh["mount"] = mount
        yield mesh


def pod_env(cluster: dict[str, Any], home: Path) -> dict[str, str]:
    """The environment of a pod: the service host/port variables, and no kubeconfig anywhere."""
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=str(cluster["api"].port),
               HOME=str(home))
    return env


@pytest.fixture
def in_pod(cluster: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    for key, value in pod_env(cluster, tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(cluster["mount"] / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(cluster["mount"] / "ca.crt"))
    return cluster


def test_pods_listed_over_https_with_the_token(in_pod: dict[str, Any]) -> None:
    api = in_pod["api"]
    seen = len(api.authorizations)
    kube = Kube()
    assert kube.api.api_client.configuration.host == f"https://127.0.0.1:{api.port}"
    names = {p.name for p in kube.pods()}
    assert names == {SLEEP[1], GATEWAY[1], "sleep-pending-2"}
    assert api.authorizations[seen:] == [("/api/v1/pods", BEARER)]


def test_dump_through_the_tls_port_forward(in_pod: dict[str, Any]) -> None:
    api = in_pod["api"]
    seen, forwards = len(api.authorizations), api.forwards
    kube = Kube()
    dump = kube.dump(kube.resolve("/".join(GATEWAY)))
    assert dump.identity.pod == GATEWAY[1]
    assert dump.endpoint("outbound|443|v1|nginx.external.svc.cluster.local") is not None
    assert api.forwards > forwards  # the admin was reached through the WebSocket port-forward
    calls = api.authorizations[seen:]
    upgrades = [auth for path, auth in calls if path.endswith(f"/pods/{GATEWAY[1]}/portforward")]
    assert upgrades and set(upgrades) == {BEARER}  # the upgrade carries the token too
    assert {auth for _, auth in calls} == {BEARER}


def test_untrusted_server_certificate(in_pod: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    other_ca, _, _ = make_ca(tmp_path, "some-other-cluster-ca")
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(other_ca))
    seen = len(in_pod["api"].authorizations)
    kube = Kube()
    with pytest.raises(KubeError) as caught:
        kube.pods()
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300, message
    assert "certificate" in message and "not trusted" in message, message
    assert len(in_pod["api"].authorizations) == seen  # the token never left: the handshake failed first


def test_missing_token_file(in_pod: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    with pytest.raises(KubeError, match="in-cluster") as caught:
        Kube()
    assert "token file does not exist" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of any mode: the refusal cannot happen")
def test_unreadable_token_file(in_pod: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0)  # a pod whose user is not the token's (no fsGroup)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    with pytest.raises(KubeError, match=r"in-cluster configuration: cannot read .*token \(Permission denied\)"):
        Kube()


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=REPO, env=env, check=False,
                          timeout=120)


# The CLI itself, in a fresh process that cannot see the monkeypatched constants. This one moves the service-account
# mount the same way before envoyscope's real entry point runs (this machine has no /var/run/secrets to write to).
MOVED_MOUNT = """
import sys
from kubernetes.config import incluster_config
incluster_config.SERVICE_TOKEN_FILENAME, incluster_config.SERVICE_CERT_FILENAME = sys.argv[1:3]
from envoyscope.cli import main
sys.exit(main(sys.argv[3:]))
"""


def test_cli_pods_in_a_pod(cluster: dict[str, Any], tmp_path: Path) -> None:
    seen = len(cluster["api"].authorizations)
    proc = run(pod_env(cluster, tmp_path / "home"), "-c", MOVED_MOUNT, str(cluster["mount"] / "token"),
               str(cluster["mount"] / "ca.crt"), "pods", "-A")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[1]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert set(rows) == {SLEEP[1], GATEWAY[1], "sleep-pending-2"}
    assert rows[GATEWAY[1]][2] == "egressgateway"
    assert cluster["api"].authorizations[seen:] == [("/api/v1/pods", BEARER)]


def test_cli_default_mount_absent(cluster: dict[str, Any], tmp_path: Path) -> None:
    """`python -m envoyscope` untouched, with the real default mount path: here it is absent, and says so."""
    if Path(incluster_config.SERVICE_TOKEN_FILENAME).exists():
        pytest.skip("running inside a real pod: the default service-account token exists")
    seen = len(cluster["api"].authorizations)
    proc = run(pod_env(cluster, tmp_path / "home"), "-m", "envoyscope", "pods", "-A")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "in-cluster" in proc.stderr and "token file does not exist" in proc.stderr, proc.stderr
    assert len(cluster["api"].authorizations) == seen  # nothing was sent without a token
