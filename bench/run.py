"""Benchmarks that print ratios against a baseline run in the same command: ``make bench``.

1. Whole processes on the ~60 MB dump (bench/gen_dump.py makes it): `orjson.loads` of the file (the baseline),
   `envoyscope clusters FILE`, and `jq` listing the cluster names. Median wall time of 3 runs and peak RSS
   (/usr/bin/time), each as a ratio to the baseline. Targets: envoyscope ≤ 1.3× the time, ≤ 1.2× the RSS.
2. In one process: loading the dump, then tracing requests through it — HTTP through the route configurations,
   TCP by service VIP, unknown hosts to PassthroughCluster — each checked to reach its cluster; the trace median
   as a ratio to the load time (target ≤ 100 ms per trace).
3. The TUI figures (bench/tui.py): first screen, and a filter keystroke on the 9,000-row clusters table.
4. The diff of two such dumps (bench/diff.py) as a ratio to loading them (target ≤ 2×).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DUMP = ROOT / "bench" / "out" / "big.config_dump.json"
PY = sys.executable


def timed(cmd: list[str], runs: int = 3) -> tuple[float, float]:
    """(median seconds, max peak RSS in MB) of a command, measured by GNU time."""
    times, peaks = [], []
    for _ in range(runs):
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        seconds, kb = proc.stderr.strip().splitlines()[-1].split()
        times.append(float(seconds))
        peaks.append(int(kb) / 1024)
    return statistics.median(times), max(peaks)


def processes() -> None:
    rows = [("orjson.loads (baseline)", [PY, "-c", f"import orjson; orjson.loads(open({str(DUMP)!r}, 'rb').read())"]),
            ("orjson.loads, gc disabled", [PY, "-c", "import gc, orjson; gc.disable(); "
                                           f"orjson.loads(open({str(DUMP)!r}, 'rb').read())"]),
            ("envoyscope clusters", [PY, "-m", "envoyscope", "clusters", str(DUMP)])]
    if shutil.which("jq"):
        rows.append(("jq cluster names", ["jq", "-r", ".configs[] | .dynamic_active_clusters[]?.cluster.name",
                                          str(DUMP)]))
    results = [(name, *timed(cmd)) for name, cmd in rows]
    base_t, base_m = results[0][1], results[0][2]
    print(f"{'process':28} {'time':>8} {'ratio':>6} {'peak RSS':>10} {'ratio':>6}")
    for name, seconds, mb in results:
        print(f"{name:28} {seconds:7.2f}s {seconds / base_t:5.2f}× {mb:8.0f}MB {mb / base_m:5.2f}×")
    if not shutil.which("jq"):
        print("jq: not installed (apt-get install jq), row skipped")


def traces() -> None:
    """Traces that cross the dump for real: HTTP through virtualOutbound, `0.0.0.0_<port>` and its route
    configuration; TCP to a service VIP's `<vip>_<port>` listener; an unknown host to the Passthrough catch-all.
    Each must end on the cluster the generator made for it."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import gen_dump as gen

    from envoyscope.engine.request import TraceRequest
    from envoyscope.engine.trace import trace
    from envoyscope.sources.files import load_file

    start = time.perf_counter()
    dump = load_file(str(DUMP))
    load = time.perf_counter() - start
    cases: list[tuple[str, TraceRequest, str, str]] = []  # (kind, request, listener, cluster)
    for i in range(0, gen.VHOSTS, 150):  # the first and last vhost of route configurations, spread over all 30
        cases.append(("http", TraceRequest(host=gen.service(i), port=gen.port(i), path=f"/api/{i}"),
                      f"0.0.0.0_{gen.port(i)}", gen.cluster_name(i)))
    for i in range(gen.TCP.start, gen.TCP.stop, 150):
        cases.append(("tcp", TraceRequest(host=gen.service(i), port=gen.port(i), ip=gen.vip(i), scheme="tcp"),
                      f"{gen.vip(i)}_{gen.port(i)}", gen.cluster_name(i)))
    cases.append(("unknown", TraceRequest(host="unknown.example.com", port=443, scheme="https", ip="203.0.113.7"),
                  "virtualOutbound", "PassthroughCluster"))
    cases.append(("unknown", TraceRequest(host="unknown.example.com", port=gen.port(0)),
                  f"0.0.0.0_{gen.port(0)}", "PassthroughCluster"))  # no vhost but allow_any: `*`
    durations: dict[str, list[float]] = {}
    for kind, request, listener, cluster in cases:
        t0 = time.perf_counter()
        result = trace(request, [dump])
        durations.setdefault(kind, []).append(time.perf_counter() - t0)
        got = [(hop.listener, hop.cluster) for hop in result.hops]
        if got != [(listener, cluster)] or result.outcome.kind not in ("mesh_internal", "external", "passthrough"):
            raise SystemExit(f"bench: trace {request.host}:{request.port} ({kind}) reached {got} "
                             f"({result.outcome.kind}: {result.outcome.detail}); expected {listener} → {cluster}")
    every = [d for values in durations.values() for d in values]
    median = statistics.median(every)
    print(f"\nload the dump in-process: {load:.2f}s")
    for kind, values in durations.items():
        print(f"trace {kind:8} {len(values):3} traces, each reaching its cluster: median "
              f"{statistics.median(values) * 1000:6.1f} ms, max {max(values) * 1000:6.1f} ms")
    print(f"trace median {median * 1000:.1f} ms over {len(every)} traces = {median / load:.4f}× the load time "
          f"(target ≤ 100 ms: {'met' if median <= 0.1 else 'MISSED'})")


def egress_audit() -> None:
    """The egress audit of the dump in-process, as a ratio to loading it (target ≤ 3×). The dump's 9,000 services
    are all inside the mesh, so this measures the enumeration and the catch-all traces, and how many candidate
    destinations the audit could skip without a trace."""
    sys.path.insert(0, str(ROOT))
    from envoyscope.engine.egress.audit import audit
    from envoyscope.engine.egress.destinations import destinations_of
    from envoyscope.sources.files import load_file

    start = time.perf_counter()
    dump = load_file(str(DUMP))
    load = time.perf_counter() - start
    t0 = time.perf_counter()
    result = audit([dump])
    took = time.perf_counter() - t0
    candidates = len(destinations_of(dump))
    rows = sum(len(a.destinations) for a in result)
    print(f"\negress audit: {candidates} candidate destinations, {rows} rows, {took:.2f}s = {took / load:.2f}× the "
          f"load time {load:.2f}s (target ≤ 3×: {'met' if took <= 3 * load else 'MISSED'})")


def tui() -> None:
    """The TUI's first screen and a filter keystroke, in a process of their own (bench/tui.py)."""
    proc = subprocess.run([PY, str(ROOT / "bench" / "tui.py"), str(DUMP)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench: bench/tui.py failed:\n{proc.stderr[-2000:]}")
    print("\n" + proc.stdout.strip())


def diff() -> None:
    """`diff_dumps` on two ~60 MB dumps against loading them, in a process of its own (bench/diff.py)."""
    proc = subprocess.run([PY, str(ROOT / "bench" / "diff.py")], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench: bench/diff.py failed:\n{proc.stderr[-2000:]}")
    print("\n" + proc.stdout.strip())


def main() -> int:
    if not DUMP.exists() or DUMP.stat().st_mtime < (ROOT / "bench" / "gen_dump.py").stat().st_mtime:
        subprocess.run([PY, str(ROOT / "bench" / "gen_dump.py"), str(DUMP)], check=True)
    print(f"dump: {DUMP} ({DUMP.stat().st_size / 1e6:.1f} MB)\n")
    processes()
    traces()
    egress_audit()
    tui()
    diff()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
