"""``envoyscope capture --admin URL… -o incident.tar.gz``: every proxy's admin answers in one bundle.

Each proxy gives ``config_dump?include_eds``, ``clusters?format=json``, ``server_info``, ``certs`` and
``listeners?format=json``. A proxy that cannot be reached is recorded in the manifest and printed; the bundle is
still written and the exit code is 1. Every command reads the bundle (or its unpacked folder) as a SOURCE.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from envoyscope.errors import EnvoyscopeError, SourceError

EPILOG = """examples:
  envoyscope capture --admin http://127.0.0.1:15000 --admin http://127.0.0.1:15001 -o incident.tar.gz
  envoyscope trace incident.tar.gz --to httpbin.org:80
"""


def register(sub: Any) -> None:
    parser = sub.add_parser("capture", help="save every proxy's dumps in one bundle for offline analysis",
                            description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin", action="append", default=[], metavar="URL", required=True,
                        help="an Envoy admin endpoint (repeatable)")
    parser.add_argument("--admin-timeout", type=float, default=15.0, metavar="SECONDS")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.tar.gz", help="the bundle to write")
    parser.set_defaults(func=run)


def _name(info: dict[str, Any], dump_doc: dict[str, Any], fallback: str) -> tuple[str, dict[str, Any]]:
    from envoyscope.model.parse import parse_document

    identity = parse_document(dump_doc, fallback).identity
    name = identity.pod or identity.node_id or fallback
    return name.replace("/", "_"), {"node_id": identity.node_id, "proxy_type": identity.proxy_type,
                                    "pod": identity.pod, "namespace": identity.namespace,
                                    "instance_ips": list(identity.instance_ips), "labels": dict(identity.labels),
                                    "istio_version": identity.istio_version,
                                    "envoy_version": info.get("version", identity.envoy_version),
                                    "state": info.get("state")}


def capture_admin(url: str, timeout: float, tick: Any) -> Any:
    from envoyscope.sources.admin import CAPTURE_PATHS, AdminClient
    from envoyscope.sources.bundle import ProxyCapture

    fallback = url.split("://", 1)[-1].replace(":", "_").replace("/", "_")
    try:
        with AdminClient(url, timeout=timeout) as client:
            info = client.server_info()
            files = {}
            for kind, path in CAPTURE_PATHS.items():
                files[kind] = client.get(path).body
                tick()
        dump_doc = json.loads(files["config_dump"])
        name, identity = _name(info, dump_doc, fallback)
        return ProxyCapture(name, files, {"admin": url, **identity})
    except (EnvoyscopeError, ValueError) as exc:
        return ProxyCapture(fallback, {}, {"admin": url}, error=str(exc))


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from envoyscope.sources.bundle import write_bundle

    target = Path(args.output)
    if not target.name.endswith((".tar.gz", ".tgz")):
        raise SourceError(f"-o {args.output}: a bundle is a .tar.gz file")
    if not target.resolve().parent.is_dir():
        raise SourceError(f"-o {args.output}: the folder {target.resolve().parent} does not exist")
    console = Console(stderr=True)
    captures = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("capturing", total=len(args.admin) * 5)
        for url in args.admin:
            progress.update(task, description=f"capturing {url}")
            captures.append(capture_admin(url, args.admin_timeout, lambda: progress.advance(task)))
    manifest = write_bundle(target, captures, ["envoyscope", *sys.argv[1:]])
    for capture in captures:
        if capture.error:
            console.print(f"[red]failed[/] {capture.identity.get('admin')}: {capture.error}")
        else:
            console.print(f"[green]captured[/] {capture.name} ({capture.identity.get('proxy_type')}) "
                          f"from {capture.identity.get('admin')}")
    console.print(f"bundle written to {target} ({len(manifest['proxies'])} proxies, "
                  f"{len(manifest['failures'])} failed)")
    return 1 if manifest["failures"] else 0
