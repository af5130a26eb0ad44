"""Stage metrics records: encoding, and windows that add up to the stage's totals."""

from __future__ import annotations

import time

from confluent_kafka import Producer

from edgesplit.stages.metrics import MetricsPublisher, StageMetrics, decode_metrics, encode_metrics
from edgesplit.stages.stats import BatchSample, StageStats


def test_round_trip() -> None:
    m = StageMetrics(
        "p",
        2,
        1,
        "cloud",
        "host:1",
        10,
        20,
        5,
        4,
        1,
        2,
        4,
        100,
        50,
        0.5,
        0.1,
        0.05,
        1.5,
        0.0,
        0.7,
        123456,
        (BatchSample(15, 2, 1.5, 3.25),),
    )
    assert decode_metrics(encode_metrics(m)) == m


def test_windows_are_deltas_that_sum_to_the_totals() -> None:
    sent: list[bytes] = []
    producer = Producer({"bootstrap.servers": "127.0.0.1:9"})  # never used: _send is replaced
    publisher = MetricsPublisher(
        producer, "unused", pipeline="p", plan_version=1, stage=0, tier="edge", every_s=0.0
    )
    publisher._send = sent.append  # type: ignore[method-assign,assignment]  # look at what would be produced
    stats = StageStats(stage=0)
    windows = []
    for i in range(3):
        stats.frames_in += 10
        stats.frames_out += 9
        stats.compute_s += 0.25
        stats.record_batch(BatchSample(i, 9, 1.0, 250.0))
        time.sleep(0.01)
        windows.append(publisher.publish(stats))
    assert [w.frames_out for w in windows] == [9, 9, 9]
    assert sum(w.compute_s for w in windows) == stats.compute_s
    assert [len(w.batch_samples) for w in windows] == [1, 1, 1]
    assert windows[1].window_start_us == windows[0].window_end_us
    assert [decode_metrics(v) for v in sent] == windows
