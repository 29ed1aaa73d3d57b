"""The TUI on the DeathStarBench dump, whose inbound listener Envoy rejected: the listeners tab lists the rejected
listener with its STATE, and its detail screen leads with Envoy's error text."""

from __future__ import annotations

import asyncio

from textual.widgets import Label

from envoyscope.tui.detail import DetailScreen
from tests.conftest import shared_path
from tests.tui.helpers import SIZE, app_on, loaded, table

LUA = "Proto constraint validation failed (LuaValidationError.DefaultSourceCode"


def test_the_rejected_listener_is_listed_and_its_detail_shows_envoys_error() -> None:
    dump = str(shared_path("real-dumps", "deathstarbench-geo-sidecar-1.18", "config_dump.json"))

    async def go() -> None:
        app = app_on(dump)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("1")
            await pilot.pause()
            listeners = table(app, "listeners")
            assert listeners.table is not None and listeners.table.columns[-1] == "STATE"
            rows = [listeners.cells_at(i) for i in range(listeners.row_count)]
            rejected = [i for i, cells in enumerate(rows) if cells[-1].startswith("REJECTED")]
            assert rejected and all(rows[i][1] == "15006" for i in rejected)
            first = next(i for i in rejected if LUA in rows[i][-1])
            listeners.cursor = first
            await pilot.press("enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DetailScreen)
            assert screen.node.name == "virtualInbound" and screen.node.state == "rejected"
            problem = str(screen.query_one("#detail-problem", Label).render())
            assert problem.startswith("not in use: rejected by Envoy: " + LUA)
    asyncio.run(go())
