"""The Policies screen (`p`): the authorization policies (RBAC filters) of the current proxy, as
``envoyscope authz -o wide`` lists them — one row per policy in the order Envoy tries them; the row under the cursor
shows its principals and permissions in words below the table."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from envoyscope.model.dump import ConfigDump

COLUMNS = ("FILTER", "WHERE", "ACTION", "NAME", "RULES")


class PoliciesScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back"),
                                             Binding("ctrl+q", "app.quit", "Quit", show=False)]

    def __init__(self, dump: ConfigDump) -> None:
        super().__init__()
        self.dump = dump
        self.rows: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="policies-status")
        yield DataTable(id="policies-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="policies-detail")
        yield Footer()

    def on_mount(self) -> None:
        from envoyscope.engine.authz import policy_rows

        self.rows = policy_rows(self.dump)
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        for row in self.rows:
            table.add_row(row.filter, row.where, row.action, row.name, row.rules)
        status = (f"{len(self.rows)} policies of {self.dump.identity.name}, in the order Envoy tries them"
                  if self.rows else f"no RBAC filter in {self.dump.identity.name}: no authorization policy applies")
        self.query_one("#policies-status", Static).update(status)
        self._detail(0)

    @on(DataTable.RowHighlighted, "#policies-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.cursor_row)

    def _detail(self, index: int) -> None:
        if not 0 <= index < len(self.rows):
            return
        row = self.rows[index]
        text = (f"{row.action} {row.name}\nprincipals: {'; '.join(row.principals) or '-'}\n"
                f"permissions: {'; '.join(row.permissions) or '-'}")
        self.query_one("#policies-detail", Static).update(text)
