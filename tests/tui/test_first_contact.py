"""What a person tries first in the TUI (issue 12): Enter in the filter box opens the match, Enter in a detail screen
follows the reference wherever the focus is, proxy names are whole where there is room (and on the highlighted row),
the trace form's "from" field and host completion by the proxy traced from, and a form composed once."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from typing import Any

import pytest
from textual.widgets import Input

from envoyscope.tui import trace_view
from envoyscope.tui.catalog import rank_hosts
from envoyscope.tui.detail import DetailScreen
from envoyscope.tui.table import SummaryTable
from envoyscope.tui.trace_view import TraceScreen
from tests.conftest import SAMPLES
from tests.tui.helpers import SIZE, app_on, loaded, messages, run_trace, table, until

MTLS = str(SAMPLES / "egress-mtls-subsets")
GATEWAY = "istio-egressgateway-5d8c7b8f9-q2w7x.istio-system"
SLEEP = "sleep-7f8d9c6b5d-x2x7k.default"


def run(coro: Any) -> None:
    asyncio.run(coro)


def test_enter_in_the_filter_opens_the_only_or_the_highlighted_match() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("3", "slash", *"v2", "enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DetailScreen)
            assert screen.node.name == "outbound|443|v2|nginx.external.svc.cluster.local"  # the only match
            await pilot.press("backspace", "escape", "slash", *"nginx")
            await pilot.pause()
            clusters = table(app, "clusters")
            assert clusters.row_count > 1 and isinstance(app.focused, Input)
            clusters.cursor = 1  # the highlighted one, not the first
            wanted = clusters.current_row()
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, DetailScreen) and wanted is not None and wanted.ref is not None
            assert app.screen.node.name == wanted.ref[1]
            await pilot.press("backspace", "escape", "slash", *"no-such-thing", "enter")
            await pilot.pause()
            assert not isinstance(app.screen, DetailScreen) and isinstance(app.focused, Input)
            assert any("no row of clusters matches `no-such-thing`" in m for m in messages(app))
    run(go())


def test_enter_follows_the_reference_wherever_the_focus_is() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("1", "enter")
            await pilot.pause()
            listener = app.screen
            assert isinstance(listener, DetailScreen) and listener.node.name == "0.0.0.0_8080"
            await pilot.press("tab")  # the YAML pane takes the focus (as a click on it does)
            assert not isinstance(app.focused, type(listener.query_one("#links")))
            await pilot.press("enter")
            await pilot.pause()
            chain = app.screen
            assert isinstance(chain, DetailScreen) and chain is not listener and chain.node.kind == "filter_chain"
            await pilot.press("tab", "enter")
            await pilot.pause()
            assert isinstance(app.screen, DetailScreen) and app.screen.node.kind == "route_config"
    run(go())


def proxy_lines(app: Any) -> list[str]:
    widget = app.query_one("#proxies", SummaryTable)
    return [widget.line_text(i) for i in range(widget.row_count)]


@pytest.mark.parametrize("width", [120, 170])
def test_proxy_names_are_whole_where_the_column_can_grow_and_on_the_highlighted_row(width: int) -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=(width, 40)) as pilot:
            await loaded(pilot)
            widget = app.query_one("#proxies", SummaryTable)
            assert widget.cells_at(0)[0] == GATEWAY and widget.cursor == 0
            assert GATEWAY in proxy_lines(app)[0]  # highlighted: whole
            await pilot.press("down")
            await pilot.pause()
            gateway_line, sleep_line = proxy_lines(app)
            assert SLEEP in sleep_line
            pane = app.query_one("#proxies-pane").size.width
            if width >= 170:  # the pane grew to hold every name
                assert GATEWAY in gateway_line and pane > 46
            else:  # no room: cut, with the whole name a keypress away
                assert GATEWAY not in gateway_line and gateway_line.strip().split()[0].endswith("…")
                assert len(gateway_line.strip().split()[0]) > 24  # longer than the old fixed cut
    run(go())


def test_host_completion_ranks_the_start_proxys_hosts_first_exact_prefix_first() -> None:
    assert rank_hosts("api", ["x.com:80", "Api.b:80", "api.a:443"], ["api.z:80", "api.a:443"]) == [
        "api.a:443", "Api.b:80", "api.z:80"]
    assert rank_hosts("", ["b:1", "a:1"], ["c:1"]) == ["b:1", "a:1", "c:1"]

    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            assert app.current is not None and app.current.name == GATEWAY
            await pilot.press("t")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TraceScreen)
            # the gateway serves nginx on its 8080 listener: that first; the sleep sidecar calls it on 80
            assert screen.ranked_hosts("nginx")[0] == "nginx.external.svc.cluster.local:8080"
            screen.query_one("#from", Input).value = "sleep"
            assert screen.ranked_hosts("nginx")[0] == "nginx.external.svc.cluster.local:80"
            box = screen.query_one("#to", Input)
            box.focus()
            await pilot.press(*"ngi")
            await until(pilot, lambda: box._suggestion, "a suggestion")  # noqa: SLF001 (what the Input shows)
            assert box._suggestion == "nginx.external.svc.cluster.local:80"  # noqa: SLF001
    run(go())


def test_the_from_field_starts_the_trace_where_it_says_by_the_cli_rule() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("t")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TraceScreen)
            assert screen.query_one("#from", Input).placeholder == f"from:{GATEWAY}"
            screen.query_one("#from", Input).value = "sleep"  # part of a name, as --from takes it
            await pilot.press("escape")
            screen = await run_trace(pilot, "nginx.external.svc.cluster.local:80", headers="want: v2")
            assert screen.result is not None
            assert [h.proxy for h in screen.result.hops] == [SLEEP, GATEWAY]
            screen.query_one("#from", Input).value = "e"  # in both names: the candidates are listed
            await pilot.click("#run")
            await until(pilot, lambda: any("2 proxies match" in m for m in messages(app)), "the error")
            assert any(m.startswith("from e: 2 proxies match") for m in messages(app))
    run(go())


def test_the_trace_form_is_composed_and_drawn_once() -> None:
    """Before, every `t` built a new TraceScreen: the form was composed again and the last trace redrawn each time
    (three opens: three composes, three draws of the same trace)."""
    counts: Counter[str] = Counter()

    def counting(name: str) -> Any:
        original = getattr(TraceScreen, name)

        @functools.wraps(original)
        def wrapper(self: Any, *args: Any) -> Any:
            counts[name] += 1
            return original(self, *args)
        return wrapper

    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            screen = await run_trace(pilot, "nginx.external.svc.cluster.local:80", headers="want: v2")
            for _ in range(2):
                await pilot.press("escape")
                await pilot.pause()
                await pilot.press("t")
                await pilot.pause()
                assert app.screen is screen and screen.query_one("#to", Input).value.startswith("nginx")
            assert screen.query_one("#trace-tree").has_focus
    patch = pytest.MonkeyPatch()
    try:
        for name in ("compose", "show"):
            patch.setattr(trace_view.TraceScreen, name, counting(name))
        run(go())
    finally:
        patch.undo()
    assert counts == {"compose": 1, "show": 1}
