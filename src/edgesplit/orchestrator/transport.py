"""What a stage spends around ONNX Runtime per record: the real stage loop, measured.

A stage's loop costs CPU beyond its model: it polls, decodes and checks each record,
stacks a micro-batch, encodes and produces each output, takes delivery callbacks, stores
offsets and publishes its metrics, while librdkafka fetches, copies and checksums the
records in its own threads. On a tier under a CPU quota all of it shares the quota with
ONNX Runtime; on a roomy tier the librdkafka threads run beside it and only the loop's
own thread adds to the stage's time per frame.

Measured on the tier, through the broker, by the stage loop itself (StageRuntime): it
runs the first stage of a null model (the frame through a Relu, cut there: next to no
compute) over a topic filled beforehand with frames (untimed), at its full micro-batch,
until every output is acknowledged. Done at two frame sizes, the CPU time of the loop's
thread and of the whole process gives a cost per record (small frames, flat out: a stage
that is the bottleneck never waits) and per byte (large frames, paced at half the uplink:
a backlogged link costs CPU in drops and retransmissions, but then the link is the
bottleneck, not the CPU; consumed plus produced; what the process spends idling beside
the loop, measured after the run, taken off: `per_record`); the raw codec's work is part
of it (`TransportCost.codec_included`). The bytes moved are capped so that a slow uplink is
measured in seconds. (A bare consume -> produce relay, which this replaces, saw 50 us of
the 200-240 us per record an MNIST stage's loop costs on the project's CI VM.)
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgesplit.config import KafkaSettings
from edgesplit.errors import DeliveryError
from edgesplit.kafka.admin import create_topics, delete_topics
from edgesplit.kafka.io import produce_all
from edgesplit.kafka.limits import MiB
from edgesplit.log import get_logger
from edgesplit.orchestrator.builder import build_plan
from edgesplit.orchestrator.deploy import topic_specs
from edgesplit.orchestrator.plan import BatchPolicy, Plan, verify_stage_model
from edgesplit.orchestrator.profile import TransportCost
from edgesplit.schemas import Tensor, now_us
from edgesplit.schemas.codec import encode_frame
from edgesplit.schemas.records import Frame
from edgesplit.stages.executor import Executor
from edgesplit.stages.runtime import StageRuntime

PREFIX = "edgesplit-transport-"  # the null pipelines' names (and so their topics')
SMALL, LARGE = 1024, 128 * 1024  # bytes of float32 frame
BUDGET_BYTES = 8 * MiB  # per size
START_POLL_S, RUN_POLL_S = 0.002, 0.02  # waiting for the first record; for the rest
IDLE_S = 1.0  # the process idling beside the loop, measured after the run
log = get_logger("orchestrator.transport")


def measure_transport(
    settings: KafkaSettings,
    uplink_bps: float,
    *,
    batch: int = 4,
    seconds: float = 3.0,
    timeout_s: float = 120.0,
) -> TransportCost:
    """The stage loop's CPU per record and per byte at micro-batch `batch`, paced at half
    the uplink, for about `seconds` per frame size."""
    pace = uplink_bps / 8 / 2  # bytes per second
    small = _loop_cpu(settings, SMALL, batch, pace, seconds, timeout_s, paced=False)
    large = _loop_cpu(settings, LARGE, batch, pace, seconds, timeout_s, paced=True)
    moved = 2 * (LARGE - SMALL)  # bytes consumed + produced per record, difference
    main_ns = max((large[0] - small[0]) * 1e9 / moved, 0.0)
    total_ns = max((large[1] - small[1]) * 1e9 / moved, 0.0)
    cost = TransportCost(
        main_us_per_record=max(small[0] * 1e6 - main_ns * 2 * SMALL / 1000, 0.0),
        main_ns_per_byte=main_ns,
        total_us_per_record=max(small[1] * 1e6 - total_ns * 2 * SMALL / 1000, 0.0),
        total_ns_per_byte=total_ns,
        codec_included=True,
    )
    log.info("transport_measured", **cost.model_dump())
    return cost


def null_model(path: Path, elements: int) -> Path:
    """frame (float32 [N, elements]) -> Relu -> act -> Relu -> out: a cut at `act`."""
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["frame"], ["act"], name="first"),
            helper.make_node("Relu", ["act"], ["out"], name="second"),
        ],
        "null",
        [helper.make_tensor_value_info("frame", TensorProto.FLOAT, ["N", elements])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", elements])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _loop_cpu(
    settings: KafkaSettings,
    size: int,
    batch: int,
    pace: float,
    seconds: float,
    timeout_s: float,
    *,
    paced: bool,
) -> tuple[float, float]:
    """CPU seconds per record (the loop's thread, the process) of the null stage on
    frames of `size` bytes: `pace` bytes per second for `seconds` at most, and sending
    at that pace if `paced` (else flat out, as a stage that is the bottleneck runs)."""
    count = max(2 * batch, min(2000, BUDGET_BYTES // size, int(pace * seconds / size)))
    count -= count % batch  # full micro-batches only
    with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        folder = Path(tmp)
        plan_file = folder / "plan.yaml"
        plan = build_plan(
            model_name="null",
            onnx_path=null_model(folder / "null.onnx", size // 4),
            cut_specs=["act"],
            out=plan_file,
            pipeline=f"{PREFIX}{uuid.uuid4().hex[:12]}",
            batch=BatchPolicy(max_size=batch, max_wait_ms=1000.0),
        )
        create_topics(settings, topic_specs(plan))
        try:
            frames = [_frame(i, size) for i in range(count)]
            produce_all(
                settings, plan.topics.frames, frames,
                max_message_bytes=plan.topics.frames_max_message_bytes, timeout_s=timeout_s,
            )  # fmt: skip
            ms_per_frame = 1000 * size / pace if paced else 0.0
            return _run_stage(settings, plan, plan_file, count, ms_per_frame, timeout_s)
        finally:
            delete_topics(settings, plan.topic_names)


def _frame(i: int, size: int) -> tuple[bytes, bytes]:
    values = np.random.default_rng(i).standard_normal(size // 4, dtype=np.float32)
    frame = Frame(f"probe:{i:010d}", "probe", i, now_us(), Tensor("frame", values))
    return b"probe", encode_frame(frame)


def _run_stage(
    settings: KafkaSettings,
    plan: Plan,
    plan_file: Path,
    count: int,
    ms_per_frame: float,
    timeout_s: float,
) -> tuple[float, float]:
    """Stage 0 of `plan` until `count` outputs are acknowledged: CPU seconds per record,
    from its first record on (joining the group is not a record's cost). The stage sleeps
    `ms_per_frame` per frame (as a deliberately slow stage does): a stage whose link
    keeps up sends at its own pace, and a backlogged link costs more CPU (in drops and
    retransmissions) but then the link is the bottleneck, not the CPU."""
    spec = plan.stage(0)
    executor = Executor(verify_stage_model(plan_file, spec), spec.inputs, spec.outputs)
    executor.warm_up(spec.batch.max_size)
    stage = StageRuntime(plan, 0, executor, settings, summary_every_s=3600, slow_ms=ms_per_frame)
    stop = threading.Event()
    thread = threading.Thread(target=stage.run, args=(stop,), name="probe-stage", daemon=True)
    thread.start()
    try:
        assert thread.ident is not None
        clock = time.pthread_getcpuclockid(thread.ident)
        deadline = time.monotonic() + timeout_s
        while stage.stats.frames_in == 0:
            _wait(deadline, stage, count, thread, START_POLL_S)
        start = Clocks.read(clock)
        while stage.stats.frames_out < count:
            _wait(deadline, stage, count, thread, RUN_POLL_S)
        run = Clocks.read(clock) - start
        idle_start = Clocks.read(clock)
        while time.monotonic() < idle_start.wall + IDLE_S:
            _wait(deadline + IDLE_S, stage, count, thread, RUN_POLL_S)
        idle = Clocks.read(clock) - idle_start
    finally:
        stop.set()
        thread.join(timeout_s)
    return per_record(run, idle, count)


def per_record(run: Clocks, idle: Clocks, count: int) -> tuple[float, float]:
    """CPU seconds per record (the loop's thread, the process) of a run of `count`
    records, less what the process spends beside the loop's thread while it idles
    (librdkafka's threads, this probe's own waiting: 21 ms a second on the CI VM): a
    paced run would charge that to its bytes (4-16 ns a byte instead of 2.3), and a
    busy stage does not spend it. The loop's thread, paced, sleeps: nothing to take off."""
    beside = max(idle.total - idle.main, 0.0) / idle.wall
    return run.main / count, max(run.total - beside * run.wall, run.main) / count


@dataclass(frozen=True)
class Clocks:
    """CPU seconds of the loop's thread and of the process, and the wall clock."""

    main: float
    total: float
    wall: float

    @classmethod
    def read(cls, clock: int) -> Clocks:
        return cls(time.clock_gettime(clock), time.process_time(), time.monotonic())

    def __sub__(self, other: Clocks) -> Clocks:
        return Clocks(self.main - other.main, self.total - other.total, self.wall - other.wall)


def _wait(
    deadline: float, stage: StageRuntime, count: int, thread: threading.Thread, poll_s: float
) -> None:
    done = f"{stage.stats.frames_out}/{count} records"
    if not thread.is_alive():  # its traceback is on stderr
        raise DeliveryError(f"the transport probe's stage failed after delivering {done}")
    if time.monotonic() > deadline:
        raise DeliveryError(f"the transport probe's stage delivered only {done} in time")
    time.sleep(poll_s)
