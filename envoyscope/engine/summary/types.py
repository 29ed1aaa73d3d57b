"""The shape every summary has: a table of string cells, each row pointing at the resource it shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    cells: tuple[str, ...]
    ref: tuple[str, str] | None = None  # (Resource.kind, Resource.name) the row shows, for drill-down


@dataclass(frozen=True, slots=True)
class Table:
    kind: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()  # e.g. "no endpoints section in this dump"


@dataclass(frozen=True, slots=True)
class Filters:
    """istioctl's filters; None means no filter.

    fqdn, subset, direction: substrings of a cluster name; port: clusters (``|port|``), listeners, endpoints;
    address: listeners and endpoints; type: listeners (HTTP, TCP, HTTP+TCP, UNKNOWN); name: route configs;
    cluster, status: endpoints.
    """

    fqdn: str | None = None
    port: int | None = None
    subset: str | None = None
    direction: str | None = None
    address: str | None = None
    type: str | None = None
    name: str | None = None
    cluster: str | None = None
    status: str | None = None


NO_FILTERS = Filters()
