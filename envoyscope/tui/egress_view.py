"""The egress audit screen (`x`): every way out of the mesh from the proxies of the current group.

One row per destination, as ``envoyscope egress`` prints it; the audit runs in a worker thread. Enter on a row
opens the trace screen with that row's trace — the same trace ``envoyscope trace`` gives for it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from envoyscope.model.dump import ConfigDump

COLUMNS = ("PROXY", "HOST", "PORT", "PROTOCOL", "REQUEST", "EXIT", "VIA", "TLS", "FINDINGS")


class EgressScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back"),
                                             Binding("ctrl+q", "app.quit", "Quit", show=False)]

    def __init__(self, dumps: list[ConfigDump]) -> None:
        super().__init__()
        self.dumps = dumps
        self.audits: list[Any] = []
        self.rows: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Static("auditing every way out of the mesh…", id="egress-status")
        yield DataTable(id="egress-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="egress-findings")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.run_audit()

    @work(thread=True, exclusive=True, group="egress")
    def run_audit(self) -> None:
        from envoyscope.engine.egress.audit import audit
        from envoyscope.errors import EnvoyscopeError

        try:
            audits = audit(self.dumps)
        except EnvoyscopeError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), title=exc.title, severity="error")
            return
        self.app.call_from_thread(self.show, audits)

    def show(self, audits: list[Any]) -> None:
        from envoyscope.engine.egress.audit import hop_tls_short

        self.audits = audits
        table = self.query_one(DataTable)
        table.clear()
        self.rows = []
        for one in audits:
            for row in one.destinations:
                d = row.destination
                table.add_row(one.proxy.split(".")[0], d.host, str(d.port), d.protocol, d.request, row.exit,
                              " → ".join(p.split(".")[0] for p in row.via),
                              " → ".join(hop_tls_short(h) for h in row.trace.hops),
                              ",".join(f.code for f in row.findings) or "-")
                self.rows.append(row)
        total = sum(len(a.destinations) for a in audits)
        policies = ", ".join(f"{a.proxy.split('.')[0]} {a.outbound_policy}" for a in audits if a.outbound_policy != "-")
        self.query_one("#egress-status", Static).update(f"{total} way(s) out from {len(audits)} proxies · outbound "
                                                        f"policy: {policies or '-'} · Enter opens the trace")
        lines = [f"{f.severity}: {f.code}: {f.detail}" for one in audits for _, f in one.all_findings()]
        self.query_one("#egress-findings", Static).update("\n".join(lines[:12]) or "no findings")
        table.focus()

    @on(DataTable.RowSelected, "#egress-table")
    def open_trace(self, event: DataTable.RowSelected) -> None:
        from envoyscope.tui.trace_view import TraceForm, TraceScreen

        row = self.rows[event.cursor_row]
        d = row.destination
        form = TraceForm(to=f"{d.host}:{d.port}", ip=d.ip or "", scheme=d.protocol if d.protocol != "tcp" else "tcp",
                         path=d.path, headers="; ".join(f"{n}: {v}" for n, v in d.headers), sni=d.sni or "",
                         result=row.trace, dumps=self.dumps)
        self.app.push_screen(TraceScreen(form, []))
