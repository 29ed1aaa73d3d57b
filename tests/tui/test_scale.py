"""The TUI on a folder of many proxies (issue 16): the refresh (`r`) reads again only the proxies that had been read,
and the egress view (`x`) audits proxy by proxy, letting each go, with a progress line. Decodes are counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import DataTable

from envoyscope.sources import files
from tests.cli.test_scale import sleep_copies
from tests.tui.helpers import SIZE, app_on, loaded, until


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full decode of an input file, by name."""
    seen: list[str] = []
    real = files.parse_bytes

    def counting(data: bytes, source: str):  # type: ignore[no-untyped-def]
        seen.append(Path(source).name)
        return real(data, source)

    monkeypatch.setattr(files, "parse_bytes", counting)
    return seen


def test_a_refresh_reads_again_only_the_proxies_that_were_read(tmp_path: Path, decodes: list[str]) -> None:
    folder = sleep_copies(tmp_path / "mesh", 60)

    async def go() -> None:
        app = app_on(str(folder))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            read = sorted(Path(e.dump.source).name for e in app.entries if e.dump is not None and e.dump.loaded)
            assert len(read) == 1, read  # the proxy shown first, and only it
            first = list(decodes)
            assert first and all(name.startswith(read[0].split(".")[0]) for name in first), first
            # while the app runs, one proxy's file goes and one comes
            (folder / "other-059.config_dump.json").unlink()
            (folder / "other-new.config_dump.json").write_bytes((folder / "other-000.config_dump.json").read_bytes()
                                                               .replace(b"other-000-", b"other-new-")
                                                               .replace(b"10.250.0.1", b"10.250.9.1"))
            decodes.clear()
            await pilot.press("r")
            await until(pilot, lambda: any(n.title == "refreshed" for n in app._notifications), "the refresh")
            assert sorted(decodes) == sorted(first), "the refresh decoded proxies that had not been read"
            text = next(n.message for n in app._notifications if n.title == "refreshed")
            assert "other-new-7f8d9c6b5d-abcde.default: new proxy (not read)" in text
            assert "other-059-7f8d9c6b5d-abcde.default: gone" in text
            assert "(60 other proxies were never read, so not compared)" in text
            assert len(app.entries) == 62
            # the proxy that was read cannot be read again (cut after its bootstrap, which still says who it is):
            # said so, not taken for a proxy gone
            shown = next(e for e in app.entries if e.dump is not None and e.dump.loaded)
            path = Path(shown.dump.source)  # type: ignore[union-attr]
            whole = path.read_bytes()
            path.write_bytes(whole[: whole.index(b"ClustersConfigDump") + 400])
            app._notifications.clear()
            await pilot.press("r")
            await until(pilot, lambda: any(n.title == "refreshed" for n in app._notifications), "the 2nd refresh")
            text = next(n.message for n in app._notifications if n.title == "refreshed")
            assert f"{shown.name}: " in text and "truncated" in text and "gone" not in text, text
    asyncio.run(go())


def test_the_egress_view_audits_proxy_by_proxy_and_lets_each_go(tmp_path: Path, decodes: list[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from envoyscope.tui.egress_view import EgressScreen

    folder = sleep_copies(tmp_path / "mesh", 40)
    shown: list[str] = []
    real_show = EgressScreen.show

    def show(self: EgressScreen, audits: list[object], progress: str) -> None:
        shown.append(progress)
        real_show(self, audits, progress)

    monkeypatch.setattr(EgressScreen, "show", show)

    async def go() -> None:
        app = app_on(str(folder))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            read_before = {e.key for e in app.entries if e.dump is not None and e.dump.loaded}
            await pilot.press("x")
            screen = app.screen
            assert isinstance(screen, EgressScreen)
            await until(pilot, lambda: screen.done and shown and shown[-1] == "", "the audit", tries=600)
            await pilot.pause()
            assert {a.proxy for a in screen.audits} == {e.name for e in app.entries}  # every proxy audited
            copies = [name for name in decodes if name.startswith("other-") and "config_dump" in name]
            assert sorted(copies) == sorted(f"other-{i:03d}.config_dump.json" for i in range(40))  # once each
            # each proxy was let go after its audit: what is decoded now is what was decoded before
            assert {e.key for e in app.entries if e.dump is not None and e.dump.loaded} == read_before
            assert any(text.startswith("auditing proxies ") and text.endswith("/42…") for text in shown), shown
            assert all(len(r.trace.hops) and not any(h.steps for h in r.trace.hops) for r in screen.rows)
            rows = sum(len(a.destinations) for a in screen.audits)
            assert rows and screen.query_one(DataTable).row_count == len(screen.rows) == rows
    asyncio.run(go())
