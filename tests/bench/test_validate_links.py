"""The validation's link figures: the best of several probes of each uplink."""

from __future__ import annotations

from edgesplit.bench.validate import best_reading


def test_one_low_probe_of_the_link_does_not_set_its_figure() -> None:
    readings = iter([53.3e6, 95.1e6, 94.8e6])  # a burst of other work slowed the first
    asked: list[str] = []

    def probe(uplink: str) -> float:
        asked.append(uplink)
        return next(readings)

    assert best_reading(probe, "100mbit") == 95.1e6
    assert asked == ["100mbit"] * 3
