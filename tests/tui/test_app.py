"""The TUI driven by Textual's Pilot on the sample dumps: open, switch tabs, filter, sort, drill down and back,
trace, jump from a step to its tab, export, errors as notifications, refresh."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from envoyscope.tui.catalog import describe_changes
from envoyscope.tui.detail import DetailScreen
from envoyscope.tui.help import HelpScreen
from envoyscope.tui.table import SummaryTable
from envoyscope.tui.trace_view import ExportScreen, TraceScreen
from tests.conftest import SAMPLES
from tests.tui.helpers import SIZE, app_on, loaded, messages, run_trace, table, until

MTLS = str(SAMPLES / "egress-mtls-subsets")


def run(coro: Any) -> None:
    asyncio.run(coro)


def proxies(app: Any) -> list[str]:
    widget = app.query_one("#proxies", SummaryTable)
    return [widget.cells_at(i)[0] for i in range(widget.row_count)]


def test_open_switch_tabs_filter_and_clear() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            assert proxies(app) == ["istio-egressgateway-5d8c7b8f9-q2w7x.istio-system",
                                    "sleep-7f8d9c6b5d-x2x7k.default"]
            assert app.current is not None and app.current.kind == "gateway"
            await pilot.press("3")
            assert app.active_tab() == "clusters" and table(app, "clusters").row_count == 4
            await pilot.press("slash", *"v2")
            await pilot.pause()
            assert table(app, "clusters").row_count == 1
            assert "v2" in table(app, "clusters").cells_at(0)
            await pilot.press("escape")
            await pilot.pause()
            assert table(app, "clusters").row_count == 4
            await pilot.press("5")
            assert app.active_tab() == "secrets" and table(app, "secrets").row_count == 2
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)
    run(go())


def test_proxy_filters_by_namespace_and_type() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("y")  # type: all → gateway
            await pilot.pause()
            assert proxies(app) == ["istio-egressgateway-5d8c7b8f9-q2w7x.istio-system"]
            await pilot.press("y")  # → sidecar
            await pilot.pause()
            assert proxies(app) == ["sleep-7f8d9c6b5d-x2x7k.default"]
            await pilot.press("y", "n")  # type back to all; namespace all → default
            await pilot.pause()
            assert proxies(app) == ["sleep-7f8d9c6b5d-x2x7k.default"]
            await pilot.press("n")  # → istio-system
            await pilot.pause()
            assert proxies(app) == ["istio-egressgateway-5d8c7b8f9-q2w7x.istio-system"]
    run(go())


def test_sort_by_header_click_and_key() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("3")
            clusters = table(app, "clusters")
            first = [clusters.cells_at(i)[0] for i in range(clusters.row_count)]
            await pilot.click("#table-clusters", offset=(2, 0))  # the SERVICE FQDN header: ascending
            await pilot.pause()
            assert [clusters.cells_at(i)[0] for i in range(4)] == sorted(first, key=str.lower)
            await pilot.click("#table-clusters", offset=(2, 0))  # again: descending
            await pilot.pause()
            assert [clusters.cells_at(i)[0] for i in range(4)] == sorted(first, key=str.lower, reverse=True)
            subsets_before = clusters.sort_column
            await pilot.press("s")
            assert clusters.sort_column == (subsets_before or 0) + 1  # s moves on to the next column
    run(go())


def test_drill_down_from_listener_to_secret_and_back() -> None:
    """listener → filter chain → route config → virtual host → route → cluster → endpoints; cluster → secret."""
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("1")
            listeners = table(app, "listeners")
            target = next(i for i in range(listeners.row_count) if listeners.cells_at(i)[1] == "8080")
            listeners.cursor = target
            await pilot.press("enter")
            await pilot.pause()
            path = []

            async def follow(prefix: str) -> None:
                screen = app.screen
                assert isinstance(screen, DetailScreen), screen
                index = next(i for i, link in enumerate(screen.links) if link.label.startswith(prefix))
                screen.query_one("#links").index = index
                await pilot.press("enter")
                await pilot.pause()
                assert isinstance(app.screen, DetailScreen) and app.screen is not screen
                path.append((app.screen.node.kind, app.screen.node.name))

            assert app.screen.node.name == "0.0.0.0_8080"
            await follow("filter chain 0")
            await follow("routes `http.8080`")
            await follow("virtual host nginx.external.svc.cluster.local:80")
            await follow("route nginx-v1")
            await follow("cluster outbound|443|v1|nginx.external.svc.cluster.local")
            assert any(link.kind == "secret" for link in app.screen.links)
            await follow("endpoints of outbound|443|v1|nginx.external.svc.cluster.local")
            assert [kind for kind, _ in path] == ["filter_chain", "route_config", "virtual_host", "route", "cluster",
                                                  "endpoint"]
            assert "192.168.0.63" in app.screen.yaml_text  # subset v1
            for _ in path:
                await pilot.press("backspace")
            await pilot.pause()
            assert isinstance(app.screen, DetailScreen) and app.screen.node.name == "0.0.0.0_8080"
            await pilot.press("backspace")
            assert not isinstance(app.screen, DetailScreen)
    run(go())


def test_secret_details_show_the_certificate_not_the_key() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("5")
            secrets = table(app, "secrets")
            row = next(i for i in range(secrets.row_count) if "client" in secrets.cells_at(i)[0].lower()
                       or "Cert Chain" in secrets.cells_at(i))
            secrets.cursor = row
            await pilot.press("enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DetailScreen) and screen.node.kind == "secret"
            assert any("serial" in c for c in screen.cert_lines) and any("valid" in c for c in screen.cert_lines)
            assert "PRIVATE KEY" not in screen.yaml_text and "[redacted]" in screen.yaml_text
            await until(pilot, lambda: screen.typed, "the typed decoding")
            assert "Secret" in screen.typed
    run(go())


def test_trace_form_tree_near_misses_and_jump_to_tab() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.click("#proxies", offset=(2, 2))  # start from the sidecar
            await pilot.pause()
            assert app.current is not None and app.current.kind == "sidecar"
            await pilot.press("t")
            await pilot.pause()
            assert "nginx.external.svc.cluster.local:80" in app.screen.hosts  # completion from the dumps
            await pilot.press("escape")
            screen = await run_trace(pilot, "nginx.external.svc.cluster.local:80", headers="want: v3", ip="10.96.30.30")
            result = screen.result
            assert result.outcome.kind == "no_route"
            assert [h.route for h in result.hops] == ["nginx-via-egress", None]
            tree = screen.query_one("#trace-tree")
            hop2 = [n for n in tree.root.children if str(n.label).startswith("hop 2")][0]
            route_step = next(n for n in hop2.children if str(n.label).startswith("route none"))
            assert not route_step.is_expanded  # near misses folded under the step
            misses = [str(c.label) for c in route_step.children]
            assert any("nginx-v1" in m and "`v3`" in m for m in misses)
            vhost_step = next(n for n in hop2.children if str(n.label).startswith("virtual host"))
            tree.select_node(vhost_step)  # Enter on a step: its resource, in its tab
            await pilot.pause()
            assert not isinstance(app.screen, TraceScreen)
            assert app.active_tab() == "routes" and app.current.kind == "gateway"
            row = table(app, "routes").current_row()
            assert row is not None and row.ref == ("route_config", "http.8080")
            assert "nginx.external.svc.cluster.local:80" in row.cells
            await pilot.press("t")  # the trace is still there
            await pilot.pause()
            assert isinstance(app.screen, TraceScreen) and app.screen.result is result
            assert app.screen.query_one("#headers").value == "want: v3"
    run(go())


@pytest.mark.parametrize("name", ["incident.md", "incident.html", "incident.json"])
def test_export_writes_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)

    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("e")  # nothing traced yet
            assert any("no trace" in m for m in messages(app))
            await pilot.click("#proxies", offset=(2, 2))
            screen = await run_trace(pilot, "nginx.external.svc.cluster.local:80", headers="want: v1", ip="10.96.30.30")
            assert screen.result.outcome.kind == "external"
            await pilot.press("e")
            await pilot.pause()
            assert isinstance(app.screen, ExportScreen)
            app.screen.query_one("#export-path").value = name
            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, ExportScreen)
            assert any("report written" in m for m in messages(app))
    run(go())
    text = (tmp_path / name).read_text()
    assert "nginx-v1" in text and "192.168.0.63" in text
    if name.endswith(".json"):
        assert json.loads(text)["trace"]["outcome"]["kind"] == "external"


def test_errors_are_notifications_not_crashes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")

    async def go() -> None:
        app = app_on(str(bad))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: messages(app), "a notification")
            assert any("bad.json" in m for m in messages(app))
            await pilot.press("t", "3", "slash", "x", "escape", "r")  # nothing loaded: every key still answers
            await pilot.pause()

        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("t")
            await pilot.pause()
            app.screen.query_one("#to").value = "nginx:notaport"
            app.screen.query_one("#headers").value = "no colon here"
            await pilot.click("#run")
            await pilot.pause()
            assert any("port" in m or "header" in m for m in messages(app))
            assert isinstance(app.screen, TraceScreen) and app.screen.result is None
    run(go())


def test_demo_opens_every_scenario_and_traces_within_one() -> None:
    """Several folders: a FROM column, and a trace uses only the proxies of the selected proxy's folder."""
    folders = sorted(str(p.parent) for p in SAMPLES.glob("*/scenario.yaml"))

    async def go() -> None:
        app = app_on(*folders)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            widget = app.query_one("#proxies", SummaryTable)
            assert widget.table is not None and widget.table.columns[0] == "FROM"
            groups = {widget.cells_at(i)[0] for i in range(widget.row_count)}
            assert groups == {Path(f).name for f in folders}
            row = next(i for i in range(widget.row_count) if widget.cells_at(i)[0] == "egress-gateway-http"
                       and widget.cells_at(i)[2] == "sidecar")
            widget.cursor = row
            await pilot.pause()
            screen = await run_trace(pilot, "httpbin.org:80")
            assert screen.result.outcome.kind == "external"
            assert len(screen.result.hops) == 2  # sidecar → this scenario's egress gateway
            assert {d.source.split("/")[-2] for d in app.trace_form.dumps} == {"egress-gateway-http"}
    run(go())


def test_describe_changes() -> None:
    from envoyscope.sources.files import load_sources

    before = load_sources([str(SAMPLES / "allow-any")])
    after = load_sources([str(SAMPLES / "registry-only")])
    text = describe_changes(before, after)
    assert "sleep-7f8d9c6b5d-x2x7k.default: " in text and "change(s)" in text and "(+" in text
    assert describe_changes(before, before) == "nothing changed"
    assert "gone" in describe_changes(before, [])
