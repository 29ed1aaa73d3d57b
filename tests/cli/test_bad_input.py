"""Bad input never gives a traceback: one line on stderr naming the file, the JSON path and the problem; exit 2.

Each case runs ``python -m envoyscope clusters FILE`` in a subprocess, as a user would.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADMIN = "type.googleapis.com/envoy.admin.v3."
VALID = {"configs": [{"@type": ADMIN + "ClustersConfigDump", "dynamic_active_clusters": [
    {"cluster": {"name": "outbound|80||a.local", "type": "EDS"}}]}]}


def _clusters(entries: object, key: str = "dynamic_active_clusters") -> dict:
    return {"configs": [{"@type": ADMIN + "ClustersConfigDump", key: entries}]}


def run_cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "envoyscope", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


# (file name, content, words the one error line must hold)
CASES = [
    ("empty.json", b"", ["empty.json", "file is empty"]),
    ("blank.json", b"  \n\t\n", ["blank.json", "file is empty"]),
    ("garbage.json", bytes(range(256)) * 8, ["garbage.json", "binary data"]),
    ("truncated.json", json.dumps(VALID).encode()[:60], ["truncated.json", "invalid JSON", "truncated", "line 1"]),
    ("trailing-comma.json", b'{"configs": [],}', ["trailing-comma.json", "invalid JSON"]),
    ("not-a-dump.json", b'{"hello": "world"}', ["not-a-dump.json", "at $", "not an Envoy dump"]),
    ("number.json", b"42", ["number.json", "at $", "not an Envoy dump", "a number"]),
    ("configs-5.json", json.dumps({"configs": 5}).encode(), ["configs-5.json", "at configs:", "expected a list"]),
    ("clusters-5.json", json.dumps(_clusters(5)).encode(),
     ["clusters-5.json", "at configs[0].dynamic_active_clusters:", "expected a list, got a number"]),
    ("cluster-string.json", json.dumps(_clusters([{"cluster": "outbound|80||a.local"}])).encode(),
     ["cluster-string.json", "at configs[0].dynamic_active_clusters[0].cluster:", "expected an object, got a string"]),
    ("static-string.json", json.dumps(_clusters(["x"], "static_clusters")).encode(),
     ["static-string.json", "at configs[0].static_clusters[0]:", "expected an object"]),
    ("list-of-junk.json", json.dumps([{"name": "a", "type": "EDS"}, "oops"]).encode(),
     ["list-of-junk.json", "at [1]:", "expected an object, got a string"]),
    ("broken.json.gz", b"\x1f\x8b\x08\x00garbage", ["broken.json.gz", "broken gzip data"]),
]


@pytest.mark.parametrize("name,content,words", CASES, ids=[c[0] for c in CASES])
def test_bad_file_gives_one_line_and_exit_2(tmp_path: Path, name: str, content: bytes, words: list[str]) -> None:
    (tmp_path / name).write_bytes(content)
    result = run_cli(tmp_path, "clusters", name)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("envoyscope: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_field_of_the_wrong_shape_names_the_resource(tmp_path: Path) -> None:
    """A resource whose inner field has a shape Envoy never writes: the error names that resource's JSON path."""
    socket = {"name": "envoy.transport_sockets.tls", "typed_config": "not an object"}
    doc = _clusters([{"cluster": {"name": "good", "type": "STATIC"}},
                     {"cluster": {"name": "bad", "type": "STATIC", "transport_socket": socket}}])
    (tmp_path / "odd.json").write_text(json.dumps(doc))
    result = run_cli(tmp_path, "clusters", "odd.json", "-o", "wide")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "odd.json: at configs[0].dynamic_active_clusters[1].cluster:" in result.stderr
    assert "unexpected shape" in result.stderr


@pytest.mark.parametrize("argv,words", [
    (["missing.json"], ["missing.json", "no such file"]),
    (["empty-folder"], ["empty-folder", "no dump files"]),
])
def test_missing_inputs(tmp_path: Path, argv: list[str], words: list[str]) -> None:
    (tmp_path / "empty-folder").mkdir()
    result = run_cli(tmp_path, "clusters", *argv)
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1 and all(word in result.stderr for word in words)


def test_missing_sections_degrade_with_a_note(tmp_path: Path) -> None:
    """A dump without a clusters section still prints (an empty table) and says why, exit 0."""
    doc = {"configs": [{"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {"id": "x"}}},
                       {"@type": ADMIN + "ListenersConfigDump"}]}
    (tmp_path / "partial.json.gz").write_bytes(gzip.compress(json.dumps(doc).encode()))
    result = run_cli(tmp_path, "clusters", "partial.json.gz")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SERVICE", "FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION", "RULE"]
    assert result.stderr == "envoyscope: note: no clusters section in this dump\n"
    result = run_cli(tmp_path, "all", "partial.json.gz")
    assert result.returncode == 0 and "Envoy Version:" in result.stdout
    assert "no routes section in this dump" in result.stderr and "Traceback" not in result.stderr
