"""``envoyscope diff OLD NEW [-o text|json|yaml]``: what changed, as Envoy sees it, between two captures.

OLD and NEW are each a SOURCE: a dump file, a folder, a capture bundle, ``-`` (stdin, one side), an Envoy admin
URL (``http://127.0.0.1:15000``) or ``pod:NS/NAME`` (through a port-forward). Proxies are paired by identity; one
section per proxy. Exit code 0 when nothing changed, 1 when something did (as diff(1) does), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from envoyscope.cli_common import DATA_OUTPUTS, add_kube_arguments, add_no_header_argument, load_dumps, write_data
from envoyscope.errors import InputError

EPILOG = """examples:
  envoyscope diff yesterday.tar.gz today.tar.gz
  envoyscope diff sample_dumps/registry-only sample_dumps/allow-any
  envoyscope diff sleep.config_dump.json http://127.0.0.1:15000 -o json
  envoyscope diff bundle.tar.gz pod:default/sleep-7f8d9c6b5d-x2x7k

exit status: 0 no change, 1 changes, 2 bad input
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "diff",
        help="what changed between two captures, as Envoy sees it",
        description="Compare two captures of the same proxies, resource by resource, ignoring what changes "
                    "nothing Envoy does (versions, timestamps, order of keys, sets and resources, spellings, "
                    "defaults).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("old", metavar="OLD", help="file, folder, bundle, admin URL or pod:NS/NAME")
    parser.add_argument("new", metavar="NEW", help="file, folder, bundle, admin URL or pod:NS/NAME")
    parser.add_argument("-o", "--output", choices=("text", *DATA_OUTPUTS), default="text",
                        help="text: a line per change (default); json, yaml: the same as data")
    add_no_header_argument(parser, "leave out the line opening each proxy's changes (`proxy NAME: N changes …`)")
    live = parser.add_argument_group("live sources")
    live.add_argument("--admin-timeout", type=float, default=15.0, metavar="SECONDS",
                      help="how long to wait for each admin answer (default 15)")
    add_kube_arguments(live)
    live.add_argument("--admin-port", type=int, help="the Envoy admin port in the pods (default 15000)")
    parser.set_defaults(func=run)


def side_arguments(spec: str, args: argparse.Namespace) -> argparse.Namespace:
    """The arguments `load_dumps` takes for one side of the diff."""
    admin, pod, sources = [], [], []
    if spec.startswith(("http://", "https://")):
        admin.append(spec)
    elif spec.startswith("pod:"):
        pod.append(spec.removeprefix("pod:"))
    else:
        sources.append(spec)
    return argparse.Namespace(sources=sources, admin=admin, pod=pod, selector=None, _sources_required=True,
                              admin_timeout=args.admin_timeout, kubeconfig=args.kubeconfig, context=args.context,
                              namespace=args.namespace, admin_port=args.admin_port)


def run(args: argparse.Namespace) -> int:
    from envoyscope.engine.diff import ProxyDiff, diff_json, pair_proxies
    from envoyscope.sources.every import each_proxy, terminal_progress

    if args.old == "-" and args.new == "-":
        raise InputError("OLD and NEW cannot both be standard input")
    sides = []
    for spec in (args.old, args.new):
        dumps = load_dumps(side_arguments(spec, args))
        if not dumps:
            raise InputError("no proxy to compare", source=spec)
        sides.append(dumps)
    # Paired by identity (no decoding), then each pair diffed on its own, on every core (sources.every).
    both = [*sides[0], *sides[1]]
    index = {id(d): i for i, d in enumerate(both)}
    pairs = pair_proxies(sides[0], sides[1])
    items = [(index[id(old)], index[id(new)]) for old, new in pairs if old is not None and new is not None]
    found: dict[tuple[int, int], Any] = {}
    failures = [line for side in sides for line in getattr(side, "failures", ())]
    said: list[str] = []
    for done in each_proxy(both, _diff_pair, items, terminal_progress("comparing proxies")):
        said.extend(done.notes)
        if done.error is not None:
            failures.append(f"{done.error} (left out)")
        else:
            found[done.item] = done.result
    proxies = []
    for old, new in pairs:
        key = (index[id(old)], index[id(new)]) if old is not None and new is not None else None
        if key is not None and key not in found:
            continue  # could not be read: said below
        changes, pair_notes = found[key] if key is not None else ((), [])
        said.extend(pair_notes)
        proxies.append(ProxyDiff(old, new, changes))
    if args.output in DATA_OUTPUTS:
        write_data(diff_json(proxies), args.output)
    else:
        sys.stdout.write(render_text(proxies, header=not args.no_header))
    sys.stdout.flush()
    for note in dict.fromkeys(said):
        print(f"envoyscope: note: {note}", file=sys.stderr)
    for line in failures:
        print(f"envoyscope: note: {line}", file=sys.stderr)
    return 1 if failures or any(proxy.changed for proxy in proxies) else 0


def _diff_pair(dumps: list[Any], item: tuple[int, int]) -> tuple[tuple[Any, ...], list[str]]:
    """One proxy's changes from OLD to NEW, and what could not be compared."""
    from envoyscope.engine.diff import ProxyDiff, diff_dumps

    old, new = dumps[item[0]].load(), dumps[item[1]].load()
    changes = tuple(diff_dumps(old, new))
    return changes, notes([ProxyDiff(old, new, changes)])


def render_text(proxies: list[Any], *, header: bool = True) -> str:
    """A line per change, under a line per proxy (``header=False``: the changes alone, not indented)."""
    from envoyscope.engine.diff import proxy_name
    from envoyscope.engine.diff.words import sentences

    lines: list[str] = []
    for proxy in proxies:
        if proxy.old is None or proxy.new is None:
            dump, side = (proxy.new, "NEW") if proxy.old is None else (proxy.old, "OLD")
            lines.append(f"proxy {proxy_name(dump)}: only in {side} ({dump.source})")
            continue
        old_name, new_name = proxy_name(proxy.old), proxy_name(proxy.new)
        name = old_name if old_name == new_name else f"{old_name} → {new_name}"
        count = len(proxy.changes)
        if header:
            lines.append(f"proxy {name}: {count or 'no'} change{'' if count == 1 else 's'} "
                         f"({proxy.old.source} → {proxy.new.source})")
        indent = "  " if header else ""
        lines.extend(f"{indent}{line}" for change in proxy.changes for line in sentences(change))
    return "\n".join(lines) + "\n" if lines else ""


def notes(proxies: list[Any]) -> list[str]:
    """What could not be compared: a view one side holds and the other does not."""
    found = []
    for proxy in proxies:
        if proxy.old is None or proxy.new is None:
            continue
        sections = [(name, lambda d, n=name: d.has(n)) for name in ("listeners", "routes", "clusters", "secrets")]
        for what, has in (*sections, ("EDS endpoints (?include_eds)", lambda d: d.has("endpoints")),
                          ("/clusters health", lambda d: d.clusters_status is not None),
                          ("bootstrap", lambda d: d.bootstrap is not None)):
            if has(proxy.old) != has(proxy.new):
                side = "OLD" if has(proxy.old) else "NEW"
                found.append(f"{proxy.new.identity.name}: only {side} holds {what}; not compared")
    return found
