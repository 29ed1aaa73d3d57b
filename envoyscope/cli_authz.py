"""``envoyscope authz SOURCE…``: the authorization policies (RBAC filters) of each proxy, as a table."""

from __future__ import annotations

import argparse
import json
from typing import Any

from envoyscope.cli_common import add_source_arguments, load_dumps


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "authz", help="list the RBAC policies (Istio AuthorizationPolicy) of each proxy",
        description="The RBAC filters of each proxy (HTTP and network, per route too), one row per policy, in the "
                    "order Envoy tries them: ACTION, NAME, RULES; -o wide adds the principals and permissions in "
                    "words.",
        epilog="examples:\n  envoyscope authz httpbin.config_dump.json\n  envoyscope authz sample_dumps/authz-deny "
               "-o wide", formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(parser)
    parser.add_argument("-o", "--output", choices=("table", "wide", "json"), default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envoyscope.engine.authz import policy_rows
    from envoyscope.report.table import tabwrite

    dumps = load_dumps(args)
    rows = [row for dump in dumps for row in policy_rows(dump)]
    if args.output == "json":
        print(json.dumps([r.to_json() for r in rows], indent=2))
        return 0
    if not rows:
        print(f"no RBAC filter in {', '.join(d.identity.name for d in dumps)}: no authorization policy applies")
        return 0
    wide = args.output == "wide"
    head = ["PROXY", "FILTER", "WHERE", "ACTION", "NAME", "RULES"] + (["PRINCIPALS", "PERMISSIONS"] if wide else [])
    lines = [head]
    for r in rows:
        line = [r.proxy, r.filter, r.where, r.action, r.name, r.rules]
        if wide:
            line += ["; ".join(r.principals) or "-", "; ".join(r.permissions) or "-"]
        lines.append(line)
    print(tabwrite(lines), end="")
    return 0
