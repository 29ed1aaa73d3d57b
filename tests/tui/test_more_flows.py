"""More of what a user does in the TUI: the command palette, a capture bundle, the progress of a long read, a trace
through a real mesh's dump, and extension types no proto package knows shown as the JSON the dump holds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import ProgressBar

from envoyscope.sources.bundle import ProxyCapture, write_bundle
from envoyscope.tui.detail import DetailScreen
from envoyscope.tui.table import SummaryTable
from envoyscope.tui.trace_view import TraceScreen
from tests.conftest import SAMPLES, shared_path
from tests.tui.helpers import SIZE, app_on, catalog_on, loaded, run_trace, table, until


def test_the_command_palette_runs_actions() -> None:
    async def go() -> None:
        app = app_on(str(SAMPLES / "egress-mtls-subsets"))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"show clusters")
            await until(pilot, lambda: app.screen.query("CommandList Option") or app.screen.query("OptionList"),
                        "the palette's hits")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await until(pilot, lambda: app.active_tab() == "clusters", "the clusters tab from the palette")
            await pilot.press("ctrl+p")
            await pilot.press(*"trace a request")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TraceScreen), "the trace screen from the palette")
    asyncio.run(go())


def test_a_capture_bundle_opens_with_every_proxy(tmp_path: Path) -> None:
    folder = SAMPLES / "egress-gateway-http"
    captures = [ProxyCapture(name, {"config_dump": (folder / f"{name}.config_dump.json").read_bytes(),
                                    "clusters": (folder / f"{name}.clusters.json").read_bytes()})
                for name in ("sleep", "egressgateway")]
    bundle = tmp_path / "incident.tar.gz"
    write_bundle(bundle, captures, ["envoyscope", "capture", "test"])

    async def go() -> None:
        app = app_on(str(bundle))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            assert sorted(e.kind for e in app.entries) == ["gateway", "sidecar"]
            assert all(e.dump is not None and e.dump.clusters_status is not None for e in app.entries)
            sidecar = next(e for e in app.entries if e.kind == "sidecar")
            app.select(sidecar)
            screen = await run_trace(pilot, "httpbin.org:80")
            assert len(screen.result.hops) == 2 and screen.result.outcome.kind == "external"
    asyncio.run(go())


def test_progress_counts_every_file_read() -> None:
    folders = [str(p.parent) for p in sorted(SAMPLES.glob("*/scenario.yaml"))]
    seen: list[tuple[int, int, str]] = []
    catalog = catalog_on(*folders)
    inner = catalog._load

    def recording(progress: Any) -> Any:
        def note(done: int, total: int, what: str) -> None:
            seen.append((done, total, what))
            progress(done, total, what)
        return inner(note)

    catalog._load = recording

    async def go() -> None:
        from envoyscope.tui.app import EnvoyscopeApp

        app = EnvoyscopeApp(catalog)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            bar = app.query_one("#progress", ProgressBar)
            files = sum(len(list(Path(f).glob("*.json"))) for f in folders)
            assert bar.total == files and bar.progress == files
    asyncio.run(go())
    assert [d for d, _, _ in seen] == list(range(len(seen)))  # one step per file, in order, then the end
    assert seen[-1][0] == seen[-1][1]


def test_trace_through_a_real_mesh_dump() -> None:
    """bookinfo on Istio 1.5 (v2 resources): productpage → reviews:9080 inside the mesh, to the cluster."""
    source = shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json")

    async def go() -> None:
        app = app_on(str(source))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            screen = await run_trace(pilot, "reviews.default.svc.cluster.local:9080")
            assert "reviews.default.svc.cluster.local:9080" in screen.hosts
            hop = screen.result.hops[0]
            assert hop.cluster == "outbound|9080||reviews.default.svc.cluster.local"
            assert screen.result.outcome.kind == "endpoints_unknown"  # dumped without ?include_eds: it says so
    asyncio.run(go())


@pytest.mark.parametrize(("dump", "listener", "kind"), [
    ("multiparty-lb-1.22/sidecar_config_dump.json", "10.108.8.6_14268", "io.istio.http.peer_metadata.Config"),
    ("bookinfo-1.5/productpage-config-dump.json", "10.44.0.11_9080", "envoy.config.filter.http.wasm.v2.Wasm"),
])
def test_unknown_extension_types_are_shown_as_raw_json(dump: str, listener: str, kind: str) -> None:
    source = shared_path("real-dumps", *dump.split("/"))

    async def go() -> None:
        app = app_on(str(source))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("1")
            widget = table(app, "listeners")
            assert widget.move_to_ref(("listener", listener))
            await pilot.press("enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DetailScreen)
            await until(pilot, lambda: screen.typed, "the typed decoding")
            names = [name for _, name, _ in screen.unknown]
            assert kind in names
            path, _, text = next(u for u in screen.unknown if u[1] == kind)
            assert path.startswith(".filter_chains[") and text.lstrip().startswith("{")
            assert len(screen.query_one("#detail-unknown").children) == 1 + 2 * len(screen.unknown)
            assert isinstance(app.query_one("#proxies", SummaryTable), SummaryTable)
    asyncio.run(go())
