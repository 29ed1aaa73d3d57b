"""istioctl's golden outputs (../shared/fixtures/istioctl) and a reader that splits its aligned tables into cells.

The reader knows nothing of envoyscope's renderer: it finds the columns of each table from its header (cells
are separated by at least two spaces when istioctl pads with 5, by one space when it pads with 1) and cuts
every line of the table at those columns. Bootstrap lines are ``Label: value``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from envoyscope.engine.summary import Filters

# The day VALID CERT is judged on: after the istio and spire leaf certificates expired, before their roots did.
TODAY = dt.date(2025, 1, 1)
WRITER = ("istioctl", "writer", "envoy", "configdump", "testdata")
PROXYCONFIG = ("istioctl", "proxyconfig", "testdata")


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # a summary kind, or "all"
    dump: tuple[str, ...]
    golden: tuple[str, ...]
    filters: Filters = field(default_factory=Filters)
    with_headers: bool = False


CASES = [
    *(Case(f"routes/{name}", "routes", (*WRITER, "routes", name, "configdump.json"),
           (*WRITER, "routes", name, "output.txt"))
      for name in ("empty-gateway", "istio-gateway-http-route-prefix", "k8s-gateway-http-route-path-prefix")),
    Case("endpoints/emptyfilter", "endpoints", (*WRITER, "endpoint", "configdump.json"),
         (*WRITER, "endpoint", "emptyfilter_output.txt")),
    Case("endpoints/portfilter", "endpoints", (*WRITER, "endpoint", "configdump.json"),
         (*WRITER, "endpoint", "portfilter_output.txt"), Filters(port=8080)),
    *(Case(f"secrets/{name}", "secrets", (*WRITER, "secret", name, "config_dump.json"),
           (*WRITER, "secret", name, "output")) for name in ("istio", "spire")),
    Case("bootstrap/versionsummary", "bootstrap", (*WRITER, "configdump.json"), (*WRITER, "versionsummary.txt")),
    Case("all/waypoint", "all", (*PROXYCONFIG, "config_dump.json"), (*PROXYCONFIG, "config_dump_summary.txt")),
    Case("all/waypoint-with-headers", "all", (*PROXYCONFIG, "config_dump.json"),
         (*PROXYCONFIG, "config_dump_summary_withheaders.txt"), with_headers=True),
]

_BOOTSTRAP_LINE = re.compile(r"^(Istio Version:|Istio Proxy Version:|Envoy Version:)\s+(.*)$")


def split_tables(text: str) -> list[list[str]]:
    """The blocks of non-empty lines, without ``------ X INFO ------`` headings."""
    tables: list[list[str]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            if tables[-1]:
                tables.append([])
        elif not line.startswith("------ "):
            tables[-1].append(line)
    return [t for t in tables if t]


def parse_table(lines: list[str]) -> list[tuple[str, ...]]:
    """Cells of one aligned table (its header first), or of the bootstrap lines."""
    if all(_BOOTSTRAP_LINE.match(line) for line in lines):
        return [tuple(_BOOTSTRAP_LINE.match(line).groups()) for line in lines]  # type: ignore[union-attr]
    header = lines[0]
    gap = r" +" if "ADDRESSES" in header else r" {2,}"  # listeners: padding 1 and one-word headers
    starts = [0] + [m.end() for m in re.finditer(gap, header.rstrip())]
    rows = []
    for line in lines:
        cells = []
        for index, start in enumerate(starts):
            end = starts[index + 1] if index + 1 < len(starts) else None
            cells.append(line[start:end].strip())
        rows.append(tuple(cells))
    return rows
