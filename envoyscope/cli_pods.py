"""``envoyscope pods``: the pods that run an Envoy (sidecars, gateways, waypoints), as istioctl/k9s list them."""

from __future__ import annotations

import argparse
from typing import Any

from envoyscope.cli_common import add_kube_arguments


def register(sub: Any) -> None:
    parser = sub.add_parser("pods", help="list the pods that run an Envoy (needs a kubeconfig)",
                            description="List sidecars, ingress/egress gateways, gateway-API gateways and waypoints.",
                            epilog="examples:\n  envoyscope pods -A\n  envoyscope pods -n istio-system --context prod",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_kube_arguments(parser)
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    parser.add_argument("-l", "--selector", help="a label selector")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envoyscope.report.table import tabwrite
    from envoyscope.sources.kube import Kube

    kube = Kube(args.kubeconfig, args.context)
    namespace = None if args.all_namespaces else (args.namespace or "default")
    pods = kube.pods(namespace, args.selector)
    rows = [["NAMESPACE", "NAME", "TYPE", "READY", "STATUS", "IP", "NODE", "REVISION"]]
    rows += [[p.namespace, p.name, p.kind, p.ready, p.phase, p.ip, p.node, p.revision] for p in pods]
    print(tabwrite(rows), end="")
    return 0
