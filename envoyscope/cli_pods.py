"""``envoyscope pods``: the pods that run an Envoy (sidecars, gateways, waypoints), as istioctl/k9s list them."""

from __future__ import annotations

import argparse
from typing import Any

from envoyscope.cli_common import DATA_OUTPUTS, add_kube_arguments, add_no_header_argument, write_data

COLUMNS = ("NAMESPACE", "NAME", "TYPE", "READY", "STATUS", "IP", "NODE", "REVISION")


def register(sub: Any) -> None:
    parser = sub.add_parser("pods", help="list the pods that run an Envoy (needs a kubeconfig)",
                            description="List sidecars, ingress/egress gateways, gateway-API gateways and waypoints.",
                            epilog="examples:\n  envoyscope pods -A\n  envoyscope pods -n istio-system --context prod",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_kube_arguments(parser)
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    parser.add_argument("-l", "--selector", help="a label selector")
    parser.add_argument("-o", "--output", choices=("short", *DATA_OUTPUTS), default="short",
                        help="short: a row per pod (default); json, yaml: the same with labels, every IP and the "
                             "admin port")
    add_no_header_argument(parser, "leave out the column names (as kubectl's --no-headers)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envoyscope.report.table import tabwrite
    from envoyscope.sources.kube import Kube

    kube = Kube(args.kubeconfig, args.context)
    namespace = None if args.all_namespaces else (args.namespace or "default")
    pods = kube.pods(namespace, args.selector)
    if args.output in DATA_OUTPUTS:
        write_data([{"namespace": p.namespace, "name": p.name, "type": p.kind, "ready": p.ready, "status": p.phase,
                     "ip": p.ip, "ips": list(p.ips), "node": p.node, "revision": p.revision,
                     "admin_port": p.admin_port, "labels": dict(p.labels)} for p in pods], args.output)
        return 0
    rows = [] if args.no_header else [list(COLUMNS)]
    rows += [[p.namespace, p.name, p.kind, p.ready, p.phase, p.ip, p.node, p.revision] for p in pods]
    print(tabwrite(rows), end="")
    return 0
