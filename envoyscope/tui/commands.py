"""The command palette (ctrl+p): every action of the app by name, only those that work where it was opened."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import Hit, Hits, Provider


class Commands(Provider):
    """Every action in the command palette (ctrl+p)."""

    async def search(self, query: str) -> Hits:
        from envoyscope.tui.app import TABS, EnvoyscopeApp  # the app imports this module: import it here
        from envoyscope.tui.trace_view import TraceScreen

        app = self.app
        assert isinstance(app, EnvoyscopeApp)
        actions: list[tuple[str, Callable[[], Any]]] = [(f"Show {tab}", partial(app.show_tab, tab)) for tab in TABS]
        actions += [("Trace a request", app.action_trace), ("Egress audit: every way out", app.action_egress),
                    ("Export the last trace as a report", app.action_export),
                    ("Refresh the sources", app.action_refresh),
                    ("Changes of the last refresh", app.action_changes), ("Filter the table", app.action_filter),
                    ("Sort the table by the next column", app.action_sort),
                    ("Next namespace of the proxy list", app.action_next_namespace),
                    ("Next type of the proxy list", app.action_next_type), ("Help", app.action_help)]
        if self.screen is not app.main:  # opened on a detail or trace screen: only what works there
            actions = [(t, c) for t, c in actions if t.startswith(("Trace", "Export", "Refresh", "Help"))]
            if isinstance(self.screen, TraceScreen):
                actions = [(t, c) for t, c in actions if not t.startswith("Trace")]
        matcher = self.matcher(query)
        for title, callback in actions:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=None)
