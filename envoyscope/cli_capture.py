"""``envoyscope capture``: every proxy's admin answers in one bundle, from admin URLs or pods.

Proxies come from ``--admin URL…``, ``--pod NS/NAME…`` (also ``NAME`` with ``-n``, ``deploy/NAME``), ``-l SELECTOR``
and ``--all-gateways`` (every ingress, egress and Gateway-API gateway pod of the cluster); pods are reached through
a Kubernetes port-forward. Each proxy gives ``config_dump?include_eds``, ``clusters?format=json``, ``server_info``,
``certs`` and ``listeners?format=json``; ``manifest.json`` records its identity, pod labels and IPs, when it was
captured, the envoyscope version and the sha256 of every file. A proxy that cannot be reached is recorded in the
manifest and printed; the bundle is still written and the exit code is 1. Every command reads the bundle (or its
unpacked folder) as a SOURCE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envoyscope.cli_common import add_source_arguments
from envoyscope.errors import AdminError, EnvoyscopeError, InputError, SourceError

if TYPE_CHECKING:
    from envoyscope.sources.admin import AdminClient
    from envoyscope.sources.bundle import ProxyCapture
    from envoyscope.sources.kube import EnvoyPod, Kube

EPILOG = """examples:
  envoyscope capture --admin http://127.0.0.1:15000 --admin http://127.0.0.1:15001 -o incident.tar.gz
  envoyscope capture --pod default/sleep-7f8d9c6b5d-x2x7k --pod deploy/httpbin --all-gateways -o incident.tar.gz
  envoyscope capture -n shop -l app=checkout -o checkout.tar.gz
  envoyscope trace incident.tar.gz --to httpbin.org:80
"""


def register(sub: Any) -> None:
    parser = sub.add_parser("capture", help="save every proxy's dumps in one bundle for offline analysis",
                            description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(parser, files=False)
    parser.add_argument("--all-gateways", action="store_true",
                        help="every ingress, egress and Gateway-API gateway pod in the cluster")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.tar.gz", help="the bundle to write")
    parser.set_defaults(func=run)


@dataclass
class Target:
    """One proxy to capture: where it is, and how to open its admin."""

    source: str  # "http://…" or "pod NS/NAME"
    fallback: str  # the file name prefix when the dump names no proxy
    identity: dict[str, Any]  # what is known before asking the proxy (the pod, the URL)
    connect: Callable[[], AdminClient] | None = None
    error: str | None = None  # known unreachable before trying (not running, not found)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod_facts(pod: EnvoyPod) -> dict[str, Any]:
    return {"kubernetes": {"namespace": pod.namespace, "name": pod.name, "kind": pod.kind, "node": pod.node,
                           "ips": list(pod.ips), "labels": dict(pod.labels), "revision": pod.revision,
                           "phase": pod.phase, "ready": pod.ready},
            "pod": pod.name, "namespace": pod.namespace, "labels": dict(pod.labels), "ips": list(pod.ips)}


def admin_target(url: str, timeout: float) -> Target:
    from envoyscope.sources.admin import AdminClient

    fallback = url.split("://", 1)[-1].replace(":", "_").replace("/", "_")
    return Target(url, fallback, {"admin": url}, lambda: AdminClient(url, timeout=timeout))


def pod_target(kube: Kube, pod: EnvoyPod, port: int | None, timeout: float) -> Target:
    port = port or pod.admin_port
    target = Target(f"pod {pod.namespace}/{pod.name}", pod.name, {**_pod_facts(pod), "admin_port": port},
                    lambda: kube.client(pod, port, timeout))
    if pod.phase != "Running":
        target.error = f"pod {pod.namespace}/{pod.name} is {pod.phase or 'not running'}, not Running"
    return target


def kube_targets(args: argparse.Namespace, timeout: float) -> list[Target]:
    """The pods named by --pod, -l and --all-gateways; a --pod that cannot be resolved is a failed target."""
    from envoyscope.sources.kube import Kube

    kube = Kube(args.kubeconfig, args.context)
    namespace = args.namespace or "default"
    targets: list[Target] = []
    for spec in args.pod:
        try:
            targets.append(pod_target(kube, kube.resolve(spec, namespace), args.admin_port, timeout))
        except EnvoyscopeError as exc:
            targets.append(Target(f"--pod {spec}", spec.replace("/", "_"), {"pod_spec": spec}, error=str(exc)))
    pods = kube.pods(args.namespace, args.selector) if args.selector else []
    if args.all_gateways:
        pods += kube.gateways()
    targets += [pod_target(kube, pod, args.admin_port, timeout) for pod in pods]
    return targets


def _dump_identity(info: Any, dump_doc: Any, fallback: str) -> tuple[str, dict[str, Any]]:
    from envoyscope.model.parse import parse_document
    from envoyscope.sources.admin import with_server_info

    dump = with_server_info(parse_document(dump_doc, fallback), info)
    identity = dump.identity
    name = identity.pod or identity.node_id or fallback
    return name, {"node_id": identity.node_id, "proxy_type": identity.proxy_type, "pod": identity.pod,
                  "namespace": identity.namespace, "instance_ips": list(identity.instance_ips),
                  "labels": dict(identity.labels), "istio_version": identity.istio_version,
                  "envoy_version": identity.envoy_version,
                  "server": {"version": info.version, "state": info.state, "uptime": info.uptime_current_epoch}}


def capture(target: Target, tick: Callable[[], None]) -> ProxyCapture:
    """Every admin answer of one proxy, or the failure; ``tick()`` once per file (done or given up)."""
    from envoyscope.sources.admin import CAPTURE_PATHS, ServerInfo
    from envoyscope.sources.bundle import ProxyCapture

    done = 0
    try:
        if target.error or target.connect is None:
            raise SourceError(target.error or f"{target.source}: nothing to capture from")
        files: dict[str, bytes] = {}
        with target.connect() as client:
            for kind, path in CAPTURE_PATHS.items():
                files[kind] = client.get(path).body
                done += 1
                tick()
                if kind == "config_dump" and _is_ztunnel(files[kind]):
                    break  # a ztunnel's admin: its /config_dump is all it has of these
        label = target.source
        if set(files) == {"config_dump"}:
            for _ in range(len(CAPTURE_PATHS) - done):
                tick()
            identity = {"proxy_type": "ztunnel", "pod": target.fallback, **target.identity}
            return ProxyCapture(target.fallback.replace("/", "_"), files, {"source": target.source, **identity,
                                                                          "captured_at": _now()})
        try:
            info = ServerInfo.from_json(json.loads(files["server_info"]), label)
            dump_doc = json.loads(files["config_dump"])
        except ValueError as exc:
            raise AdminError(f"{label}: an answer is not JSON — not an Envoy admin endpoint?") from exc
        if not isinstance(dump_doc, dict) or "configs" not in dump_doc:
            raise AdminError(f"{label}/config_dump: answered, but not like Envoy (no `configs`)")
        name, identity = _dump_identity(info, dump_doc, target.fallback)
        if files["clusters"].strip() == b"{}":  # an Envoy with no cluster at all; keep the file readable as SOURCE
            files["clusters"] = b'{"cluster_statuses": []}'
            identity["rewritten"] = {"clusters": "Envoy answered {} (no cluster): written as empty cluster_statuses"}
        # What Kubernetes says about the pod (its labels, all its IPs) wins over the bootstrap's copy.
        identity.update(target.identity)
        identity.setdefault("ips", identity["instance_ips"])
        return ProxyCapture(name.replace("/", "_"), files, {"source": target.source, **identity,
                                                            "captured_at": _now()})
    except EnvoyscopeError as exc:
        for _ in range(len(CAPTURE_PATHS) - done):
            tick()
        return ProxyCapture(target.fallback, {}, {"source": target.source, **target.identity,
                                                   "captured_at": _now()}, error=str(exc))


def _is_ztunnel(body: bytes) -> bool:
    from envoyscope.model.ztunnel import is_ztunnel_document

    try:
        return is_ztunnel_document(json.loads(body))
    except ValueError:
        return False


def _unique_names(captures: list[ProxyCapture]) -> None:
    """Two proxies with the same name (two plain Envoys with one node id) must not share files."""
    seen: dict[str, int] = {}
    for capture in captures:
        count = seen.get(capture.name, 0) + 1
        seen[capture.name] = count
        if count > 1:
            capture.name = f"{capture.name}-{count}"


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from envoyscope.sources.admin import CAPTURE_PATHS
    from envoyscope.sources.bundle import write_bundle

    target = Path(args.output)
    if not target.name.endswith((".tar.gz", ".tgz")):
        raise SourceError(f"-o {args.output}: a bundle is a .tar.gz file")
    if not target.resolve().parent.is_dir():
        raise SourceError(f"-o {args.output}: the folder {target.resolve().parent} does not exist")
    if not (args.admin or args.pod or args.selector or args.all_gateways):
        raise InputError("nothing to capture: give --admin URL, --pod NS/NAME, -l SELECTOR or --all-gateways")
    timeout = args.admin_timeout
    targets = [admin_target(url, timeout) for url in args.admin]
    if args.pod or args.selector or args.all_gateways:
        targets += kube_targets(args, max(timeout, 30.0))
    unique = {t.source: t for t in targets}  # a pod named twice (--pod and --all-gateways) is captured once
    targets = list(unique.values())
    if not targets:
        raise SourceError("nothing to capture: no pod matched (-l / --all-gateways found no Envoy pod)")
    console = Console(stderr=True)
    captures = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("capturing", total=len(targets) * len(CAPTURE_PATHS))
        for item in targets:
            progress.update(task, description=f"capturing {item.source}")
            captures.append(capture(item, lambda: progress.advance(task)))
    _unique_names(captures)
    manifest = write_bundle(target, captures, ["envoyscope", *sys.argv[1:]])
    for capture_ in captures:
        source = capture_.identity.get("source") or capture_.identity.get("admin") or capture_.name
        if capture_.error:
            said = capture_.error if capture_.error.startswith(source) else f"{source}: {capture_.error}"
            console.print(f"[red]failed[/] {escape(said)}", highlight=False, soft_wrap=True)
        else:
            where = capture_.identity.get("admin") or f"pod {capture_.identity.get('namespace')}/{capture_.name}"
            console.print(f"[green]captured[/] {escape(capture_.name)} ({capture_.identity.get('proxy_type')}) "
                          f"from {escape(where)}", highlight=False, soft_wrap=True)
    console.print(f"bundle written to {escape(str(target))} ({len(manifest['proxies'])} proxies, "
                  f"{len(manifest['failures'])} failed)", highlight=False, soft_wrap=True)
    return 1 if manifest["failures"] else 0
