"""Exactly-once delivery against the real broker: a stage killed mid-stream (SIGKILL, no
goodbye) and restarted answers every frame once, and the lag of its groups reads 0 at the
end although transaction markers sit after their committed offsets."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.consumers.results import read_results
from edgesplit.producers.sources import mnist
from tests.support import make_plan, stop_and_restart

pytestmark = pytest.mark.kafka
MNIST_CUT = "/net/conv_layers/conv_layers.5/MaxPool_output_0"
FRAMES = 1200


@pytest.mark.parametrize("victim", [0, 1])
def test_sigkill_mid_stream_then_restart_answers_every_frame_exactly_once(
    kafka: KafkaSettings, tmp_path: Path, victim: int
) -> None:
    plan, path = make_plan(tmp_path, "mnist_cnn", [MNIST_CUT], batch=4, delivery="exactly-once")
    samples = list(mnist(FRAMES, cache=cache_dir()))
    # mid-batch, mid-transaction: no flush, no commit (at-least-once answers ~300 twice)
    run = stop_and_restart(
        plan, path, kafka, tmp_path / "state", samples, victim=victim, sig=signal.SIGKILL
    )
    # everything the results topic holds, committed, read again from the start
    report = read_results(kafka, [plan.topics.results], idle_timeout_s=5, timeout_s=60)
    print(
        f"\nSIGKILL to stage {victim} after {run.answered_before} answers: "
        f"{report.frames}/{FRAMES} frames answered, {report.duplicates} duplicates"
    )
    assert run.exit_code == -signal.SIGKILL
    assert report.frames == FRAMES
    assert report.duplicates == 0
    assert report.accuracy is not None and report.accuracy > 0.95
    # a commit marker follows each transaction: offset lag counts records, not markers
    assert [(g.group, [p.lag for p in g.partitions]) for g in run.lags] == [
        (plan.group_id(s.index), [0]) for s in plan.stages
    ]
