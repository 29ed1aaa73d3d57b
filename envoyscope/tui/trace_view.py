"""The Trace screen: a request form, then the trace as a tree — a branch per proxy, a line per decision with its
reason, the near misses folded under it. Enter on a step shows that resource in its tab; ``e`` exports a report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.suggester import Suggester, SuggestFromList
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static, Tree

from envoyscope.engine.trace import Trace
from envoyscope.model.dump import ConfigDump
from envoyscope.report.trace_text import outcome_head, received

SCHEMES = ("http", "https", "tls", "tcp")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT")
# Where a step's resource is shown: the tab, and the kind of the row's ref (the Hop field of that name names it)
STEP_TABS = {"listener": ("listeners", "listener"), "listener_filters": ("listeners", "listener"),
             "filter_chain": ("listeners", "listener"), "downstream_tls": ("listeners", "listener"),
             "network_filter": ("routes", "route_config"),
             "virtual_host": ("routes", "route_config"), "route": ("routes", "route_config"),
             "route_action": ("clusters", "cluster"), "cluster": ("clusters", "cluster"),
             "endpoint": ("endpoints", "cluster"), "tls": ("clusters", "cluster")}


# The form's fields as the trace's errors name them (the CLI's flags they stand for)
FORM_FIELDS = {"--to": "host:port", "--ip": "destination IP", "--source-ip": "source IP", "--path": "path",
               "--method": "method", "-H": "header", "--sni": "SNI", "--alpn": "ALPN", "--random-value": "random value",
               "--principal": "principal", "--jwt": "JWT", "--now": "now"}


@dataclass(slots=True)
class TraceForm:
    """What the form holds; kept by the app so the screen reopens as it was left."""

    to: str = ""
    ip: str = ""
    method: str = "GET"
    scheme: str = "http"
    path: str = "/"
    headers: str = ""
    sni: str = ""
    from_proxy: str = ""  # the proxy the trace starts at, matched as --from is ('' : the one selected in the list)
    inbound: bool = False  # --inbound: the request arrives at the proxy's inbound from another pod
    principal: str = ""  # --principal: the client's SPIFFE identity (Istio mTLS with --inbound)
    jwt: str = ""  # --jwt: a token sent as Authorization: Bearer
    result: Trace | None = None
    dumps: list[ConfigDump] = field(default_factory=list)
    group: str = ""  # the folder, bundle or cluster the traced proxies came from

    def request(self) -> Any:
        """The `TraceRequest`, checked by the CLI's rules (`ArgumentError` naming the field on a bad value)."""
        from envoyscope.engine.validate import checked_request

        headers = [item for item in self.headers.split(";") if item.strip()]
        return checked_request(to=self.to.strip(), scheme=self.scheme, dst_ip=self.ip.strip() or None,
                               req_path=self.path.strip() or "/", req_method=self.method, headers=headers,
                               server_name=self.sni.strip() or None, principal=self.principal.strip() or None,
                               inbound=self.inbound, jwt_token=self.jwt.strip() or None, flags=FORM_FIELDS)


def step_label(step: Any) -> Text:
    name = (step.matched, "") if step.matched else ("", "") if step.kind == "listener_filters" else ("none", "red")
    return Text.assemble((step.kind.replace("_", " "), "bold"), " ", name, "  ", (step.reason, "dim"))


def outcome_label(trace: Trace) -> Text:
    head, style = outcome_head(trace)
    return Text.assemble((head, f"bold {style}"), "  ", trace.outcome.detail)


def from_placeholder(selected: str) -> str:
    """What the empty "from" field says: the proxy a trace starts at without it. One word, so that a narrow field
    shows its beginning (a placeholder wraps at spaces and shows its first line)."""
    return f"from:{selected}" if selected else "from:the-proxy-selected"


class HostSuggester(Suggester):
    """Completes ``host:port`` from the hosts the trace's first proxy knows, then the others' (`rank_hosts`)."""

    def __init__(self, screen: TraceScreen) -> None:
        super().__init__(use_cache=False, case_sensitive=True)  # the ranking changes with the "from" field
        self.screen = screen

    async def get_suggestion(self, value: str) -> str | None:
        ranked = self.screen.ranked_hosts(value)
        return ranked[0] if ranked else None


class TraceScreen(Screen[None]):
    """The form and the trace. The app keeps one (installed), so the form is composed once and shown again as it
    was left; `set_sources` brings its completions up to date with the proxy selected."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"), Binding("ctrl+e", "export", "Export", show=False),
        Binding("e", "export", "Export"), Binding("ctrl+q", "app.quit", "Quit", show=False)]

    def __init__(self, form: TraceForm, hosts: list[str], dumps: list[ConfigDump] | None = None,
                 selected: str = "") -> None:
        super().__init__()
        self.form, self.hosts, self.dumps, self.selected = form, hosts, list(dumps or ()), selected
        self.shown: Trace | None = None  # the trace the tree shows
        self._own_hosts: dict[str, list[str]] = {}  # proxy name → the hosts its dump knows

    def set_sources(self, hosts: list[str], dumps: list[ConfigDump], selected: str) -> None:
        """The proxies a trace from here may cross and the one selected in the list (the default "from")."""
        self.hosts, self.dumps, self.selected = hosts, dumps, selected
        self._own_hosts = {}
        if self.is_mounted:
            box = self.query_one("#from", Input)
            box.placeholder = from_placeholder(selected)
            box.suggester = SuggestFromList([d.identity.name for d in dumps], case_sensitive=False)

    def start_proxy(self) -> ConfigDump | None:
        """The proxy the "from" field names (the CLI's --from rule), else the one selected in the list."""
        from envoyscope.engine.trace import pick_start
        from envoyscope.errors import TraceError

        wanted = self.query_one("#from", Input).value.strip() if self.is_mounted else self.form.from_proxy
        for name in (wanted, self.selected):
            if name and self.dumps:
                try:
                    return pick_start(self.dumps, name)
                except TraceError:
                    continue
        return None

    def ranked_hosts(self, typed: str) -> list[str]:
        from envoyscope.tui.catalog import proxy_hosts, rank_hosts

        start = self.start_proxy()
        own: list[str] = []
        if start is not None:
            name = start.identity.name
            if name not in self._own_hosts:
                self._own_hosts[name] = proxy_hosts(start)
            own = self._own_hosts[name]
        return rank_hosts(typed, own, self.hosts)

    @property
    def result(self) -> Trace | None:
        return self.form.result

    def compose(self) -> ComposeResult:
        form = self.form
        with Horizontal(classes="trace-form"):
            yield Input(form.to, placeholder="host:port (completes from the dumps)", id="to",
                        suggester=HostSuggester(self))
            yield Input(form.ip, placeholder="destination IP (optional)", id="ip")
            yield Select([(m, m) for m in METHODS], value=form.method, allow_blank=False, id="method")
            yield Select([(s, s) for s in SCHEMES], value=form.scheme, allow_blank=False, id="scheme")
            yield Button("Trace", id="run", variant="primary")
        with Horizontal(classes="trace-form"):
            yield Input(form.from_proxy, placeholder=from_placeholder(self.selected), id="from",
                        suggester=SuggestFromList([d.identity.name for d in self.dumps], case_sensitive=False))
            yield Input(form.path, placeholder="/path?query", id="path")
            yield Input(form.headers, placeholder="headers — name: value; name: value", id="headers")
            yield Input(form.sni, placeholder="SNI (TLS)", id="sni")
        with Horizontal(classes="trace-form"):
            yield Checkbox("inbound", form.inbound, id="inbound")
            yield Input(form.principal, placeholder="principal spiffe://… (client identity)", id="principal")
            yield Input(form.jwt, placeholder="JWT (sent as Authorization: Bearer)", id="jwt")
        yield Label(Text("Enter traces · ↑↓ a step shows it in full below · Enter on a step shows it in its tab · "
                         "e exports · Esc back", "dim"), id="trace-hint")
        yield Static("", id="trace-verdict")
        yield Tree("no trace yet: fill the form and press Enter", id="trace-tree")
        yield Static("", id="step-detail")
        yield Footer()

    def on_screen_resume(self) -> None:
        """Shown (first, or again): the trace made while it was away, if any; the focus where work goes on."""
        if self.form.result is not None and self.form.result is not self.shown:
            self.show(self.form.result)
        if self.form.result is not None:
            self.query_one("#trace-tree", Tree).focus()
        else:
            self.query_one("#to", Input).focus()

    def read_form(self) -> None:
        form = self.form
        for name in ("to", "ip", "path", "headers", "sni", "principal", "jwt"):
            setattr(form, name, self.query_one(f"#{name}", Input).value)
        form.from_proxy = self.query_one("#from", Input).value
        form.inbound = self.query_one("#inbound", Checkbox).value
        form.method = str(self.query_one("#method", Select).value)
        form.scheme = str(self.query_one("#scheme", Select).value)

    @on(Input.Submitted)
    @on(Button.Pressed, "#run")
    def run_trace(self) -> None:
        from envoyscope.errors import EnvoyscopeError

        self.read_form()
        try:
            request = self.form.request()
        except EnvoyscopeError as exc:  # a malformed field: nothing is traced
            self.app.notify(str(exc), title=exc.title, severity="error")
            return
        app: Any = self.app
        try:
            app.trace_request(request, self.form)
        except EnvoyscopeError as exc:
            self.app.notify(str(exc), title=exc.title, severity="error")

    def show(self, result: Trace) -> None:
        self.shown = result
        tree: Tree[Any] = self.query_one("#trace-tree", Tree)
        tree.clear()
        req = result.request
        verb, path = (req.method, req.path) if req.is_http else (req.scheme.upper(), "")
        head = f"{verb} {req.host}:{req.port}{path}"
        tree.root.set_label(Text.assemble((head, "bold"), " → ", outcome_label(result)))
        for note in result.assumptions:
            tree.root.add_leaf(Text(f"assumed: {note}", "dim"))
        for index, hop in enumerate(result.hops, 1):
            branch = tree.root.add(Text(f"hop {index}: {hop.proxy}", "bold"), data=(hop, None), expand=True)
            for step in hop.steps:
                node = branch.add(step_label(step), data=(hop, step), expand=False, allow_expand=bool(step.near_misses))
                for miss in step.near_misses:
                    node.add_leaf(Text.assemble(("near miss", "yellow"), f" {miss.candidate}: {miss.reason}"),
                                  data=(hop, step))
        tree.root.add_leaf(Text.assemble("outcome: ", outcome_label(result)))
        tree.root.expand()
        self.query_one("#trace-verdict", Static).update(Text.assemble(f"{len(result.hops)} hop(s) → ",
                                                                      outcome_label(result)))

    @on(Tree.NodeHighlighted, "#trace-tree")
    def describe_step(self, event: Tree.NodeHighlighted[Any]) -> None:
        """The highlighted step in full, wrapped: its reason, where it is in the dump, every near miss."""
        box = self.query_one("#step-detail", Static)
        data = event.node.data
        if not data or data[1] is None:
            box.update(Text.assemble(("proxy ", "bold"), data[0].proxy, "  receives ", received(data[0]))
                       if data else "")
            return
        hop, step = data
        parts: list[Any] = [(step.kind.replace("_", " "), "bold"), " ", step.matched or "none", ": ", step.reason]
        if step.path:
            parts += ["\n", (f"at {step.path}", "dim")]
        for change in step.changes:
            parts += ["\n", (change, "magenta")]
        for miss in step.near_misses:
            parts += ["\n", ("near miss ", "yellow"), f"{miss.candidate}: {miss.reason}"]
        box.update(Text.assemble(*parts))

    @on(Tree.NodeSelected, "#trace-tree")
    def jump(self, event: Tree.NodeSelected[Any]) -> None:
        if not event.node.data:
            return
        hop, step = event.node.data
        if step is None or step.kind not in STEP_TABS:
            return
        tab, kind = STEP_TABS[step.kind]
        name = step.matched if step.kind in ("listener", "cluster") and step.matched else getattr(hop, kind)
        if not name:
            self.app.notify(f"this step names no {kind}", severity="information")
            return
        prefer = tuple(x for x in (hop.virtual_host, hop.route) if x) if tab == "routes" else ()
        app: Any = self.app
        app.reveal(hop.proxy, tab, (kind, name), prefer)

    def action_export(self) -> None:
        if self.form.result is None:
            self.app.notify("trace something first", severity="warning")
            return
        self.app.push_screen(ExportScreen(self.form.result, self.form.dumps))


class ExportScreen(ModalScreen[None]):
    """Where to write the report; the extension picks Markdown, HTML or JSON (the CLI's --report code)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Cancel")]

    def __init__(self, result: Trace, dumps: list[ConfigDump]) -> None:
        super().__init__()
        self.result, self.dumps = result, dumps

    def compose(self) -> ComposeResult:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        with Vertical(id="export"):
            yield Label("Write the trace report to (.md, .html or .json), Enter writes, Esc cancels:")
            yield Input(value=f"envoyscope-trace-{stamp}.md", id="export-path")

    @on(Input.Submitted, "#export-path")
    def write(self, event: Input.Submitted) -> None:
        from envoyscope.errors import EnvoyscopeError
        from envoyscope.report.write import write_report

        try:
            path = write_report(self.result, self.dumps, event.value, argv=["envoyscope", "tui"])
        except EnvoyscopeError as exc:
            self.app.notify(str(exc).replace("--report ", "", 1), title=exc.title, severity="error")
            return
        self.app.pop_screen()
        self.app.notify(f"report written to {Path(path).resolve()}", title="exported")
