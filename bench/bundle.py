"""What a trace over a capture bundle of N proxies costs against the same trace on the one dump, same run.

Bundles are written in the indexed layout (`envoyscope.sources.bundle`: the manifest first, each file its own gzip
member, indexed in the manifest): opening one decompresses the manifest's member alone, and a proxy is one seek and
one member decompressed in memory. Measured on a bundle of N copies of the 2.4 MB DeathStarBench sidecar
(bench/scale.py's folder), runs alternated so that each sees the same load, medians (peak RSS: the largest):

- whole processes, by GNU time: ``trace`` on the one dump (the baseline), on the indexed bundle, on a bundle of the
  old layout (one gzip stream, the manifest last: unpacked whole on opening) and on the unpacked folder;
- in this process: opening each bundle (`unpack`).

Usage: python bench/bundle.py [--size 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scale  # noqa: E402 - bench/scale.py: the folder of copies, the bundle writer, GNU time

from envoyscope.sources.bundle import unpack  # noqa: E402


def old_layout(folder: Path, indexed: Path, target: Path) -> Path:
    """The same files as a bundle of the old layout: one gzip stream, the manifest (without index) last."""
    with tarfile.open(indexed, "r:gz") as tar:
        member = tar.extractfile("manifest.json")
        manifest = json.loads(member.read()) if member is not None else {}
    manifest.pop("bundle_layout", None)
    for entry in manifest["proxies"]:
        for record in entry["files"].values():
            record.pop("gzip_member", None)
    with tarfile.open(target, "w:gz") as tar:
        for path in [*sorted(folder.glob("*.config_dump.json")), None]:
            body = path.read_bytes() if path else json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(path.name if path else "manifest.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return target


def opening(bundle: Path) -> float:
    start = time.perf_counter()
    where = unpack(bundle)
    took = time.perf_counter() - start
    shutil.rmtree(where)  # not timed: the process that opened it removes it at its exit
    return took


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
        old = old_layout(folder, bundle, tmp / "old.tar.gz")
        print(f"a bundle of {n} copies: {bundle.stat().st_size / 1e6:.0f} MB compressed (old layout "
              f"{old.stat().st_size / 1e6:.0f} MB), {sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.0f} MB "
              "unpacked")
        opened = {"indexed": [opening(bundle) for _ in range(args.runs)],
                  "old": [opening(old) for _ in range(args.runs)]}
        print(f"opening: indexed {statistics.median(opened['indexed']) * 1000:.0f} ms, old layout (unpacked whole) "
              f"{statistics.median(opened['old']) * 1000:.0f} ms")
        to = ["--to", scale.TO, "-o", "json"]
        from_ = ["--from", scale.copy_name(7)]
        commands = {"one dump": scale.envoyscope("trace", str(scale.DUMP), *to),
                    "indexed bundle": scale.envoyscope("trace", str(bundle), *from_, *to),
                    "old-layout bundle": scale.envoyscope("trace", str(old), *from_, *to),
                    "unpacked folder": scale.envoyscope("trace", str(folder), *from_, *to)}
        times: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, float] = dict.fromkeys(commands, 0.0)
        hops: dict[str, list[str]] = {}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                seconds, peak, out = scale.timed(cmd, 1)
                times[name].append(seconds)
                peaks[name] = max(peaks[name], peak)
                hops[name] = scale.trace_hops(out)
        assert hops["indexed bundle"] == hops["unpacked folder"], hops
        base_t, base_m = statistics.median(times["one dump"]), peaks["one dump"]
        print(f"trace (crosses {len(hops['indexed bundle'])} proxies), {args.runs} runs:")
        for name in commands:
            t = statistics.median(times[name])
            print(f"  {name:18} {t:6.2f}s = {t / base_t:4.2f}× the time, peak RSS {peaks[name]:5.0f} MB = "
                  f"{peaks[name] / base_m:4.2f}×")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
