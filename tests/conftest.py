"""Shared test helpers: where the repo, the bundled samples and ../shared fixtures are."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_dumps"
SHARED = (REPO / ".." / "shared").resolve()
FIXTURES = SHARED / "fixtures"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/fixtures, or skip the test with the reason when ../shared is absent."""
    path = FIXTURES.joinpath(*parts)
    if not FIXTURES.is_dir():
        pytest.skip("../shared is absent: fixtures from other projects are not in this clone")
    if not path.exists():
        pytest.skip(f"../shared/fixtures/{'/'.join(parts)} is absent")
    return path
