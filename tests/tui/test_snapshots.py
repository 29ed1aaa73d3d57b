"""Pictures of the main screens at 120×40 (pytest-textual-snapshot); `pytest --snapshot-update` redraws them.

The app runs from the repository root on relative paths, so the pictures do not depend on where the clone is.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO
from tests.tui.helpers import SIZE, app_on, loaded, run_trace, until

SOURCE = "sample_dumps/egress-mtls-subsets"


@pytest.fixture(autouse=True)
def _from_the_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


async def settle(pilot: Any) -> None:
    pilot.app.clear_notifications()
    await pilot.pause()


class TestScreens:
    def test_clusters_tab(self, snap_compare: Any) -> None:
        async def before(pilot: Any) -> None:
            await loaded(pilot)
            await pilot.press("3")
            await settle(pilot)

        assert snap_compare(app_on(SOURCE), terminal_size=SIZE, run_before=before)

    def test_filtered_routes_of_the_sidecar(self, snap_compare: Any) -> None:
        async def before(pilot: Any) -> None:
            await loaded(pilot)
            await pilot.click("#proxies", offset=(2, 2))
            await pilot.press("2", "slash", *"nginx")
            await settle(pilot)

        assert snap_compare(app_on(SOURCE), terminal_size=SIZE, run_before=before)

    def test_listener_details(self, snap_compare: Any) -> None:
        async def before(pilot: Any) -> None:
            await loaded(pilot)
            await pilot.press("1")
            table = pilot.app.query_one("#table-listeners")
            table.cursor = next(i for i in range(table.row_count) if table.cells_at(i)[1] == "8080")
            await pilot.press("enter")
            await until(pilot, lambda: pilot.app.screen.typed, "the typed decoding")
            await settle(pilot)

        assert snap_compare(app_on(SOURCE), terminal_size=SIZE, run_before=before)

    def test_trace_result(self, snap_compare: Any) -> None:
        async def before(pilot: Any) -> None:
            await loaded(pilot)
            await pilot.click("#proxies", offset=(2, 2))
            screen = await run_trace(pilot, "nginx.external.svc.cluster.local:80", headers="want: v3",
                                     ip="10.96.30.30")
            tree = screen.query_one("#trace-tree")
            hop2 = [n for n in tree.root.children if str(n.label).startswith("hop 2")][0]
            next(n for n in hop2.children if str(n.label).startswith("route none")).expand()  # its near misses
            await settle(pilot)

        assert snap_compare(app_on(SOURCE), terminal_size=SIZE, run_before=before)

    def test_help(self, snap_compare: Any) -> None:
        async def before(pilot: Any) -> None:
            await loaded(pilot)
            await pilot.press("question_mark")
            await settle(pilot)

        assert snap_compare(app_on(SOURCE), terminal_size=SIZE, run_before=before)
