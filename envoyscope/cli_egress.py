"""``envoyscope egress SOURCE…`` (every way out of the mesh, per proxy) and ``envoyscope check SOURCE…`` (findings).

``egress`` prints, per proxy, one row per destination its config can send out of the mesh — each the result of a
trace — with how it exits, the proxies it crosses, the TLS of every hop and the findings about it. ``check`` runs
every detector over every proxy and exits 1 when a finding of severity warning or worse remains after ``--ignore``
(for CI), 0 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

from envoyscope.cli_common import (
    DATA_OUTPUTS,
    add_no_header_argument,
    add_source_arguments,
    load_dumps,
    parse_proxy_ips,
    write_data,
)

if TYPE_CHECKING:
    from envoyscope.engine.egress.audit import EgressRow, ProxyAudit

COLUMNS = ("HOST", "PORT", "PROTOCOL", "REQUEST", "EXIT", "VIA", "TLS", "FINDINGS")
WIDE = ("ISTIO CONFIG", "NAMED BY")


def register(subparsers: Any) -> None:
    egress = subparsers.add_parser("egress", help="Every destination outside the mesh each proxy can reach, and how",
                                   description=__doc__.split("\n\n")[1] if __doc__ else None)
    _common(egress)
    egress.add_argument("-o", "--output", choices=("short", "wide", *DATA_OUTPUTS), default="short",
                        help="short: a row per destination (default); wide: with SNI, CA, Istio config; json, yaml: "
                             "the same as data")
    egress.add_argument("--report", metavar="FILE", help="also write the audit as a report (.md, .html or .json)")
    egress.set_defaults(func=run_egress)
    check = subparsers.add_parser("check", help="Run every detector over every proxy; exit 1 on warnings or errors")
    _common(check)
    check.add_argument("-o", "--output", choices=("short", *DATA_OUTPUTS), default="short",
                       help="short: a line per finding (default); json, yaml: the same as data")
    check.add_argument("--ignore", action="append", default=[], metavar="CODE",
                       help="leave out findings with this code (repeatable, or comma separated)")
    check.set_defaults(func=run_check)


def _common(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--from", dest="from_proxy", action="append", default=[], metavar="PROXY",
                        help="audit only this proxy (repeatable; default: every proxy given)")
    parser.add_argument("--proxy", action="append", default=[], metavar="NAME=IP",
                        help="the IP at which another proxy given as a source is reached (repeatable)")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                        help="judge certificates on this day when a dump does not say when it was captured")
    add_no_header_argument(parser, "leave out the line naming each proxy")


def _audits(args: argparse.Namespace) -> tuple[list[ProxyAudit], list[str]]:
    """Every proxy's audit (proxy by proxy, on every core, for a folder or bundle), and one line for each proxy
    that could not be read (left out: the others are audited)."""
    from envoyscope.engine.egress.audit import with_cross_findings
    from envoyscope.engine.trace import pick_start
    from envoyscope.sources.every import each_proxy, terminal_progress

    dumps = load_dumps(args)
    proxies = [pick_start(dumps, name) for name in args.from_proxy] if args.from_proxy else dumps
    indexes = [next(i for i, d in enumerate(dumps) if d is p) for p in proxies]
    work = partial(_audit_one, proxy_ips=parse_proxy_ips(args.proxy), today=args.today)
    audits: list[ProxyAudit] = []
    failures: list[str] = list(getattr(dumps, "failures", ()))
    notes: list[str] = []
    for done in each_proxy(dumps, work, indexes, terminal_progress("auditing proxies")):
        notes.extend(done.notes)
        if done.error is not None:
            failures.append(f"{done.error} (left out)")
        else:
            audits.append(done.result)
    for note in dict.fromkeys(notes):
        print(f"envoyscope: note: {note}", file=sys.stderr)
    return with_cross_findings(audits), failures


def _audit_one(dumps: list[Any], index: int, proxy_ips: dict[str, str], today: dt.date | None) -> ProxyAudit:
    from envoyscope.engine.egress.audit import audit_proxy, slim

    return slim(audit_proxy(dumps[index], dumps, proxy_ips, today))


def _failed(failures: list[str], code: int) -> int:
    for line in failures:
        print(f"envoyscope: note: {line}", file=sys.stderr)
    return max(code, 1) if failures else code


def _row_cells(row: EgressRow, wide: bool) -> list[str]:
    from envoyscope.engine.egress.audit import hop_tls_short

    d = row.destination
    tls = (" | ".join(_short(t) for t in row.tls) if wide
           else " → ".join(hop_tls_short(h) for h in row.trace.hops))
    cells = [d.host, str(d.port), d.protocol, d.request, row.exit, " → ".join(_short(v) for v in row.via), tls,
             ",".join(f.code for f in row.findings) or "-"]
    if wide:
        cells += [",".join(row.istio_config) or "-", d.named_by]
    return cells


def _short(text: str) -> str:
    """A pod name without its ReplicaSet hash and namespace, for the table (JSON keeps the whole name)."""
    head, sep, rest = text.partition(":")
    parts = head.split(".")[0].split("-")
    if len(parts) > 2 and all(len(p) in (5, 9, 10) and p.isalnum() for p in parts[-2:]):
        head = "-".join(parts[:-2])
    elif "." in head and " " not in head:
        head = head.split(".")[0]
    return head + sep + rest


def run_egress(args: argparse.Namespace) -> int:
    from envoyscope.report.table import tabwrite
    from envoyscope.report.write import report_format

    if args.report:
        report_format(args.report)  # a bad --report fails before any work
    audits, failures = _audits(args)
    if args.output in DATA_OUTPUTS:
        write_data({"proxies": [a.to_json() for a in audits]}, args.output)
    else:
        wide = args.output == "wide"
        for one in audits:
            if not args.no_header:
                print(f"== {one.proxy}  outbound policy {one.outbound_policy}")
            lines = [list(COLUMNS + (WIDE if wide else ()))] + [_row_cells(r, wide) for r in one.destinations]
            print(tabwrite(lines, padding=2), end="")
            for finding in one.findings:
                print(f"  {finding.severity}: {finding.code}: {finding.detail}")
    if args.report:
        from envoyscope.report.audit import write_audit_report

        write_audit_report(audits, args.report, ["envoyscope", *sys.argv[1:]])
    return _failed(failures, 0)


def _ignored(args: argparse.Namespace) -> set[str]:
    from envoyscope.engine.egress.findings import CODES
    from envoyscope.errors import InputError

    codes = {c.strip() for item in args.ignore for c in item.split(",") if c.strip()}
    unknown = sorted(codes - set(CODES))
    if unknown:
        raise InputError(f"--ignore {', '.join(unknown)}: no such finding code (known: {', '.join(sorted(CODES))})")
    return codes


def run_check(args: argparse.Namespace) -> int:
    ignored = _ignored(args)
    audits, failures = _audits(args)
    failing = 0
    report = []
    for one in audits:
        found = [(w, f) for w, f in one.all_findings() if f.code not in ignored]
        failing += sum(1 for _, f in found if f.severity in ("warning", "error"))
        report.append((one, found))
    if args.output in DATA_OUTPUTS:
        data = {"proxies": [{"proxy": one.proxy, "findings": [{**f.to_json(), "destination": w or None}
                                                             for w, f in found]} for one, found in report],
                "failing": failing}
        write_data(data, args.output)
    else:
        for one, found in report:
            if not args.no_header:
                print(f"== {one.proxy}: {len(found)} finding(s)")
            for where, finding in sorted(found, key=lambda x: ("error", "warning", "info").index(x[1].severity)):
                at = f" [{where}]" if where else ""
                print(f"{finding.severity.upper():8} {finding.code}{at}: {finding.detail}")
        print(f"{failing} finding(s) of severity warning or error" + (f" (ignored: {', '.join(sorted(ignored))})"
                                                                      if ignored else ""))
    return _failed(failures, 1 if failing else 0)
