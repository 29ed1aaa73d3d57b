"""``envoyscope demo``: the bundled sample_dumps/, no cluster needed (what ``make demo`` runs).

In a terminal it opens the TUI on the samples; otherwise (or with ``--text``) it lists
the scenarios, traces every request they hold and prints one verdict per request and the full trace of one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from envoyscope.errors import InputError

SAMPLES = Path(__file__).resolve().parents[1] / "sample_dumps"


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help="run envoyscope on the bundled sample dumps (no cluster needed)",
                            description="Trace every request of every bundled scenario (sample_dumps/).")
    parser.add_argument("--text", action="store_true", help="print to the terminal instead of opening the TUI")
    parser.add_argument("--samples", default=str(SAMPLES), help="the sample folder (default: the bundled one)")
    parser.add_argument("--show", default="egress-gateway-http",
                        help="the scenario whose first trace is printed in full (default egress-gateway-http)")
    parser.set_defaults(func=run)


def _request(args: dict[str, Any]) -> Any:
    from envoyscope.engine.validate import checked_request

    return checked_request(to=args["to"], scheme=args.get("scheme", "http"), dst_ip=args.get("ip"),
                           req_path=args.get("path", "/"), headers=args.get("headers", []),
                           server_name=args.get("sni"), from_proxy=args.get("from"))


def run(args: argparse.Namespace) -> int:
    samples = Path(args.samples)
    scenarios = sorted(samples.glob("*/scenario.yaml"))
    if not scenarios:
        raise InputError(f"{samples}: no scenario.yaml found (the sample dumps are missing)")
    if not args.text and sys.stdout.isatty():
        from envoyscope.tui.app import run_app
        from envoyscope.tui.catalog import Catalog

        catalog = Catalog.of_files([str(p.parent) for p in scenarios], f"demo: {samples}")
        return run_app(catalog, note="the bundled sample dumps, one folder per scenario — t traces from the "
                                     "selected proxy, ? helps, q quits")
    return text_demo(scenarios, args.show)


def text_demo(scenarios: list[Path], show: str) -> int:
    import yaml
    from rich.console import Console
    from rich.table import Table

    from envoyscope.engine.trace import trace
    from envoyscope.report.document import verdict
    from envoyscope.report.trace_text import print_trace
    from envoyscope.sources.files import load_sources

    console = Console()
    table = Table(title="envoyscope demo: the bundled scenarios (sample_dumps/)", show_lines=False)
    for column in ("scenario", "request", "outcome", "where it ends"):
        table.add_column(column, overflow="fold")
    shown = None
    for path in scenarios:
        spec = yaml.safe_load(path.read_text())
        dumps = load_sources([str(path.parent)])
        for index, args in enumerate(spec["requests"]):
            result = trace(_request(args), dumps)
            level, _ = verdict(result)
            style = {"ok": "green", "notice": "yellow", "error": "red"}[level]
            table.add_row(path.parent.name if index == 0 else "", args["name"],
                          f"[{style}]{result.outcome.kind}[/]", result.outcome.detail)
            if path.parent.name == show and shown is None:
                shown = result
    console.print(table)
    if shown is not None:
        console.print(f"\n[bold]The first request of `{show}`, step by step:[/]\n")
        print_trace(shown, console)
    console.print("\nTry: envoyscope trace sample_dumps/registry-only --to www.google.com:80 --ip 142.250.2.2\n"
                  "     envoyscope routes sample_dumps/egress-mtls-subsets/egressgateway.config_dump.json -o wide")
    return 0
