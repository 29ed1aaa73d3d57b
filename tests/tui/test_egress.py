"""The TUI's egress audit (`x`): the rows `envoyscope egress` prints, and Enter opens a row's trace."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from textual.widgets import DataTable

from tests.conftest import SAMPLES
from tests.tui.helpers import SIZE, app_on, loaded, until


def test_egress_screen_lists_the_ways_out_and_opens_a_trace() -> None:
    async def go() -> None:
        from envoyscope.tui.egress_view import EgressScreen
        from envoyscope.tui.trace_view import TraceScreen

        app = app_on(str(SAMPLES / "egress-mtls-subsets"))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("x")
            screen = app.screen
            assert isinstance(screen, EgressScreen)
            await until(pilot, lambda: bool(screen.rows), "the audit")
            table = screen.query_one(DataTable)
            exits = [str(table.get_row_at(i)[5]) for i in range(table.row_count)]
            assert "egress_gateway" in exits and "passthrough" in exits
            index = next(i for i, r in enumerate(screen.rows) if r.exit == "egress_gateway")
            table.move_cursor(row=index)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TraceScreen), "the trace screen")
            trace_screen = app.screen
            assert isinstance(trace_screen, TraceScreen)
            result = trace_screen.result  # traced again, with the steps the row's slim trace leaves out
            assert result is not None and all(hop.steps for hop in result.hops)
            assert replace(result, hops=tuple(replace(h, steps=()) for h in result.hops)) == screen.rows[index].trace
            assert len(result.hops) == 2
    asyncio.run(go())
