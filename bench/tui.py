"""TUI figures on the benchmark dump, each against a baseline run in the same process.

- first screen: from creating the app to the listeners table drawn, headless (Textual's test driver), against
  `orjson.loads` of the same file in this process;
- a keystroke in the filter box on the 9,000-row clusters table: the filter plus drawing every line on screen
  (what a keystroke costs the app), and the whole keystroke through Pilot (Textual's event loop and compositor).
Usage: python bench/tui.py [DUMP]  (make bench runs it)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NEEDLES = ["s", "sv", "svc", "svc-", "svc-0", "svc-00", "svc-001", "svc-0012", "svc-001", "svc-00", "svc-0", "svc-",
           "svc", "sv", "s", "", "ns-4", "ns-42", "8003", "mutual"]


def bench_tui(dump: Path) -> dict[str, float]:
    import orjson

    from envoyscope.tui.app import EnvoyscopeApp
    from envoyscope.tui.catalog import Catalog
    from envoyscope.tui.table import SummaryTable

    start = time.perf_counter()
    orjson.loads(dump.read_bytes())
    baseline = time.perf_counter() - start
    figures: dict[str, float] = {"orjson": baseline}

    async def run() -> None:
        t0 = time.perf_counter()
        app = EnvoyscopeApp(Catalog.of_files([str(dump)], dump.name))
        app.animation_level = "none"
        async with app.run_test(size=(160, 50)) as pilot:
            while app.loading or app.current is None:
                await pilot.pause(0.01)
            await pilot.pause()
            figures["first_screen"] = time.perf_counter() - t0
            await pilot.press("3")
            widget = app.query_one("#table-clusters", SummaryTable)
            assert widget.row_count >= 9000, widget.row_count
            figures["rows"] = widget.row_count
            direct = []
            for needle in NEEDLES:
                t = time.perf_counter()
                widget.set_filter(needle)
                for y in range(widget.size.height):
                    widget.render_line(y)
                direct.append(time.perf_counter() - t)
            figures["keystroke_median"] = statistics.median(direct)
            figures["keystroke_max"] = max(direct)
            widget.set_filter("")
            await pilot.press("slash")
            typed = []
            for char in "svc-0012" + "\b" * 8:
                t = time.perf_counter()
                await pilot.press("backspace" if char == "\b" else char)
                typed.append(time.perf_counter() - t)
            figures["pilot_keystroke_median"] = statistics.median(typed)

    asyncio.run(run())
    return figures


def report(figures: dict[str, Any]) -> str:
    base = figures["orjson"]
    return (f"TUI: first screen {figures['first_screen']:.2f}s = {figures['first_screen'] / base:.2f}× orjson.loads "
            f"({base:.2f}s, same process; target ≤ 1.5×)\n"
            f"TUI: filter keystroke on {figures['rows']:,.0f} clusters: "
            f"median {figures['keystroke_median'] * 1000:.1f} ms, max {figures['keystroke_max'] * 1000:.1f} ms "
            "(filter + every line on screen; target ≤ 50 ms), "
            f"{figures['pilot_keystroke_median'] * 1000:.0f} ms median through Pilot's whole event loop")


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "out" / "big.config_dump.json"
    print(report(bench_tui(path)))
