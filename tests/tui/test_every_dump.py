"""Every dump this project has — the bundled samples, the real dumps from live meshes and istioctl's test dumps in
../shared/fixtures —
opens in the TUI, and every tab of every proxy shows its rows; every row with a resource opens its details."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from envoyscope.tui.app import TABS
from envoyscope.tui.detail import DetailScreen
from tests.conftest import FIXTURES, SAMPLES
from tests.tui.helpers import SIZE, app_on, loaded, table

SAMPLE_FOLDERS = [str(p.parent) for p in sorted(SAMPLES.glob("*/scenario.yaml"))]
REAL_DUMPS = sorted(str(p) for p in (FIXTURES / "real-dumps").glob("*/*.json")) if FIXTURES.is_dir() else []
# istioctl's own test dumps (config dumps only: its other JSON files are expected outputs)
REAL_DUMPS += sorted(str(p) for p in (FIXTURES / "istioctl").rglob("*.json")
                     if '"configs"' in p.read_text(errors="replace")[:2000]) if FIXTURES.is_dir() else []


def check_every_tab(source: str) -> None:
    async def go() -> None:
        app = app_on(source)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            assert app.entries and not [n for n in app._notifications if n.severity == "error"]
            for entry in list(app.entries):
                app.select(entry)
                for number, tab in enumerate(TABS, 1):
                    await pilot.press(str(number))
                    assert app.active_tab() == tab
                    assert entry.dump is not None
                    assert table(app, tab).row_count == len(app.table_for(entry.dump, tab).rows)
                    widget = table(app, tab)
                    if widget.row_count and tab != "bootstrap":  # open the last row
                        widget.cursor = widget.row_count - 1
                        await pilot.press("enter")
                        await pilot.pause()
                        if isinstance(app.screen, DetailScreen):
                            assert app.screen.yaml_text
                            await pilot.press("backspace")
                            await pilot.pause()
    asyncio.run(go())


@pytest.mark.parametrize("source", SAMPLE_FOLDERS, ids=lambda p: Path(p).name)
def test_every_sample_every_tab(source: str) -> None:
    check_every_tab(source)


@pytest.mark.parametrize("source", REAL_DUMPS or ["absent"], ids=lambda p: "/".join(Path(p).parts[-3:]))
def test_every_real_dump_every_tab(source: str) -> None:
    if not REAL_DUMPS:
        pytest.skip("../shared is absent: the real dumps from live meshes are not in this clone")
    check_every_tab(source)
