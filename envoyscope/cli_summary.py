"""``envoyscope clusters|listeners|routes|endpoints|secrets|bootstrap|all SOURCE… [-o short|wide|json|yaml]``.

The summaries of ``istioctl proxy-config``, with its filters, on any number of dumps. Every table is headed by who
the proxy is (`identity_header`: proxy type, pod.namespace, IPs, Istio and Envoy versions, mesh id, file). With
several proxies the header opens each one's section on stdout. With one, it goes to stderr, before the table:
stdout then stays exactly what ``istioctl proxy-config`` prints, so what its users pipe into grep, awk or diff
keeps working, while a terminal still shows the header. ``--no-header`` leaves it out. Notes about missing
sections go to stderr; the tables and the JSON/YAML go to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

from envoyscope.cli_common import add_no_header_argument, add_source_arguments, load_dumps, write_data
from envoyscope.errors import InputError

if TYPE_CHECKING:
    from envoyscope.engine.summary import Filters
    from envoyscope.model.dump import ConfigDump

COMMANDS = {
    "clusters": ("cluster", "Summarise the clusters (SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE, DESTINATION RULE)"),
    "listeners": ("listener", "Summarise the listeners, a line per filter chain (ADDRESSES, PORT, MATCH, DESTINATION)"),
    "routes": ("route", "Summarise the routes (NAME, VHOST NAME, DOMAINS, MATCH, VIRTUAL SERVICE)"),
    "endpoints": ("endpoint", "Summarise the endpoints, from /clusters when given, else from EDS"),
    "secrets": ("secret", "Summarise the secrets and certificates (TYPE, STATUS, VALID CERT, SERIAL, dates)"),
    "bootstrap": (None, "Show the Istio and Envoy versions of each proxy"),
    "all": (None, "Every summary, as `istioctl proxy-config all` prints it"),
}

# Which of istioctl's filters each command takes.
FILTERS = {
    "clusters": ("fqdn", "port", "subset", "direction"),
    "listeners": ("address", "port", "type"),
    "routes": ("name",),
    "endpoints": ("address", "port", "cluster", "status"),
    "secrets": (),
    "bootstrap": (),
    "all": ("fqdn", "port", "subset", "direction", "address", "type", "name", "cluster", "status"),
}

_FILTER_HELP = {
    "fqdn": "clusters whose name contains this service FQDN",
    "port": "clusters (|PORT| in the name), listeners or endpoints on this port",
    "subset": "clusters whose name contains this subset",
    "direction": "clusters whose name contains this direction (inbound, outbound)",
    "address": "listeners or endpoints with this address",
    "type": "listeners of this type: HTTP, TCP, HTTP+TCP, UNKNOWN",
    "name": "the route configuration of this name",
    "cluster": "endpoints of this cluster",
    "status": "endpoints with this health status (HEALTHY, UNHEALTHY, DRAINING, ...)",
}


def register(subparsers: Any) -> None:
    for command, (alias, help_text) in COMMANDS.items():
        parser = subparsers.add_parser(command, aliases=[alias] if alias else [], help=help_text,
                                       description=help_text)
        add_source_arguments(parser)
        parser.add_argument("-o", "--output", choices=("short", "wide", "json", "yaml"), default="short",
                            help="short: istioctl's columns (default); wide: more columns (TLS, the Istio config "
                                 "behind each cluster, decoded SNI names, route clusters); json/yaml: the resources")
        for name in FILTERS[command]:
            parser.add_argument(f"--{name}", type=int if name == "port" else str, default=None,
                                help=_FILTER_HELP[name])
        if command in ("secrets", "all"):
            parser.add_argument("--today", type=_date, default=None, metavar="YYYY-MM-DD",
                                help="judge certificate validity on this day instead of today")
        add_no_header_argument(parser, "leave out the line saying which proxy a table is about (on stderr for one "
                                       "proxy)")
        if command == "all":
            parser.add_argument("--with-headers", action="store_true", help="head each summary with its kind")
        parser.set_defaults(func=run, summary_kind=command)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def filters_from(args: argparse.Namespace) -> Filters:
    from envoyscope.engine.summary import Filters

    return Filters(**{name: getattr(args, name, None) for name in FILTERS["all"]})


def run(args: argparse.Namespace) -> int:
    from envoyscope.report.table import identity_header
    from envoyscope.sources.every import each_proxy, terminal_progress

    kind: str = args.summary_kind
    dumps = load_dumps(args, notes=False)  # printed below with the tables' own notes
    if not dumps:
        raise InputError("no dump to summarise")
    filters = filters_from(args)
    if args.output in ("json", "yaml"):
        _write_data(dumps, kind, filters, args.output)
        return 0
    today = getattr(args, "today", None) or dt.date.today()
    wide = args.output == "wide"
    several = len(dumps) > 1
    if not several and not getattr(args, "no_header", False):
        print(identity_header(dumps[0]), file=sys.stderr, flush=True)
    notes: list[str] = []
    dump_notes_seen: list[str] = []
    failures: list[str] = list(getattr(dumps, "failures", ()))
    first = True
    work = partial(_summary_of, kind=kind, filters=filters, wide=wide, today=today,
                   with_headers=getattr(args, "with_headers", False), several=several,
                   headers=several and not getattr(args, "no_header", False))
    for done in each_proxy(dumps, work, range(len(dumps)), terminal_progress(f"{kind}: reading proxies")):
        if done.error is not None:
            failures.append(f"{done.error} (left out)")
            continue
        text, table_notes, own_notes = done.result
        sys.stdout.write(("" if first else "\n") + text)
        first = False
        notes.extend(table_notes)
        dump_notes_seen.extend(own_notes or done.notes)
    sys.stdout.flush()
    # What reading noted (sections not read, rejected resources); a missing section the tables already say.
    opening = list(getattr(dumps, "notes", ()))
    notes.extend(note for note in opening + dump_notes_seen if "the dump has no " not in note)
    for note in dict.fromkeys(notes):
        print(f"envoyscope: note: {note}", file=sys.stderr)
    for line in failures:
        print(f"envoyscope: note: {line}", file=sys.stderr)
    return 1 if failures else 0


def _summary_of(dumps: list[ConfigDump], index: int, *, kind: str, filters: Filters, wide: bool, today: dt.date,
                with_headers: bool, several: bool, headers: bool) -> tuple[str, list[str], list[str]]:
    """One proxy's summary as printed (under its identity line when ``headers``), its tables' notes and (for a
    dump read at once) its own notes."""
    from envoyscope.engine.summary import summarize, summarize_all
    from envoyscope.report.table import identity_header, render_all, render_table

    dump = dumps[index].load()
    if kind == "all":
        tables = summarize_all(dump, filters, wide=wide, today=today, istio_config=wide)
        text = render_all(tables, with_headers=with_headers)
    else:
        tables = (summarize(dump, kind, filters, wide=wide, today=today, istio_config=wide),)
        text = render_table(tables[0])
    prefix = f"{dump.source}: " if several else ""
    if headers:
        text = f"{identity_header(dump)}\n{text}"
    own = [f"{prefix}{n}" for n in dump.notes] if dump is dumps[index] else []  # a folder's travel with the result
    return text, [f"{prefix}{note}" for table in tables for note in table.notes], own


def _write_data(dumps: list[ConfigDump], kind: str, filters: Filters, output: str) -> None:
    from envoyscope.engine.summary import selected_resources

    if len(dumps) == 1:
        data: Any = selected_resources(dumps[0], kind, filters)
    else:
        data = {}
        for dump in dumps:
            key = dump.identity.name if dump.identity.name not in data and dump.identity.name != "envoy" \
                else dump.source
            data[key] = selected_resources(dump, kind, filters)
    write_data(data, output)
