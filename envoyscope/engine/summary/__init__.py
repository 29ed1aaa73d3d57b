"""Summaries of one proxy's dump, column for column as ``istioctl proxy-config`` prints them, then better.

`summarize(dump, kind)` gives a `Table` of string cells for clusters, listeners, routes, endpoints, secrets or
the bootstrap; `summarize_all` gives the tables of ``istioctl proxy-config all`` (with its NAME column and
``kind/`` prefixes); `selected_resources` gives the raw JSON the ``-o json|yaml`` outputs print, private keys
redacted. One module per resource type; everything reads the raw JSON and stays linear in the dump's size.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from envoyscope.engine.summary.bootstrap import summarize_bootstrap
from envoyscope.engine.summary.clusters import selected as selected_clusters
from envoyscope.engine.summary.clusters import summarize_clusters
from envoyscope.engine.summary.endpoints import endpoint_json, summarize_endpoints
from envoyscope.engine.summary.listeners import selected as selected_listeners
from envoyscope.engine.summary.listeners import summarize_listeners
from envoyscope.engine.summary.routes import selected as selected_routes
from envoyscope.engine.summary.routes import summarize_routes
from envoyscope.engine.summary.secrets import summarize_secrets
from envoyscope.engine.summary.states import resource_json
from envoyscope.engine.summary.types import NO_FILTERS, Filters, Row, Table
from envoyscope.model.certs import redact
from envoyscope.model.dump import ConfigDump

SUMMARY_KINDS = ("clusters", "listeners", "routes", "endpoints", "secrets", "bootstrap")
ALL_ORDER = ("bootstrap", "clusters", "listeners", "routes", "secrets", "endpoints")

__all__ = ["ALL_ORDER", "SUMMARY_KINDS", "Filters", "Row", "Table", "selected_resources", "summarize",
           "summarize_all"]


def summarize(dump: ConfigDump, kind: str, filters: Filters | None = None, *, wide: bool = False,
              today: dt.date | None = None, istio_config: bool = False) -> Table:
    """One summary table of a proxy's dump; ``today`` decides certificate validity (default: the local date).

    ``istio_config``: the clusters table gets an ISTIO CONFIG column (the Istio objects behind each cluster).
    """
    return _summarize(dump, kind, filters or NO_FILTERS, wide=wide, today=today, named=False,
                      istio_config=istio_config)


def summarize_all(dump: ConfigDump, filters: Filters | None = None, *, wide: bool = False,
                  today: dt.date | None = None, istio_config: bool = False) -> tuple[Table, ...]:
    """``istioctl proxy-config all``: bootstrap, clusters, listeners, routes, secrets, endpoints (from EDS)."""
    return tuple(_summarize(dump, kind, filters or NO_FILTERS, wide=wide, today=today, named=True,
                            istio_config=istio_config) for kind in ALL_ORDER)


def _summarize(dump: ConfigDump, kind: str, filters: Filters, *, wide: bool, today: dt.date | None,
               named: bool, istio_config: bool = False) -> Table:
    if kind == "clusters":
        return summarize_clusters(dump, filters, wide=wide, named=named, istio_config=istio_config)
    if kind == "listeners":
        return summarize_listeners(dump, filters, wide=wide, named=named)
    if kind == "routes":
        return summarize_routes(dump, filters, wide=wide, named=named)
    if kind == "endpoints":
        return summarize_endpoints(dump, filters, wide=wide, named=named, prefer_eds=named)
    if kind == "secrets":
        return summarize_secrets(dump, wide=wide, named=named, today=today)
    if kind == "bootstrap":
        return summarize_bootstrap(dump, wide=wide)
    raise ValueError(f"unknown summary kind {kind!r}; expected one of {', '.join(SUMMARY_KINDS)}")


def selected_resources(dump: ConfigDump, kind: str, filters: Filters | None = None) -> Any:
    """The JSON ``-o json|yaml`` prints: the raw resources the summary shows (filters applied), keys redacted."""
    filters = filters or NO_FILTERS
    if kind == "clusters":
        data: Any = [resource_json(c) for c in selected_clusters(dump, filters)]
    elif kind == "listeners":
        data = [resource_json(lst) for lst in selected_listeners(dump, filters)]
    elif kind == "routes":
        data = [resource_json(r) for r in selected_routes(dump, filters)]
    elif kind == "endpoints":
        data = endpoint_json(dump, filters)
    elif kind == "secrets":
        data = [{"name": s.name, "state": s.state, "version_info": s.version_info, "last_updated": s.last_updated,
                 "secret": s.raw} for s in dump.secrets]
    elif kind == "bootstrap":
        data = dump.bootstrap or {}
    elif kind == "all":
        data = {name: selected_resources(dump, name, filters) for name in ALL_ORDER}
        return data
    else:
        raise ValueError(f"unknown summary kind {kind!r}")
    return redact(data)
