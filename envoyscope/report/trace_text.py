"""A trace in the terminal: one branch per hop, the reason at every step, near misses folded under it."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from envoyscope.engine.trace import Hop, Trace

BAD = {"no_listener", "no_filter_chain", "no_route", "unknown_cluster", "no_healthy_upstream", "blackhole", "reset",
       "loop", "denied", "unauthenticated", "fault_abort"}
NOTE_STEPS = {"listener_filters"}  # steps that report what Envoy saw rather than choose something
STYLE = {"external": "green", "mesh_internal": "green", "passthrough": "yellow", "direct_response": "cyan",
         "redirect": "cyan", "unsupported": "yellow"}


def outcome_head(trace: Trace) -> tuple[str, str]:
    """``no_route HTTP 404 [NR]`` and the style it is shown in (red for failures, green when it gets there)."""
    outcome = trace.outcome
    style = "red" if outcome.kind in BAD else STYLE.get(outcome.kind, "white")
    code = f" HTTP {outcome.response_code}" if outcome.response_code else ""
    flags = f" [{outcome.response_flags}]" if outcome.response_flags else ""
    details = outcome.response_code_details or outcome.connection_termination_details
    return f"{outcome.kind}{code}{flags}" + (f" {details}" if details else ""), style


def received(hop: Hop) -> str:
    """What a proxy receives: destination, TLS or plaintext, and the HTTP request line when it can see it."""
    wire = hop.wire
    parts = [f"{wire.dst_ip}:{wire.dst_port}"]
    if wire.transport == "tls":
        parts.append(f"TLS sni={wire.sni or '-'}" + (f" alpn={','.join(wire.alpn)}" if wire.alpn else ""))
    else:
        parts.append("plaintext")
    if wire.inner is not None:  # HBONE: an HTTP/2 CONNECT whose stream is another connection
        inner = wire.inner
        what = (f"{inner.method} {inner.path} Host: {inner.authority}" if inner.http and inner.transport != "tls"
                else "TLS" if inner.transport == "tls" else "TCP bytes")
        parts.append(f"HBONE: HTTP/2 {wire.method} {wire.authority} carrying {what}")
    elif wire.http and wire.transport != "tls":
        parts.append(f"{wire.method} {wire.path} Host: {wire.authority}")
    elif wire.http:
        parts.append(f"HTTP inside: {wire.method} {wire.path} Host: {wire.authority}")
    return ", ".join(parts)


def build_tree(trace: Trace, max_near_misses: int = 4, *, header: bool = True) -> Tree:
    req = trace.request
    if req.is_http:
        title = f"{req.method} http://{req.authority}{req.path}"
    else:
        title = f"{req.scheme.upper()} {req.host}:{req.port}" + (f" (SNI {req.server_name})" if req.server_name else "")
    root = Tree(f"[bold]trace[/] {escape(title)}", hide_root=not header)
    for assumption in trace.assumptions:
        root.add(f"[dim]assumed: {escape(assumption)}[/]")
    for index, hop in enumerate(trace.hops, 1):
        branch = root.add(f"[bold]hop {index}: {escape(hop.proxy)}[/]  [dim]receives {escape(received(hop))}[/]")
        for step in hop.steps:
            name = escape(step.matched) if step.matched else "" if step.kind in NOTE_STEPS else "[red]none[/]"
            node = branch.add(f"[blue]{step.kind.replace('_', ' ')}[/] {name}  [dim]{escape(step.reason)}[/]")
            for change in step.changes:
                node.add(f"[magenta]{escape(change)}[/]")
            for miss in step.near_misses[:max_near_misses]:
                node.add(f"[yellow]near miss[/] {escape(miss.candidate)}: {escape(miss.reason)}")
            if len(step.near_misses) > max_near_misses:
                node.add(f"[dim]… {len(step.near_misses) - max_near_misses} more near misses (-o json shows all)[/]")
    head, style = outcome_head(trace)
    root.add(f"[bold {style}]outcome: {escape(head)}[/] {escape(trace.outcome.detail)}")
    return root


def print_trace(trace: Trace, console: Console | None = None, *, header: bool = True) -> None:
    """The tree on the terminal; ``header=False`` leaves out its first line (`trace GET http://…`)."""
    (console or Console(soft_wrap=False)).print(build_tree(trace, header=header))
