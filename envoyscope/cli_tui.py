"""``envoyscope tui SOURCE…``: the terminal interface (also what ``envoyscope`` alone opens in a terminal).

With no source it opens the live cluster when a kubeconfig (or in-cluster config) answers, listing every pod that
runs an Envoy; otherwise the bundled sample dumps, with a note saying why.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from envoyscope.cli_common import add_source_arguments, load_dumps, parse_proxy_ips
from envoyscope.errors import EnvoyscopeError

SAMPLES = Path(__file__).resolve().parents[1] / "sample_dumps"


def register(sub: Any) -> None:
    parser = sub.add_parser("tui", help="browse proxies and trace requests in the terminal",
                            description="Open the interactive interface on dumps, bundles, --admin URLs or --pod; "
                                        "with none, on the cluster of your kubeconfig or else the bundled samples.",
                            epilog="examples:\n  envoyscope tui sample_dumps/egress-mtls-subsets\n"
                                   "  envoyscope tui incident.tar.gz\n"
                                   "  envoyscope tui --admin http://127.0.0.1:15000\n"
                                   "  envoyscope tui --pod istio-system/istio-egressgateway-5d8c7b8f9-q2w7x\n"
                                   "  envoyscope tui --context prod -n istio-system   # every Envoy pod there",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(parser, required=False)
    parser.add_argument("--proxy", action="append", default=[], metavar="NAME=IP",
                        help="in traces, treat IP (or IP:PORT) as proxy NAME when an endpoint points there")
    parser.set_defaults(func=run)


def sample_folders() -> list[str]:
    return sorted(str(p.parent) for p in SAMPLES.glob("*/scenario.yaml"))


class SamplesOrCluster:
    """No source given: the cluster's Envoy pods if the Kubernetes configuration answers, else the samples."""

    live_cluster = False

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.note: str | None = None
        self.description = "the cluster of your kubeconfig, or the bundled sample dumps"
        self._chosen: Any = None

    def entries(self, progress: Any = None) -> list[Any]:
        from envoyscope.tui.catalog import Catalog, ClusterCatalog

        if self._chosen is None:
            try:
                from envoyscope.sources.kube import Kube

                kube = Kube(self.args.kubeconfig, self.args.context)
                chosen: Any = ClusterCatalog(kube, self.args.namespace, self.args.admin_port)
                entries = chosen.entries(progress)
                self.note = f"{len(entries)} Envoy pods in {self.args.namespace or 'all namespaces'}: Enter reads one"
            except EnvoyscopeError as exc:
                folders = sample_folders()
                chosen = Catalog.of_files(folders, "sample_dumps/")
                entries = chosen.entries(progress)
                self.note = f"no cluster ({exc}): showing the bundled sample dumps (sample_dumps/)"
            self._chosen = chosen
            self.live_cluster = chosen.live_cluster
            self.description = chosen.description
            return entries
        return list(self._chosen.entries(progress))


def catalog_for(args: argparse.Namespace) -> Any:
    from envoyscope.tui.catalog import Catalog

    if not (args.sources or args.admin or args.pod or args.selector):
        if args.namespace or args.context or args.kubeconfig or kubeconfig_present():
            return SamplesOrCluster(args)
        return Catalog.of_files(sample_folders(), "sample_dumps/")
    shown = list(args.sources) + list(args.admin) + list(args.pod) + ([f"-l {args.selector}"] if args.selector else [])
    description = " ".join(shown) if len(shown) < 4 else f"{len(shown)} sources"
    return Catalog(lambda p: load_dumps(args, p, notes=False), description)  # the TUI shows the notes itself


def run(args: argparse.Namespace) -> int:
    from envoyscope.tui.app import run_app

    proxy_ips = parse_proxy_ips(getattr(args, "proxy", []) or [])
    catalog = catalog_for(args)
    note = None
    if not (args.sources or args.admin or args.pod or args.selector) and not isinstance(catalog, SamplesOrCluster):
        note = "no source and no kubeconfig: showing the bundled sample dumps (sample_dumps/)"
    return run_app(catalog, note=note, proxy_ips=proxy_ips)


def kubeconfig_present() -> bool:
    import os

    return bool(os.environ.get("KUBECONFIG")) or bool(os.environ.get("KUBERNETES_SERVICE_HOST")) or (
        Path.home() / ".kube" / "config").exists()
