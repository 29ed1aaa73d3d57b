"""The TUI's trace form completes a host from the dump and traces it as the mesh would resolve it."""

from __future__ import annotations

import asyncio

from textual.widgets import Input

from tests.conftest import shared_path
from tests.tui.helpers import SIZE, app_on, loaded, until


def test_a_completed_in_mesh_host_goes_to_its_vip_listener_not_passthrough() -> None:
    source = shared_path("real-dumps", "deathstarbench-geo-sidecar-1.18", "config_dump.json")

    async def go() -> None:
        from envoyscope.tui.trace_view import TraceScreen

        app = app_on(str(source))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("t")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TraceScreen)
            assert "frontend.hr2.svc.cluster.local:5000" in screen.hosts
            field = screen.query_one("#to", Input)
            field.focus()
            for key in "frontend.hr2":
                await pilot.press(key if key != "." else "full_stop")
            await until(pilot, lambda: field._suggestion.startswith("frontend.hr2.svc"), "the suggestion")
            await pilot.press("right")  # accept the completion, as a user does
            assert field.value == "frontend.hr2.svc.cluster.local:5000"
            await pilot.press("enter")
            await until(pilot, lambda: screen.result is not None, "the trace")
            assert screen.result is not None
            hop = screen.result.hops[0]
            assert hop.listener == "10.68.128.168_5000"
            assert hop.cluster == "outbound|5000||frontend.hr2.svc.cluster.local"
            assert screen.result.outcome.kind != "passthrough"
            assert "10.68.128.168" in screen.result.assumptions[0]
    asyncio.run(go())
