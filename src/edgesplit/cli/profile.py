"""`edgesplit profile`: measure a model on this tier (`profile MODEL --tier T`), or show one.

`edgesplit profile MODEL ...` is short for `edgesplit profile run MODEL ...`: the group
runs `run` when its first word is not one of its commands.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from edgesplit.cli.options import (
    Bootstrap,
    Lines,
    console,
    err_console,
    int_list,
    kafka_settings,
    progress_bar,
    resolve_model,
    status,
)
from edgesplit.config import cache_dir, state_dir
from edgesplit.errors import ConfigError

if TYPE_CHECKING:
    from edgesplit.orchestrator.profile import TierProfile


class _RunByDefault(TyperGroup):
    """A group whose first word, when it names no command, is the MODEL of `run`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Profiles: what a model costs on a tier (compute per cut, bytes, accuracy, link), "
    "measured there. `edgesplit profile MODEL --tier T` runs `profile run`.",
    no_args_is_help=True,
)


def _batch_sizes(text: str) -> tuple[int, ...]:
    sizes = int_list(text, "--batch-sizes")
    if not sizes or sizes[0] < 1:
        raise typer.BadParameter("give at least one batch size, each >= 1")
    return sizes


@app.command()
def run(
    model: Annotated[str, typer.Argument(help="Zoo model name or .onnx file.")],
    tier: Annotated[str, typer.Option("--tier", "-t", help="The tier this machine is.")],
    testbed: Annotated[
        bool,
        typer.Option(
            "--testbed",
            help="Measure on the emulated edge (`edgesplit testbed up`: its CPU quota, "
            "behind its shaped uplink). Needs root.",
        ),
    ] = False,
    batch_sizes: Annotated[
        str,
        typer.Option(
            help="Batch sizes to time, comma-separated: those a stage runs, from 1 (a frame "
            "at a time) to its plan's batch (`plan auto --batch`, 4); sizes between are "
            "interpolated."
        ),
    ] = "1,2,4",
    reps: Annotated[
        int, typer.Option(min=1, help="Timed runs per figure (median), split over the passes.")
    ] = 7,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed runs before each pass's.")] = 2,
    passes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Passes over the cuts, each cut's figure the median of its passes: a burst "
            "of the neighbours' load slows one pass, not the figure.",
        ),
    ] = 3,
    long_pause: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds of the long pause to time each segment after too, once a pass, "
            "for a stage that waits a few hundred ms or more before each batch (behind a "
            "thin uplink, or on its own): what the wait costs has settled by the default; "
            "0: none.",
        ),
    ] = 0.25,
    long_every: Annotated[
        int,
        typer.Option(
            min=1,
            help="Time the long pause on every this many cuts (and the last); the others "
            "get what it adds interpolated between them (1: every cut, twice as long).",
        ),
    ] = 4,
    threads: Annotated[
        int, typer.Option(min=1, help="ONNX Runtime threads, as the stages will run.")
    ] = 1,
    agreement_frames: Annotated[
        int,
        typer.Option(
            min=0, help="Real frames for the lossy encodings' top-1 agreement (0: skip); cached."
        ),
    ] = 200,
    no_link: Annotated[
        bool,
        typer.Option(
            "--no-link",
            help="Measure nothing through the broker (the link, and the CPU a stage spends "
            "consuming and producing per record).",
        ),
    ] = False,
    no_publish: Annotated[
        bool, typer.Option("--no-publish", help="Do not publish to the profiles topic.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Profile file [default: profile-MODEL-TIER.json]."),
    ] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Profile MODEL on this machine as tier TIER; write it, publish it, summarise it."""
    from edgesplit.orchestrator.profile import save_profile  # noqa: PLC0415
    from edgesplit.orchestrator.profiler import profile_model  # noqa: PLC0415
    from edgesplit.orchestrator.profiles_topic import publish_profile  # noqa: PLC0415

    sizes = _batch_sizes(batch_sizes)
    name, onnx_path, _ = resolve_model(model)
    target = out or Path(f"profile-{name}-{tier}.json")
    if testbed:
        inner = [
            "--tier", tier, "--batch-sizes", ",".join(map(str, sizes)), "--reps", str(reps),
            "--warmup", str(warmup), "--passes", str(passes), "--threads", str(threads),
            "--long-pause", str(long_pause), "--long-every", str(long_every),
            "--agreement-frames", str(agreement_frames), "--out", str(target.resolve()),
            *(["--no-link"] if no_link else []), *(["--no-publish"] if no_publish else []),
        ]  # fmt: skip
        _on_testbed(model, name, onnx_path, agreement_frames, inner)
        return
    settings = None if no_link and no_publish else kafka_settings(bootstrap)
    with progress_bar() as bar:
        task = bar.add_task("loading the model", total=None)
        lines = Lines()

        def report(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)
            lines.update(f"{what}: {done} of {total}")

        profile = profile_model(
            name, onnx_path, tier, batch_sizes=sizes, reps=reps, warmup=warmup,
            passes=passes, threads=threads, agreement_frames=agreement_frames,
            settings=None if no_link else settings, progress=report, long_pause_s=long_pause,
            long_every=long_every,
        )  # fmt: skip
    save_profile(profile, target)
    if settings is not None and not no_publish:
        publish_profile(settings, profile)
    _summary(profile, target, published=not no_publish)


def _on_testbed(model: str, name: str, onnx_path: Path, frames: int, inner_args: list[str]) -> None:
    """Agreement on the host (cached), then this command again inside the emulated edge."""
    from edgesplit.bench.testbed import Testbed  # noqa: PLC0415
    from edgesplit.cli.options import local_broker  # noqa: PLC0415

    bed = Testbed(state_dir(), local_broker())
    up = bed.state()
    if up is None:
        raise ConfigError("no testbed is up: start one with `edgesplit testbed up`")
    if frames > 0:
        host_agreement(onnx_path, frames, cache_dir())
    spec = str(onnx_path.resolve()) if name != model else model
    cmd = [sys.executable, "-m", "edgesplit", "profile", "run", spec, *inner_args]
    cmd += ["--bootstrap", up.edge_bootstrap]
    err_console.print(f"profiling on the emulated edge ({up.edge_cpu:g} CPU, {up.uplink} uplink)")
    done = subprocess.run(bed.wrap(cmd), check=False)
    if done.returncode != 0:
        raise ConfigError(
            f"profiling on the emulated edge failed (exit code {done.returncode}); "
            "see its messages above"
        )


def host_agreement(onnx_path: Path, frames: int, cache: Path) -> None:
    """The agreement of lossy encodings, measured on the host (or read from `cache`) before
    the edge's timings. Uncached it runs the model on `frames` frames for every cut (20
    minutes for ResNet-50), so it says where it is: a spinner, or a line every 30 s in a
    log."""
    from edgesplit.digest import sha256_file  # noqa: PLC0415
    from edgesplit.orchestrator.agreement import agreement_table  # noqa: PLC0415
    from edgesplit.orchestrator.graph import ModelGraph  # noqa: PLC0415

    with status(f"measuring the agreement of lossy encodings on {frames} frames") as step:
        agreement_table(
            ModelGraph.load(onnx_path), onnx_path, sha256_file(onnx_path), frames, cache=cache,
            progress=lambda done, total, what: step.update(f"{what}: {done} of {total}"),
        )  # fmt: skip


def _summary(profile: TierProfile, path: Path, *, published: bool) -> None:
    per_frame = ", ".join(
        f"{ms / b:.2f} ms/frame at batch {b}" for b, ms in profile.whole_ms.items()
    )
    console.print(
        f"{profile.model} on {profile.tier} ({profile.cpus:g} CPUs, {profile.threads} "
        f"threads): whole model {per_frame}; {len(profile.cuts)} single-tensor cuts",
        highlight=False,
    )
    if profile.link is not None:
        link = profile.link
        console.print(
            f"link to the broker: {link.uplink_bps / 1e6:.1f} Mbit/s, hop {link.hop_ms:.1f} ms, "
            f"round trip {link.rtt_ms:.1f} ms",
            highlight=False,
        )
    _host(profile)
    where = f"wrote {path}" + (" and published it to the profiles topic" if published else "")
    console.print(where, highlight=False)


def _host(profile: TierProfile) -> None:
    """The share of its CPUs a busy stage got, and the hypervisor's steal, with a warning
    where the steal was enough to make the timings worth taking again."""
    stolen = "" if profile.steal is None else f"; CPU steal while profiling {profile.steal:.0%}"
    console.print(f"a busy stage got {profile.cpu_share:.0%} of its CPUs{stolen}", highlight=False)
    if profile.stolen:
        err_console.print(
            f"[yellow]warning:[/] the hypervisor took {profile.steal:.0%} of this host's CPU "
            "while profiling; its figures may be slow or uneven: profile again on a quieter "
            "host",
            highlight=False,
        )


@app.command()
def show(
    file: Annotated[
        Path | None, typer.Argument(help="A profile file (JSON).", show_default=False)
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="The model's profiles on the profiles topic."),
    ] = None,
    tier: Annotated[str | None, typer.Option("--tier", "-t", help="Only this tier.")] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Show a profile: per cut, time, bytes and agreement; the codec and the link."""
    from edgesplit.orchestrator.profile import load_profile  # noqa: PLC0415

    if (file is None) == (model is None):
        raise typer.BadParameter("give a profile FILE or --model (from the profiles topic)")
    if file is not None:
        profiles = [load_profile(file)]
    else:
        from edgesplit.orchestrator.profiles_topic import read_profiles  # noqa: PLC0415

        found = read_profiles(kafka_settings(bootstrap), str(model))
        profiles = [p for t, p in sorted(found.items()) if tier is None or t == tier]
        if not profiles:
            which = f" on tier {tier}" if tier else ""
            raise ConfigError(
                f"no profile of {model}{which} on the profiles topic; run "
                f"`edgesplit profile {model} --tier TIER` there first"
            )
    for profile in profiles:
        render(profile)


def render(profile: TierProfile) -> None:
    sizes, nan = profile.batch_sizes, float("nan")
    encodings = sorted({e for c in profile.cuts for e in c.wire_bytes}, key=_encoding_order)
    lossy = sorted({e for c in profile.cuts for e in c.agreement})
    table = Table(
        title=f"{profile.model} on {profile.tier} ({profile.host}, {profile.cpus:g} CPUs, "
        f"{profile.threads} threads)"
    )
    table.add_column("cut", justify="right")
    table.add_column("tensor", overflow="fold")
    table.add_column("KiB/frame", justify="right")
    idle = any(c.prefix_idle_ms for c in profile.cuts)  # profiles from before have none
    long = any(c.prefix_long_ms for c in profile.cuts)
    pauses = [f"{profile.pauses.idle_s * 1000:g} ms"] if idle else []
    pauses += [f"{profile.pauses.long_s:g} s"] if long else []
    for b in sizes:
        table.add_column(f"b{b} busy", justify="right")
        for pause in pauses:
            table.add_column(f"b{b} {pause.replace(' ', '')}", justify="right")
    table.add_column("wire KiB/frame " + " / ".join(encodings), justify="right")
    if lossy:
        table.add_column("agreement " + " / ".join(lossy), justify="right")
    for c in profile.cuts:
        wire = " / ".join(
            f"{c.wire_bytes[e] / 1024:,.1f}" if e in c.wire_bytes else "-" for e in encodings
        )
        agree = " / ".join(f"{c.agreement[e]:.3f}" if e in c.agreement else "-" for e in lossy)
        timings = [(c.prefix_ms, c.suffix_ms)]
        timings += [(c.prefix_idle_ms, c.suffix_idle_ms)] if idle else []
        timings += [(c.prefix_long_ms, c.suffix_long_ms)] if long else []
        table.add_row(
            str(c.index),
            c.tensor,
            f"{c.bytes_per_frame / 1024:,.1f}",
            *(
                f"{prefix.get(b, nan):.2f}+{suffix.get(b, nan):.2f}"
                for b in sizes
                for prefix, suffix in timings
            ),
            wire,
            *([agree] if lossy else []),
        )
    console.print(table)
    after = "".join(f", after a {pause} pause ({pause.replace(' ', '')})" for pause in pauses)
    every = profile.pauses.long_every
    if long and every > 1:
        after += f" (timed on one cut in {every} and the last, interpolated between)"
    console.print(f"ms per batch of b frames, prefix+suffix: busy{after}", highlight=False)
    whole = ", ".join(
        f"b{b} {ms:.2f} ms ({ms / b:.2f}/frame)" for b, ms in profile.whole_ms.items()
    )
    console.print(f"whole model: {whole}", highlight=False)
    for name, cost in profile.codec.items():
        console.print(
            f"codec {name}: encode {cost.encode_ns_per_byte:.2f} ns/B, decode "
            f"{cost.decode_ns_per_byte:.2f} ns/B, {cost.per_record_us:.1f} µs per record",
            highlight=False,
        )
    if profile.link is not None:
        link = profile.link
        console.print(
            f"link: {link.uplink_bps / 1e6:.1f} Mbit/s with {link.probe_bytes / 1024:,.0f} KiB "
            f"records, round trip {link.rtt_ms:.1f} ms, hop {link.hop_ms:.1f} ms",
            highlight=False,
        )
    else:
        console.print("link: not measured", highlight=False)
    _host(profile)


def _encoding_order(name: str) -> tuple[bool, int, str]:
    """raw, fp16, int8 first, then the compressed ones."""
    base, _, compression = name.partition("+")
    return (bool(compression), {"raw": 0, "fp16": 1, "int8": 2}.get(base, 3), name)


@app.command()
def link(
    model: Annotated[str, typer.Argument(help="The model whose tier profile gets the link.")],
    tier: Annotated[str, typer.Option("--tier", "-t", help="The tier this machine is.")],
    every: Annotated[
        float | None,
        typer.Option(help="Probe again every this many seconds, until stopped (a link monitor)."),
    ] = None,
    update: Annotated[
        bool,
        typer.Option(help="Republish the tier's profile (profiles topic) with the new link."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the link as JSON.")] = False,
    probe_bytes: Annotated[int, typer.Option(min=64, help="Bytes per probe record.")] = 64 * 1024,
    seconds: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="About this long a burst of probe records (a monitor's probe steals this "
            "much of the link each round; a one-off measurement can afford more).",
        ),
    ] = 0.5,
    bootstrap: Bootstrap = None,
) -> None:
    """Measure this tier's link to the broker (a burst of about --seconds) and, by
    default, republish the tier's profile with it: what `edgesplit orchestrate` watches."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from edgesplit.orchestrator import linkmonitor  # noqa: PLC0415
    from edgesplit.orchestrator.linkprobe import probe_link  # noqa: PLC0415

    settings = kafka_settings(bootstrap)
    name = Path(model).stem if model.endswith(".onnx") else model
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while True:
        measured = (
            linkmonitor.refresh_link(settings, name, tier, probe_bytes=probe_bytes, seconds=seconds)
            if update
            else probe_link(settings, probe_bytes, rounds=3, target_s=seconds, max_s=2 * seconds)
        )
        if as_json:
            typer.echo(measured.model_dump_json())
        else:
            console.print(
                f"{tier}: {measured.uplink_bps / 1e6:.2f} Mbit/s up, round trip "
                f"{measured.rtt_ms:.1f} ms, broker hop {measured.hop_ms:.1f} ms",
                highlight=False,
            )
        if every is None or stop.wait(every):
            return
