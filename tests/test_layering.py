"""The layers stay layered: model ← engine ← sources ← report / cli / tui.

model and engine never import textual, rich, httpx or kubernetes (checked by importing every module of them in a
fresh interpreter); and no module imports from a layer above its own (checked on the source with `ast`, so
imports inside functions count too).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "envoyscope"
FORBIDDEN_LIBRARIES = ("textual", "rich", "httpx", "kubernetes")
# What each layer must not import from (envoyscope.<name>, and every cli* module for "cli").
ABOVE = {
    "model": ("engine", "sources", "report", "tui", "cli", "verify"),
    "engine": ("sources", "report", "tui", "cli", "verify"),
    "sources": ("report", "tui", "cli", "verify"),
}


def modules_of(layer: str) -> list[str]:
    root = PACKAGE / layer
    names = []
    for path in sorted(root.rglob("*.py")):
        if "_gen" in path.relative_to(root).parts:
            continue  # generated protobuf modules
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_model_and_engine_pull_in_no_ui_or_network_library() -> None:
    modules = modules_of("model") + modules_of("engine")
    assert "envoyscope.engine.summary" in modules and "envoyscope.model.dump" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_LIBRARIES!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PACKAGE.parent, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def imported_modules(path: Path, package_dir: Path = PACKAGE) -> set[str]:
    """Every module a file imports, absolute names (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _violates(module: str, above: tuple[str, ...]) -> bool:
    parts = module.split(".")
    if parts[0] != "envoyscope" or len(parts) < 2:
        return False
    first = parts[1]
    return any(first == layer or (layer == "cli" and first.startswith("cli")) for layer in above)


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_no_layer_imports_from_a_layer_above(layer: str) -> None:
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        if "_gen" in path.parts:
            continue
        for module in sorted(imported_modules(path)):
            if _violates(module, ABOVE[layer]) or (layer in ("model", "engine") and
                                                    module.split(".")[0] in FORBIDDEN_LIBRARIES):
                bad.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert bad == []


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """The ast check does catch an upward import, also one written inside a function or relatively."""
    probe = tmp_path / "envoyscope" / "engine" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("def f():\n    from ..report import table\n    import envoyscope.cli_summary\n")
    found = imported_modules(probe, tmp_path / "envoyscope")
    assert "envoyscope.report.table" in found and "envoyscope.cli_summary" in found
    assert _violates("envoyscope.report.table", ABOVE["engine"])
    assert _violates("envoyscope.cli_summary", ABOVE["engine"])
    assert not _violates("envoyscope.model.dump", ABOVE["engine"])
