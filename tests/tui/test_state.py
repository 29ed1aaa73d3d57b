"""What the TUI shows stays true: names from the dumps are shown as written (never read as markup), filters never
leave a hidden proxy selected, a trace still leads to its resources after a refresh, keys act on the screen shown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from envoyscope.tui.detail import DetailScreen
from envoyscope.tui.trace_view import TraceScreen
from tests.conftest import SAMPLES
from tests.tui.helpers import SIZE, app_on, loaded, messages, run_trace, table, until

MTLS = str(SAMPLES / "egress-mtls-subsets")


def hostile_dump(tmp_path: Path) -> Path:
    """The sidecar of egress-mtls-subsets with a route whose regex and name hold markup-like brackets."""
    doc = json.loads((SAMPLES / "egress-mtls-subsets" / "sleep.config_dump.json").read_text())
    for config in doc["configs"]:
        for entry in config.get("dynamic_route_configs") or ():
            route_config = entry["route_config"]
            if route_config.get("name") == "80":
                vhost = route_config["virtual_hosts"][0]
                vhost["routes"].insert(0, {"name": "api[/]v[b]1", "match": {"safe_regex": {"regex": "^/api[/]?$"}},
                                           "direct_response": {"status": 418}})
    path = tmp_path / "sleep.config_dump.json"
    path.write_text(json.dumps(doc))
    return path


def test_names_with_brackets_are_shown_as_written(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_on(str(hostile_dump(tmp_path)))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("2")
            routes = table(app, "routes")
            routes.cursor = 0
            await pilot.press("enter")  # a Routes row opens the virtual host it shows
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DetailScreen) and screen.node.kind == "virtual_host"
            labels = [str(item.query_one("Label").render()) for item in screen.query("ListItem")]
            assert any("regex ^/api[/]?$" in label and "api[/]v[b]1" in label for label in labels), labels
            screen.query_one("#links").index = 0
            await pilot.press("enter")  # the route itself: its title holds the brackets too
            await pilot.pause()
            assert isinstance(app.screen, DetailScreen) and app.screen.node.name.endswith("api[/]v[b]1")
            assert "api[/]v[b]1" in str(app.screen.query_one("#detail-title").render())
            await pilot.press("backspace", "backspace")
            await pilot.pause()
            trace = await run_trace(pilot, "nginx.external.svc.cluster.local:80", path="/api/", ip="10.96.30.30")
            assert trace.result.outcome.kind == "direct_response"
            verdict = str(trace.query_one("#trace-verdict").render())
            assert "direct_response HTTP 418" in verdict
    asyncio.run(go())


def test_verdict_keeps_response_flags(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.click("#proxies", offset=(2, 2))
            screen = await run_trace(pilot, "nginx.external.svc.cluster.local:80", headers="want: v3",
                                     ip="10.96.30.30")
            assert "no_route HTTP 404 [NR]" in str(screen.query_one("#trace-verdict").render())
            await pilot.press("t")  # no second trace screen on top of this one
            await pilot.pause()
            assert len(app.screen_stack) == 2
            tree = screen.query_one("#trace-tree")
            hop2 = [n for n in tree.root.children if str(n.label).startswith("hop 2")][0]
            route = next(n for n in hop2.children if str(n.label).startswith("route none"))
            tree.move_cursor(route)
            await pilot.pause()
            detail = str(screen.query_one("#step-detail").render())
            assert "near miss route nginx-v1" in detail and "near miss route nginx-v2" in detail
    asyncio.run(go())


def test_a_filtered_out_proxy_is_not_left_selected() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            assert app.current is not None and app.current.kind == "gateway"
            await pilot.press("n")  # namespace all → default: only the sidecar
            await pilot.pause()
            assert [e.kind for e in app.shown] == ["sidecar"]
            assert app.current is not None and app.current.kind == "sidecar"
            assert "sleep-7f8d9c6b5d-x2x7k.default" in str(app.query_one("#identity").render())
    asyncio.run(go())


def test_a_trace_still_leads_to_its_resources_after_a_refresh() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.click("#proxies", offset=(2, 2))
            await run_trace(pilot, "nginx.external.svc.cluster.local:80", headers="want: v1", ip="10.96.30.30")
            await pilot.press("escape", "r")
            await until(pilot, lambda: any(n.title == "refreshed" for n in app._notifications), "the refresh")
            await pilot.press("t")
            await pilot.pause()
            tree = app.screen.query_one("#trace-tree")
            hop2 = [n for n in tree.root.children if str(n.label).startswith("hop 2")][0]
            cluster = next(n for n in hop2.children if str(n.label).startswith("cluster "))
            tree.select_node(cluster)
            await pilot.pause()
            assert not isinstance(app.screen, TraceScreen)
            assert not any("not in the proxy list" in m for m in messages(app))
            assert app.active_tab() == "clusters" and app.current is not None and app.current.kind == "gateway"
            assert table(app, "clusters").current_row().ref == ("cluster", "outbound|443|v1|nginx.external.svc."
                                                                           "cluster.local")
    asyncio.run(go())


def test_the_palette_offers_only_what_works_on_the_screen_shown() -> None:
    from envoyscope.tui.commands import Commands

    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("t")
            await pilot.pause()

            async def titles(query: str) -> list[str]:
                provider: Any = Commands(app.screen)
                return [str(hit.text) for hit in [h async for h in provider.search(query)]]

            assert not await titles("show clusters") and not await titles("trace a request")
            assert await titles("export")
    asyncio.run(go())
