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


def changes(app: Any, before: list[Any], after: list[Any]) -> tuple[list[ProxyDiff], Any]:
    """The diff of a refresh, and the app's last trace re-run on what was read now (None when there is none, or when
    it cannot be re-run: the app is told why)."""
    from envoyscope.engine.diff import diff_proxies
    from envoyscope.errors import EnvoyscopeError

    comparison = None
    form = app.trace_form
    if form.result is not None:
        from envoyscope.engine.compare import compare_traces
        from envoyscope.engine.trace import trace

        names = {d.identity.name for d in form.dumps}
        now = [d for d in after if d.identity.name in names] or after
        try:
            comparison = compare_traces(form.result, trace(form.result.request, now, proxy_ips=app.proxy_ips),
                                        form.dumps, now)
        except EnvoyscopeError as exc:
            app.notify(f"the last trace cannot be re-run: {exc}", severity="warning")
    return diff_proxies(before, after), comparison


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
