"""`edgesplit demo`: start the local broker, push activations through it, stop it."""

from __future__ import annotations

import time

from rich.table import Table

from edgesplit.cli.options import Bootstrap, console, err_console, local_broker
from edgesplit.config import KafkaSettings
from edgesplit.demo import roundtrip
from edgesplit.kafka.admin import ping


def demo(bootstrap: Bootstrap = None) -> None:
    """Round-trip Avro activations (1 KiB to 4.6 MiB; raw, fp16, int8+zstd) through Kafka.

    Without --bootstrap it starts the local broker first and stops it afterwards
    (unless it was already running).
    """
    broker = None
    if bootstrap:
        settings = KafkaSettings(bootstrap)
    else:
        broker = local_broker()
        with err_console.status("starting the local Kafka broker..."):
            started = broker.start()
        how = "reused" if started.reused else f"started in {started.seconds:.1f} s"
        console.print(f"broker: Kafka {started.state.version} at {started.state.bootstrap} ({how})")
        settings = KafkaSettings(started.state.bootstrap)
    try:
        info = ping(settings)
        console.print(f"cluster {info.cluster_id}: {info.brokers} broker(s)")
        began = time.monotonic()
        with err_console.status("producing and consuming activations..."):
            rows = roundtrip(settings)
        seconds = time.monotonic() - began
        table = Table(title="Activations through Kafka and back")
        for col in ("shape", "encoding", "tensor bytes", "wire bytes", "bit-exact", "max |err|"):
            table.add_column(col, justify="left" if col in ("shape", "encoding") else "right")
        for r in rows:
            table.add_row(
                str(r.shape),
                r.encoding,
                f"{r.tensor_bytes:,}",
                f"{r.wire_bytes:,}",
                "yes" if r.bit_exact else "no",
                f"{r.max_abs_error:.2g}",
            )
        console.print(table)
        console.print(
            f"{len(rows)} activations produced, acknowledged and read back in {seconds:.2f} s"
        )
    finally:
        if broker is not None and not started.reused:
            broker.stop()
            console.print("broker stopped")
