"""Mesh scale: what a question costs on a folder of N proxies, against the same question on one dump, same run.

The folder holds N copies of the 2.4 MB DeathStarBench sidecar (../shared/fixtures/real-dumps), each given its own
identity in its bootstrap (pod ``geo-5c54dcd5bd-cNNNN``, an IP of its own); the last copy takes the IP
172.16.188.22, which EDS gives for ``profile.hr2``, so that a trace to profile crosses two proxies: the copy it
starts from and the last one (a lookup that read every proxy in order would read them all). Whole processes,
timed and measured by GNU time (median wall time of the runs, largest peak RSS):

1. trace: ``trace FOLDER --from geo-5c54dcd5bd-c0007 --to profile.hr2…:8081`` against ``trace DUMP --to …`` on the
   one dump (targets for N = 200: ≤ 2× the time, ≤ 1.5× the peak RSS; and flat up to N = 1,000);
2. every proxy (``--every``): ``clusters``, ``egress``, ``check`` on the folder and ``diff`` of two bundles of it,
   against the same command on one dump: time per proxy, peak RSS against one proxy's (target ≤ 2×), the
   process-pool speed-up (target: ≤ 0.75 × N × one proxy's time on 2 cores) and proxies per second per core;
3. the TUI (``--tui``): first screen on the folder against the first screen on one dump (target ≤ 1.5×).

Usage: python bench/scale.py [--sizes 200,1000] [--every N] [--tui N] [--runs 3]
(the README's Scale section: ``--sizes 200,1000 --every 100 --tui 200``)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DUMP = ROOT.parent / "shared" / "fixtures" / "real-dumps" / "deathstarbench-geo-sidecar-1.18" / "config_dump.json"
PY = sys.executable
POD, IP = b"geo-5c54dcd5bd-z5ghf", b"172.16.188.31"
TARGET_IP = "172.16.188.22"  # profile.hr2's endpoint in the dump
TO = "profile.hr2.svc.cluster.local:8081"


def copy_name(i: int) -> str:
    return f"geo-5c54dcd5bd-c{i:04d}"


def copy_ip(i: int, n: int) -> str:
    return TARGET_IP if i == n - 1 else f"10.{200 + i // 60000}.{i // 250 % 240}.{i % 250 + 1}"


def make_folder(n: int, folder: Path) -> Path:
    """N copies of the dump, each with its own pod name and IP in its bootstrap (the rest unchanged)."""
    data = DUMP.read_bytes()
    end = data.index(b"ClustersConfigDump")  # the bootstrap comes first: rewrite the identity there only
    head, tail = data[:end], data[end:]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        new_head = head.replace(POD, copy_name(i).encode()).replace(IP, copy_ip(i, n).encode())
        (folder / f"{copy_name(i)}.config_dump.json").write_bytes(new_head + tail)
    return folder


def timed(cmd: list[str], runs: int, ok: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """(median seconds, max peak RSS in MB, stdout of the last run) of a whole process, by GNU time."""
    times, peaks, out = [], [], ""
    for _ in range(runs):
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True, check=False)
        if proc.returncode not in ok:
            raise SystemExit(f"bench: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        seconds, kb = proc.stderr.strip().splitlines()[-1].split()
        times.append(float(seconds))
        peaks.append(int(kb) / 1024)
        out = proc.stdout
    return statistics.median(times), max(peaks), out


def envoyscope(*args: str) -> list[str]:
    return [PY, "-m", "envoyscope", *args]


def trace_hops(out: str) -> list[str]:
    import json

    return [hop["proxy"] for hop in json.loads(out)["hops"]]


def bench_trace(sizes: list[int], runs: int, tmp: Path) -> None:
    """Each size's runs alternate with runs on the one dump, so that both see the same load on the machine."""
    one_cmd = envoyscope("trace", str(DUMP), "--to", TO, "-o", "json")
    _, _, out = timed(one_cmd, 1)
    print(f"trace {TO}: on one dump ({DUMP.stat().st_size / 1e6:.1f} MB) it crosses {trace_hops(out)}")
    print(f"{'N':>6} {'one dump':>9} {'N proxies':>10} {'ratio':>6} {'peak RSS':>9} {'one':>6} {'ratio':>6}  hops")
    for n in sizes:
        folder = make_folder(n, tmp / f"trace-{n}")
        many_cmd = envoyscope("trace", str(folder), "--from", copy_name(7), "--to", TO, "-o", "json")
        ones, manys = [], []
        for _ in range(runs):
            ones.append(timed(one_cmd, 1))
            manys.append(timed(many_cmd, 1))
        one_t, one_m = statistics.median(r[0] for r in ones), max(r[1] for r in ones)
        t, m = statistics.median(r[0] for r in manys), max(r[1] for r in manys)
        hops = trace_hops(manys[-1][2])
        if len(hops) != 2:
            raise SystemExit(f"bench: the trace over {n} proxies crossed {hops}, expected two proxies")
        print(f"{n:6} {one_t:8.2f}s {t:9.2f}s {t / one_t:5.2f}× {m:7.0f}MB {one_m:4.0f}MB {m / one_m:5.2f}×  "
              f"{' → '.join(hops)}")
        shutil.rmtree(folder)
    print("targets at N = 200: ≤ 2× the time, ≤ 1.5× the peak RSS; flat as N grows")


def make_bundle(folder: Path, target: Path) -> Path:
    """The folder as a capture bundle (``envoyscope capture``'s layout and manifest)."""
    sys.path.insert(0, str(ROOT))
    from envoyscope.sources.bundle import ProxyCapture, write_bundle

    captures = [ProxyCapture(path.name.removesuffix(".config_dump.json"), {"config_dump": path.read_bytes()})
                for path in sorted(folder.glob("*.config_dump.json"))]
    write_bundle(target, captures, ["bench/scale.py"])
    return target


def bench_every(n: int, runs: int, tmp: Path) -> None:
    """Commands over every proxy: N proxies against one."""
    folder = make_folder(n, tmp / f"every-{n}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    old = make_bundle(folder, tmp / "old.tar.gz")
    new = make_bundle(folder, tmp / "new.tar.gz")
    print(f"\nevery proxy: a folder of {n} copies, {cores} cores; one = the same command on the one dump")
    print(f"{'command':10} {'one':>7} {'N proxies':>10} {'÷ (N×one)':>10} {'per proxy':>10} {'proxies/s/core':>15} "
          f"{'peak RSS':>9} {'÷ one':>6}")
    for name, one_cmd, many_cmd, ok in (
            ("clusters", envoyscope("clusters", str(DUMP)), envoyscope("clusters", str(folder)), (0,)),
            ("egress", envoyscope("egress", str(DUMP)), envoyscope("egress", str(folder)), (0,)),
            ("check", envoyscope("check", str(DUMP)), envoyscope("check", str(folder)), (0, 1)),
            ("diff", envoyscope("diff", str(DUMP), str(DUMP)), envoyscope("diff", str(old), str(new)), (0,))):
        one_t, one_m, _ = timed(one_cmd, runs, ok)
        many_t, many_m, _ = timed(many_cmd, runs, ok)
        marginal = max(many_t - one_t, 1e-3) / max(n - 1, 1)
        print(f"{name:10} {one_t:6.2f}s {many_t:9.2f}s {many_t / (n * one_t):9.2f}× {marginal * 1000:7.0f} ms "
              f"{1 / marginal / cores:15.1f} {many_m:7.0f}MB {many_m / one_m:5.2f}×")
    print("per proxy: (time on N − time on one) ÷ (N − 1); targets: ÷ (N×one) ≤ 0.75 on 2 cores, peak RSS ≤ 2× one")
    shutil.rmtree(folder)


def first_screen(sources: list[str]) -> float:
    """Seconds from creating the app to the first proxy's listeners table drawn (its dump read), headless."""
    import asyncio
    import time

    sys.path.insert(0, str(ROOT))
    from envoyscope.tui.app import EnvoyscopeApp
    from envoyscope.tui.catalog import Catalog

    took: list[float] = []

    async def run() -> None:
        t0 = time.perf_counter()
        app = EnvoyscopeApp(Catalog.of_files(sources, "bench"))
        app.animation_level = "none"
        async with app.run_test(size=(160, 50)) as pilot:
            while app.loading or app.dump is None:
                await pilot.pause(0.01)
            await pilot.pause()
            took.append(time.perf_counter() - t0)

    asyncio.run(run())
    return took[0]


def bench_tui(n: int, runs: int, tmp: Path) -> None:
    """Each first screen in a process of its own (this script with --first-screen), median of the runs."""
    folder = make_folder(n, tmp / f"tui-{n}")

    def measure(source: str) -> float:
        times = []
        for _ in range(runs):
            out = subprocess.run([PY, __file__, "--first-screen", source], capture_output=True, text=True, check=True)
            times.append(float(out.stdout.split()[-1]))
        return statistics.median(times)

    one, many = measure(str(DUMP)), measure(str(folder))
    print(f"\nTUI first screen: one dump {one:.2f}s, a folder of {n} {many:.2f}s = {many / one:.2f}× "
          "(target ≤ 1.5×)")
    shutil.rmtree(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,1000", help="folder sizes for the trace (default 200,1000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--every", type=int, default=0, metavar="N",
                        help="also run the commands over every proxy on a folder of N (e.g. 100)")
    parser.add_argument("--tui", type=int, default=0, metavar="N", help="also time the TUI's first screen on N")
    parser.add_argument("--first-screen", metavar="SOURCE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_screen:
        print(f"{first_screen([args.first_screen]):.3f}")
        return 0
    if not DUMP.exists():
        print(f"bench: {DUMP} is absent (../shared/fixtures): nothing to measure")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="envoyscope-scale-"))
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        if sizes:
            bench_trace(sizes, args.runs, tmp)
        if args.every:
            bench_every(args.every, args.runs, tmp)
        if args.tui:
            bench_tui(args.tui, args.runs, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
