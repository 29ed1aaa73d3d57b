"""The diff of two ~60 MB dumps against loading them, in one process: ``python bench/diff.py``.

OLD is bench/gen_dump.py's dump. NEW is the same with seven changes (a cluster's connect_timeout, a cluster
removed, a route's timeout, a listener's normalize_path, an endpoint's weight, a virtual host's new domain, the
Istio version) under noise: every version_info and last_updated bumped, clusters, listeners and assignments in
reverse order, every virtual host's domains and every assignment's endpoints reversed (so that 9,000
assignments and 30 route configurations are unequal as JSON and take the canonical path). Both are written as
files, then loaded (`load_file`) and diffed (`diff_dumps`); the diff must find the seven changes and nothing
else. Prints the median of 3 runs of each and the ratio (target: the diff ≤ 2× loading the two dumps).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
OLD, NEW = OUT / "diff-old.config_dump.json", OUT / "diff-new.config_dump.json"
EXPECTED = 7


def section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["configs"] if c["@type"].endswith("." + name))


def make_new(doc: dict[str, Any]) -> dict[str, Any]:
    clusters = section(doc, "ClustersConfigDump")["dynamic_active_clusters"]
    clusters[0]["cluster"]["connect_timeout"] = "5s"
    del clusters[1]
    host = section(doc, "RoutesConfigDump")["dynamic_route_configs"][3]["route_config"]["virtual_hosts"][5]
    host["routes"][0]["route"]["timeout"] = "15s"
    section(doc, "RoutesConfigDump")["dynamic_route_configs"][4]["route_config"]["virtual_hosts"][0]["domains"].append(
        "new.example.com")
    listeners = section(doc, "ListenersConfigDump")["dynamic_listeners"]
    http = next(e for e in listeners if e["name"] == "0.0.0.0_8001")
    http["active_state"]["listener"]["filter_chains"][0]["filters"][0]["typed_config"]["normalize_path"] = False
    assignments = section(doc, "EndpointsConfigDump")["dynamic_endpoint_configs"]
    assignments[10]["endpoint_config"]["endpoints"][0]["lb_endpoints"][1]["load_balancing_weight"] = 9
    section(doc, "BootstrapConfigDump")["bootstrap"]["node"]["metadata"]["ISTIO_VERSION"] = "1.23.0"
    # Noise.
    for config in doc["configs"]:
        for entries in config.values():
            if isinstance(entries, list):
                entries.reverse()
                for entry in entries:
                    for wrapper in (entry, entry.get("active_state") or {}):
                        if "version_info" in wrapper:
                            wrapper["version_info"] = "2"
                        if "last_updated" in wrapper:
                            wrapper["last_updated"] = "2026-12-01T12:00:00.000Z"
    for entry in section(doc, "RoutesConfigDump")["dynamic_route_configs"]:
        for vhost in entry["route_config"]["virtual_hosts"]:
            vhost["domains"].reverse()
    for entry in assignments:
        for group in entry["endpoint_config"]["endpoints"]:
            group["lb_endpoints"].reverse()
    return doc


def median_time(fn: Any, runs: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import gen_dump

    from envoyscope.engine.diff import diff_dumps
    from envoyscope.sources.files import load_file

    if not NEW.exists() or NEW.stat().st_mtime < Path(__file__).stat().st_mtime:
        OUT.mkdir(parents=True, exist_ok=True)
        OLD.write_text(json.dumps(gen_dump.build(), indent=1))  # as gen_dump writes it: about 60 MB
        NEW.write_text(json.dumps(make_new(gen_dump.build()), indent=1))
    print(f"OLD {OLD.stat().st_size / 1e6:.1f} MB, NEW {NEW.stat().st_size / 1e6:.1f} MB")
    load, (old, new) = median_time(lambda: (load_file(str(OLD)), load_file(str(NEW))))
    diff, changes = median_time(lambda: diff_dumps(old, new))
    found = sorted((c.kind, c.name) for c in changes)
    if len(changes) != EXPECTED:
        raise SystemExit(f"bench: the diff found {len(changes)} changes, expected {EXPECTED}: {found}")
    print(f"load both dumps: {load:.2f}s   diff: {diff:.2f}s ({len(changes)} changes, as made)")
    print(f"diff / load = {diff / load:.2f}× (target ≤ 2×: {'met' if diff <= 2 * load else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
