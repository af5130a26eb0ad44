"""A validation run's stage compute, read from the stage metrics on the real broker: each
run's own batches (a stage busy behind a wide uplink waits behind a thin one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer

from edgesplit.bench.prediction import stage_batches, stage_compute_ms
from edgesplit.config import KafkaSettings
from edgesplit.kafka.admin import TopicSpec, create_topics
from edgesplit.kafka.clients import producer_config
from edgesplit.stages.metrics import StageMetrics, encode_metrics
from edgesplit.stages.stats import BatchSample
from tests.orchestrator.synthetic import profile
from tests.support import make_plan

pytestmark = pytest.mark.kafka


def _metrics(pipeline: str, version: int, stage: int, samples: list[BatchSample]) -> bytes:
    end = max(s.end_us for s in samples)
    window = StageMetrics(
        pipeline=pipeline, plan_version=version, stage=stage, tier="edge", instance="h:1",
        window_start_us=end - 2_000_000, window_end_us=end, frames_in=0, frames_out=0,
        dead_letters=0, batches=0, batch_frames=0, bytes_in=0, bytes_out=0, compute_s=0.0,
        decode_s=0.0, encode_s=0.0, wait_s=0.0, produce_blocked_s=0.0, cpu_s=0.0, rss_bytes=0,
        batch_samples=tuple(samples),
    )  # fmt: skip
    return encode_metrics(window)


def test_each_run_counts_the_batches_that_ended_during_it(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    plan, _ = make_plan(tmp_path, "mnist_cnn", [3], batch=4)
    busy = [BatchSample(1_000 + i, 4, 0.0, 8.0, 8.0) for i in range(5)]  # 2 ms a frame
    waiting = [BatchSample(5_000 + i, 1, 0.0, 3.0, 3.0) for i in range(5)]  # 3 ms, one by one
    create_topics(kafka, [TopicSpec(plan.topics.metrics)])
    producer = Producer(producer_config(kafka))
    # one window straddles both runs, as a stage's 2 s metrics window can
    producer.produce(plan.topics.metrics, _metrics(plan.pipeline, plan.version, 0, busy[:3]))
    producer.produce(
        plan.topics.metrics, _metrics(plan.pipeline, plan.version, 0, busy[3:] + waiting)
    )
    assert producer.flush(30) == 0
    profiles = {"edge": profile("edge", [1.0, 1.0], [100])}
    published = stage_batches(kafka, plan)
    first = stage_compute_ms(published, plan, 4, profiles, [(1_000, 1_999)])[0]
    second = stage_compute_ms(published, plan, 4, profiles, [(2_000, 9_999)])[0]
    both = stage_compute_ms(published, plan, 4, profiles)[0]
    assert (first.ms, first.batches) == (2.0, {4: 5})
    assert (second.ms, second.batches) == (3.0, {1: 5})
    assert both.batches == {4: 5}  # full batches hold most frames: the busy run's figure
    # in steady state: each run's first 4 frames left out (one batch of four, four of one)
    steady = stage_compute_ms(published, plan, 4, profiles, [(1_000, 1_999), (5_000, 9_999)], 4)
    assert steady[0].batches == {4: 4}  # and the one frame left of the second run
