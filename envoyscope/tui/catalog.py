"""Where the TUI's proxies come from: files and admin URLs (loaded at once), or a cluster's pods (loaded when picked).

A `Catalog` lists `ProxyEntry`s; an entry holds its dump once loaded. A file and ``--admin`` URLs are read in full
when the app opens (a progress bar counts the inputs); the proxies of a folder or bundle are known by their identity
(`envoyscope.sources.lazy`) and decoded when picked; a cluster lists its Envoy pods first and reads a pod's dump
through the port-forward only when the user selects it, as k9s does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envoyscope.model.dump import ConfigDump

Progress = Callable[[int, int, str], None]  # (done, total, what is being read)


@dataclass(slots=True)
class ProxyEntry:
    """One proxy in the list: its identity as far as known, and its dump once read."""

    name: str
    namespace: str
    kind: str  # sidecar | gateway | ingressgateway | egressgateway | waypoint | envoy
    istio: str = "-"
    ready: str = "-"
    source: str = ""
    group: str = "live"  # proxies read together (one folder or bundle, or the live sources) trace together
    dump: ConfigDump | None = None
    fetch: Callable[[], ConfigDump] | None = field(default=None, repr=False)

    @classmethod
    def of_dump(cls, dump: ConfigDump) -> ProxyEntry:
        ident = dump.identity
        return cls(name=ident.name, namespace=ident.namespace or "-", kind=ident.proxy_type,
                   istio=ident.istio_version or "-", ready="live" if is_live(dump.source) else "file",
                   source=dump.source,
                   group=group_of(dump.source), dump=dump)

    @property
    def key(self) -> str:
        """Unique in the list: the same pod may come from several folders (the demo opens every scenario)."""
        return f"{self.group}\t{self.name}"

    @property
    def is_gateway(self) -> bool:
        return self.kind in ("gateway", "ingressgateway", "egressgateway", "waypoint")


class Catalog:
    """Dumps named on the command line (files, folders, bundles, admin URLs, pods): all read up front."""

    live_cluster = False

    def __init__(self, load: Callable[[Progress | None], list[ConfigDump]], description: str) -> None:
        self._load, self.description = load, description

    @classmethod
    def of_files(cls, sources: list[str], description: str) -> Catalog:
        """Dump files, folders and bundles, read (again, on refresh) with a progress step per file."""
        from envoyscope.sources.files import load_sources

        paths = list(sources)
        return cls(lambda progress: load_sources(paths, progress), description)

    def entries(self, progress: Progress | None = None) -> list[ProxyEntry]:
        return [ProxyEntry.of_dump(dump) for dump in self._load(progress)]


class ClusterCatalog(Catalog):
    """Every pod of a cluster that runs an Envoy; a pod's dump is read through a port-forward when it is picked."""

    live_cluster = True

    def __init__(self, kube: Any, namespace: str | None = None, admin_port: int | None = None,
                 description: str = "") -> None:
        self.kube, self.namespace, self.admin_port = kube, namespace, admin_port
        self.description = description or f"cluster pods ({namespace or 'all namespaces'})"

    def entries(self, progress: Progress | None = None) -> list[ProxyEntry]:
        if progress:
            progress(0, 1, "listing the pods that run an Envoy")
        pods = self.kube.pods(self.namespace)
        entries = []
        for pod in pods:
            def fetch(pod: Any = pod) -> ConfigDump:
                return self.kube.dump(pod, self.admin_port)

            entries.append(ProxyEntry(name=f"{pod.name}.{pod.namespace}", namespace=pod.namespace, kind=pod.kind,
                                      istio=pod.revision, ready=f"{pod.ready} {pod.phase}".strip(),
                                      source=f"pod {pod.namespace}/{pod.name}",
                                      fetch=fetch if pod.phase == "Running" else None))
        if progress:
            progress(1, 1, f"{len(entries)} Envoy pods")
        return entries


def is_live(source: str) -> bool:
    """Read from a running Envoy (an admin URL, or a pod through a port-forward) rather than from a file."""
    return source.startswith(("http://", "https://", "pod "))


def group_of(source: str) -> str:
    """The folder a dump file lies in; ``live`` for admin URLs, pods and stdin."""
    return "live" if is_live(source) or source in ("-", "") else str(Path(source).parent)


def load_entry(entry: ProxyEntry) -> ConfigDump:
    """The entry's dump, reading it now if it has not been read (raises the source's `EnvoyscopeError`)."""
    if entry.dump is None:
        from envoyscope.errors import SourceError

        if entry.fetch is None:
            raise SourceError(f"{entry.source}: the pod is not Running: nothing to read")
        entry.dump = entry.fetch()
    elif not entry.dump.loaded:  # a proxy of a folder or bundle, known by its identity until it is picked
        entry.dump.load()
    return entry.dump


@dataclass(frozen=True, slots=True)
class Reread:
    """What a refresh compares. Only the proxies that had been read are read again (``before``: as they were,
    ``after``: as they are now); of the others only the identities are read again, which tell the proxies that
    came (``came``) and went (``went``) without decoding them; ``unread`` counts those in both reads, never read,
    so not compared; ``failed``: one line for each proxy that could not be read again."""

    before: list[ConfigDump]
    after: list[ConfigDump]
    came: list[str] = field(default_factory=list)
    went: list[str] = field(default_factory=list)
    unread: int = 0
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """What changed (`describe_changes` of the proxies read again), then the proxies that came and went."""
        lines = [f"{name}: new proxy (not read)" for name in self.came]
        lines += [f"{name}: gone" for name in self.went]
        lines += self.failed
        changed = describe_changes(self.before, self.after)
        text = "\n".join(([changed] if changed != "nothing changed" or not lines else []) + lines)
        if self.unread:
            text += f"\n({self.unread} other proxies were never read, so not compared)"
        return text


def reread(old: list[ProxyEntry], new: list[ProxyEntry], progress: Progress | None = None) -> Reread:
    """Read again, in ``new`` (the sources' entries just listed), the proxies that ``old`` had read; see `Reread`."""
    from envoyscope.errors import EnvoyscopeError

    was_read = {e.key: e.dump for e in old if e.dump is not None and e.dump.loaded}
    again = [e for e in new if e.key in was_read and (e.dump is not None or e.fetch is not None)]
    before, after, failed = [], [], []
    for done, entry in enumerate(again):
        if progress:
            progress(done, len(again), f"{entry.source} again")
        try:
            after.append(load_entry(entry))
            before.append(was_read[entry.key])
        except EnvoyscopeError as exc:  # said as such, not as a proxy gone
            failed.append(f"{entry.name}: {exc}")
    listed = {e.key for e in new}
    before += [dump for key, dump in was_read.items() if key not in listed]  # read, and gone now
    known = {e.key for e in old if e.dump is not None}  # known by identity (a cluster's pods: once read)
    now = {e.key for e in new if e.dump is not None}
    return Reread(before=before, after=after,
                  came=[e.name for e in new if e.dump is not None and e.key not in known],
                  went=[e.name for e in old if e.dump is not None and e.key not in now and e.key not in was_read],
                  unread=sum(1 for e in new if e.key in known and e.key not in was_read), failed=failed)


def describe_changes(before: list[ConfigDump], after: list[ConfigDump]) -> str:
    """What changed between two reads, as `envoyscope diff` says it: per proxy, how many changes and the first."""
    from envoyscope.engine.diff import diff_proxies, proxy_name
    from envoyscope.engine.diff.words import sentences

    lines = []
    for diff in diff_proxies(before, after):
        if diff.old is None:
            lines.append(f"{proxy_name(diff.new)}: new proxy")
        elif diff.new is None:
            lines.append(f"{proxy_name(diff.old)}: gone")
        elif diff.changes:
            first = sentences(diff.changes[0])[0]
            more = f" (+{len(diff.changes) - 1} more)" if len(diff.changes) > 1 else ""
            lines.append(f"{proxy_name(diff.new)}: {len(diff.changes)} change(s): {first}{more}")
    return "\n".join(lines) or "nothing changed"


def server_state(dump: ConfigDump) -> str:
    """`` · LIVE, up 3s`` for a live proxy whose /server_info was read, else nothing."""
    from envoyscope.sources.admin import LiveDump

    if not isinstance(dump, LiveDump) or dump.server_info is None:
        return ""
    info = dump.server_info  # the Envoy version is already in the identity line: state and uptime only
    return f" · {info.state}" + (f", up {info.uptime_current_epoch}" if info.uptime_current_epoch else "")


def known_hosts(dumps: list[ConfigDump]) -> list[str]:
    """Hosts a user may want to trace to: route domains with their ports, and cluster FQDNs with theirs."""
    return sorted({host for dump in dumps for host in proxy_hosts(dump)})


def proxy_hosts(dump: ConfigDump) -> list[str]:
    """The hosts one proxy knows: the domains its routes serve (with their ports) first — what a client sends it —
    then its clusters' FQDNs with their ports (where it sends), each part sorted."""
    from envoyscope.model.names import parse_cluster_name

    served: set[str] = set()
    for config in dump.route_configs:
        port = config.name.rsplit(".", 1)[-1] if config.name.rsplit(".", 1)[-1].isdigit() else "80"
        for vhost in config.raw.get("virtual_hosts") or ():
            for domain in vhost.get("domains") or ():
                if "*" not in domain:
                    served.add(domain if ":" in domain else f"{domain}:{port}")
    upstream = {f"{name.host}:{name.port}" for cluster in dump.clusters
                if (name := parse_cluster_name(cluster.name)).host and name.port}
    return list(dict.fromkeys([*sorted(served), *sorted(upstream)]))


def rank_hosts(typed: str, own: list[str], others: list[str]) -> list[str]:
    """The hosts that complete ``typed``: those the trace's first proxy knows (``own``) before the others', and in
    each, those that start with ``typed`` exactly as written before those that do only ignoring case."""
    low = typed.lower()
    ranked = [h for group in (own, others) for h in sorted(group, key=lambda h: not h.startswith(typed))
              if h.lower().startswith(low)]
    return list(dict.fromkeys(ranked))
