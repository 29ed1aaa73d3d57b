"""The listener a partial dump leaves out, when its routes say which it is.

Partial dumps (istioctl's ``proxy-config routes -o json`` lists, hand-cut dumps such as istioctl's own test data)
hold route configurations but no listener and no bootstrap. Envoy cannot have served those routes without a
listener, and Istio names a plaintext HTTP listener's route configuration after its port: ``9080`` on a sidecar,
``http.8080`` on a gateway. For a connection to such a port, the trace assumes that listener — a plain
``http_connection_manager`` taking that route configuration from RDS on ``0.0.0.0:port`` — and says so.
"""

from __future__ import annotations

import re
from typing import Any

from envoyscope.engine.request import Wire
from envoyscope.engine.steps import Step
from envoyscope.model.dump import ConfigDump, Resource

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_HTTP_ROUTE_NAME = re.compile(r"^(?:http\.)?(\d{1,5})$")


def route_port(name: str) -> int | None:
    """The port Istio named a plaintext HTTP route configuration after (``9080``, ``http.8080``), else None."""
    found = _HTTP_ROUTE_NAME.match(name)
    return int(found.group(1)) if found else None


def assumed_listener(proxy: ConfigDump, wire: Wire) -> tuple[Resource, Step] | None:
    """A listener on ``0.0.0.0:<port>`` sending HTTP to the route configuration named after the port, if any."""
    routes = [r for r in proxy.route_configs if r.serving and route_port(r.name) == wire.dst_port]
    if not routes:
        return None
    route, port = routes[0], wire.dst_port
    name = f"0.0.0.0_{port}"
    raw: dict[str, Any] = {
        "name": name,
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": HCM_TYPE, "stat_prefix": name, "rds": {"route_config_name": route.name},
            "http_filters": [{"name": "envoy.filters.http.router"}]}}]}],
    }
    resource = Resource("listener", name, "static", raw, f"assumed listener {name}")
    reason = (f"assumed: the dump holds no listener and no bootstrap (a partial dump), and Istio names the route "
              f"configuration of a plaintext HTTP listener on port {port} `{route.name}`: taken as a listener on "
              f"0.0.0.0:{port} whose http_connection_manager uses it")
    return resource, Step("listener", name, reason, route.path, raw=raw)
