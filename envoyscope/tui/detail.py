"""A piece of configuration in full: YAML (private keys redacted), what it is typed as, and what it refers to.

Enter on a link follows it (listener → filter chain → route configuration → virtual host → route → cluster →
endpoints / secret); Backspace goes back one step.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import yaml
from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, ListItem, ListView, Static

from envoyscope.engine.refs import Link, Node, links
from envoyscope.model.certs import redact
from envoyscope.model.dump import ConfigDump

KIND_TITLES = {"listener": "Listener", "filter_chain": "Filter chain", "route_config": "Route configuration",
               "virtual_host": "Virtual host", "route": "Route", "cluster": "Cluster", "endpoint": "Endpoints",
               "secret": "Secret", "scoped_route": "Scoped route", "ecds": "Extension config"}
TYPE_URLS = {"listener": "envoy.config.listener.v3.Listener", "filter_chain": "envoy.config.listener.v3.FilterChain",
             "route_config": "envoy.config.route.v3.RouteConfiguration",
             "virtual_host": "envoy.config.route.v3.VirtualHost", "route": "envoy.config.route.v3.Route",
             "cluster": "envoy.config.cluster.v3.Cluster", "endpoint": "envoy.config.endpoint.v3.ClusterLoadAssignment",
             "secret": "envoy.extensions.transport_sockets.tls.v3.Secret"}
MAX_YAML_LINES = 4000  # a 27,000-endpoint assignment is cut here; the file keeps the rest


def to_yaml(node: Node) -> str:
    text = yaml.safe_dump(redact(node.raw), sort_keys=False, width=110, allow_unicode=True)
    lines = text.splitlines()
    if len(lines) > MAX_YAML_LINES:
        lines = lines[:MAX_YAML_LINES] + [f"# … {len(lines) - MAX_YAML_LINES} more lines (see the dump at {node.path})"]
    return "\n".join(lines)


def unknown_json(node: Node) -> list[tuple[str, str, str]]:
    """The extension values no proto package knows, each as the JSON the dump holds: (path, type, JSON text)."""
    import json

    from envoyscope.model.typed import unknown_extensions

    return [(path, name, json.dumps(redact(value), indent=2, ensure_ascii=False))
            for path, name, value in unknown_extensions(node.raw)]


def typed_note(node: Node) -> str:
    """How the value decodes against Envoy's protos: which nested extension types are shown as raw JSON."""
    from envoyscope.model.typed import decode

    url = TYPE_URLS.get(node.kind)
    if url is None:
        return ""
    view = decode(node.raw, "type.googleapis.com/" + url)
    if view.known and not view.note:
        return f"checked against {view.type_name}: every field and extension decodes"
    return f"{view.type_name}: {view.note}" if view.note else f"{view.type_name}: decodes"


def certificate_lines(node: Node, today: dt.date, captured: dt.datetime | None = None) -> list[str]:
    """Identity (the SPIFFE ID, as Istio's workload certificates have no subject), subject, SANs, serial and
    validity of the certificates a secret holds — today, and at ``captured`` when that was another day; never
    the private key."""
    from envoyscope.engine.summary.secrets import secret_items
    from envoyscope.model.dump import Resource
    from envoyscope.model.identity import Identity

    holder = ConfigDump(source="", identity=Identity(),
                        secrets=(Resource("secret", node.name, node.state or "static", node.raw, node.path),))
    lines = []
    for item in secret_items(holder):
        cert = item.cert
        if cert is None:
            continue
        who = cert.subject or "-"
        if cert.spiffe_id:
            who = cert.spiffe_id + (f" · subject {cert.subject}" if cert.subject else " (empty subject)")
        lines.append(f"{cert.kind}: {who} · issuer {cert.issuer or '-'} · serial {cert.serial}")
        lines.append(f"  valid {cert.not_before:%Y-%m-%d} → {cert.not_after:%Y-%m-%d} "
                     f"({cert.validity(today, captured).words()})"
                     + (f" · SANs {', '.join(cert.sans)}" if cert.sans else ""))
    return lines


def _captured(dump: ConfigDump) -> dt.datetime | None:
    from envoyscope.model.captured import capture_moment

    captured = capture_moment(dump)
    return captured.at if captured else None


def _cert_style(line: str) -> str:
    """Red when expired or not yet valid (at capture or today), yellow with less than 30 days left."""
    import re

    if "expired" in line or "not yet valid" in line:
        return "red"
    return "yellow" if any(int(days) < 30 for days in re.findall(r"(\d+) days? left", line)) else ""


class DetailScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("backspace,escape", "app.pop_screen", "Back"),
                                             Binding("enter", "follow", "Follow", show=False),
                                             Binding("q", "app.quit", "Quit")]

    def __init__(self, dump: ConfigDump, node: Node, today: dt.date | None = None) -> None:
        super().__init__()
        self.dump, self.node = dump, node
        self.links: list[Link] = links(dump, node)
        self.today = today or dt.date.today()
        self.yaml_text = to_yaml(node)
        self.cert_lines = certificate_lines(node, self.today, _captured(dump)) if node.kind == "secret" else []
        self.typed = ""
        self.unknown: list[tuple[str, str, str]] = []

    def compose(self) -> ComposeResult:
        node = self.node
        title = f"{KIND_TITLES.get(node.kind, node.kind)} {node.name}"
        state = f"{node.state} · " if node.state else ""
        yield Label(Text.assemble((title, "bold"), "  ", (f"{self.dump.identity.name} · {state}{node.path}", "dim")),
                    id="detail-title")
        if node.problem:  # rejected, warming, draining: Envoy does not use what is shown below (Envoy's words)
            yield Label(Text.assemble(("not in use: " if not node.problem.startswith("active") else "", "bold red"),
                                      (node.problem, "red")), id="detail-problem")
        with Horizontal():
            with VerticalScroll(id="detail-yaml"):
                yield Label(Text("decoding…", "dim"), id="detail-typed")
                if node.kind == "secret":
                    for line in self.cert_lines or ["no certificate in this secret"]:
                        yield Label(Text(line, _cert_style(line)), classes="cert")
                yield Static(Syntax(self.yaml_text, "yaml", theme="ansi_dark", word_wrap=True), id="detail-body")
                yield Vertical(id="detail-unknown")
            with Vertical(id="detail-links"):
                yield Label(Text.assemble(("refers to", "bold"), f" ({len(self.links)}; Enter follows)"
                                          if self.links else " nothing further"))
                yield ListView(*[ListItem(Label(Text(link.label) if link.node else
                                                Text.assemble(("missing ", "red"), link.label)))
                                 for link in self.links], id="links")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#links", ListView).focus()
        self.decode_in_background()

    @work(thread=True, exclusive=True)
    def decode_in_background(self) -> None:
        unknown: list[tuple[str, str, str]] = []
        try:
            note = typed_note(self.node)
            unknown = unknown_json(self.node)
        except Exception as exc:  # noqa: BLE001 (an undecodable value is shown as written, never fatal)
            note = f"not decoded ({type(exc).__name__}): shown as written"
        self.app.call_from_thread(self._typed, note, unknown)

    def _typed(self, note: str, unknown: list[tuple[str, str, str]]) -> None:
        self.typed, self.unknown = note or "decoded", unknown
        if not self.is_mounted:
            return
        self.query_one("#detail-typed", Label).update(Text(note, "dim"))
        box = self.query_one("#detail-unknown", Vertical)
        if unknown:
            box.mount(Label(Text(f"{len(unknown)} extension value(s) no proto package knows, as the dump holds them "
                                 "(JSON):", "bold"), classes="unknown-title"))
        for path, name, text in unknown:
            box.mount(Label(Text.assemble((name, "yellow"), " ", (f"at {path}", "dim"))))
            box.mount(Static(Syntax(text, "json", theme="ansi_dark", word_wrap=True)))

    def action_follow(self) -> None:
        """Enter wherever the focus is (the YAML after a click or Tab): follow the highlighted reference, or the
        only one there is."""
        index = self.query_one("#links", ListView).index
        if index is None and len(self.links) == 1:
            index = 0
        self._follow(index)

    @on(ListView.Selected, "#links")
    def follow(self, event: ListView.Selected) -> None:
        self._follow(event.list_view.index)

    def _follow(self, index: int | None) -> None:
        if index is None or not 0 <= index < len(self.links):
            return
        link = self.links[index]
        if link.node is None:
            self.app.notify(f"{link.kind} `{link.name}` is not in this dump", severity="warning")
            return
        self.app.push_screen(DetailScreen(self.dump, link.node, self.today))
