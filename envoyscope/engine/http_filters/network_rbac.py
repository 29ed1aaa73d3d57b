"""``envoy.filters.network.rbac``: the RBAC engine on a connection, before tcp_proxy or the HTTP connection manager.

Envoy decides on the connection's first bytes (``onData``), with the same engines as the HTTP filter and no
request headers (a header rule makes Envoy refuse the config); a denial closes the connection with
``%CONNECTION_TERMINATION_DETAILS%`` ``rbac_access_denied_matched_policy[POLICY]`` (engine: rbac.py).
"""

from __future__ import annotations

from envoyscope.engine.http_filters.rbac import NETWORK_TYPES, evaluate_network

EVALUATORS = {t: evaluate_network for t in NETWORK_TYPES}
