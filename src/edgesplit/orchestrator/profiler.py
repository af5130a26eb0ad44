"""Measure a model on this tier and produce its TierProfile.

Every figure the cost model uses is measured here, on the tier it describes:

- compute: each single-tensor cut's prefix and suffix, extracted as a stage extracts
  them and run by the stage's own Executor (same threads, same graph optimisation), on
  real frames, at each batch size (median of `reps` after `warmup`, ms per batch; 1, 2
  and 4 by default: a stage that is not its pipeline's bottleneck runs the frames that
  have come, often 2 or 3, and between batch 1 and 4 a run's time is neither linear per
  frame nor per batch: AlexNet's cut 11 suffix ran 9.5-10.1 ms a frame in batches of 3,
  11.4-12.2 predicted per frame from batches of 1 and 4, 8.7-9.3 per batch). Each
  run starts with the core's caches cold, as a stage's does (coldcache). Each is timed
  three times: busy (runs back to back, as the pipeline's bottleneck stage makes them),
  after idle (each run after an IDLE_S pause, as a stage that waits for its input makes
  them: AlexNet's last layer runs in 0.13 ms a frame busy, 0.35 after a pause of 5 ms or
  more, 0.30-0.37 in a cloud stage behind the edge), and after a long pause (LONG_S,
  one run a pass: a stage whose input comes over a thin uplink, or that waits on its
  own, idles a few hundred ms to seconds between batches, and a run then costs more
  than after 20 ms, CPU time, not wall time: MobileNetV2's cut 5 prefix at batch 4 on
  the 0.5-CPU edge, 1.8 ms busy, 2.3 after 20 ms, 3.6 after 200 ms, 3.7 after 500 ms,
  3.4-3.6 in a stage waiting on its own uplink; its cut 2 suffix at batch 1 on the
  host, 4.9, 5.9, 7.7 after 250 ms, 7.4 after 2 s, 7.8-9.1 in a stage idling seconds
  behind the edge; the cost model interpolates on the wait, profile.Pauses). Longer
  pauses cost more only on some days (ResNet-50's cut 15 prefix at batch 4 on the
  edge: 25 ms busy and after 20 ms, 67 after 1 s, 105 after 2 s one day; 18.0, 18.5,
  21.3 after 250 ms and 20.9 after 2 s another), so the figure is taken at LONG_S,
  where the cost has settled (it used to be off by default, 2 s when asked for), on
  every LONG_EVERY-th cut and the last, the others interpolated (longpause: what the
  pause adds moves slowly along the cuts). The process's CPU time is what is timed,
  then spread over the CPUs the runs can use
  (min(threads, the tier's CPU quota)): under a CFS quota, wall time per run is
  bimodal (a run throttled or not), its CPU time is not, and the average wall time of a
  stage that keeps the tier busy is CPU time / quota. The cuts are timed in PASSES
  passes, each cut's figure the median of its passes, and the whole model every
  WHOLE_EVERY cuts throughout (its median kept); each timing is scaled by the whole
  model's median over its timing when the timing was taken (drift: the host's speed
  moves during a profile), and a cut whose prefix + suffix strays from it by more than
  STRAY is timed once more. On a shared machine CPU time still moves by 10-30% with the
  neighbours' load, so each segment's figure is then pooled with the median over the cuts
  of prefix + suffix less the other segment's (complement: that total is known far better
  than one cut's figures), and the figures are made consistent with the graph (monotone:
  a later cut's prefix is never faster, and the whole model is the last prefix and the
  first suffix);
- nodes: ONNX Runtime's own profiler over the whole model at batch 1, with FLOPs;
- bytes, codec: the real codec on real activations (wirecost);
- accuracy: top-1 agreement of lossy encodings (agreement; cached, tier-independent);
- link: through the broker, when settings are given (linkprobe), and the CPU the stage
  loop spends around the model per record and per byte, at the largest batch size
  (transport: the real loop on a null model);
- cpus: this process's CPU quota (its cgroup), and the share of it a busy stage really
  gets (CPU time over wall time, the whole model back to back), read at the start and at
  the end and the higher kept; host name and time;
- steal: the share of the host's CPU the hypervisor took while profiling (/proc/stat).
  CPU time does not count stolen time (the kernel takes it off), wall time does: a burst
  of steal lowers a `cpu_share` reading, which is read again while one loses more than
  MAX_STEAL. A profile that lost more than that overall is worth taking again on a
  quieter host (`profile run` says so).
"""

from __future__ import annotations

import json
import math
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from edgesplit.config import KafkaSettings, cache_dir
from edgesplit.digest import sha256_file
from edgesplit.errors import ConfigError
from edgesplit.log import get_logger
from edgesplit.orchestrator.agreement import agreement_table
from edgesplit.orchestrator.builder import spec
from edgesplit.orchestrator.coldcache import Evictor
from edgesplit.orchestrator.complement import pooled
from edgesplit.orchestrator.cpuquota import cpu_quota
from edgesplit.orchestrator.drift import corrected, drift_factors
from edgesplit.orchestrator.flops import GraphCosts
from edgesplit.orchestrator.graph import Cut, ModelGraph, StageGraph
from edgesplit.orchestrator.inputs import model_frames
from edgesplit.orchestrator.linkprobe import probe_link
from edgesplit.orchestrator.longpause import fill, sampled
from edgesplit.orchestrator.monotone import monotone_profile
from edgesplit.orchestrator.profile import TIMES, CutCost, NodeCost, Pauses, TierProfile
from edgesplit.orchestrator.steal import MAX_STEAL, CpuClock, steal_since
from edgesplit.orchestrator.transport import measure_transport
from edgesplit.orchestrator.wirecost import codec_costs, wire_bytes
from edgesplit.stages.executor import Executor, providers, session_options

Array = np.ndarray[Any, Any]
Progress = Callable[[int, int, str], None]  # (done, total, what is being measured)
NODE_BATCH = 1
MIN_REP_MS = 5.0  # a timed repetition loops over runs for at least this long
WHOLE_EVERY = 8  # cuts timed between two timings of the whole model
PASSES = 3  # passes over the cuts: each cut's figure is the median of its passes
IDLE_S = 0.02  # the pause before each run timed after idle
LONG_S = 0.25  # the long pause (`long_pause_s`): what a wait costs has settled after it
LONG_EVERY = 4  # cuts timed after the long pause: every this many, the others interpolated
STRAY = 0.4  # a cut whose prefix + suffix is this far off the whole model is timed again
SHARE_TRIES = 3  # cpu_share readings at most while the hypervisor steals over MAX_STEAL
_MIN_PROBE, _MAX_PROBE = 16 * 1024, 1024 * 1024
log = get_logger("orchestrator.profiler")


def profile_model(
    name: str,
    onnx_path: Path,
    tier: str,
    *,
    batch_sizes: Sequence[int] = (1, 2, 4),
    reps: int = 7,
    warmup: int = 2,
    threads: int = 1,
    cpus: float | None = None,
    agreement_frames: int = 200,
    settings: KafkaSettings | None = None,
    progress: Progress | None = None,
    cache: Path | None = None,
    passes: int = PASSES,
    long_pause_s: float = LONG_S,
    long_every: int = LONG_EVERY,
) -> TierProfile:
    """Profile `onnx_path` on this machine as tier `tier` (see the module's docstring)."""
    sizes = tuple(sorted(set(batch_sizes)))
    _check(sizes, min(reps, threads, passes, long_every), warmup, long_pause_s)
    cache = cache or cache_dir()
    cpus = cpus if cpus is not None else cpu_quota()
    parallel = min(float(threads), cpus)
    started, clock = time.perf_counter(), CpuClock.now()
    sha = sha256_file(onnx_path)
    graph = ModelGraph.load(onnx_path)
    costs = GraphCosts.of(onnx.load(str(onnx_path), load_external_data=False))
    info = graph.inputs[0]
    frames = model_frames(info, max(sizes), cache=cache)
    feed = {info.name: frames}
    whole = Executor(onnx_path, [spec(info)], [spec(t) for t in graph.outputs], threads=threads)
    pauses = Pauses(idle_s=IDLE_S, long_s=long_pause_s, long_every=long_every)
    timing = _Timing(sizes, math.ceil(reps / passes), warmup, threads, parallel, Evictor(), pauses)
    share = cpu_share(whole, _head(feed, max(sizes)), parallel)  # again at the end

    def whole_sample() -> dict[int, float]:
        return {b: timing.ms(whole, _head(feed, b)) for b in sizes}

    samples, sampled_at = [whole_sample()], [0.0]  # moments: cuts timed so far
    agreement: dict[int, dict[str, float]] = {}
    if agreement_frames > 0:
        agreement = agreement_table(
            graph, onnx_path, sha, agreement_frames, cache=cache, threads=threads,
            progress=progress,
        )  # fmt: skip
    singles = [c for c in graph.cuts() if c.single]
    long_timed = sampled(len(singles), long_every) if long_pause_s > 0 else set()

    def measure(i: int, known: CutCost | None = None) -> CutCost:
        return _cut_cost(
            graph, costs, singles[i], feed, timing, agreement, known, long=i in long_timed
        )

    # Each cut is timed in `passes` passes over all the cuts, a pass apart, and the whole
    # model every WHOLE_EVERY cuts throughout, its median kept: the statistic each cut's
    # figure is (its fastest would sit below every cut's prefix + suffix on a host whose
    # speed drifts). Each timing is scaled to that median by the whole model's timing
    # when it was taken (`drift`), and a cut's figure is the median of its passes: a
    # neighbour's burst of load slows one pass, not the figure.
    timed: list[list[tuple[float, CutCost]]] = [[] for _ in singles]
    total = passes * len(singles)
    for done in range(total):
        i = done % len(singles)
        known = timed[i][0][1] if timed[i] else None
        timed[i].append((done + 0.5, measure(i, known)))
        if (done + 1) % WHOLE_EVERY == 0 or done + 1 == total:
            samples.append(whole_sample())
            sampled_at.append(done + 1.0)
        if progress is not None:
            pass_no = f" (pass {done // len(singles) + 1} of {passes})" if passes > 1 else ""
            progress(done + 1, total, f"timing cut {singles[i].index}{pass_no}")
    whole_ms = {b: statistics.median(sample[b] for sample in samples) for b in sizes}
    cut_costs = [
        median_of([corrected(cost, drift_factors(sampled_at, samples, at)) for at, cost in runs])
        for runs in timed
    ]
    # A cut whose prefix + suffix still strays far from the whole model is timed again,
    # keeping the faster figures: other work only ever slows a run down.
    now = drift_factors(sampled_at, samples, sampled_at[-1])
    for i, cost in enumerate(cut_costs):
        if _strays(cost, whole_ms):
            cut_costs[i] = _faster(cost, corrected(measure(i, cost), now))
            log.info("cut_retimed", cut=cost.index)
    cut_costs, whole_ms = monotone_profile(pooled(fill(cut_costs)), whole_ms)
    link = transport = None
    if settings is not None:
        probe = int(statistics.median(c.bytes_per_frame for c in cut_costs)) if cut_costs else 0
        link = probe_link(settings, min(max(probe, _MIN_PROBE), _MAX_PROBE))
        transport = measure_transport(settings, link.uplink_bps, batch=max(sizes))
    profile = TierProfile(
        model=name,
        onnx_sha256=sha,
        tier=tier,
        host=socket.gethostname(),
        cpus=cpus,
        # other work only ever lowers it; last, 2 s busy
        cpu_share=max(share, cpu_share(whole, _head(feed, max(sizes)), parallel)),
        threads=threads,
        batch_sizes=sizes,
        frame_bytes=info.bytes_per_frame,
        whole_ms=whole_ms,
        cuts=tuple(cut_costs),
        nodes=node_costs(onnx_path, costs, feed, threads, reps, warmup),
        node_batch=NODE_BATCH,
        codec=codec_costs(),
        link=link,
        transport=transport,
        measured_at=time.time(),
        frames=agreement_frames if agreement else 0,
        steal=steal_since(clock),
        pauses=pauses,
    )
    log.info(
        "model_profiled", model=name, tier=tier, cuts=len(cut_costs),
        seconds=round(time.perf_counter() - started, 1), steal=profile.steal,
    )  # fmt: skip
    return profile


def _check(sizes: tuple[int, ...], least: int, warmup: int, long_pause_s: float) -> None:
    if not sizes or sizes[0] < 1 or least < 1 or warmup < 0:
        raise ConfigError(
            "batch sizes, reps, passes, threads and long-every must be >= 1, warmup >= 0"
        )
    if long_pause_s != 0 and long_pause_s <= IDLE_S:
        raise ConfigError(f"the long pause must be 0 (none) or over {IDLE_S} s")


def _strays(cost: CutCost, whole_ms: dict[int, float]) -> bool:
    return any(
        abs(cost.prefix_ms[b] + cost.suffix_ms[b] - ms) > STRAY * ms for b, ms in whole_ms.items()
    )


def _faster(a: CutCost, b: CutCost) -> CutCost:
    def least(name: str) -> dict[int, float]:
        theirs = getattr(b, name)
        return {k: min(v, theirs.get(k, v)) for k, v in getattr(a, name).items()}

    return a.model_copy(update={name: least(name) for name in TIMES})


def _head(feeds: dict[str, Array], n: int) -> dict[str, Array]:
    return {k: v[:n] for k, v in feeds.items()}


def time_ms(
    ex: Executor,
    feeds: dict[str, Array],
    reps: int,
    warmup: int,
    parallel: float = 1.0,
    evict: Callable[[], None] | None = None,
    idle_s: float = 0.0,
) -> float:
    """Median ms per run over `reps` repetitions, after `warmup` runs (at least one): the
    process's CPU time per run spread over `parallel` CPUs, each run started after `evict`
    (a stage's run starts with the core's caches cold: coldcache) and, with `idle_s`,
    after that long a pause (a stage that waits for its input).

    A busy repetition of a fast model adds up enough runs to last MIN_REP_MS of CPU, so
    that the clock's granularity cannot move a sub-millisecond figure by half; one after
    idle is one run (the pause is the point).
    """

    def run() -> float:
        if evict is not None:
            evict()
        if idle_s > 0:
            time.sleep(idle_s)
        start = time.process_time()
        ex.run(feeds)
        return time.process_time() - start

    fastest = min(run() for _ in range(max(warmup, 1)))
    loops = 1 if idle_s > 0 else max(1, math.ceil(MIN_REP_MS / 1000 / max(fastest, 1e-6)))
    return statistics.median(
        sum(run() for _ in range(loops)) * 1000 / loops / parallel for _ in range(reps)
    )


def cpu_share(
    ex: Executor, feeds: dict[str, Array], parallel: float, seconds: float = 2.0
) -> float:
    """The share of `parallel` CPUs a busy stage really gets here: CPU time over wall time
    while the model runs back to back for `seconds`. Under a CFS quota it is below 1 (a
    throttled stage resumes with cold caches, and the quota is charged in ticks); on a
    quiet machine with room, about 1. Read again, up to SHARE_TRIES times, while the
    hypervisor steals more than MAX_STEAL of the host's CPU during a reading (its wall
    time runs on, its CPU time does not), the highest kept."""
    ex.run(feeds)
    share = 0.0
    for _ in range(SHARE_TRIES):
        clock = CpuClock.now()
        start, cpu0 = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            ex.run(feeds)
        wall = time.perf_counter() - start
        share = max(share, (time.process_time() - cpu0) / (wall * parallel))
        stolen = steal_since(clock)
        if stolen is None or stolen <= MAX_STEAL:
            break
        log.info("cpu_share_stolen", steal=round(stolen, 3), share=round(share, 3))
    return min(max(share, 0.05), 1.0)


def executor(stage: StageGraph, threads: int) -> Executor:
    """The Executor a stage would run this partition with."""
    return Executor(
        stage.onnx_bytes,
        [spec(t) for t in stage.inputs],
        [spec(t) for t in stage.outputs],
        threads=threads,
    )


@dataclass(frozen=True)
class _Timing:
    """How each figure is timed: batch sizes, repetitions and warm-up runs (`time_ms`),
    and the pauses of the runs timed after idle."""

    sizes: tuple[int, ...]
    reps: int
    warmup: int
    threads: int
    parallel: float
    evict: Callable[[], None]
    pauses: Pauses

    def ms(self, ex: Executor, feeds: dict[str, Array]) -> float:
        """Busy: runs back to back."""
        return time_ms(ex, feeds, self.reps, self.warmup, self.parallel, self.evict)

    def idle_ms(self, ex: Executor, feeds: dict[str, Array]) -> float:
        """After the short pause, without warm-up (the busy timing just ran `ex`)."""
        return time_ms(ex, feeds, self.reps, 0, self.parallel, self.evict, self.pauses.idle_s)

    def long_ms(self, ex: Executor, feeds: dict[str, Array]) -> float:
        """After the long pause: one run (each pass times one, the passes' median kept)."""
        return time_ms(ex, feeds, 1, 0, self.parallel, self.evict, self.pauses.long_s)


def median_of(runs: Sequence[CutCost]) -> CutCost:
    """One cut's figures: the median of its timings, per batch size."""

    def med(name: str) -> dict[int, float]:
        return {
            b: statistics.median(getattr(r, name)[b] for r in runs) for b in getattr(runs[0], name)
        }

    return runs[0].model_copy(update={name: med(name) for name in TIMES})


def _cut_cost(
    graph: ModelGraph,
    costs: GraphCosts,
    cut: Cut,
    feed: dict[str, Array],
    timing: _Timing,
    agreement: dict[int, dict[str, float]],
    known: CutCost | None = None,
    *,
    long: bool,
) -> CutCost:
    """`cut` timed (after the long pause too where `long`); its bytes, memory, FLOPs and
    agreement measured too, or, given what is `known` of it from an earlier timing (they
    do not change between timings), kept."""
    first, second = graph.split([cut])
    prefix, suffix = executor(first, timing.threads), executor(second, timing.threads)
    times: dict[str, dict[int, float]] = {name: {} for name in TIMES}
    activations: dict[str, Array] = {}
    for b in timing.sizes:
        part = _head(feed, b)
        times["prefix_ms"][b] = timing.ms(prefix, part)
        times["prefix_idle_ms"][b] = timing.idle_ms(prefix, part)
        activations = prefix.run(part)
        inner = {t.name: activations[t.name] for t in second.inputs}
        times["suffix_ms"][b] = timing.ms(suffix, inner)
        times["suffix_idle_ms"][b] = timing.idle_ms(suffix, inner)
        if long:
            times["prefix_long_ms"][b] = timing.long_ms(prefix, part)
            times["suffix_long_ms"][b] = timing.long_ms(suffix, inner)
    if known is not None:
        return known.model_copy(update=times)
    tensor = cut.tensors[0]
    big = timing.sizes[-1]
    return CutCost(
        index=cut.index,
        tensor=tensor.name,
        bytes_per_frame=cut.bytes_per_frame,
        wire_bytes=wire_bytes(tensor.name, activations[tensor.name][0]),
        prefix_ms=times["prefix_ms"],
        suffix_ms=times["suffix_ms"],
        prefix_idle_ms=times["prefix_idle_ms"],
        suffix_idle_ms=times["suffix_idle_ms"],
        prefix_long_ms=times["prefix_long_ms"],
        suffix_long_ms=times["suffix_long_ms"],
        prefix_memory=costs.prefix_memory(cut.index, big),
        suffix_memory=costs.suffix_memory(cut.index, big, cut.names),
        prefix_flops=costs.prefix_flops(cut.index),
        agreement=agreement.get(cut.index, {}),
    )


def node_costs(
    onnx_path: Path,
    costs: GraphCosts,
    feed: dict[str, Array],
    threads: int,
    reps: int,
    warmup: int,
) -> tuple[NodeCost, ...]:
    """ONNX Runtime's profile of the whole model at batch NODE_BATCH: median per node."""
    with tempfile.TemporaryDirectory(prefix="edgesplit-ortprof-") as folder:
        opts = session_options(threads)
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(folder) / "profile")
        session = ort.InferenceSession(str(onnx_path), opts, providers=providers())
        part = _head(feed, NODE_BATCH)
        for _ in range(warmup + reps):
            session.run(None, part)
        trace = json.loads(Path(session.end_profiling()).read_text())
    durations: dict[str, list[float]] = {}
    ops: dict[str, str] = {}
    for event in trace:
        label = str(event.get("name", ""))
        if event.get("cat") != "Node" or not label.endswith("_kernel_time"):
            continue
        node = label.removesuffix("_kernel_time")
        durations.setdefault(node, []).append(float(event.get("dur", 0)) / 1000)
        ops[node] = str(event.get("args", {}).get("op_name", ""))
    return tuple(
        NodeCost(
            name=node,
            op=ops[node],
            ms=statistics.median(times[-reps:]),
            flops=costs.by_runtime_name(node, ops[node]),
        )
        for node, times in durations.items()
    )
