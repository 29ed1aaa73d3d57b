"""Generate envoyscope/model/_protos/*_pb2.py from protos/*.proto: ``make protos``.

Uses grpcio-tools' bundled protoc, so nothing but the test extras is needed. The generated modules are
committed; tests/typed/test_typed.py::test_generated_modules_are_current fails when they no longer match what this
script produces (protoc's own version, which grpcio-tools brings, aside).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
OUT = ROOT / "envoyscope" / "model" / "_protos"


def build(out: Path = OUT) -> list[Path]:
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    sources = sorted(PROTOS.glob("*.proto"))
    for source in sources:
        code = protoc.main(["protoc", f"-I{PROTOS}", f"--python_out={out}", str(source)])
        if code != 0:
            raise SystemExit(f"protoc failed on {source.name} (exit {code})")
    return [out / f"{s.stem}_pb2.py" for s in sources]


if __name__ == "__main__":
    for path in build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(path)
