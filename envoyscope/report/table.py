"""Summary tables as text, aligned exactly like Go's ``text/tabwriter`` (what istioctl prints through).

Go's tabwriter aligns *column blocks*: a run of consecutive lines that all have a cell in column k (a cell
being text followed by a tab) is padded to the widest such cell plus the padding; the last cell of a line is
never padded. istioctl uses minwidth 0, padding 5 with spaces for most tables and padding 1 for listeners and
the bootstrap lines (tabwidth does not matter when padding with spaces). `tabwrite` re-implements that rule, so
envoyscope's tables are byte-identical to istioctl's for the same cells.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoyscope.engine.summary import Table
from envoyscope.model.dump import ConfigDump

PADDING = {"listeners": 1, "bootstrap": 1}
HEADERLESS = frozenset({"bootstrap"})
ALL_HEADINGS = {"bootstrap": "BOOTSTRAP INFO", "clusters": "CLUSTER INFO", "listeners": "LISTENER INFO",
                "routes": "ROUTE INFO", "secrets": "SECRET INFO", "endpoints": "ENDPOINTS INFO"}


def tabwrite(lines: Sequence[Sequence[str]], *, padding: int = 5, minwidth: int = 0) -> str:
    """Lines of cells aligned as Go's tabwriter aligns ``"\\t".join(cells) + "\\n"`` lines; ends with a newline."""
    widths: list[list[int]] = [[0] * max(len(line) - 1, 0) for line in lines]
    # Columns are laid out left to right; each column is split into blocks of consecutive lines having it, and a
    # block of column k is split again for column k + 1 (a line without column k ends the blocks of k + 1 too).
    regions = [(0, 0, len(lines))]
    while regions:
        column, start, end = regions.pop()
        line = start
        while line < end:
            if len(lines[line]) - 1 <= column:
                line += 1
                continue
            block_end = line
            width = minwidth
            while block_end < end and len(lines[block_end]) - 1 > column:
                width = max(width, len(lines[block_end][column]) + padding)
                block_end += 1
            for index in range(line, block_end):
                widths[index][column] = width
            regions.append((column + 1, line, block_end))
            line = block_end
    out = []
    for cells, cell_widths in zip(lines, widths, strict=True):
        padded = [cell.ljust(width) for cell, width in zip(cells, cell_widths, strict=False)]
        if cells:
            padded.append(cells[-1])
        out.append("".join(padded))
    return "\n".join(out) + "\n" if out else ""


def render_table(table: Table) -> str:
    """The table as istioctl prints it (header line, then one line per row)."""
    lines: list[Sequence[str]] = [] if table.kind in HEADERLESS else [table.columns]
    lines.extend(row.cells for row in table.rows)
    return tabwrite(lines, padding=PADDING.get(table.kind, 5))


def render_all(tables: Sequence[Table], *, with_headers: bool = False) -> str:
    """``proxy-config all``: the tables one after the other, a blank line between them."""
    parts = []
    for table in tables:
        heading = f"------ {ALL_HEADINGS.get(table.kind, table.kind.upper())} ------\n\n" if with_headers else ""
        parts.append(heading + render_table(table))
    return "\n".join(parts)


def identity_header(dump: ConfigDump) -> str:
    """One line saying which proxy a section is about: type, pod.namespace, IPs, versions, mesh, server state, file."""
    identity = dump.identity
    parts = [f"== {identity.proxy_type} {identity.name}"]
    if identity.instance_ips:
        parts.append(f"ips {','.join(identity.instance_ips)}")
    if identity.istio_version:
        parts.append(f"istio {identity.istio_version}")
    if identity.envoy_version and identity.envoy_version != "0.0.0":
        parts.append(f"envoy {identity.envoy_version}")
    if identity.mesh_id:
        parts.append(f"mesh {identity.mesh_id}")
    server = getattr(dump, "server_info", None)  # a live dump (sources.admin.LiveDump) says how the server is
    if server is not None:
        parts.append(f"{server.state}, up {server.uptime_current_epoch}" if server.uptime_current_epoch
                     else server.state)
    parts.append(f"({dump.source})")
    return "  ".join(parts)
