"""Real models split into Kafka stages give the unsplit model's answers (real broker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.kafka.io import consume_n
from edgesplit.producers.sources import mnist, photos
from tests.support import make_plan, run_frames, unsplit_logits

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize(
    "cuts",
    [[37], [20, 77]],
    ids=["2-stage (after block 6)", "3-stage (after blocks 3 and 13)"],
)
def test_mobilenet_split_gives_the_unsplit_top1_for_every_frame(
    kafka: KafkaSettings,
    tmp_path: Path,
    cuts: list[int],
) -> None:
    samples = list(photos(120, seed=3, cache=cache_dir()))
    plan, path = make_plan(tmp_path, "mobilenet_v2", cuts)
    sent, report, summary = run_frames(plan, path, kafka, tmp_path / "state", samples)
    assert report.frames == len(samples) == sent.frames
    expected = unsplit_logits("mobilenet_v2", plan, np.stack([s.array for s in samples]))
    by_frame = {a.frame_id: a for a in summary.answers.values()}
    for i, top1 in enumerate(expected.argmax(axis=1)):
        assert by_frame[f"{sent.run_id}:sensor-0:{i}"].top1 == top1
    print(
        f"\nMobileNetV2 {len(plan.stages)} stages: {report.frames}/{len(samples)} frames, "
        f"top-1 equal to the unsplit model for all; {report.throughput_fps:.1f} frames/s"
    )


def test_mnist_two_stage_reaches_the_unsplit_accuracy_on_all_5000_digits(
    kafka: KafkaSettings,
    tmp_path: Path,
) -> None:
    samples = list(mnist(None, cache=cache_dir()))
    assert len(samples) == 5000
    plan, path = make_plan(
        tmp_path, "mnist_cnn", ["/net/conv_layers/conv_layers.5/MaxPool_output_0"], batch=32
    )
    _, report, _ = run_frames(plan, path, kafka, tmp_path / "state", samples)
    assert report.frames == 5000
    logits = unsplit_logits("mnist_cnn", plan, np.stack([s.array for s in samples]))
    labels = np.array([s.label for s in samples])
    unsplit_accuracy = float((logits.argmax(axis=1) == labels).mean())
    assert report.accuracy == pytest.approx(unsplit_accuracy, abs=0)
    print(
        f"\nMNIST CNN 2 stages over Kafka: accuracy {report.accuracy:.4f} on 5000 digits; "
        f"unsplit {unsplit_accuracy:.4f}"
    )


def test_int8_at_the_cut_quarters_the_bytes_and_keeps_top1(
    kafka: KafkaSettings,
    tmp_path: Path,
) -> None:
    samples = list(photos(500, seed=11, cache=cache_dir()))
    plan, path = make_plan(tmp_path, "mobilenet_v2", [37], encoding="int8")
    sent, report, summary = run_frames(plan, path, kafka, tmp_path / "state", samples)
    assert report.frames == 500
    cut = plan.cuts[0]
    records = consume_n(kafka, cut.topic, 500, max_message_bytes=cut.max_message_bytes)
    wire = np.mean([len(m.value() or b"") for m in records])
    ratio = cut.bytes_per_frame / wire
    expected = unsplit_logits("mobilenet_v2", plan, np.stack([s.array for s in samples]))
    by_frame = {a.frame_id: a.top1 for a in summary.answers.values()}
    agree = np.mean(
        [
            by_frame[f"{sent.run_id}:sensor-0:{i}"] == t
            for i, t in enumerate(expected.argmax(axis=1))
        ]
    )
    print(
        f"\nint8 at cut {cut.index}: {cut.bytes_per_frame} raw bytes/frame -> {wire:.0f} on the "
        f"wire ({ratio:.2f}x smaller); top-1 agreement {agree:.2%} on 500 photo frames"
    )
    assert 3.8 <= ratio <= 4.0
    assert agree >= 0.99
