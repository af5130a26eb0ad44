"""The stage runtime against the real broker: poison records and graceful restarts."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest

from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.consumers.deadletters import read_dead_letters
from edgesplit.consumers.results import read_results
from edgesplit.kafka.io import produce_all
from edgesplit.producers.sources import mnist
from edgesplit.producers.stream import stream
from edgesplit.schemas import Activation, Frame, Tensor, encode_activation, encode_frame
from tests.support import deployed, make_plan, stop_and_restart

pytestmark = pytest.mark.kafka
MNIST_CUT = "/net/conv_layers/conv_layers.5/MaxPool_output_0"  # 64x7x7 floats


def test_poison_records_go_to_the_dead_letter_topic_and_good_frames_go_on(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    plan, path = make_plan(tmp_path, "mnist_cnn", [MNIST_CUT])
    good = list(mnist(40, cache=cache_dir()))
    cut = plan.cuts[0]
    poison_frames = [
        b"garbage \x00\xff bytes, not Avro",
        encode_frame(Frame("bad-shape", "s", 0, 0, Tensor("frame", np.zeros((32, 32), np.uint8)))),
        encode_frame(
            Frame("bad-dtype", "s", 1, 0, Tensor("frame", np.zeros((28, 28), np.float32)))
        ),
        b"",
    ]
    wrong_cut = encode_activation(
        Activation(
            "bad-act",
            "s",
            2,
            0,
            plan.version,
            0,
            (Tensor(cut.tensors[0].name, np.zeros((3, 3), "f4")),),
        )
    )
    with deployed(path, kafka, tmp_path / "state"):
        stream(kafka, plan.topics.frames, good[:20])
        produce_all(
            kafka,
            plan.topics.frames,
            [(b"sensor-x", p) for p in poison_frames],
            max_message_bytes=plan.topics.frames_max_message_bytes,
        )
        produce_all(
            kafka, cut.topic, [(b"sensor-x", wrong_cut)], max_message_bytes=cut.max_message_bytes
        )
        stream(kafka, plan.topics.frames, good[20:])
        report = read_results(kafka, [plan.topics.results], count=40, idle_timeout_s=30)
        deadline = time.monotonic() + 30
        letters: list[dict[str, str]] = []
        while len(letters) < 5 and time.monotonic() < deadline:
            letters = read_dead_letters(kafka, plan.topics.dead_letters)
    assert report.frames == 40  # every good frame around the poison still came through
    assert report.accuracy is not None and report.accuracy > 0.9
    by_offset = sorted(letters, key=lambda d: (d["stage"], int(d["source-offset"])))
    got = [(d["stage"], d["error"], d["field"]) for d in by_offset]
    assert got == [
        ("0", "DecodeError", "header"),
        ("0", "ShapeError", "tensor"),
        ("0", "ShapeError", "tensor"),
        ("0", "DecodeError", "message"),
        ("1", "ShapeError", "tensors"),
    ]
    reasons = [d["reason"] for d in by_offset]
    assert "bad marker" in reasons[0]
    assert "shape [32, 32], the stage expects [28, 28]" in reasons[1]
    assert "dtype float32, the stage expects uint8" in reasons[2]
    assert "empty message" in reasons[3]
    assert all(d["source-topic"] in (plan.topics.frames, cut.topic) for d in letters)
    assert [int(d["bytes"]) for d in by_offset[:4]] == [len(p) for p in poison_frames]


@pytest.mark.parametrize("victim", [0, 1])
def test_sigterm_mid_stream_then_restart_loses_no_frame(
    kafka: KafkaSettings, tmp_path: Path, victim: int
) -> None:
    plan, path = make_plan(tmp_path, "mnist_cnn", [MNIST_CUT], batch=4)
    samples = list(mnist(1500, cache=cache_dir()))
    run = stop_and_restart(
        plan, path, kafka, tmp_path / "state", samples, victim=victim, sig=signal.SIGTERM
    )
    assert run.exit_code == 0
    assert '"event": "stage_stopped"' in run.log.read_text()
    report = run.summary.report()
    print(
        f"\nSIGTERM to stage {victim} after {run.answered_before} answers: {report.frames}/1500 "
        f"frames answered, {report.duplicates} duplicates"
    )
    assert report.frames == 1500
