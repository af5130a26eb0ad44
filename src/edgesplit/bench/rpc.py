"""The direct RPC pipeline: the baseline a Kafka pipeline is compared with.

This is the approach of the Raspberry Pi split-inference system (ParetoPipe's RPC
pipeline): the edge runs the first part of the model and calls the cloud directly, with
several batches in flight so edge compute, transfer and cloud compute overlap. Here it
uses gRPC, the same stage partitions (ONNX Runtime, one thread each) and the same Avro
encoding of the activations as the Kafka pipeline, so the comparison is about the
transport: a broker in the middle vs a direct call.

    python -m edgesplit.bench.rpc serve  --plan P --port 50051 [--host 127.0.0.1]
    python -m edgesplit.bench.rpc client --plan P --target HOST:PORT --frames N [--in-flight K]

The client prints one JSON object: throughput, latency percentiles, bytes per frame and
each frame's top-1 class.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent import futures
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.orchestrator.plan import Plan, load_plan, verify_stage_model
from edgesplit.schemas import Activation, Result, Tensor, decode_activation, decode_result
from edgesplit.schemas.codec import encode_activation, encode_result
from edgesplit.schemas.encoding import TensorEncoding
from edgesplit.stages.executor import Executor

METHOD = "/edgesplit.Split/Run"
_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class RpcReport:
    frames: int
    seconds: float
    throughput_fps: float  # answered frames / (last answer - first capture)
    p50_ms: float
    p95_ms: float
    request_bytes_per_frame: float
    top1: list[int]


def _executors(plan: Plan, plan_path: Path, stages: range) -> list[tuple[Executor, Any]]:
    out = []
    for i in stages:
        spec = plan.stage(i)
        out.append(
            (
                Executor(
                    verify_stage_model(plan_path, spec),
                    spec.inputs,
                    spec.outputs,
                    threads=spec.threads,
                ),
                spec,
            )
        )
    return out


class _Cloud:
    """Runs every stage after the first on a batch; one request at a time (one thread)."""

    def __init__(self, plan: Plan, plan_path: Path) -> None:
        self.plan = plan
        self.stages = _executors(plan, plan_path, range(1, len(plan.stages)))
        self.lock = threading.Lock()

    def __call__(self, request: bytes, context: Any) -> bytes:
        act = decode_activation(request)
        tensors = {t.name: t.array for t in act.tensors}
        with self.lock:
            for executor, spec in self.stages:
                outputs = executor.run({t.name: tensors[t.name] for t in spec.inputs})
                tensors |= outputs
        logits = tensors[self.plan.model.output.name]
        return encode_result(
            Result(
                act.frame_id,
                act.sensor_id,
                act.seq,
                act.capture_us,
                self.plan.version,
                len(self.plan.stages) - 1,
                output=Tensor("logits", np.ascontiguousarray(logits)),
            )
        )


def serve(
    plan_path: Path,
    host: str,
    port: int,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> None:
    import grpc  # noqa: PLC0415 - the bench extra

    plan = load_plan(plan_path)
    handler = grpc.method_handlers_generic_handler(
        "edgesplit.Split", {"Run": grpc.unary_unary_rpc_method_handler(_Cloud(plan, plan_path))}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_OPTIONS)
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    print(json.dumps({"serving": f"{host}:{port}"}), flush=True)
    if ready is not None:
        ready.set()
    if stop is not None:
        stop.wait()
        server.stop(grace=2)
    else:
        server.wait_for_termination()


def run_client(
    plan_path: Path,
    target: str,
    frames: Array,
    *,
    in_flight: int = 4,
    batch: int | None = None,
    encoding: str | None = None,
    rate_hz: float | None = None,
) -> RpcReport:
    """Run stage 0 here, the rest over gRPC, with up to `in_flight` batches outstanding.

    With `rate_hz`, frames are captured at that pace (a camera), so latency is measured
    without a queue building up; without it, as fast as the pipeline goes (throughput).
    """
    import grpc  # noqa: PLC0415

    plan = load_plan(plan_path)
    ((edge, spec),) = _executors(plan, plan_path, range(1))
    cut = plan.output_cut(0)
    enc = TensorEncoding.parse(encoding or (cut.encoding if cut else "raw"))
    size = batch or spec.batch.max_size
    channel = grpc.insecure_channel(target, options=_OPTIONS)
    grpc.channel_ready_future(channel).result(timeout=30)
    call: Any = channel.unary_unary(METHOD)
    edge.warm_up(size)
    slots = threading.Semaphore(in_flight)
    lock = threading.Lock()
    done_at: list[float] = []
    latencies: list[float] = []
    top1: dict[int, list[int]] = {}
    sent_bytes = 0

    def finished(lo: int, captured: list[float], fut: Any) -> None:
        result = decode_result(fut.result())
        now = time.perf_counter()
        assert result.output is not None
        with lock:
            top1[lo] = [int(i) for i in result.output.array.argmax(axis=1)]
            done_at.extend([now] * len(captured))
            latencies.extend((now - c) * 1000 for c in captured)
        slots.release()

    start = time.perf_counter()
    for lo in range(0, len(frames), size):
        hi = min(lo + size, len(frames))
        if rate_hz:  # a camera: frame i is captured at start + i / rate
            captured = [start + i / rate_hz for i in range(lo, hi)]
            time.sleep(max(0.0, captured[-1] - time.perf_counter()))
        slots.acquire()
        if not rate_hz:
            captured = [time.perf_counter()] * (hi - lo)
        outputs = edge.run({spec.inputs[0].name: frames[lo:hi]})
        request = encode_activation(
            Activation(
                f"batch-{lo}",
                "rpc",
                lo,
                0,
                plan.version,
                0,
                tuple(Tensor(k, v) for k, v in outputs.items()),
            ),
            enc,
        )
        sent_bytes += len(request)
        fut = call.future(request)
        fut.add_done_callback(lambda f, lo=lo, c=captured: finished(lo, c, f))
    for _ in range(in_flight):
        slots.acquire()
    seconds = time.perf_counter() - start
    channel.close()
    # the same figure as the Kafka runs: answered frames / (last answer - start)
    rate = len(done_at) / (max(done_at) - start) if done_at else 0.0
    lat = np.array(latencies)
    return RpcReport(
        frames=len(frames),
        seconds=seconds,
        throughput_fps=float(rate),
        p50_ms=float(np.percentile(lat, 50)),
        p95_ms=float(np.percentile(lat, 95)),
        request_bytes_per_frame=sent_bytes / len(frames),
        top1=[c for lo in sorted(top1) for c in top1[lo]],
    )


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - exercised via subprocess
    parser = argparse.ArgumentParser(
        prog="python -m edgesplit.bench.rpc",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("serve", help="the cloud side: every stage after the first")
    s.add_argument("--plan", type=Path, required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("client", help="the edge side: stage 0, then calls the cloud")
    c.add_argument("--plan", type=Path, required=True)
    c.add_argument("--target", required=True)
    c.add_argument("--frames", type=int, default=200)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--in-flight", type=int, default=4)
    c.add_argument("--batch", type=int)
    c.add_argument("--rate", type=float, help="frames per second (default: as fast as it goes)")
    args = parser.parse_args(argv)
    if args.role == "serve":
        serve(args.plan, args.host, args.port)
        return
    from edgesplit.bench.frames import real_frames  # noqa: PLC0415

    plan = load_plan(args.plan)
    frames = np.stack([s.array for s in real_frames(plan, args.frames, seed=args.seed)])
    report = run_client(args.plan, args.target, frames, in_flight=args.in_flight, batch=args.batch)
    json.dump(asdict(report), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":  # pragma: no cover
    main()
