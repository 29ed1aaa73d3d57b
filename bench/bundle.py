"""What opening a capture bundle of N proxies costs, and what reading its members lazily could save, same run.

A bundle is one gzip stream (``.tar.gz``); gzip has no index, and the manifest (every proxy's identity) is written
last. Measured on a bundle of N copies of the 2.4 MB DeathStarBench sidecar (bench/scale.py's folder), in this
process, median of the runs, each against the same baseline:

- ``unpack``: what opening a bundle does today — the stream decompressed once, every member written to a
  temporary folder;
- ``one pass``: the stream decompressed once and every member read, nothing written — the least that any
  lazy reading must pay on opening while the manifest comes last (an index of member offsets is built in this
  same pass), so ``unpack`` − ``one pass`` is all that extracting members on first use could save;
- ``first use``: after that pass, reading the two members a trace crosses again from the stream, as extracting
  a member on first use must (gzip cannot seek: from the start up to the member);
- and whole processes: ``trace`` on the bundle, on the unpacked folder and on the one dump (the baseline).

Usage: python bench/bundle.py [--size 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scale  # noqa: E402 - bench/scale.py: the folder of copies, the bundle writer, GNU time

from envoyscope.sources.bundle import unpack  # noqa: E402


def one_pass(bundle: Path) -> list[str]:
    """Every member read once from the stream, nothing written; the member names in order."""
    names = []
    with tarfile.open(bundle, "r:gz") as tar:
        for member in tar:
            data = tar.extractfile(member)
            if data is not None:
                while data.read(1 << 20):
                    pass
            names.append(member.name)
    return names


def first_use(bundle: Path, wanted: set[str]) -> int:
    """The wanted members read from the stream, from its start up to the last of them (as on first use)."""
    found = 0
    with tarfile.open(bundle, "r:gz") as tar:
        for member in tar:
            if member.name in wanted:
                data = tar.extractfile(member)
                found += len(data.read()) if data is not None else 0
                wanted = wanted - {member.name}
                if not wanted:
                    break
    return found


def median_seconds(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not scale.DUMP.exists():
        print(f"bench: {scale.DUMP} is absent (../shared/fixtures): nothing to measure")
        return 0
    n = args.size
    tmp = Path(tempfile.mkdtemp(prefix="envoyscope-bundle-bench-"))
    try:
        folder = scale.make_folder(n, tmp / "folder")
        bundle = scale.make_bundle(folder, tmp / "capture.tar.gz")
        crossed = {f"{scale.copy_name(7)}.config_dump.json", f"{scale.copy_name(n - 1)}.config_dump.json"}
        print(f"a bundle of {n} copies: {bundle.stat().st_size / 1e6:.0f} MB compressed, "
              f"{sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.0f} MB unpacked")

        def unpacked() -> float:
            start = time.perf_counter()
            where = unpack(bundle)
            took = time.perf_counter() - start
            shutil.rmtree(where)  # not timed: the process that opened it removes it at its exit
            return took

        names = one_pass(bundle)
        print(f"the manifest is member {names.index('manifest.json') + 1} of {len(names)}")
        whole, single, lazy = [], [], []
        for _ in range(args.runs):  # alternated, so that each sees the same load
            whole.append(unpacked())
            single.append(median_seconds(lambda: one_pass(bundle), 1))
            lazy.append(median_seconds(lambda: first_use(bundle, set(crossed)), 1))
        w, s, f = statistics.median(whole), statistics.median(single), statistics.median(lazy)
        print(f"unpack (today) {w:.2f}s; one pass {s:.2f}s = {s / w:.2f}× unpack; then the first use of the 2 "
              f"members crossed {f:.2f}s = {f / w:.2f}× unpack (the last of them is member {n})")
        to = ["--to", scale.TO, "-o", "json"]
        from_ = ["--from", scale.copy_name(7)]
        one, many, unpacked_folder = [], [], []
        for _ in range(args.runs):
            one.append(scale.timed(scale.envoyscope("trace", str(scale.DUMP), *to), 1)[0])
            many.append(scale.timed(scale.envoyscope("trace", str(bundle), *from_, *to), 1)[0])
            unpacked_folder.append(scale.timed(scale.envoyscope("trace", str(folder), *from_, *to), 1)[0])
        o, b, u = statistics.median(one), statistics.median(many), statistics.median(unpacked_folder)
        print(f"trace: one dump {o:.2f}s, the bundle {b:.2f}s = {b / o:.2f}×, the unpacked folder {u:.2f}s = "
              f"{u / o:.2f}×")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
