"""The one Duration parser the filters and the route timeout share: exact, no float rounding."""

import pytest

from envoyscope.model.duration import duration_ms, duration_nanos, duration_seconds


@pytest.mark.parametrize(("value", "ms"), [
    ("15s", 15000), ("0s", 0), ("0.3s", 300), ("4.35s", 4350),  # 4.35 * 1000 is 4349.999… as a float
    ("0.0015s", 1),  # Envoy truncates to milliseconds
    ({"seconds": 2, "nanos": 500000000}, 2500), ("3600", 3600000), (None, None), ("", None),
])
def test_duration_ms(value: object, ms: int | None) -> None:
    assert duration_ms(value) == ms


def test_duration_seconds_and_nanos() -> None:
    assert duration_seconds("1.000000001s") == 1.000000001
    assert duration_nanos("1.000000001s") == 1_000_000_001


@pytest.mark.parametrize("value", ["soon", "1.5ms", "1.0000000001s"])
def test_not_a_duration(value: str) -> None:
    with pytest.raises(ValueError):
        duration_nanos(value)
