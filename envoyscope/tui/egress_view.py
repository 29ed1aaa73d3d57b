"""The egress audit screen (`x`): every way out of the mesh from the proxies of the current group.

One row per destination, as ``envoyscope egress`` prints it. The audit streams in a worker thread, proxy by proxy
(`envoyscope.sources.every`): a proxy of a folder or bundle is decoded for its audit and let go after it, the
rows are added as each proxy is done with a progress line, and the findings that need every proxy
(``bypasses_egress_gateway``) come at the end. The rows keep slim traces (no steps, which hold the resources);
Enter on a row traces its request again — the same trace ``envoyscope trace`` gives for it — and opens it.
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
        self.failures: list[str] = []
        self.done = False
        self._progress_at = 0.0

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
        import time

        from envoyscope.engine.egress.audit import with_cross_findings
        from envoyscope.sources.every import each_proxy

        total = len(self.dumps)
        audits: list[Any] = []
        for done, outcome in enumerate(each_proxy(self.dumps, _audit_one, range(total), processes=False), 1):
            if outcome.error is not None:
                self.failures.append(f"{outcome.error} (left out)")
            else:
                audits.append(outcome.result)
            now = time.monotonic()
            if done == total or now - self._progress_at >= 0.05:  # the screen redraws at most every 50 ms
                self._progress_at = now
                self.app.call_from_thread(self.show, list(audits), f"auditing proxies {done}/{total}…")
        self.done = True
        self.app.call_from_thread(self.show, with_cross_findings(audits), "")

    def show(self, audits: list[Any], progress: str) -> None:
        """The audits so far (``progress`` says how far: the audits of the proxies done, in order) or, with no
        ``progress``, all of them with the findings that need every proxy."""
        from envoyscope.engine.egress.audit import hop_tls_short

        table = self.query_one(DataTable)
        start = len(self.audits) if progress else 0  # while it runs, rows are added; at the end, drawn again
        if not start:
            table.clear()
            self.rows = []
        self.audits = audits
        for one in audits[start:]:
            for row in one.destinations:
                d = row.destination
                table.add_row(one.proxy.split(".")[0], d.host, str(d.port), d.protocol, d.request, row.exit,
                              " → ".join(p.split(".")[0] for p in row.via),
                              " → ".join(hop_tls_short(h) for h in row.trace.hops),
                              ",".join(f.code for f in row.findings) or "-")
                self.rows.append(row)
        total = sum(len(a.destinations) for a in audits)
        policies = ", ".join(f"{a.proxy.split('.')[0]} {a.outbound_policy}" for a in audits if a.outbound_policy != "-")
        unread = f" · {len(self.failures)} could not be read" if self.failures else ""
        self.query_one("#egress-status", Static).update(
            (f"{progress} " if progress else "") + f"{total} way(s) out from {len(audits)} proxies{unread} · "
            f"outbound policy: {policies or '-'} · Enter opens the trace")
        lines = self.failures + [f"{f.severity}: {f.code}: {f.detail}" for one in audits
                                 for _, f in one.all_findings()]
        self.query_one("#egress-findings", Static).update("\n".join(lines[:12]) or "no findings")
        table.focus()

    @on(DataTable.RowSelected, "#egress-table")
    def open_trace(self, event: DataTable.RowSelected) -> None:
        self.trace_row(self.rows[event.cursor_row])

    @work(thread=True, exclusive=True, group="egress-trace")
    def trace_row(self, row: Any) -> None:
        """The row's trace with its steps: traced again (decoding the proxies it crosses), then shown."""
        from envoyscope.engine.trace import trace
        from envoyscope.errors import EnvoyscopeError

        try:
            result = trace(row.trace.request, self.dumps)
        except EnvoyscopeError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), title=exc.title, severity="error")
            return
        self.app.call_from_thread(self.open_trace_screen, row, result)

    def open_trace_screen(self, row: Any, result: Any) -> None:
        from envoyscope.tui.trace_view import TraceForm, TraceScreen

        d = row.destination
        form = TraceForm(to=f"{d.host}:{d.port}", ip=d.ip or "", scheme=d.protocol if d.protocol != "tcp" else "tcp",
                         path=d.path, headers="; ".join(f"{n}: {v}" for n, v in d.headers), sni=d.sni or "",
                         result=result, dumps=self.dumps)
        self.app.push_screen(TraceScreen(form, []))


def _audit_one(dumps: list[ConfigDump], index: int) -> Any:
    """One proxy's audit, slim: what the table shows, without the resources its traces' steps hold."""
    from envoyscope.engine.egress.audit import audit_proxy, slim

    return slim(audit_proxy(dumps[index], dumps))
