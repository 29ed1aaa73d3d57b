"""What the TUI tests share: an app on some sources, and waiting for Textual's workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from envoyscope.tui.app import EnvoyscopeApp
from envoyscope.tui.catalog import Catalog
from envoyscope.tui.table import SummaryTable

SIZE = (120, 40)


def catalog_on(*sources: str) -> Catalog:
    return Catalog.of_files(list(sources), " ".join(sources))


def app_on(*sources: str, **kwargs: Any) -> EnvoyscopeApp:
    app = EnvoyscopeApp(catalog_on(*sources), **kwargs)
    app.animation_level = "none"  # tab underlines and scrolling do not animate: the tests need not wait for them
    return app


async def until(pilot: Any, condition: Callable[[], Any], what: str, tries: int = 200) -> None:
    """Let the app run until ``condition()`` holds (workers answer from threads), or fail saying ``what``."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def loaded(pilot: Any) -> None:
    await until(pilot, lambda: not pilot.app.loading, "the sources to load")
    current = pilot.app.current  # a folder's proxy is decoded when shown, in a worker
    await until(pilot, lambda: current is None or current.dump is None or current.dump.loaded, "the proxy to load")
    await pilot.pause()


async def run_trace(pilot: Any, to: str, *, headers: str = "", ip: str = "", path: str = "",
                    tries: int = 200) -> Any:
    """Open the trace screen (``t``), fill the form as a user would, press Trace and wait for the tree."""
    from envoyscope.tui.trace_view import TraceScreen

    await pilot.press("t")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, TraceScreen)
    for field_id, value in (("to", to), ("headers", headers), ("ip", ip), ("path", path)):
        if value:
            screen.query_one(f"#{field_id}").value = value
    before = screen.result
    await pilot.click("#run")
    await until(pilot, lambda: screen.result is not None and screen.result is not before, "the trace", tries)
    return screen


def table(app: EnvoyscopeApp, tab: str) -> SummaryTable:
    return app.query_one(f"#table-{tab}", SummaryTable)


def messages(app: EnvoyscopeApp) -> list[str]:
    return [n.message for n in app._notifications]
