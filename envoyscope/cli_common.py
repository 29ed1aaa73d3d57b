"""What every command shares: how SOURCE arguments and live options become dumps.

Commands call `add_source_arguments` on their parser and `load_dumps` in their `run`; a new kind of source
is added here once and every command gets it: files, folders, capture bundles (.tar.gz), ``--admin URL``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from envoyscope.errors import InputError
from envoyscope.model.dump import ConfigDump


def add_source_arguments(parser: argparse.ArgumentParser, *, required: bool = True, files: bool = True) -> None:
    """SOURCE… positional arguments (dump files, folders, bundles, ``-``) and the live sources (``files=False``:
    only the live sources, for `capture`)."""
    if files:
        parser.add_argument("sources", nargs="*", metavar="SOURCE",
                            help="dump files (.json, .json.gz), folders, capture bundles (.tar.gz); - for stdin")
    live = parser.add_argument_group("live sources")
    live.add_argument("--admin", action="append", default=[], metavar="URL",
                      help="an Envoy admin endpoint, e.g. http://127.0.0.1:15000 (repeatable)")
    live.add_argument("--admin-timeout", type=float, default=15.0, metavar="SECONDS",
                      help="how long to wait for each admin answer (default 15)")
    add_kube_arguments(live)
    live.add_argument("--pod", action="append", default=[], metavar="NS/NAME",
                      help="a pod's Envoy through a port-forward: NS/NAME, NAME (with -n) or deploy/NAME (repeatable)")
    live.add_argument("-l", "--selector", help="every Envoy pod matching this label selector (with -n, or all)")
    live.add_argument("--admin-port", type=int, help="the Envoy admin port in the pods (default: what the pod's "
                                                     "proxy.istio.io/config says, else 15000)")
    parser.set_defaults(_sources_required=required)


# What every command that prints a result takes: -o with these data forms, and --no-header.
DATA_OUTPUTS = ("json", "yaml")


def add_no_header_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--no-header`` (kubectl's ``--no-headers`` too): leave out the line saying what the output is about."""
    parser.add_argument("--no-header", "--no-headers", dest="no_header", action="store_true", help=help_text)


def write_data(data: Any, output: str) -> None:
    """``-o json`` or ``-o yaml``: the same data on stdout, JSON indented, YAML block style in the data's order.
    Written as text: a program calling `envoyscope.cli.main` may have redirected stdout to a StringIO."""
    import orjson

    if output == "json":
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        import yaml

        data = orjson.loads(orjson.dumps(data))  # plain lists, dicts and scalars, as the JSON form has them
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        sys.stdout.write(yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False,
                                   allow_unicode=True))
    sys.stdout.flush()


def add_kube_arguments(group: Any) -> None:
    group.add_argument("--kubeconfig", help="the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    group.add_argument("--context", help="the kubeconfig context to use")
    group.add_argument("-n", "--namespace", default=None, help="the namespace for --pod NAME and -l (default: default)")


def load_dumps(args: argparse.Namespace, progress: Any = None, *, notes: bool = True) -> list[ConfigDump]:
    """Every proxy's dump named by the command line, in the order given: files first, then live sources.

    ``progress(done, total, name)``, when given, hears of each file, admin URL and pod as it is read.
    ``notes``: print what each dump's reading noted (sections not read, rejected resources) on stderr; commands
    that print notes of their own (the summaries) or own the terminal (the TUI) pass False and use `dump_notes`.
    """
    dumps = _load_dumps(args, progress)
    if notes:
        for note in dump_notes(dumps):
            print(f"envoyscope: note: {note}", file=sys.stderr)
        watch_notes(dumps)
    return dumps


def dump_notes(dumps: list[ConfigDump]) -> list[str]:
    """What opening the sources noted (files left out), then every dump's notes, once each, prefixed with its source
    when there are several dumps. A proxy of a folder that has not been read yet has none to give."""
    prefix = len(dumps) > 1
    opening = list(getattr(dumps, "notes", ()))
    return list(dict.fromkeys(opening + [f"{d.source}: {n}" if prefix else n for d in dumps if d.loaded
                                         for n in d.notes]))


def watch_notes(dumps: list[ConfigDump]) -> None:
    """Print a folder's proxy's notes when it is read (a trace reads only the proxies it crosses), once each."""
    from envoyscope.sources.lazy import LazyDump

    printed: set[str] = set()

    def say(dump: LazyDump) -> None:
        for note in dump.notes:
            line = f"{dump.source}: {note}"
            if line not in printed:
                printed.add(line)
                print(f"envoyscope: note: {line}", file=sys.stderr)

    for dump in dumps:
        if isinstance(dump, LazyDump):
            dump.watch(say)


def unreadable_notes(dumps: list[ConfigDump], code: int) -> int:
    """Say on stderr which proxies could not be read (each left out, the others answered): exit 1 if any."""
    from envoyscope.sources.lazy import unreadable

    lines = unreadable(dumps)
    for line in lines:
        print(f"envoyscope: note: {line}", file=sys.stderr)
    return max(code, 1) if lines else code


def _load_dumps(args: argparse.Namespace, progress: Any) -> list[ConfigDump]:
    from envoyscope.sources.files import load_sources

    sources = list(getattr(args, "sources", []) or [])
    admins = list(getattr(args, "admin", []) or [])
    pods = list(getattr(args, "pod", []) or [])
    selector = getattr(args, "selector", None)
    if not sources and not admins and not pods and not selector and getattr(args, "_sources_required", True):
        raise InputError("no source: give dump files or folders, a bundle, --admin URL or --pod NS/NAME")
    from envoyscope.sources.lazy import Proxies

    dumps = load_sources(sources, progress) if sources else Proxies()
    if admins:
        from envoyscope.sources.admin import load_admin

        for done, url in enumerate(admins):
            if progress:
                progress(done, len(admins), url)
            dumps.append(load_admin(url, timeout=args.admin_timeout))
    if pods or selector:
        from envoyscope.sources.kube import Kube

        kube = Kube(args.kubeconfig, args.context)
        namespace = args.namespace or "default"
        targets = [kube.resolve(spec, namespace) for spec in pods]
        if selector:
            targets += [p for p in kube.pods(args.namespace, selector) if p.phase == "Running"]
        for done, pod in enumerate(targets):
            if progress:
                progress(done, len(targets), f"pod {pod.namespace}/{pod.name}")
            dumps.append(kube.dump(pod, args.admin_port, timeout=max(args.admin_timeout, 30.0)))
    return dumps


def parse_proxy_ips(items: list[str]) -> dict[str, str]:
    """``--proxy NAME=IP`` (or ``NAME=IP:PORT``), repeatable: treat that endpoint address as proxy NAME."""
    from envoyscope.engine.validate import address
    from envoyscope.errors import ArgumentError

    proxy_ips = {}
    for item in items:
        name, sep, ip = item.partition("=")
        if not sep or not name.strip() or not ip.strip():
            raise ArgumentError("--proxy", item, "expected NAME=IP or NAME=IP:PORT")
        try:
            proxy_ips[name.strip()] = address(ip, "--proxy")
        except ArgumentError as exc:
            raise ArgumentError("--proxy", item, exc.problem) from None
    return proxy_ips


def check_arguments(args: argparse.Namespace) -> None:
    """Every address-like flag a command shares (live sources, summary filters), checked before any work:
    a malformed one raises `ArgumentError` naming it."""
    from envoyscope.engine import validate

    for url in getattr(args, "admin", None) or ():
        validate.admin_url(url, "--admin")
    if getattr(args, "admin_timeout", None) is not None:
        validate.positive(args.admin_timeout, "--admin-timeout")
    if getattr(args, "admin_port", None) is not None:
        validate.port(args.admin_port, "--admin-port")
    for spec in getattr(args, "pod", None) or ():
        validate.pod_spec(spec, "--pod")
    if getattr(args, "namespace", None) is not None:
        validate.kube_name(args.namespace, "--namespace", label=True)
    if getattr(args, "port", None) is not None:
        validate.port(args.port, "--port")
    if getattr(args, "address", None) is not None:
        validate.address_filter(args.address, "--address")
    if getattr(args, "proxy", None):
        parse_proxy_ips(args.proxy)
