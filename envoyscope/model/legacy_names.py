"""The v3 type that a v2-era (Envoy ≤1.16, Istio ≤1.7) extension name stands for, where a dump names an extension
without a typed config (``{"name": "envoy.fault"}``, or a ``config`` Struct): Envoy then chose the extension by its
name. ``verify`` types such extensions for replay; the trace's filter loop finds their evaluator through it."""

from __future__ import annotations

LEGACY_TYPES = {
    "envoy.transport_sockets.raw_buffer": "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
    "raw_buffer": "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
    "envoy.retry_host_predicates.previous_hosts":
        "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
    "envoy.filters.http.router": "envoy.extensions.filters.http.router.v3.Router",
    "envoy.router": "envoy.extensions.filters.http.router.v3.Router",
    "envoy.filters.http.cors": "envoy.extensions.filters.http.cors.v3.Cors",
    "envoy.cors": "envoy.extensions.filters.http.cors.v3.Cors",
    "envoy.filters.http.fault": "envoy.extensions.filters.http.fault.v3.HTTPFault",
    "envoy.fault": "envoy.extensions.filters.http.fault.v3.HTTPFault",
    "envoy.filters.listener.tls_inspector": "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
    "envoy.listener.tls_inspector": "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
    "envoy.filters.listener.http_inspector": "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
    "envoy.listener.http_inspector": "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
    "envoy.filters.listener.original_dst": "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
}

# More v2-era HTTP filter names, which ``verify`` does not type (their ``config`` is not a default one, or Envoy 1.40
# has no such filter: Istio's own builds had mixer, istio_authn, istio.alpn): the type each name stood for.
HTTP_FILTER_TYPES = {
    "mixer": "istio.mixer.v1.config.client.HttpClientConfig",
    "istio_authn": "istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig",
    "istio.alpn": "istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig",
    "envoy.filters.http.rbac": "envoy.extensions.filters.http.rbac.v3.RBAC",
    "envoy.filters.http.jwt_authn": "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
    "envoy.ext_authz": "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
    "envoy.filters.http.ext_authz": "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
    "envoy.lua": "envoy.extensions.filters.http.lua.v3.Lua",
    "envoy.filters.http.lua": "envoy.extensions.filters.http.lua.v3.Lua",
}
