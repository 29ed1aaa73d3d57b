"""What a refresh changed (`r`): the semantic diff of the sources before and after, browsable, and the re-run of
the last trace with where it now parts from the one before."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static, Tree

from envoyscope.engine.diff import ProxyDiff, proxy_name


class ChangesScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back"),
                                             Binding("ctrl+q", "app.quit", "Quit", show=False)]

    def __init__(self, diffs: list[ProxyDiff], comparison: Any = None) -> None:
        super().__init__()
        self.diffs, self.comparison = diffs, comparison

    def compose(self) -> ComposeResult:
        yield Static(self._trace_text(), id="changes-trace")
        yield Tree("changes", id="changes-tree")
        yield Footer()

    def _trace_text(self) -> Text:
        if self.comparison is None:
            return Text("no trace to re-run (t traces a request)", "dim")
        from envoyscope.report.compare_text import comparison_lines

        lines = comparison_lines(self.comparison, ["before"], "after")[1:]
        return Text("the last trace, re-run on what was read now:\n" + "\n".join(lines))

    def on_mount(self) -> None:
        from envoyscope.engine.diff.words import sentences

        tree = self.query_one(Tree)
        tree.show_root = False
        changed = [d for d in self.diffs if d.changed]
        if not changed:
            tree.root.add_leaf("nothing changed")
        for diff in changed:
            name = proxy_name(diff.new or diff.old)
            if diff.old is None or diff.new is None:
                tree.root.add_leaf(f"{name}: {'new proxy' if diff.old is None else 'gone'}")
                continue
            node = tree.root.add(f"{name}: {len(diff.changes)} change(s)", expand=True)
            for change in diff.changes:
                lines = sentences(change)
                if len(lines) == 1:
                    node.add_leaf(lines[0])
                else:
                    sub = node.add(f"{change.kind.replace('_', ' ')} `{change.name}` modified", expand=False)
                    for line in lines:
                        sub.add_leaf(line)
        tree.focus()
