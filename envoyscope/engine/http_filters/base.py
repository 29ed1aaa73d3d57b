"""What an HTTP (or network) filter's evaluation sees and returns.

The HCM runs its `http_filters` in order before the router; each evaluator here answers for one filter type
what Envoy's filter would do with the request: let it pass, answer it (403, 401, a fault's abort), delay it, or
say it cannot be decided offline. `registry.evaluator_for(type_url)` finds the evaluator of a typed config's
``@type``; a type no evaluator knows is a step "not evaluated: unknown type X", never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from envoyscope.engine.request import Wire
from envoyscope.engine.steps import NearMiss, Step

# What a filter did with the request.
#   pass           the filter let it through unchanged (or with the changes listed)
#   allow          a policy filter matched an ALLOW policy (or no DENY policy): the request goes on
#   deny           a policy filter rejects it (RBAC 403, network RBAC closes the connection)
#   unauthenticated  jwt_authn rejects it (401)
#   abort          fault injection answers instead of the upstream
#   delay          fault injection delays it, then it goes on (or the route timeout ends it)
#   assumed        the answer is decided elsewhere (ext_authz): envoyscope goes on as if allowed, and says so
#   not_evaluated  envoyscope cannot evaluate this filter (unknown type, unsupported form): reason says why
VERDICTS = ("pass", "allow", "deny", "unauthenticated", "abort", "delay", "assumed", "not_evaluated")


@dataclass(frozen=True, slots=True)
class Peer:
    """The downstream TLS peer as the filters see it (from the client certificate): URI and DNS SANs, subject.

    ``principal`` is the first URI SAN (Istio's SPIFFE identity), else the first DNS SAN, else the subject —
    what RBAC's ``authenticated.principal_name`` is matched against.
    """

    uri_sans: tuple[str, ...] = ()
    dns_sans: tuple[str, ...] = ()
    subject: str = ""

    @property
    def principal(self) -> str:
        return (self.uri_sans or self.dns_sans or (self.subject,))[0]


@dataclass(frozen=True, slots=True)
class FilterContext:
    """Everything a filter may look at.

    wire: the request as this proxy's HCM sees it (headers lower-case, authority, path, method, addresses, SNI)
    route / virtual_host / route_config: the raw dicts the route step chose (None when no route matched: the
    filters still run, the router answers 404 after them); `per_filter_config` reads their
    ``typed_per_filter_config`` as Envoy does (route wins over virtual host over route configuration).
    peer: the TLS client certificate's identity, None on plaintext or when no certificate is presented
    downstream_tls: whether this proxy terminated TLS on the connection (with or without a client certificate)
    remote_ip / direct_remote_ip: the downstream remote address after x-forwarded-for, and the TCP peer
    filter_metadata_route: the chosen route's ``metadata.filter_metadata`` (RBAC's sourced_metadata ROUTE)
    http: False when a network filter is evaluated (no request, no headers)
    dynamic_metadata: what earlier filters set, by filter namespace (jwt_authn's payload, Istio's ``istio_authn``)
    now: the time JWT expiry is judged at (an argument, so a trace is reproducible)
    random_value: the trace's random value for percentages (fault), as for weighted clusters
    route_timeout_ms: the route's timeout (None: none), for a fault delay that outlasts it
    """

    wire: Wire
    route: dict[str, Any] | None = None
    virtual_host: dict[str, Any] | None = None
    route_config: dict[str, Any] | None = None
    peer: Peer | None = None
    dynamic_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: datetime | None = None
    random_value: int = 0
    route_timeout_ms: int | None = None
    downstream_tls: bool = False  # the connection is TLS that this proxy terminated (RBAC's ``authenticated``)
    remote_ip: str | None = None  # the HCM's downstream remote address (x-forwarded-for); None: the wire's source
    direct_remote_ip: str | None = None  # the TCP peer (before a PROXY header); None: the wire's source
    filter_metadata_route: dict[str, Any] = field(default_factory=dict)  # the route's metadata.filter_metadata
    http: bool = True  # False for network filters: no request headers
    requested_server_name: str | None = None  # the SNI the listener's tls_inspector read (None: none read)

    def header(self, name: str) -> str | None:
        """A request header as filters see it, pseudo-headers (``:authority``, ``:path``, ``:method``) included."""
        name = name.lower()
        special = {":authority": self.wire.authority, "host": self.wire.authority, ":path": self.wire.path,
                   ":method": self.wire.method}
        if name in special:
            return special[name]
        values = [v for n, v in self.wire.headers if n == name]
        return ",".join(values) if values else None

    def per_filter_config(self, filter_name: str) -> dict[str, Any] | None:
        """The most specific per-route config of a filter, as every evaluator reads it: route, then virtual host,
        then route configuration (``mostSpecificPerFilterConfig``). A ``FilterConfig`` wrapper gives its ``config``
        (a wrapper without one — only ``disabled`` / ``is_optional`` — gives nothing here, so a less specific level
        is read, as Envoy does); a ``TypedStruct`` gives its value with the inner ``@type``. ``is_optional`` only
        lets Envoy load a route whose config type it lacks (ignoring it): a dump Envoy wrote holds none such."""
        for holder in (self.route, self.virtual_host, self.route_config):
            config = (holder or {}).get("typed_per_filter_config") or {}
            if filter_name in config:
                found = unwrap_per_route(config[filter_name])
                if found is not None:
                    return found
        return None

    def filter_disabled(self, filter_name: str) -> bool | None:
        """``RouteEntry::filterDisabled``: the most specific level naming the filter in ``typed_per_filter_config``
        decides — a ``FilterConfig`` by its ``disabled``, any other config enables the filter; None: no level
        names it (the HCM's ``disabled`` stands)."""
        for holder in (self.route, self.virtual_host, self.route_config):
            config = (holder or {}).get("typed_per_filter_config") or {}
            if filter_name in config:
                found = config[filter_name]
                if isinstance(found, dict) and type_name(found) == FILTER_CONFIG:
                    return bool(found.get("disabled"))
                return False
        return None


FILTER_CONFIG = "envoy.config.route.v3.FilterConfig"


def unwrap_per_route(found: Any) -> dict[str, Any] | None:
    """A ``typed_per_filter_config`` value as its filter reads it: a ``FilterConfig``'s ``config`` (None without
    one), a ``TypedStruct``'s value with its ``type_url`` as ``@type``, else itself."""
    if not isinstance(found, dict):
        return None
    if type_name(found) == FILTER_CONFIG:
        inner = found.get("config")
        return unwrap_per_route(inner) if isinstance(inner, dict) else None
    if str(found.get("@type", "")).endswith("TypedStruct") and isinstance(found.get("value"), dict):
        return {"@type": found.get("type_url", ""), **found["value"]}
    return found


@dataclass(frozen=True, slots=True)
class FilterVerdict:
    """One filter's decision, with its reason and near misses.

    name / type: the filter's name in the HCM and its typed config's type (without ``type.googleapis.com/``)
    policy: the policy (or requirement, fault) that decided, when one did
    shadow: what shadow rules would have decided (``allowed`` / ``denied`` and the policy), reported only
    ends: the filter answers the request itself (deny, unauthenticated, abort, or a delay past the route timeout);
    then outcome / response_code / response_code_details / response_flags / connection_termination_details say
    exactly what Envoy answers and logs (``%RESPONSE_CODE_DETAILS%``, ``%RESPONSE_FLAGS%``,
    ``%CONNECTION_TERMINATION_DETAILS%``); outcome is the trace's outcome kind (denied, unauthenticated,
    fault_abort, …)
    metadata: dynamic metadata the filter sets for later filters ({namespace: {key: value}})
    changes: what it does to the request on its way (headers added or removed), as route steps say it
    assumptions: what envoyscope assumed to go on (ext_authz allowed, a signature it could not check)
    """

    name: str
    type: str
    verdict: str
    reason: str
    policy: str | None = None
    shadow: str | None = None
    near_misses: tuple[NearMiss, ...] = ()
    ends: bool = False
    outcome: str | None = None
    response_code: int | None = None
    response_code_details: str | None = None
    response_flags: str | None = None
    connection_termination_details: str | None = None
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    delay_ms: int | None = None
    shadow_policy: str | None = None  # the shadow rules' effective policy, when one matched

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "verdict": self.verdict, "policy": self.policy,
                "shadow": self.shadow, "reason": self.reason}

    def step(self, kind: str = "http_filter", path: str = "") -> Step:
        """The trace step of this decision."""
        return Step(kind, self.name, self.reason, path, self.near_misses, changes=self.changes)


class Evaluator(Protocol):
    def __call__(self, name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict: ...


def type_name(typed_config: dict[str, Any] | None) -> str:
    """``type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC`` → the part after the last ``/``;
    a ``udpa.type.v1.TypedStruct`` / ``xds.type.v3.TypedStruct`` wrapper gives its ``type_url``'s type."""
    if not typed_config:
        return ""
    url = str(typed_config.get("@type", ""))
    name = url.rsplit("/", 1)[-1]
    if name in ("udpa.type.v1.TypedStruct", "xds.type.v3.TypedStruct"):
        return str(typed_config.get("type_url", "")).rsplit("/", 1)[-1]
    return name
