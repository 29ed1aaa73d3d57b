"""The TUI's secret detail on a real capture from 2020 (Pilot): the workload certificate is named by its SPIFFE ID,
judged at capture and today, and not shown as fine when it has expired since."""

from __future__ import annotations

import asyncio
import datetime as dt

from textual.widgets import Label

from envoyscope.tui.detail import DetailScreen
from tests.conftest import shared_path
from tests.tui.helpers import SIZE, app_on, loaded, table


def test_secret_detail_of_a_2020_capture() -> None:
    dump = str(shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json"))

    async def go() -> None:
        app = app_on(dump, today=dt.date(2026, 12, 7))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("5")
            secrets = table(app, "secrets")
            secrets.cursor = next(i for i in range(secrets.row_count) if secrets.cells_at(i)[0] == "default")
            await pilot.press("enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DetailScreen)
            head, validity = screen.cert_lines
            assert head.startswith("Cert Chain: spiffe://cluster.local/ns/default/sa/bookinfo-productpage "
                                   "(empty subject) · issuer O=cluster.local")
            expired = (dt.date(2026, 12, 7) - dt.date(2020, 5, 15)).days
            assert f"(at capture 2020-05-14: 1 day left; today: expired {expired} days ago)" in validity
            shown = [label.render() for label in screen.query(Label) if "cert" in label.classes]
            assert [str(span.style) for span in shown[1].spans] == ["red"]  # expired today: never plain
            row = next(secrets.cells_at(i) for i in range(secrets.row_count) if secrets.cells_at(i)[0] == "default")
            assert f"1 at capture, -{expired} today" in row
            assert "spiffe://cluster.local/ns/default/sa/bookinfo-productpage" in row

    asyncio.run(go())
