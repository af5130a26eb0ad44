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


def test_answers_a_slow_link_delivers_in_bursts_count_from_a_burst() -> None:
    # 9 frames, 3 records a producer request over a link carrying one request every 1.5 s:
    # bursts of 3 answers (stamped within a ms) at 2, 3.5 and 5 s: 2 frames/s. The 4th
    # answer opens the second burst; the rest of that burst is not "after" it.
    produced = [int((2 + 1.5 * b) * S) + i * 1000 for b in range(3) for i in range(3)]
    assert abs(steady_fps(produced, 0, None, skip=4) - 2.0) < 0.01
    assert (len(produced) - 4) / ((produced[-1] - produced[3]) / S) > 3.3  # counted with it


def test_a_stream_without_gaps_counts_from_the_micro_batch() -> None:
    # 2,000 frames/s, an answer every 0.5 ms (whole-ms stamps): no burst to wait out.
    produced = [S + (i // 2) * 1000 for i in range(400)]
    assert abs(steady_fps(produced, 0, None, skip=4) - 2000) < 2000 * 0.02
