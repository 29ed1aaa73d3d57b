"""The TUI on live sources: a real Envoy's admin port (refresh says what changed), and a cluster's pods through the
loopback stand-in API server (the real kubernetes client and WebSocket port-forward, real Envoys behind it)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest

from envoyscope.cli_common import load_dumps
from envoyscope.cli_tui import SamplesOrCluster, catalog_for
from envoyscope.sources.kube import Kube
from envoyscope.tui.app import EnvoyscopeApp
from envoyscope.tui.catalog import Catalog, ClusterCatalog
from envoyscope.tui.table import SummaryTable
from tests.live.mesh import GATEWAY, SLEEP, egress_mesh
from tests.tui.helpers import SIZE, loaded, messages, run_trace, table, until

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("tui-live")]

def test_refresh_against_a_real_envoy_admin(tmp_path: Path) -> None:
    from tests.lab.envoy import TYPE_URLS, EnvoyProcess, file_source, xds_file

    cds = tmp_path / "cds.json"
    cluster = {"name": "outbound|80||a.example.com", "type": "STATIC", "connect_timeout": "1s",
               "load_assignment": {"cluster_name": "x", "endpoints": []}}
    xds_file(cds, [cluster], TYPE_URLS["clusters"])
    bootstrap = {"node": {"id": "sidecar~10.0.0.1~app-1.default~default.svc.cluster.local", "cluster": "app"},
                 "dynamic_resources": {"cds_config": file_source(cds)}}
    with EnvoyProcess("tui", tmp_path, bootstrap) as envoy:
        args = argparse.Namespace(sources=[], admin=[envoy.admin_url], pod=[], selector=None, admin_timeout=10.0)

        async def go() -> None:
            app = EnvoyscopeApp(Catalog(lambda progress: load_dumps(args, progress), envoy.admin_url))
            async with app.run_test(size=SIZE) as pilot:
                await loaded(pilot)
                widget = app.query_one("#proxies", SummaryTable)
                assert widget.table is not None and widget.table.columns[-1] == "READY"
                assert widget.cells_at(0)[0] == "app-1.default" and widget.cells_at(0)[-1] == "live"
                assert " · LIVE, up " in str(app.query_one("#identity").render())  # from /server_info
                await pilot.press("3")
                assert table(app, "clusters").row_count == 1
                xds_file(cds, [cluster, {**cluster, "name": "outbound|80||b.example.com"}], TYPE_URLS["clusters"],
                         version="2")
                envoy.wait_for("/config_dump", lambda t: "b.example.com" in t)
                await pilot.press("r")
                await until(pilot, lambda: table(app, "clusters").row_count == 2, "the refreshed clusters")
                await until(pilot, lambda: any("1 change(s)" in m for m in messages(app)), "the change summary")
                assert any("cluster `outbound|80||b.example.com` added" in m for m in messages(app))
                assert app.active_tab() == "clusters"  # the refresh keeps the user where they were
                await pilot.press("c")  # the same diff as `envoyscope diff`, browsable
                from envoyscope.tui.changes_view import ChangesScreen

                await until(pilot, lambda: isinstance(app.screen, ChangesScreen), "the changes screen")
                tree = app.screen.query_one("#changes-tree")
                leaves = [str(n.label) for n in tree.root.children for n in [n, *n.children]]
                assert any("b.example.com" in leaf and "added" in leaf for leaf in leaves), leaves
        asyncio.run(go())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with egress_mesh(tmp_path_factory.mktemp("tui-kube")) as mesh:
        yield mesh


def test_cluster_pods_are_listed_then_read_when_picked(cluster: dict[str, Any]) -> None:
    kube = Kube(str(cluster["kubeconfig"]))
    port = cluster["lab"].bound[("10.244.0.31", 8080)]  # the lab rewrote the gateway's endpoint to loopback

    async def go() -> None:
        app = EnvoyscopeApp(ClusterCatalog(kube), proxy_ips={GATEWAY[1]: f"127.0.0.1:{port}"})
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            widget = app.query_one("#proxies", SummaryTable)
            rows = {widget.cells_at(i)[0]: widget.cells_at(i) for i in range(widget.row_count)}
            assert set(rows) == {f"{GATEWAY[1]}.{GATEWAY[0]}", f"{SLEEP[1]}.{SLEEP[0]}", "sleep-pending-2.default"}
            assert rows[f"{SLEEP[1]}.{SLEEP[0]}"][1:] == ("sidecar", "default", "2/2 Running ⏎")
            assert rows["sleep-pending-2.default"][-1] == "0/2 Pending"
            assert all(e.dump is None for e in app.entries)  # nothing read before it is picked
            forwards = cluster["api"].forwards
            widget.cursor = next(i for i in range(widget.row_count) if widget.cells_at(i)[0].startswith("sleep-7f"))
            await pilot.pause()
            await pilot.press("enter")
            await until(pilot, lambda: app.dump is not None, "the pod's dump through the port-forward")
            assert cluster["api"].forwards > forwards
            assert app.dump.identity.pod == SLEEP[1]
            await pilot.press("3")
            assert table(app, "clusters").row_count > 0
            # a trace from the sidecar reads the gateway first, then follows the request into it
            screen = await run_trace(pilot, "nginx.external.svc.cluster.local:80", headers="want: v2",
                                     ip="10.96.30.30", tries=400)
            result = screen.result
            assert [h.proxy for h in result.hops] == [f"{SLEEP[1]}.{SLEEP[0]}", f"{GATEWAY[1]}.{GATEWAY[0]}"]
            assert [h.route for h in result.hops] == ["nginx-via-egress", "nginx-v2"]
            # a pending pod cannot be read: a notification, no crash
            await pilot.press("escape")
            widget.focus()
            widget.cursor = next(i for i in range(widget.row_count) if widget.cells_at(i)[0].startswith("sleep-pend"))
            await pilot.pause()
            await pilot.press("enter")
            await until(pilot, lambda: any("not Running" in m for m in messages(app)), "the pending pod's error")
    asyncio.run(go())


def test_no_source_opens_the_cluster_or_falls_back_to_the_samples(cluster: dict[str, Any], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`envoyscope` alone: the cluster when the kubeconfig answers, else the samples with a note saying why."""
    base = {"sources": [], "admin": [], "pod": [], "selector": None, "admin_timeout": 5.0, "context": None,
            "namespace": None, "admin_port": None}
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    plain = catalog_for(argparse.Namespace(**base, kubeconfig=None))
    assert isinstance(plain, Catalog) and plain.description == "sample_dumps/"

    live = catalog_for(argparse.Namespace(**base, kubeconfig=str(cluster["kubeconfig"])))
    assert isinstance(live, SamplesOrCluster)
    entries = live.entries()
    assert live.live_cluster and {e.kind for e in entries} == {"sidecar", "egressgateway"}
    assert "Envoy pods" in (live.note or "")

    broken = tmp_path / "broken.kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    fallback = catalog_for(argparse.Namespace(**base, kubeconfig=str(broken)))
    entries = fallback.entries()
    assert not fallback.live_cluster and len(entries) > 5 and all(e.dump is not None for e in entries)
    assert "no cluster" in (fallback.note or "") and "sample_dumps" in (fallback.note or "")
