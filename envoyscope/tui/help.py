"""The help screen: every key, and where the command palette is."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """# envoyscope

| key | does |
|---|---|
| ↑ ↓ PgUp PgDn Home End | move in a list or table; Tab moves between panes |
| `1`–`6` | the Listeners, Routes, Clusters, Endpoints, Secrets and Bootstrap tabs |
| `/` | filter the current table as you type (Esc clears it); Enter opens the only (or the highlighted) match |
| `s`, or a click on a header | sort by the next column (again: reverse) |
| Enter | on a proxy: show it (a cluster's pod is read then); on a row: the resource as YAML and what it refers to |
| Enter, in a resource | follow the highlighted reference (wherever the focus is) |
| Backspace | back from a resource |
| `n` / `y` | cycle the proxy list's namespace / type filter |
| `t` | trace a request through the proxies loaded (the form remembers the last one) |
| "from", in the form | the proxy the trace starts at (as `--from`: any part of a name); hosts complete from it first |
| `x` | the egress audit: every way out of the mesh from these proxies; Enter on a row opens its trace |
| `p` | the current proxy's authorization policies (RBAC filters) in the order Envoy tries them, each in words |
| `e` | export the last trace as a report: Markdown, HTML or JSON by the file's extension |
| `r` | read the sources again and say what changed |
| `c` | after a refresh: every change (as `envoyscope diff`), and the last trace re-run, where it now parts |
| `ctrl+p` | the command palette: every action by name |
| `?` | this help · `q` quit |

A trace step's Enter shows its resource in its tab; `t` brings the trace back.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)
