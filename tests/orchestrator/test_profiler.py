"""The profiler on the MNIST CNN: every cut timed, bytes, agreement, FLOPs, link, CLI."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from edgesplit.cli.main import app
from edgesplit.cli.profile import host_agreement
from edgesplit.config import KafkaSettings
from edgesplit.digest import sha256_file
from edgesplit.errors import ConfigError
from edgesplit.kafka.admin import ping
from edgesplit.orchestrator import profiler
from edgesplit.orchestrator.agreement import cache_file
from edgesplit.orchestrator.cpuquota import cpu_quota
from edgesplit.orchestrator.flops import GraphCosts
from edgesplit.orchestrator.graph import ModelGraph
from edgesplit.orchestrator.linkprobe import PROBE_PREFIX, probe_link
from edgesplit.orchestrator.profile import Pauses, TierProfile, load_profile, save_profile
from edgesplit.orchestrator.profiler import profile_model
from edgesplit.orchestrator.profiles_topic import publish_profile, read_profiles
from tests.support import zoo_onnx

FRAMES = 64
LONG_S = 0.05  # the long pause, short here


@pytest.fixture(scope="module")
def mnist() -> Path:
    return zoo_onnx("mnist_cnn")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def profile(mnist: Path, cache: Path) -> TierProfile:
    return profile_model(
        "mnist_cnn", mnist, "edge", reps=7, warmup=2, agreement_frames=FRAMES, cache=cache,
        long_pause_s=LONG_S,
    )  # fmt: skip


def test_every_single_tensor_cut_is_profiled(profile: TierProfile, mnist: Path) -> None:
    graph = ModelGraph.load(mnist)
    singles = [c for c in graph.cuts() if c.single]
    assert [c.index for c in profile.cuts] == [c.index for c in singles]
    assert [c.tensor for c in profile.cuts] == [c.tensors[0].name for c in singles]
    assert [c.bytes_per_frame for c in profile.cuts] == [c.bytes_per_frame for c in singles]
    assert profile.frame_bytes == 28 * 28
    assert profile.batch_sizes == (1, 2, 4)
    assert profile.cpus == cpu_quota() > 0
    assert 0.05 <= profile.cpu_share <= 1.0  # what a busy stage gets of its CPUs
    assert profile.steal is not None and 0 <= profile.steal <= 1  # read from /proc/stat


def test_prefix_and_suffix_add_up_to_the_whole_model(profile: TierProfile) -> None:
    # Loose: a tiny model (0.2 ms) on a shared machine, where each session's fixed cost is a
    # visible share and a busy moment moves one figure; the typical cut must be close.
    for b in profile.batch_sizes:
        whole = profile.whole_ms[b]
        ratios = [(c.prefix_ms[b] + c.suffix_ms[b]) / whole for c in profile.cuts]
        assert 0.7 <= statistics.median(ratios) <= 1.3, (b, ratios)
        assert all(0.5 <= r <= 1.8 for r in ratios), (b, ratios)


def test_every_cut_is_timed_after_a_short_and_a_long_pause_too(profile: TierProfile) -> None:
    # After the long pause: one cut in LONG_EVERY and the last timed, the others filled in
    assert profile.pauses == Pauses(
        idle_s=profiler.IDLE_S, long_s=LONG_S, long_every=profiler.LONG_EVERY
    )
    for c in profile.cuts:
        tables = [c.prefix_idle_ms, c.suffix_idle_ms, c.prefix_long_ms, c.suffix_long_ms]
        assert all(t.keys() == c.prefix_ms.keys() for t in tables)
        assert all(ms > 0 for t in tables for ms in t.values())
    # A run after a pause refills what the pause lost: never cheaper, typically dearer.
    ratios = [c.suffix_idle_ms[b] / c.suffix_ms[b] for c in profile.cuts for b in (1, 2, 4)]
    assert statistics.median(ratios) >= 0.9, ratios


def test_a_run_timed_after_idle_is_one_run_after_a_pause() -> None:
    class Clocked:
        def __init__(self) -> None:
            self.gaps: list[float] = []
            self._last = time.perf_counter()

        def run(self, feeds: object) -> None:
            now = time.perf_counter()
            self.gaps.append(now - self._last)
            self._last = now

    ex = Clocked()
    profiler.time_ms(ex, {}, reps=3, warmup=0, idle_s=0.01)  # type: ignore[arg-type]
    assert len(ex.gaps) == 1 + 3  # one warm-up run at least, then one run per repetition
    assert min(ex.gaps[1:]) >= 0.01
    busy = Clocked()
    profiler.time_ms(busy, {}, reps=3, warmup=0)  # type: ignore[arg-type]
    assert len(busy.gaps) > 1 + 3  # a fast run is looped up to MIN_REP_MS


def test_wire_bytes_shrink_with_lossy_encodings(profile: TierProfile) -> None:
    floats = [c for c in profile.cuts if c.bytes_per_frame >= 1024]
    assert floats
    for c in floats:
        w = c.wire_bytes
        assert w["raw"] > c.bytes_per_frame > w["fp16"] > w["int8"], c
    uint8 = profile.cuts[0]  # the frame itself, unsqueezed: lossy encodings leave it raw
    assert uint8.wire_bytes["raw"] == uint8.wire_bytes["int8"]


def test_memory_and_flops_grow_along_the_prefix(profile: TierProfile) -> None:
    flops = [c.prefix_flops for c in profile.cuts]
    assert flops == sorted(flops) and flops[-1] > 0
    assert all(c.prefix_memory > 0 and c.suffix_memory > 0 for c in profile.cuts)
    assert profile.cuts[-1].prefix_memory > profile.cuts[0].prefix_memory


def test_agreement_is_measured_and_cached(profile: TierProfile, mnist: Path, cache: Path) -> None:
    for c in profile.cuts:
        assert set(c.agreement) == {"fp16", "int8"}
        assert all(0.0 <= v <= 1.0 for v in c.agreement.values())
    assert profile.frames == FRAMES
    path = cache_file(cache, profile.onnx_sha256, FRAMES)
    raw = json.loads(path.read_text())
    first = str(profile.cuts[-1].index)
    raw["cuts"][first]["int8"] = 0.5  # a figure only the cache holds
    path.write_text(json.dumps(raw))
    again = profile_model(
        "mnist_cnn", mnist, "edge", batch_sizes=(1,), reps=1, warmup=0,
        agreement_frames=FRAMES, cache=cache,
    )  # fmt: skip
    assert again.cut(int(first)).agreement["int8"] == 0.5
    # The long pause by default, where what a wait costs has settled
    assert again.pauses.long_s == profiler.LONG_S and again.cuts[-1].prefix_long_ms


def test_conv_flops_follow_the_formula(profile: TierProfile, mnist: Path) -> None:
    model = onnx.load(str(mnist))
    costs = GraphCosts.of(model)
    i, conv = next((i, n) for i, n in enumerate(costs.nodes) if n.op_type == "Conv")
    weight = next(t for t in model.graph.initializer if t.name == conv.input[1])
    cout, cin_per_group, kh, kw = weight.dims
    _, hout, wout = costs.per_frame[conv.output[0]].shape
    expected = 2 * cout * hout * wout * cin_per_group * kh * kw
    assert costs.flops[i] == expected
    before, after = profile.cut(i), profile.cut(i + 1)  # the cuts either side of the Conv
    assert after.prefix_flops - before.prefix_flops == expected
    fused = [n for n in profile.nodes if n.op in ("Conv", "FusedConv")]
    assert fused and fused[0].flops >= expected
    assert all(n.ms >= 0 for n in profile.nodes) and sum(n.ms for n in profile.nodes) > 0


@pytest.mark.kafka
def test_the_link_probe_measures_through_the_broker(kafka: KafkaSettings) -> None:
    before = {t for t in ping(kafka).topics if t.startswith(PROBE_PREFIX)}
    link = probe_link(kafka, 32 * 1024)
    assert link.uplink_bps > 0 and link.hop_ms > 0 and link.rtt_ms > 0
    assert link.probe_bytes == 32 * 1024
    deadline = time.monotonic() + 15
    while {t for t in ping(kafka).topics if t.startswith(PROBE_PREFIX)} - before:
        assert time.monotonic() < deadline, "the probe topic was not deleted"
        time.sleep(0.2)


@pytest.mark.kafka
def test_a_profile_round_trips_through_the_profiles_topic(
    kafka: KafkaSettings, mnist: Path, cache: Path, unique: str
) -> None:
    name = f"mnist-{unique}"
    measured = profile_model(
        name, mnist, "edge", batch_sizes=(1,), reps=1, warmup=0, agreement_frames=FRAMES,
        settings=kafka, cache=cache, long_pause_s=0,
    )  # fmt: skip
    assert measured.link is not None and measured.link.uplink_bps > 0
    t = measured.transport  # what a stage spends consuming and producing, measured too
    assert t is not None and t.total_us_per_record + t.total_ns_per_byte > 0
    assert t.codec_included  # measured on the stage loop itself
    publish_profile(kafka, measured)
    assert read_profiles(kafka, name) == {"edge": measured}


@pytest.mark.kafka
def test_the_profile_commands(kafka: KafkaSettings, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "p.json"
    res = runner.invoke(
        app,
        [
            "profile", "mnist_cnn", "--tier", "edge", "--no-publish", "-o", str(out),
            "--reps", "3", "--agreement-frames", "32", "--long-pause", "0.05", "--long-every", "3",
            "--bootstrap", kafka.bootstrap_servers,
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "16 single-tensor cuts" in res.output
    assert "Mbit/s" in res.output
    saved = load_profile(out)
    assert saved.model == "mnist_cnn" and saved.tier == "edge" and saved.link is not None
    assert saved.pauses.long_every == 3 and all(c.suffix_long_ms for c in saved.cuts)
    shown = runner.invoke(app, ["profile", "show", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "mnist_cnn on edge" in shown.output
    legend = (
        "busy, after a 20 ms pause (20ms), after a 0.05 s pause (0.05s) "
        "(timed on one cut in 3 and the last, interpolated between)"
    )
    assert legend in " ".join(shown.output.split())
    assert "link:" in shown.output and "Mbit/s" in shown.output
    missing = runner.invoke(app, ["profile", "show"])
    assert missing.exit_code != 0


class _Busy:
    """An executor whose run takes 2 ms of CPU."""

    def run(self, feeds: object) -> None:
        start = time.process_time()
        while time.process_time() - start < 0.002:
            pass


def test_cpu_share_is_read_again_while_the_hypervisor_steals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readings: list[float] = []

    def stealing(figures: list[float]) -> None:
        readings[:] = []

        def steal_since(_clock: object) -> float:
            readings.append(figures[len(readings)])
            return readings[-1]

        monkeypatch.setattr(profiler, "steal_since", steal_since)

    stealing([0.5, 0.4, 0.0, 0.0])  # a burst of steal, then quiet
    share = profiler.cpu_share(_Busy(), {}, parallel=1.0, seconds=0.02)  # type: ignore[arg-type]
    assert len(readings) == 3 and 0.05 <= share <= 1.0  # the quiet reading ended it
    stealing([0.9] * 9)  # stolen throughout
    profiler.cpu_share(_Busy(), {}, parallel=1.0, seconds=0.02)  # type: ignore[arg-type]
    assert len(readings) == profiler.SHARE_TRIES
    stealing([0.01])
    profiler.cpu_share(_Busy(), {}, parallel=1.0, seconds=0.02)  # type: ignore[arg-type]
    assert len(readings) == 1


def test_a_stolen_profile_says_to_profile_again(profile: TierProfile, tmp_path: Path) -> None:
    quiet, stolen = tmp_path / "quiet.json", tmp_path / "stolen.json"
    save_profile(profile.model_copy(update={"steal": 0.02}), quiet)
    save_profile(profile.model_copy(update={"steal": 0.31}), stolen)
    assert not load_profile(quiet).stolen and load_profile(stolen).stolen
    runner = CliRunner()
    shown = runner.invoke(app, ["profile", "show", str(quiet)])
    assert shown.exit_code == 0 and "CPU steal while profiling 2%" in shown.output
    assert "profile again" not in shown.output
    shown = runner.invoke(app, ["profile", "show", str(stolen)])
    assert shown.exit_code == 0 and "CPU steal while profiling 31%" in shown.output
    assert "took 31% of this host's CPU" in shown.output and "profile again" in shown.output


def test_a_long_pause_no_longer_than_the_short_one_is_refused(mnist: Path) -> None:
    with pytest.raises(ConfigError, match="long pause"):
        profile_model("mnist_cnn", mnist, "edge", long_pause_s=0.01, agreement_frames=0)
    with pytest.raises(ConfigError, match="long-every"):
        profile_model("mnist_cnn", mnist, "edge", long_every=0, agreement_frames=0)


def test_the_testbed_profile_says_in_a_log_that_it_measures_agreement(
    mnist: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # off a terminal a spinner draws nothing: ResNet-50's 20 minutes of it left no line
    host_agreement(mnist, 16, cache)
    printed = capsys.readouterr().err.splitlines()
    assert printed[0].endswith(" measuring the agreement of lossy encodings on 16 frames")
    assert cache_file(cache, sha256_file(mnist), 16).is_file()
