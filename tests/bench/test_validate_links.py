"""The validation's link figures (the best of several probes of each uplink) and run sizes."""

from __future__ import annotations

from edgesplit.bench.validate import best_reading, run_frames


def test_one_low_probe_of_the_link_does_not_set_its_figure() -> None:
    readings = iter([53.3e6, 95.1e6, 94.8e6])  # a burst of other work slowed the first
    asked: list[str] = []

    def probe(uplink: str) -> float:
        asked.append(uplink)
        return next(readings)

    assert best_reading(probe, "100mbit") == 95.1e6
    assert asked == ["100mbit"] * 3


def test_a_run_holds_several_micro_batches_unless_they_take_too_long() -> None:
    assert run_frames(100.0, 5.0, 4, 5000) == 500  # about run_s seconds of frames
    assert run_frames(2.0, 5.0, 4, 5000) == 40  # 10 micro-batches: 20 s
    assert run_frames(0.5, 5.0, 4, 5000) == 20  # 40 s of frames, not 80 s
    assert run_frames(0.1, 5.0, 4, 5000) == 8  # two micro-batches at the least
    assert run_frames(100.0, 5.0, 4, 300) == 300  # at most `most`
