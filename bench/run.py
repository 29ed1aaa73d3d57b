"""Benchmarks that print ratios against a baseline run in the same command: ``make bench``.

1. Whole processes on the ~60 MB dump (bench/gen_dump.py makes it): `orjson.loads` of the file (the baseline),
   `envoyscope clusters FILE`, and `jq` listing the cluster names. Median wall time of 3 runs and peak RSS
   (/usr/bin/time), each as a ratio to the baseline. Targets: envoyscope ≤ 1.3× the time, ≤ 1.2× the RSS.
2. In one process: loading the dump, then tracing requests through it (target ≤ 100 ms per trace).
3. The TUI figures, when envoyscope.tui.bench exists: first screen, and a filter keystroke on the clusters table.
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
    sys.path.insert(0, str(ROOT))
    from envoyscope.engine.request import TraceRequest
    from envoyscope.engine.trace import trace
    from envoyscope.sources.files import load_file

    start = time.perf_counter()
    dump = load_file(str(DUMP))
    load = time.perf_counter() - start
    requests = [TraceRequest(host=f"svc-{i:05d}.ns-{i % 97:02d}.svc.cluster.local", port=8000 + i % 7,
                             scheme="tcp") for i in range(0, 9000, 450)]
    requests += [TraceRequest(host="unknown.example.com", port=443, scheme="https")]
    durations = []
    for request in requests:
        t0 = time.perf_counter()
        result = trace(request, [dump])
        durations.append(time.perf_counter() - t0)
        assert result.hops, request
    median = statistics.median(durations)
    print(f"\nload the dump in-process: {load:.2f}s; trace: median {median * 1000:.1f} ms, max "
          f"{max(durations) * 1000:.1f} ms over {len(durations)} traces ({median / load:.3f}× the load)")


def tui() -> None:
    try:
        from envoyscope.tui.bench import bench_tui  # type: ignore[import-not-found]
    except ImportError:
        print("\nTUI figures: envoyscope.tui.bench is not there yet")
        return
    figures = bench_tui(DUMP)
    base = timed([PY, "-c", f"import orjson; orjson.loads(open({str(DUMP)!r}, 'rb').read())"], runs=1)[0]
    print(f"\nTUI: first screen {figures['first_screen']:.2f}s ({figures['first_screen'] / base:.2f}× orjson), "
          f"filter keystroke median {figures['keystroke_median'] * 1000:.0f} ms")


def main() -> int:
    if not DUMP.exists():
        subprocess.run([PY, str(ROOT / "bench" / "gen_dump.py"), str(DUMP)], check=True)
    print(f"dump: {DUMP} ({DUMP.stat().st_size / 1e6:.1f} MB)\n")
    processes()
    traces()
    tui()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
