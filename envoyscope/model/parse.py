"""Turn decoded JSON into a `ConfigDump`, whatever form the dump came in.

Accepted: Envoy's ``/config_dump`` (with or without ``?include_eds``, snake_case or camelCase, v3 or v2
resources in v3 wrappers), a bootstrap-only dump, istioctl's ``proxy-config <kind> -o json`` lists, one
resource, and ``/clusters?format=json``. Anything else is a `DumpFormatError` naming the JSON path.
"""

from __future__ import annotations

from typing import Any

from envoyscope.errors import DumpFormatError
from envoyscope.model.clusters_status import ClustersStatus, clusters_status_from_json
from envoyscope.model.deprecated import has_deprecated, upgrade_deprecated
from envoyscope.model.dump import UNREAD, ConfigDump, Resource
from envoyscope.model.identity import Identity, identity_from_bootstrap, identity_without_bootstrap
from envoyscope.model.normalize import has_camel_keys, normalize_resource, snake, to_snake_case, upgrade_v2
from envoyscope.model.shape import describe as _describe
from envoyscope.model.shape import shape_problem

Doc = dict[str, Any]

# (list key in the section, state, key of the resource inside each entry, kind)
_SECTIONS: dict[str, list[tuple[str, str, str, str]]] = {
    "ClustersConfigDump": [
        ("static_clusters", "static", "cluster", "cluster"),
        ("dynamic_active_clusters", "dynamic_active", "cluster", "cluster"),
        ("dynamic_warming_clusters", "dynamic_warming", "cluster", "cluster"),
    ],
    "RoutesConfigDump": [
        ("static_route_configs", "static", "route_config", "route_config"),
        ("dynamic_route_configs", "dynamic", "route_config", "route_config"),
    ],
    "EndpointsConfigDump": [
        ("static_endpoint_configs", "static", "endpoint_config", "endpoint"),
        ("dynamic_endpoint_configs", "dynamic", "endpoint_config", "endpoint"),
    ],
    "SecretsConfigDump": [
        ("static_secrets", "static", "secret", "secret"),
        ("dynamic_active_secrets", "dynamic_active", "secret", "secret"),
        ("dynamic_warming_secrets", "dynamic_warming", "secret", "secret"),
    ],
    "EcdsConfigDump": [("ecds_filters", "dynamic", "ecds_filter", "ecds")],
}
_SECTION_NAMES = {
    "ClustersConfigDump": "clusters",
    "RoutesConfigDump": "routes",
    "EndpointsConfigDump": "endpoints",
    "SecretsConfigDump": "secrets",
    "EcdsConfigDump": "ecds",
    "ListenersConfigDump": "listeners",
    "ScopedRoutesConfigDump": "scoped_routes",
    "BootstrapConfigDump": "bootstrap",
}
_LISTENER_STATES = (("active_state", "dynamic_active"), ("warming_state", "dynamic_warming"),
                    ("draining_state", "dynamic_draining"))
_V2ALPHA_LISTENERS = (("dynamic_active_listeners", "dynamic_active"), ("dynamic_warming_listeners", "dynamic_warming"),
                      ("dynamic_draining_listeners", "dynamic_draining"))
_KIND_WORDS = {"route_config": "route configuration", "scoped_route": "scoped route", "ecds": "extension config"}
_FIELD_BY_KIND = {
    "listener": "listeners",
    "cluster": "clusters",
    "route_config": "route_configs",
    "scoped_route": "scoped_routes",
    "endpoint": "endpoints",
    "secret": "secrets",
    "ecds": "ecds",
}


def _kind_name(entry: Doc, kind: str) -> str:
    if kind == "endpoint":
        return str(entry.get("cluster_name", ""))
    return str(entry.get("name", ""))


def _type_of(section: Doc) -> str:
    return str(section.get("@type", "")).rsplit(".", 1)[-1]


class _Builder:
    """Collects resources while walking a dump, with the JSON path of each."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: dict[str, list[Resource]] = {field: [] for field in _FIELD_BY_KIND.values()}
        self.bootstrap: Doc | None = None
        self.sections: set[str] = set()
        self.notes: list[str] = []
        self.status: ClustersStatus | None = None
        # Whether the section being read writes camelCase (older istioctl/jsonpb) or snake_case (Envoy): known once
        # per section from its own keys, so that big snake_case dumps are not sampled resource by resource.
        self.camel: bool | None = None

    def fail(self, path: str, problem: str) -> DumpFormatError:
        return DumpFormatError(problem, source=self.source, json_path=path.lstrip(".") or "$")

    def expect_dict(self, value: Any, path: str) -> Doc:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {_describe(value)}")
        return value

    def expect_list(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {_describe(value)}")
        return value

    def expect_shape(self, value: Any, kind: str, path: str) -> None:
        """Every field the readers use has the JSON type Envoy writes (`envoyscope.model.shape`)."""
        found = shape_problem(value, kind)
        if found is not None:
            where, problem = found
            raise self.fail(f"{path}{where}", problem)

    def add(self, kind: str, raw: Any, path: str, state: str, entry: Doc | None = None) -> None:
        raw = normalize_resource(self.expect_dict(raw, path), camel=self.camel)
        self.expect_shape(raw, kind, path)
        entry = entry or {}
        name = _kind_name(raw, kind) or str(entry.get("name", ""))
        self.found[_FIELD_BY_KIND[kind]].append(
            Resource(
                kind=kind,
                name=name,
                state=state,
                raw=raw,
                path=path,
                version_info=str(entry.get("version_info", "")),
                last_updated=str(entry.get("last_updated", "")),
                error_state=entry.get("error_state"),
            )
        )

    def section(self, section: Doc, path: str) -> None:
        camel_keys = [k for k in section if k != "@type" and snake(k) != k]
        snake_keys = [k for k in section if k != "@type" and "_" in k]
        self.camel = True if camel_keys and not snake_keys else False if snake_keys and not camel_keys else None
        if camel_keys:
            section = {snake(k): v for k, v in section.items()}
        kind = _type_of(section)
        if kind in _SECTION_NAMES:
            self.sections.add(_SECTION_NAMES[kind])
        if kind == "BootstrapConfigDump":
            bootstrap = self.expect_dict(section.get("bootstrap", {}), f"{path}.bootstrap")
            self.bootstrap = to_snake_case(bootstrap) if has_camel_keys(bootstrap, 2000) else bootstrap
            if has_deprecated(self.bootstrap):  # Envoy 1.14-1.16: hidden_envoy_deprecated_hosts, _build_version
                self.bootstrap = upgrade_v2(upgrade_deprecated(self.bootstrap))
            self.expect_shape(self.bootstrap, "bootstrap", f"{path}.bootstrap")
        elif kind == "ListenersConfigDump":
            self.listeners(section, path)
        elif kind == "ScopedRoutesConfigDump":
            self.scoped_routes(section, path)
        elif kind in _SECTIONS:
            for key, state, inner, res_kind in _SECTIONS[kind]:
                entries = self.expect_list(section.get(key, []), f"{path}.{key}")
                for index, entry in enumerate(entries):
                    where = f"{path}.{key}[{index}]"
                    entry = _snake_keys(self.expect_dict(entry, where))
                    if inner not in entry and isinstance(entry.get("error_state"), dict):
                        self.rejected(res_kind, entry, where)
                        continue
                    if inner not in entry:
                        if res_kind == "secret" and state == "dynamic_warming":
                            entry = {**entry, inner: {"name": entry.get("name", "")}}
                        else:
                            raise self.fail(where, f"entry has no `{inner}`")
                    self.add(res_kind, entry[inner], f"{where}.{inner}", state, entry)
            self.unread_keys(section, path, {key for key, *_ in _SECTIONS[kind]})
        else:
            self.notes.append(f"{path}: section {section.get('@type', '?')} is {UNREAD}; kept as is")

    def listeners(self, section: Doc, path: str) -> None:
        static = self.expect_list(section.get("static_listeners", []), f"{path}.static_listeners")
        for index, entry in enumerate(static):
            where = f"{path}.static_listeners[{index}]"
            entry = _snake_keys(self.expect_dict(entry, where))
            if "listener" not in entry and ("address" in entry or "filter_chains" in entry):
                self.add("listener", entry, where, "static")  # Envoy <= 1.8 listed bare listeners
            else:
                self.add("listener", entry.get("listener"), f"{where}.listener", "static", entry)
        dynamic = self.expect_list(section.get("dynamic_listeners", []), f"{path}.dynamic_listeners")
        for index, entry in enumerate(dynamic):
            where = f"{path}.dynamic_listeners[{index}]"
            entry = _snake_keys(self.expect_dict(entry, where))
            held = False
            for key, state in _LISTENER_STATES:
                if key in entry:
                    inner = _snake_keys(self.expect_dict(entry[key], f"{where}.{key}"))
                    self.add("listener", inner.get("listener"), f"{where}.{key}.listener", state,
                             {**inner, "error_state": _snake_keys(entry["error_state"]) if isinstance(
                                 entry.get("error_state"), dict) else None, "name": entry.get("name")})
                    held = True
            if not held and isinstance(entry.get("error_state"), dict):
                self.rejected("listener", entry, where)
            elif not held:
                self.notes.append(f"{where}: listener {entry.get('name') or '?'} has no active, warming or draining "
                                  f"state nor error_state: {UNREAD}")
        # v2alpha ListenersConfigDump (Envoy <= 1.12): one list per state, entries {version_info, listener, …}
        for key, state in _V2ALPHA_LISTENERS:
            for index, entry in enumerate(self.expect_list(section.get(key, []), f"{path}.{key}")):
                where = f"{path}.{key}[{index}]"
                entry = _snake_keys(self.expect_dict(entry, where))
                self.add("listener", entry.get("listener"), f"{where}.listener", state, entry)
        self.unread_keys(section, path, {"static_listeners", "dynamic_listeners", *dict(_V2ALPHA_LISTENERS)})

    def rejected(self, kind: str, entry: Doc, where: str) -> None:
        """A resource Envoy refused and holds no accepted version of: kept, state ``rejected``, with Envoy's words."""
        error = _snake_keys(entry["error_state"])  # camelCase dumps write failedConfiguration, lastUpdateAttempt
        failed = error.get("failed_configuration")
        path = f"{where}.error_state.failed_configuration"
        raw = normalize_resource(failed, camel=self.camel) if isinstance(failed, dict) else {}
        name = str(entry.get("name") or _kind_name(raw, kind) or "?")
        if shape_problem(raw, kind) is not None:
            self.notes.append(f"{path}: the configuration Envoy rejected is malformed: {UNREAD}; only its name is kept")
            raw = {}
        if not raw.get("name") and kind != "endpoint":
            raw = {**raw, "name": name}
        self.found[_FIELD_BY_KIND[kind]].append(Resource(
            kind=kind, name=name, state="rejected", raw=raw, path=path if isinstance(failed, dict) else where,
            version_info=str(entry.get("version_info", "")),
            last_updated=str(error.get("last_update_attempt", "")), error_state=error))
        details = " ".join(str(error.get("details") or "no details").split())
        self.notes.append(f"{_KIND_WORDS.get(kind, kind)} {name} was rejected by Envoy: {details}")

    def unread_keys(self, section: Doc, path: str, known: set[str]) -> None:
        """Say which lists of a section envoyscope does not read, rather than drop them silently."""
        for key, value in section.items():
            if key not in known and key not in ("@type", "version_info", "last_updated") and value:
                self.notes.append(f"{path}.{key}: a field of {section.get('@type', '?')} {UNREAD}; ignored")

    def scoped_routes(self, section: Doc, path: str) -> None:
        for key, state in (("inline_scoped_route_configs", "static"), ("dynamic_scoped_route_configs", "dynamic")):
            for index, entry in enumerate(self.expect_list(section.get(key, []), f"{path}.{key}")):
                where = f"{path}.{key}[{index}]"
                entry = _snake_keys(self.expect_dict(entry, where))
                configs = self.expect_list(entry.get("scoped_route_configs", []), f"{where}.scoped_route_configs")
                for cindex, config in enumerate(configs):
                    self.add("scoped_route", config, f"{where}.scoped_route_configs[{cindex}]", state, entry)

    def build(self) -> ConfigDump:
        fields = {name: tuple(items) for name, items in self.found.items()}
        notes = list(self.notes)
        if "configs" in self.sections:
            for wanted in ("bootstrap", "listeners", "clusters", "routes"):
                if wanted not in self.sections:
                    notes.append(f"the dump has no {wanted} section: {wanted} views are empty")
            eds = any(r.raw.get("type") == "EDS" or "eds_cluster_config" in r.raw for r in self.found["clusters"])
            if "endpoints" not in self.sections and eds:
                notes.append("the dump was taken without ?include_eds: endpoints of EDS clusters are unknown "
                             "(add /clusters output, or capture /config_dump?include_eds)")
        if self.bootstrap:
            identity = identity_from_bootstrap(self.bootstrap)
        else:
            identity, why = identity_without_bootstrap([r.raw for r in self.found["listeners"] if r.serving])
            notes += [why] if why else []
        return ConfigDump(
            source=self.source,
            identity=identity,
            bootstrap=self.bootstrap,
            clusters_status=self.status,
            sections=frozenset(self.sections - {"configs"}),
            notes=tuple(dict.fromkeys(notes)),
            listeners=fields["listeners"],
            clusters=fields["clusters"],
            route_configs=fields["route_configs"],
            scoped_routes=fields["scoped_routes"],
            endpoints=fields["endpoints"],
            secrets=fields["secrets"],
            ecds=fields["ecds"],
        )


def _snake_keys(entry: Doc) -> Doc:
    """An admin wrapper entry's own keys (``lastUpdated``, ``activeState``) in snake_case."""
    if any(snake(key) != key for key in entry):
        return {snake(key): value for key, value in entry.items()}
    return entry



def _list_kind(first: Doc) -> str | None:
    """Which kind a bare istioctl list holds, from its first element."""
    keys = {snake(key) for key in first}
    type_url = str(first.get("@type", ""))
    for fragment, kind in (("Listener", "listener"), ("RouteConfiguration", "route_config"),
                           ("ClusterLoadAssignment", "endpoint"), ("Secret", "secret"), ("Cluster", "cluster")):
        if type_url.endswith(fragment):
            return kind
    if "virtual_hosts" in keys:
        return "route_config"
    if "filter_chains" in keys or "listener_filters" in keys or "default_filter_chain" in keys:
        return "listener"
    if "cluster_name" in keys and ("endpoints" in keys or "policy" in keys):
        return "endpoint"
    if "host_statuses" in keys:
        return "status"
    if "tls_certificate" in keys or "validation_context" in keys:
        return "secret"
    if keys & {"type", "eds_cluster_config", "connect_timeout", "load_assignment", "cluster_type", "lb_policy"}:
        return "cluster"
    if "address" in keys and "name" in keys:
        return "listener"
    return None


def identity_of_node(node: dict[str, Any], source: str) -> Identity:
    """The identity `parse_document` gives a dump whose bootstrap holds this node: the same bootstrap section
    parse (spellings, shape), without building the dump. Raises `DumpFormatError` as the full parse would."""
    builder = _Builder(source)
    builder.section({"@type": "BootstrapConfigDump", "bootstrap": {"node": node}}, "")
    return identity_from_bootstrap(builder.bootstrap)


def parse_document(doc: Any, source: str) -> ConfigDump:
    """Build a ConfigDump from any accepted JSON form; raise DumpFormatError naming the JSON path."""
    from envoyscope.model.ztunnel import is_ztunnel_document, parse_ztunnel

    if is_ztunnel_document(doc):
        stem = source.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0] or "ztunnel"
        return ConfigDump(source=source, identity=Identity(proxy_type="ztunnel", pod=stem),
                          ztunnel=parse_ztunnel(doc, source), sections=frozenset({"ztunnel"}),
                          notes=("a ztunnel's config, not an Envoy's: `envoyscope ztunnel` summarises it, and a "
                                 "trace from a waypoint starts with its decision",))
    builder = _Builder(source)
    if isinstance(doc, list):
        _parse_list(builder, doc)
    elif isinstance(doc, dict):
        top = {snake(key): value for key, value in doc.items()}
        if "configs" in top:
            builder.sections.add("configs")
            for index, section in enumerate(builder.expect_list(top["configs"], "configs")):
                builder.section(builder.expect_dict(section, f"configs[{index}]"), f"configs[{index}]")
        elif "cluster_statuses" in top:
            statuses = builder.expect_list(top["cluster_statuses"], "cluster_statuses")
            doc = to_snake_case(doc) if statuses and has_camel_keys(statuses[0]) else top
            builder.expect_shape(doc, "clusters_status", "")
            builder.status = clusters_status_from_json(doc)
            builder.sections.add("clusters_status")
        elif "bootstrap" in top:
            builder.section({"@type": "BootstrapConfigDump", "bootstrap": top["bootstrap"]}, "")
        elif _list_kind(doc) and ("@type" in top or "name" in top or "cluster_name" in top):
            _parse_list(builder, [doc], path_prefix="")  # one resource on its own, as in a pasted excerpt
        else:
            keys = ", ".join(sorted(doc)[:5]) or "no keys"
            raise builder.fail("$", f"not an Envoy dump: an object with {keys}; expected `configs` (/config_dump), "
                                    "`cluster_statuses` (/clusters?format=json) or a list of resources")
    else:
        raise builder.fail("$", f"not an Envoy dump: the JSON is {_describe(doc)}")
    return builder.build()


def _parse_list(builder: _Builder, items: list[Any], path_prefix: str = "$") -> None:
    if not items:
        builder.notes.append("the input is an empty list: nothing to show")
        return
    first = builder.expect_dict(items[0], "[0]")
    kind = _list_kind(first)
    if kind is None:
        raise builder.fail("[0]", "not an Envoy resource: cannot tell a listener, cluster, route or endpoint")
    if kind == "status":
        statuses = to_snake_case({"cluster_statuses": items})
        found = shape_problem(statuses, "clusters_status")
        if found is not None:  # the path is below `cluster_statuses`, which this list is
            raise builder.fail(found[0].removeprefix(".cluster_statuses"), found[1])
        builder.status = clusters_status_from_json(statuses)
        builder.sections.add("clusters_status")
        return
    state = "dynamic_active" if kind in ("listener", "cluster", "secret") else "dynamic"
    builder.sections.add({"listener": "listeners", "cluster": "clusters", "route_config": "routes",
                          "endpoint": "endpoints", "secret": "secrets"}[kind])
    for index, item in enumerate(items):
        builder.add(kind, item, f"[{index}]" if path_prefix else "$", state)
