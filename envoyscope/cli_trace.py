"""``envoyscope trace SOURCE… --to HOST[:PORT] …``: follow a request through the proxies."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from envoyscope.cli_common import add_source_arguments, load_dumps, parse_proxy_ips, unreadable_notes

EPILOG = """examples:
  envoyscope trace sample_dumps/egress-gateway-http --to httpbin.org:80 --path /headers
  envoyscope trace sample_dumps/https-passthrough --to https://www.googleapis.com
  envoyscope trace sample_dumps/https-passthrough --to www.googleapis.com:443 --sni www.googleapis.com
  envoyscope trace sample_dumps/tcp-mysql --to mysql.example.com:3306 --scheme tcp -o json
  envoyscope trace sample_dumps/egress-mtls-subsets --to nginx.external.svc.cluster.local -H 'want: v2'
"""


def register(sub: Any) -> None:
    from envoyscope.cli_common import DATA_OUTPUTS, add_no_header_argument

    parser = sub.add_parser(
        "trace",
        help="follow a request hop by hop as Envoy would",
        description="Follow a request through every proxy given, the way Envoy would, with the reason at every step.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_arguments(parser)
    parser.add_argument("--to", required=True, metavar="HOST[:PORT]|URL",
                        help="destination host and port, or a URL (http://, https://, tls://, tcp://; [v6] too)")
    parser.add_argument("--ip", help="destination IPv4 or IPv6 address the app connects to (default: what the dumps "
                                     "know)")
    parser.add_argument("--path", default="/",
                        help="request path with query, starting with / (or *); no spaces (default /)")
    parser.add_argument("--method", default="GET", help="HTTP method, a token (default GET)")
    parser.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="request header (repeatable); 'host: …' or ':authority: …' sets the Host header exactly")
    parser.add_argument("--jwt", metavar="TOKEN",
                        help="a JWT the app sends, as -H 'authorization: Bearer TOKEN' (jwt_authn checks it)")
    parser.add_argument("--now", metavar="TIME",
                        help="when the request is sent, ISO 8601 (e.g. 2026-12-07T21:00:00Z): jwt_authn judges a "
                             "token's exp/nbf at it (default: this machine's clock, said as an assumption)")
    parser.add_argument("--scheme", choices=("http", "https", "tls", "tcp"), default=None,
                        help="http, https (TLS from the app), tls (TLS, not HTTP), tcp (raw bytes); default: the URL's "
                             "scheme when --to is a URL, tls with --sni (https with --path/-H/--method), else http")
    parser.add_argument("--sni", help="TLS server name, a DNS name without a port (default: the host, for https/tls; "
                                      "'' sends none)")
    parser.add_argument("--alpn", default="",
                        help="ALPN: with TLS the list offered, e.g. h2,http/1.1; with --scheme http, h2c sends HTTP/2 "
                             "with prior knowledge")
    parser.add_argument("--client-cert", choices=("presented", "validated"), default="",
                        help="with TLS: the client presents a certificate — validated: one the listener trusts (as "
                             "between Istio sidecars); presented: one it does not (a listener that verifies fails the "
                             "handshake)")
    parser.add_argument("--inbound", action="store_true",
                        help="the request arrives at the proxy's inbound (iptables → 15006) from another pod, instead "
                             "of leaving its app")
    parser.add_argument("--principal", metavar="SPIFFE_ID",
                        help="the client certificate's identity (spiffe://…): with --inbound the request comes over "
                             "Istio mutual TLS from a sidecar with that identity; with https/tls the client's "
                             "certificate SAN")
    parser.add_argument("--source-ip", help="the app's IPv4 or IPv6 address (default: the first proxy's instance IP)")
    parser.add_argument("--from", dest="from_proxy", metavar="PROXY", help="the proxy where the request starts")
    parser.add_argument("--proxy", action="append", default=[], metavar="NAME=IP",
                        help="treat IP as proxy NAME when an endpoint points there")
    parser.add_argument("--random-value", type=int, default=0,
                        help="the random number Envoy would draw (weighted clusters, runtime fractions)")
    parser.add_argument("--expect", action="append", default=[], metavar="KEY=VALUE",
                        help="exit 1 unless the trace meets it: exit=egress_gateway|direct|passthrough|blocked|"
                             "<outcome>, via=PROXY (a proxy crossed, by name prefix), outcome=KIND (repeatable)")
    parser.add_argument("--compare", metavar="NEW",
                        help="trace the same request on NEW (a dump, folder or bundle) and show where the two traces "
                             "part and which change explains it")
    parser.add_argument("-o", "--output", choices=("text", *DATA_OUTPUTS), default="text",
                        help="text: the trace as a tree (default); json, yaml: the same as data")
    add_no_header_argument(parser, "leave out the tree's first line (`trace GET http://…`): the hops and the outcome "
                                   "stay")
    parser.add_argument("--report", metavar="FILE", help="also write a report (.md, .html or .json)")
    parser.add_argument("--redact", action="store_true",
                        help="in the report, replace IP addresses and pod names by placeholders")
    parser.set_defaults(func=run)


def build_request(args: argparse.Namespace) -> Any:
    """The request the flags describe; a malformed value raises `ArgumentError` naming its flag (exit 2)."""
    from envoyscope.engine.validate import checked_request

    return checked_request(to=args.to, scheme=args.scheme, dst_ip=args.ip, source_ip=args.source_ip,
                           req_path=args.path, req_method=args.method, headers=list(args.header), server_name=args.sni,
                           alpn_list=args.alpn, random_value=args.random_value, from_proxy=args.from_proxy,
                           client_cert=args.client_cert or "", principal=args.principal, inbound=args.inbound,
                           jwt_token=getattr(args, "jwt", None), now=getattr(args, "now", None))


def run(args: argparse.Namespace) -> int:
    from envoyscope.engine.expect import parse_expectations
    from envoyscope.engine.trace import trace

    request = build_request(args)
    expectations = parse_expectations(args.expect)
    if args.report:
        from envoyscope.report.write import report_format

        report_format(args.report)  # a bad report path fails before any work
    proxy_ips = parse_proxy_ips(args.proxy)
    dumps = load_dumps(args)
    try:
        result = trace(request, dumps, proxy_ips=proxy_ips)
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        # The engine reads resources as Envoy writes them; parsing checks the fields it knows to read
        # (envoyscope.model.shape). If a field it does not know of has the wrong type, the fault is the input's:
        # say which resource and where. If every resource has the shape its proto says, this is a bug: re-raise.
        from envoyscope.model.typed import malformed_resource

        malformed = malformed_resource([d for d in dumps if d.loaded])
        if malformed is None:
            raise
        raise malformed from exc
    comparison = _compare(args, request, result, dumps, proxy_ips) if args.compare else None
    from envoyscope.engine.expect import broken_expectations, trace_findings

    findings = trace_findings(result, dumps, proxy_ips)
    broken = broken_expectations(result, expectations)
    if args.output in ("json", "yaml"):
        from envoyscope.cli_common import write_data

        data = {**result.to_json(), "findings": [f.to_json() for f in findings]}
        if comparison is not None:
            data["compare"] = comparison.to_json()
        if expectations:
            data["expectations"] = [{"expect": e, "met": why is None, "detail": why} for e, why in broken]
        write_data(data, args.output)
    else:
        from envoyscope.report.trace_text import print_trace

        if comparison is not None:
            from envoyscope.report.compare_text import print_comparison

            print_comparison(comparison, args.sources, args.compare)
        print_trace(result, header=not args.no_header)
        for finding in findings:
            print(f"finding {finding.severity}: {finding.code}: {finding.detail}")
    if args.report:
        from envoyscope.report.write import write_report

        section = None
        if comparison is not None:
            from envoyscope.report.compare_section import compare_section

            section = compare_section(comparison, " ".join(args.sources), args.compare)
        written = write_report(result, dumps, args.report, argv=["envoyscope", *sys.argv[1:]], redact=args.redact,
                               compare=section)
        print(f"report written to {written}", file=sys.stderr)
    failed = [(e, why) for e, why in broken if why is not None]
    for expectation, why in failed:
        print(f"envoyscope: expectation {expectation} not met: {why}", file=sys.stderr)
    return unreadable_notes(dumps, 1 if failed else 0)


def _compare(args: argparse.Namespace, request: Any, result: Any, dumps: list[Any], proxy_ips: dict[str, str]) -> Any:
    """The same request traced on ``--compare NEW``, set against the trace on the sources."""
    from envoyscope.engine.compare import compare_traces
    from envoyscope.engine.trace import trace
    from envoyscope.sources.files import load_sources

    new_dumps = load_sources([args.compare])
    new_result = trace(request, new_dumps, proxy_ips=proxy_ips)
    # The changes that can explain where the traces part are those of the proxies they read (a folder's others
    # are not decoded).
    return compare_traces(result, new_result, [d for d in dumps if d.loaded], [d for d in new_dumps if d.loaded])
