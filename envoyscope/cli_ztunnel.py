"""``envoyscope ztunnel SOURCE… [workload|service|policy|certificate|all] [-o short|wide|json|yaml]``.

What a ztunnel (Istio's ambient node proxy) reports: its admin ``/config_dump`` (port 15000), saved, in a folder,
in a capture bundle, or live with ``--admin URL`` / ``--pod NS/ztunnel-xxxxx --admin-port 15000``. The tables are
``istioctl ztunnel-config``'s. Sources that are Envoy dumps are skipped; none that is a ztunnel's is an error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from envoyscope.cli_common import add_source_arguments, load_dumps
from envoyscope.errors import InputError


def register(sub: Any) -> None:
    parser = sub.add_parser("ztunnel", help="summarise a ztunnel's config (workloads, services, policies, "
                                            "certificates), as `istioctl ztunnel-config` does",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(parser)
    parser.add_argument("--kind", choices=("workload", "service", "policy", "certificate", "all"), default="all",
                        help="which table (default: all)")
    parser.add_argument("--workload-namespace", default="", metavar="NS", help="only this namespace's entries")
    parser.add_argument("--address", default=None, help="only the workload with this IP")
    parser.add_argument("--node", default="", help="only workloads on this node")
    parser.add_argument("-o", "--output", choices=("short", "wide", "json", "yaml"), default="short")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envoyscope.engine.summary.ztunnel import (
        ZtunnelFilter,
        certificate_rows,
        policy_rows,
        service_rows,
        workload_rows,
    )
    from envoyscope.report.table import tabwrite

    dumps = [d for d in load_dumps(args) if d.ztunnel is not None]
    if not dumps:
        raise InputError("no ztunnel config among the sources (a ztunnel's /config_dump has `workloads` and "
                         "`services`)")
    filt = ZtunnelFilter(args.workload_namespace, args.address or "", args.node)
    kinds = ("workload", "service", "policy", "certificate") if args.kind == "all" else (args.kind,)
    for dump in dumps:
        zt = dump.ztunnel
        assert zt is not None
        if len(dumps) > 1:
            print(f"== {dump.identity.name} ({dump.source})")
        if args.output in ("json", "yaml"):
            _print_doc(zt.raw, kinds, args.output)
            continue
        for index, kind in enumerate(kinds):
            if index:
                print()
            rows = (workload_rows(zt, filt, wide=args.output == "wide") if kind == "workload" else
                    service_rows(zt, filt) if kind == "service" else policy_rows(zt, filt) if kind == "policy"
                    else certificate_rows(zt))
            print(tabwrite(rows, padding=1), end="")
    return 0


def _print_doc(doc: dict[str, Any], kinds: tuple[str, ...], output: str) -> None:
    """The dump's own entries of those kinds, as written (istioctl's `-o json`)."""
    keys = {"workload": "workloads", "service": "services", "policy": "policies", "certificate": "certificates"}
    picked = {keys[k]: doc.get(keys[k]) for k in kinds} if len(kinds) > 1 else doc.get(keys[kinds[0]])
    if output == "yaml":
        import yaml

        print(yaml.safe_dump(picked, sort_keys=False), end="")
    else:
        print(json.dumps(picked, indent=4))
