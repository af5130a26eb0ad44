"""A run's throughput: the rate once the pipeline is full, not from the first capture."""

from __future__ import annotations

from edgesplit.bench.kafka_runs import steady_fps

S = 1_000_000  # us


def test_frames_queued_ahead_of_the_run_do_not_count_against_it() -> None:
    # A link carrying 1 frame/s, with 3 warm-up frames ahead of the 8 measured ones: the
    # first answer comes 4 s after the first capture, then one a second.
    produced = [(4 + i) * S for i in range(8)]
    assert steady_fps(produced, 0, None, skip=4) == 1.0
    assert len(produced) / (produced[-1] / S) < 0.75  # what the span from capture said


def test_answers_in_micro_batches_give_the_batch_rate() -> None:
    # Batches of 4 frames every 0.4 s, all answered at once: 10 frames/s.
    produced = [int((1 + 0.4 * b) * S) for b in range(3) for _ in range(4)]
    assert abs(steady_fps(produced, 0, None, skip=4) - 10.0) < 1e-9


def test_an_unfinished_run_counts_up_to_now_and_a_short_one_from_the_first_capture() -> None:
    assert abs(steady_fps([1 * S, 2 * S, 3 * S], 0, 5 * S, skip=2) - 1 / 3) < 1e-9  # 1 in 3 s
    assert steady_fps([2 * S, 2 * S], 0, None, skip=4) == 1.0  # 2 frames in 2 s
