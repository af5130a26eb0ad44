"""Lag snapshots for machines: a JSON object per poll, and a Prometheus exposition endpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from edgesplit.consumers.lagmonitor import LagSnapshot
from edgesplit.consumers.lagstatus import Status
from edgesplit.errors import ConfigError


def snapshot_json(snap: LagSnapshot) -> dict[str, Any]:
    """A snapshot as plain JSON data (one object per poll)."""
    groups = []
    for report in snap.groups:
        lag, status = report.lag, report.status
        part_status = {(p.topic, p.partition): p for p in status.partitions}
        groups.append(
            {
                "group": status.group,
                "status": str(status.status),
                "rule": status.rule,
                "state": lag.state if lag else None,
                "members": lag.members if lag else None,
                "total_lag": lag.total_lag if lag else None,
                "max_time_lag_s": lag.max_time_lag_s if lag else None,
                "measured_at": lag.measured_at if lag else status.at,
                "partitions": [
                    {
                        "topic": p.topic,
                        "partition": p.partition,
                        "committed": p.committed,
                        "end": p.end,
                        "lag": p.lag,
                        "time_lag_s": p.time_lag_s,
                        "oldest_unconsumed_ts_ms": p.oldest_unconsumed_ts_ms,
                        "status": str(part_status[(p.topic, p.partition)].status)
                        if (p.topic, p.partition) in part_status
                        else None,
                    }
                    for p in (lag.partitions if lag else ())
                ],
            }
        )
    return {"at": snap.at, "error": snap.error, "groups": groups}


class LagCollector:
    """A Prometheus collector exposing the latest snapshot (no stale label sets)."""

    def __init__(self) -> None:
        self._snapshot: LagSnapshot | None = None
        self._lock = threading.Lock()

    def update(self, snap: LagSnapshot) -> None:
        with self._lock:
            self._snapshot = snap

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            snap = self._snapshot
        labels = ["group", "topic", "partition"]
        offsets = GaugeMetricFamily(
            "edgesplit_consumer_lag_offsets",
            "Records of the partition not yet consumed by the group (end - committed).",
            labels=labels,
        )
        seconds = GaugeMetricFamily(
            "edgesplit_consumer_lag_seconds",
            "Age of the oldest record the group has not consumed (0 when caught up).",
            labels=labels,
        )
        status = GaugeMetricFamily(
            "edgesplit_group_status",
            "1 for the group's current status (OK, WARN, STALL, STOP, ERR), 0 for the others.",
            labels=["group", "status"],
        )
        polled = GaugeMetricFamily(
            "edgesplit_lag_poll_timestamp_seconds", "Unix time of the latest lag poll."
        )
        for report in snap.groups if snap else ():
            group = report.status.group
            for s in Status:
                status.add_metric([group, str(s)], 1.0 if s == report.status.status else 0.0)
            for p in report.lag.partitions if report.lag else ():
                key = [group, p.topic, str(p.partition)]
                offsets.add_metric(key, float(p.lag))
                if p.time_lag_s is not None:
                    seconds.add_metric(key, p.time_lag_s)
        if snap is not None:
            polled.add_metric([], snap.at)
        yield from (offsets, seconds, status, polled)


class MetricsServer:
    """The exposition endpoint at http://HOST:PORT/metrics, served from a daemon thread."""

    def __init__(self, collector: Collector, port: int, host: str = "127.0.0.1") -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve Prometheus metrics on {host}:{port} ({exc.strerror or exc}); "
                "choose another port"
            ) from exc
        self._server: WSGIServer = server
        self._thread = thread
        self.url = f"http://{host}:{server.server_port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
