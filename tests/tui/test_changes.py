"""After a refresh, `c` shows every change as `envoyscope diff` does, and the last trace re-run where it parts."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from tests.conftest import SAMPLES
from tests.tui.helpers import SIZE, app_on, loaded, messages, run_trace, until


def test_a_refresh_re_runs_the_last_trace_and_names_the_change(tmp_path: Path) -> None:
    folder = tmp_path / "mesh"
    shutil.copytree(SAMPLES / "allow-any", folder)

    async def go() -> None:
        from envoyscope.tui.changes_view import ChangesScreen

        app = app_on(str(folder))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            screen = await run_trace(pilot, "www.google.com:80", ip="142.250.2.2")
            assert screen.result.outcome.kind == "passthrough"
            await pilot.press("escape")
            for name in ("sleep.config_dump.json", "sleep.clusters.json"):  # the mesh turns REGISTRY_ONLY
                shutil.copy(SAMPLES / "registry-only" / name, folder / name)
            await pilot.press("r")
            await until(pilot, lambda: any("change(s)" in m for m in messages(app)), "the refresh summary")
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ChangesScreen), "the changes screen")
            changes = app.screen
            assert isinstance(changes, ChangesScreen)
            assert changes.comparison is not None and changes.comparison.new.outcome.kind == "blackhole"
            parting = changes.comparison.parting
            assert parting is not None and parting.new is not None and parting.new.kind == "virtual_host"
            assert any("block_all" in str(c.name) for c in parting.explained_by)
            text = str(changes.query_one("#changes-trace").render())
            assert "passthrough → blackhole" in text and "they part at hop 1" in text
    asyncio.run(go())
