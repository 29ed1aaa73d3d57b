"""envoyscope's terminal interface (Textual): proxies on the left, their resources in tabs, traces on demand.

The core stays headless: the app arranges what `envoyscope.engine.summary` and `envoyscope.engine.trace` compute.
Sources are read in worker threads with a progress bar; failures are notifications, never a traceback.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Input, Label, ProgressBar, Select, TabbedContent, TabPane

from envoyscope.engine.refs import Node, node_of
from envoyscope.engine.summary import SUMMARY_KINDS, Row, Table, summarize
from envoyscope.errors import EnvoyscopeError
from envoyscope.model.dump import ConfigDump
from envoyscope.tui.catalog import Catalog, ProxyEntry, Reread, known_hosts, load_entry, reread, server_state
from envoyscope.tui.commands import Commands
from envoyscope.tui.table import SummaryTable
from envoyscope.tui.trace_view import TraceForm, TraceScreen

TABS = ("listeners", "routes", "clusters", "endpoints", "secrets", "bootstrap")
assert set(TABS) == set(SUMMARY_KINDS)
PROXY_COLUMNS = ("PROXY", "TYPE", "ISTIO")
READY_COLUMN = "READY"  # shown for live proxies (a file is as ready as it was when saved)
GROUP_COLUMN = "FROM"  # shown when the proxies come from several folders
ALL = "all"


class EnvoyscopeApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "envoyscope"
    COMMANDS = App.COMMANDS | {Commands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"), Binding("slash", "filter", "Filter"), Binding("t", "trace", "Trace"),
        Binding("x", "egress", "Egress"), Binding("c", "changes", "Changes", show=False),
        Binding("p", "policies", "Policies", show=False),
        Binding("e", "export", "Export"), Binding("r", "refresh", "Refresh"), Binding("question_mark", "help", "Help"),
        Binding("n", "next_namespace", "Namespace", show=False), Binding("y", "next_type", "Type", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        *[Binding(str(i), f"tab('{tab}')", tab.title(), show=False) for i, tab in enumerate(TABS, 1)],
    ]

    def __init__(self, catalog: Catalog, note: str | None = None, today: dt.date | None = None,
                 proxy_ips: dict[str, str] | None = None) -> None:
        super().__init__()
        self.catalog, self.note, self.today = catalog, note, today
        self.proxy_ips = proxy_ips or {}  # --proxy NAME=IP: endpoint addresses that are proxies
        self.entries: list[ProxyEntry] = []
        self.shown: list[ProxyEntry] = []  # the entries the proxy list shows (namespace and type filters)
        self.current: ProxyEntry | None = None
        self.tables: dict[tuple[int, str], Table] = {}  # (id(dump), tab) → summary, computed when first shown
        self.trace_form = TraceForm()
        self.loading = True

    @property
    def main(self) -> Any:
        """The main screen (proxies and tabs), wherever the user is: detail and trace screens go on top of it."""
        return self.screen_stack[0]

    MAIN_ONLY = frozenset({"filter", "clear_filter", "sort", "tab", "next_namespace", "next_type"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Table actions only where the tables are; trace not on the trace screen itself; the others everywhere."""
        if action in self.MAIN_ONLY and len(self.screen_stack) > 1:
            return False
        if action == "trace" and isinstance(self.screen, TraceScreen):
            return False
        return not (action == "refresh" and self.loading)

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = False) -> None:
        """Notifications carry names and errors from the dumps (`[NR]`, regexes): shown as written, not as markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # --- layout ---
    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="loading"):
            yield Label("reading the sources…", id="loading-label")
            yield ProgressBar(id="progress", show_eta=False)
        with Horizontal(id="main"):
            with Vertical(id="proxies-pane"):
                yield Label("[b]proxies[/]  [dim]namespace (n) · type (y)[/]", id="proxies-title")
                with Horizontal(id="proxy-filters"):
                    yield Select([(ALL, ALL)], value=ALL, allow_blank=False, id="namespace", prompt="namespace")
                    yield Select([(ALL, ALL)], value=ALL, allow_blank=False, id="type", prompt="type")
                yield SummaryTable(id="proxies", grow=0)
            with Vertical(id="resources-pane"):
                yield Label("", id="identity")
                yield Input(placeholder="filter the table (/) — Esc clears", id="filter")
                with TabbedContent(id="tabs"):
                    for tab in TABS:
                        with TabPane(tab.title(), id=f"tab-{tab}"):
                            yield Label("", id=f"notes-{tab}", classes="notes")
                            yield SummaryTable(id=f"table-{tab}")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.catalog.description
        self.main.query_one("#main").display = False
        self.main.query_one("#filter").display = False
        if self.note:
            self.notify(self.note, title="envoyscope", timeout=8)
        self.load_catalog()

    # --- reading the sources (worker threads) ---
    def progress(self, done: int, total: int, what: str) -> None:
        """Called from the worker: move the progress bar (each call replaces the previous text), at most every 50 ms
        but always at the end: each call waits for the screen, and a folder of hundreds of proxies opens in less."""
        import time

        now = time.monotonic()
        if done and done < total and now - getattr(self, "_progress_at", 0.0) < 0.05:
            return
        self._progress_at = now
        self.call_from_thread(self._progress, done, total, what)

    def _progress(self, done: int, total: int, what: str) -> None:
        self.main.query_one("#progress", ProgressBar).update(total=max(total, 1), progress=done)
        label = self.main.query_one("#loading-label", Label)
        label.update(f"reading {what} ({done + 1}/{total})" if what else "drawing…")

    @work(thread=True, exclusive=True, group="load")
    def load_catalog(self, refresh: bool = False) -> None:
        """The sources' entries; on a refresh, the proxies that had been read are read again, and only those
        (`catalog.reread`): a folder of hundreds costs its identities and what was looked at."""
        old = list(self.entries)
        try:
            entries = self.catalog.entries(self.progress)
            again = reread(old, entries, self.progress) if refresh else None
        except EnvoyscopeError as exc:
            self.call_from_thread(self._failed, exc)
            return
        self.call_from_thread(self._loaded, entries, again)

    def _failed(self, exc: EnvoyscopeError) -> None:
        self.notify(str(exc), title=exc.title, severity="error", timeout=20)
        self.loading = False
        self.refresh_bindings()
        self._show_main()

    def action_changes(self) -> None:
        refreshed = getattr(self, "refreshed", None)
        if refreshed is None:
            self.notify("nothing refreshed yet: r reads the sources again", severity="information")
            return
        self.show_changes(*refreshed)

    def show_changes(self, before: list[ConfigDump], after: list[ConfigDump]) -> None:
        """The refresh's diff, browsable, with the last trace re-run on what was read now."""
        from envoyscope.tui.changes_view import ChangesScreen, changes

        self.last_changes, comparison = changes(self, before, after)
        self.push_screen(ChangesScreen(self.last_changes, comparison))

    def _show_main(self) -> None:
        self.main.query_one("#loading").display = False
        self.main.query_one("#main").display = True

    def _loaded(self, entries: list[ProxyEntry], again: Reread | None) -> None:
        previous = self.current.key if self.current else None
        self.entries, self.current, self.tables = entries, None, {}
        self.loading = False
        self.sub_title = self.catalog.description  # a cluster, or the samples it fell back to
        self.refresh_bindings()
        catalog_note = getattr(self.catalog, "note", None)
        if catalog_note and again is None:
            self.notify(catalog_note, title="envoyscope", timeout=10)
        if again is not None:
            self.notify(again.describe() + "\n(c: every change, and the last trace re-run)", title="refreshed",
                        timeout=10)
            self.refreshed = (again.before, again.after)
        self._fill_proxy_filters()
        self._show_main()
        self.fill_proxies()
        target = next((e for e in self.shown if e.key == previous), self.shown[0] if self.shown else None)
        if target is not None:
            self.select(target)
            self.main.query_one("#proxies", SummaryTable).move_to_ref(("proxy", target.key))
        self.main.query_one("#proxies", SummaryTable).focus()

    @work(thread=True, exclusive=True, group="fetch")
    def fetch_entry(self, entry: ProxyEntry) -> None:
        size = getattr(entry.dump, "size", 0)  # a folder's proxy: said only when decoding it takes a moment
        if entry.dump is None or size > 5_000_000:
            self.call_from_thread(self.notify, f"reading {entry.source}" + (
                f" ({size / 1e6:.0f} MB)" if size else "") + "…", timeout=3)
        try:
            load_entry(entry)
        except EnvoyscopeError as exc:
            self.call_from_thread(self.notify, str(exc), title=exc.title, severity="error", timeout=15)
            return
        self.call_from_thread(self._fetched, entry)

    KEEP_READ = 8  # folder proxies kept decoded after being shown; older ones are let go (read again if picked)

    def _fetched(self, entry: ProxyEntry) -> None:
        read = getattr(self, "_read_lately", [])
        self._read_lately = [e for e in read if e is not entry] + [entry]
        while len(self._read_lately) > self.KEEP_READ:
            old = self._read_lately.pop(0)
            if old is not self.current and old.dump is not None and hasattr(old.dump, "unload"):
                self.tables = {k: v for k, v in self.tables.items() if k[0] != id(old.dump)}
                old.dump.unload()
        if self.current is entry:
            self.current = None  # show it again, now with its dump
            self.select(entry)
        self.fill_proxies()

    # --- the proxy list ---
    def _fill_proxy_filters(self) -> None:
        namespaces = sorted({e.namespace for e in self.entries})
        kinds = sorted({e.kind for e in self.entries})
        for select_id, values in (("#namespace", namespaces), ("#type", kinds)):
            select: Select[str] = self.main.query_one(select_id, Select)
            old = select.value
            select.set_options([(ALL, ALL)] + [(v, v) for v in values])
            select.value = old if old in values else ALL

    def fill_proxies(self) -> None:
        namespace = self.main.query_one("#namespace", Select).value
        kind = self.main.query_one("#type", Select).value
        self.shown = [e for e in self.entries if namespace in (ALL, e.namespace) and kind in (ALL, e.kind)]
        several = len({e.group for e in self.entries}) > 1
        live = any(e.ready != "file" for e in self.entries)
        rows = tuple(Row(((Path(e.group).name,) if several else ()) + (e.name, e.kind, e.istio) + (
            (e.ready if e.dump is not None or e.fetch is None else f"{e.ready} ⏎",) if live else ()),
            ("proxy", e.key)) for e in self.shown)
        columns = ((GROUP_COLUMN,) if several else ()) + PROXY_COLUMNS + ((READY_COLUMN,) if live else ())
        widget = self.main.query_one("#proxies", SummaryTable)
        current = self.current.key if self.current else None
        widget.grow = columns.index("PROXY")  # the names take the room there is; the highlighted one shows in full
        widget.set_table(Table("proxies", columns, rows))
        needed = sum(widget.widths) + 2 * len(columns) + 1  # the columns, their gaps and the pane's border
        self.main.query_one("#proxies-pane").styles.width = max(46, min(needed, self.size.width * 45 // 100))
        if current and widget.move_to_ref(("proxy", current)):
            return
        if self.shown:  # the proxy shown before is filtered out: show the first one the list has
            self.select(self.shown[0])

    @on(Select.Changed, "#namespace")
    @on(Select.Changed, "#type")
    def proxy_filter_changed(self) -> None:
        if self.entries:
            self.fill_proxies()

    def _cycle(self, select_id: str) -> None:
        select: Select[str] = self.main.query_one(select_id, Select)
        values = [value for _, value in select._options]  # noqa: SLF001 (Select keeps its options there)
        index = values.index(select.value) if select.value in values else 0
        select.value = values[(index + 1) % len(values)]

    def action_next_namespace(self) -> None:
        self._cycle("#namespace")

    def action_next_type(self) -> None:
        self._cycle("#type")

    def entry_keyed(self, key: str) -> ProxyEntry | None:
        return next((e for e in self.entries if e.key == key), None)

    @on(SummaryTable.Highlighted, "#proxies")
    def proxy_highlighted(self, event: SummaryTable.Highlighted) -> None:
        entry = self.entry_keyed(event.row.ref[1]) if event.row.ref else None
        if entry is not None:
            self.select(entry)

    def select(self, entry: ProxyEntry) -> None:
        """Show a proxy: its identity and, if its dump has been read, its tables."""
        if entry is self.current:
            return
        self.current = entry
        label = self.main.query_one("#identity", Label)
        dump = entry.dump
        if dump is not None and not dump.loaded:  # a folder's proxy: decoded now, in a worker, then shown
            self.fetch_entry(entry)
        if dump is None:
            label.update(Text.assemble((entry.name, "bold"), f"  {entry.kind} · {entry.ready} · ",
                                       (entry.source, "dim"), "  — Enter reads its dump through a port-forward"
                                       if entry.fetch else "  — not running"))
        else:
            ident = dump.identity
            label.update(Text.assemble(
                (ident.name, "bold"), f"  {ident.proxy_type} · IPs {', '.join(ident.instance_ips) or '-'} · "
                f"Istio {ident.istio_version or '-'} · Envoy {ident.envoy_version or '-'} · mesh {ident.mesh_id or '-'}"
                f"{server_state(dump)}  ", (dump.source, "dim")))
        self.fill(self.active_tab())

    @property
    def dump(self) -> ConfigDump | None:
        """The current proxy's dump, once read (a folder's proxy is read when picked)."""
        dump = self.current.dump if self.current else None
        return dump if dump is not None and dump.loaded else None

    # --- the resource tabs ---
    def table_for(self, dump: ConfigDump, tab: str) -> Table:
        key = (id(dump), tab)
        if key not in self.tables:
            self.tables[key] = summarize(dump, tab, wide=True, today=self.today, istio_config=True)
        return self.tables[key]

    def fill(self, tab: str) -> None:
        widget = self.main.query_one(f"#table-{tab}", SummaryTable)
        notes = self.main.query_one(f"#notes-{tab}", Label)
        dump = self.dump
        if dump is None:
            widget.set_table(None)
            notes.update("")
            notes.display = False
            return
        table = self.table_for(dump, tab)
        needle = self.main.query_one("#filter", Input).value
        if widget.table is table:
            widget.set_filter(needle)
            return
        widget.set_table(table, needle)
        shown = list(table.notes) + (list(dump.notes) if tab in ("listeners", "bootstrap") else [])
        notes.update(Text("\n").join(Text.assemble(("note: ", "yellow"), n) for n in shown[:4]))
        notes.display = bool(shown)

    @on(TabbedContent.TabActivated, "#tabs")
    def tab_changed(self) -> None:
        self.fill(self.active_tab())

    def active_tab(self) -> str:
        return str(self.main.query_one("#tabs", TabbedContent).active).removeprefix("tab-") or TABS[0]

    def active_table(self) -> SummaryTable:
        return self.main.query_one(f"#table-{self.active_tab()}", SummaryTable)

    @on(SummaryTable.RowSelected)
    def open_row(self, event: SummaryTable.RowSelected) -> None:
        from envoyscope.tui.detail import DetailScreen

        if event.table.id == "proxies":
            entry = self.entry_keyed(event.row.ref[1]) if event.row.ref else None
            if entry is not None:
                self.select(entry)
            if entry is not None and entry.dump is None:
                self.fetch_entry(entry)
            elif entry is not None:
                self.show_tab(self.active_tab())
            return
        dump = self.dump
        if dump is None:
            return
        node = self.node_for(dump, event.row)
        if node is None:
            self.notify("this row has no resource of its own to open", severity="information")
            return
        self.push_screen(DetailScreen(dump, node, self.today))

    def node_for(self, dump: ConfigDump, row: Row) -> Node | None:
        if row.ref is None:
            if self.active_tab() == "bootstrap" and dump.bootstrap:
                return Node("bootstrap", dump.identity.name, dump.bootstrap, "configs[bootstrap].bootstrap")
            return None
        resource = dump.get(*row.ref)
        if resource is None:
            return None
        node = node_of(resource)
        if row.ref[0] == "route_config" and len(row.cells) > 1:  # a Routes row shows one virtual host: open it
            from envoyscope.engine.refs import links

            vhost = next((link.node for link in links(dump, node)
                          if link.node is not None and link.node.name == f"{node.name}/{row.cells[1]}"), None)
            return vhost or node
        return node

    # --- actions ---
    def show_tab(self, tab: str) -> None:
        tabs = self.main.query_one("#tabs", TabbedContent)
        tabs.active = f"tab-{tab}"
        self.fill(tab)  # now, so that what follows (reveal, tests) sees the rows; TabActivated finds it done
        self.main.query_one(f"#table-{tab}", SummaryTable).focus()

    def action_tab(self, tab: str) -> None:
        self.show_tab(tab)

    def action_filter(self) -> None:
        box = self.main.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.main.query_one("#filter", Input)
        if box.value or box.display:
            box.value = ""
            box.display = False
            self.active_table().focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.active_table().set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def filter_done(self, event: Input.Submitted) -> None:
        """Enter opens the only match, or the highlighted one; with none, the box stays to be corrected."""
        table = self.active_table()
        if table.row_count == 0:
            self.notify(f"no row of {self.active_tab()} matches `{event.value}`", severity="warning")
            return
        table.focus()
        table.action_select()

    def action_sort(self) -> None:
        self.active_table().action_sort_next()

    def action_refresh(self) -> None:
        self.notify("reading the sources again…", timeout=3)
        self.load_catalog(refresh=True)

    def action_help(self) -> None:
        from envoyscope.tui.help import HelpScreen

        self.push_screen(HelpScreen())

    # --- traces ---
    def trace_dumps(self) -> list[ConfigDump]:
        """The proxies a trace from the current proxy may cross: those read with it (same folder or bundle)."""
        if self.current is None or self.current.dump is None:
            return []
        group = self.current.group
        return [e.dump for e in self.entries if e.dump is not None and e.group == group]

    def action_trace(self) -> None:
        if self.current is None:
            self.notify("nothing loaded to trace through", severity="warning")
            return
        dumps = self.trace_dumps()
        if not self.is_screen_installed("trace"):  # one trace screen: its form is composed once, kept as left
            self.install_screen(TraceScreen(self.trace_form, []), "trace")
        screen = self.get_screen("trace")
        assert isinstance(screen, TraceScreen)
        # hosts from the proxies read so far: no decoding
        screen.set_sources(known_hosts([d for d in dumps if d.loaded]), dumps, self.current.name)
        self.push_screen(screen)

    def action_egress(self) -> None:
        """Every way out of the mesh from the proxies read with the current one (its folder, bundle or cluster)."""
        from envoyscope.tui.egress_view import EgressScreen

        dumps = self.trace_dumps()
        if not dumps:
            self.notify("nothing loaded to audit", severity="warning")
            return
        self.push_screen(EgressScreen(dumps))

    def action_policies(self) -> None:
        """The current proxy's authorization policies (its RBAC filters)."""
        from envoyscope.tui.policies_view import PoliciesScreen

        if self.dump is None:
            self.notify("no proxy selected", severity="warning")
            return
        self.push_screen(PoliciesScreen(self.dump))

    def trace_request(self, request: Any, form: TraceForm) -> None:
        """Trace from the current proxy (reading gateways first when the proxies are a cluster's pods)."""
        if self.current is None:
            raise EnvoyscopeError("no proxy selected to start from")
        self._trace_worker(request, form, self.current)

    @work(thread=True, exclusive=True, group="trace")
    def _trace_worker(self, request: Any, form: TraceForm, start: ProxyEntry) -> None:
        import dataclasses

        from envoyscope.engine.trace import trace

        try:
            if self.catalog.live_cluster:  # the gateways a request may cross, read before tracing
                for entry in [start, *[e for e in self.entries if e.is_gateway and e.fetch is not None]]:
                    if entry.dump is None:
                        self.call_from_thread(self.notify, f"reading {entry.source} for the trace…", timeout=3)
                        load_entry(entry)
            dumps = self.trace_dumps()
            assert start.dump is not None
            wanted = form.from_proxy.strip() or start.dump.identity.name  # the "from" field: --from's rule
            request = dataclasses.replace(request, from_proxy=wanted)
            result = trace(request, dumps, proxy_ips=self.proxy_ips)
        except EnvoyscopeError as exc:
            text = str(exc).replace("--from ", "from ", 1)
            self.call_from_thread(self.notify, text, title=exc.title, severity="error")
            return
        self.call_from_thread(self._traced, form, result, dumps, start.group)

    def _traced(self, form: TraceForm, result: Any, dumps: list[ConfigDump], group: str = "") -> None:
        form.result, form.dumps, form.group = result, dumps, group
        if isinstance(self.screen, TraceScreen):
            self.screen.show(result)
            self.screen.query_one("#trace-tree").focus()

    def reveal(self, proxy: str, tab: str, ref: tuple[str, str], prefer: tuple[str, ...] = ()) -> None:
        """Show ``ref`` in its tab on the proxy named ``proxy`` (from a trace step); `t` brings the trace back."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        named = [e for e in self.entries if e.dump is not None and e.dump.identity.name == proxy]
        entry = next((e for e in named if any(e.dump is d for d in self.trace_form.dumps)), None)
        if entry is None:  # read again since the trace (r): the same proxy of the same folder or cluster
            entry = next((e for e in named if e.group == self.trace_form.group), None)
        if entry is None:
            self.notify(f"{proxy} is not in the proxy list", severity="warning")
            return
        if entry not in self.shown:
            self.main.query_one("#namespace", Select).value = ALL
            self.main.query_one("#type", Select).value = ALL
            self.fill_proxies()
        self.select(entry)
        self.main.query_one("#proxies", SummaryTable).move_to_ref(("proxy", entry.key))
        self.show_tab(tab)
        widget = self.main.query_one(f"#table-{tab}", SummaryTable)
        refs = [ref, ("endpoint", ref[1])] if tab == "endpoints" else [ref]
        if not any(widget.move_to_ref(r, prefer) for r in refs):
            self.notify(f"{ref[0]} `{ref[1]}` has no row in {tab}", severity="warning")

    def action_export(self) -> None:
        from envoyscope.tui.trace_view import ExportScreen

        if self.trace_form.result is None:
            self.notify("no trace to export yet: t traces a request", severity="warning")
            return
        self.push_screen(ExportScreen(self.trace_form.result, self.trace_form.dumps))


def run_app(catalog: Catalog, note: str | None = None, proxy_ips: dict[str, str] | None = None) -> int:
    EnvoyscopeApp(catalog, note=note, proxy_ips=proxy_ips).run()
    return 0
