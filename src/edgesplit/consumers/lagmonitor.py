"""Watching consumer groups: measure them every interval and judge each measurement.

The monitor turns an unreachable broker into ERR statuses (and keeps polling) unless asked
to be strict, as a one-shot command is: then it raises, and an unknown group is an error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from edgesplit.config import KafkaSettings
from edgesplit.consumers.lag import GroupLag, LagReader
from edgesplit.consumers.lagstatus import GroupStatus, LagEvaluator, LagRules
from edgesplit.errors import BrokerUnreachableError, ConfigError
from edgesplit.kafka.admin import ping
from edgesplit.orchestrator.plan import TOPIC_PREFIX, Plan

DEFAULT_PREFIX = f"{TOPIC_PREFIX}."


@dataclass(frozen=True)
class LagTargets:
    """Which groups to watch: explicit names, every group with a prefix, or a plan's stages."""

    groups: tuple[str, ...] = ()
    prefix: str | None = None
    topics_of: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if bool(self.groups) == (self.prefix is not None):
            raise ConfigError("watch named consumer groups or a prefix: exactly one of them")

    @classmethod
    def named(cls, groups: tuple[str, ...]) -> LagTargets:
        return cls(groups=tuple(dict.fromkeys(groups)))

    @classmethod
    def with_prefix(cls, prefix: str = DEFAULT_PREFIX) -> LagTargets:
        return cls(prefix=prefix)

    @classmethod
    def of_plan(cls, plan: Plan) -> LagTargets:
        """Every stage's group, expected to read its input topic (even before committing)."""
        topics = {plan.group_id(s.index): (s.input_topic,) for s in plan.stages}
        return cls(groups=tuple(topics), topics_of=MappingProxyType(topics))


@dataclass(frozen=True)
class GroupReport:
    status: GroupStatus
    lag: GroupLag | None  # None when the broker did not answer


@dataclass(frozen=True)
class LagSnapshot:
    """One poll: every watched group's measurement and status."""

    at: float  # unix time, seconds
    groups: tuple[GroupReport, ...]
    error: str | None = None  # why nothing could be measured


class LagMonitor:
    """Measures the targets on each poll and feeds the evaluator; close() it when done."""

    def __init__(
        self,
        settings: KafkaSettings,
        targets: LagTargets,
        rules: LagRules | None = None,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.targets = targets
        self.timeout_s = timeout_s
        self.evaluator = LagEvaluator(rules)
        self._reader: LagReader | None = None
        self._known: tuple[str, ...] = targets.groups

    def __enter__(self) -> LagMonitor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def poll(self, *, strict: bool = False) -> LagSnapshot:
        """Measure and judge every target group once.

        Not strict: an unreachable broker gives every known group ERR. Strict: it raises
        BrokerUnreachableError, and a named group that does not exist (or a prefix that
        matches none) raises ConfigError.
        """
        try:
            ping(self.settings, timeout_s=min(self.timeout_s, 5.0))
            if self._reader is None:
                self._reader = LagReader(self.settings, timeout_s=self.timeout_s)
            groups = self._groups(self._reader)
            lags = self._reader.measure(groups, self.targets.topics_of)
        except BrokerUnreachableError as exc:
            if strict:
                raise
            self.close()
            at = time.time()
            reports = tuple(
                GroupReport(self.evaluator.unreachable(g, str(exc), at), None) for g in self._known
            )
            return LagSnapshot(at, reports, str(exc))
        if strict:
            self._require(lags)
        self._known = tuple(groups)
        reports = tuple(GroupReport(self.evaluator.observe(lag), lag) for lag in lags)
        return LagSnapshot(time.time(), reports)

    def every(
        self, interval_s: float, *, count: int | None = None, stop: threading.Event | None = None
    ) -> Iterator[LagSnapshot]:
        """A snapshot every `interval_s` seconds (forever, or `count` times, or until `stop`
        is set: a poll under way finishes first)."""
        stop = stop or threading.Event()
        n = 0
        next_at = time.monotonic()
        while count is None or n < count:
            if stop.wait(max(next_at - time.monotonic(), 0.0)):
                return
            next_at = max(next_at + interval_s, time.monotonic())
            yield self.poll()
            n += 1

    def _groups(self, reader: LagReader) -> list[str]:
        if self.targets.prefix is None:
            return list(self.targets.groups)
        found = reader.groups_with_prefix(self.targets.prefix)
        for gone in set(self._known) - set(found):
            self.evaluator.forget(gone)
        return found

    def _require(self, lags: list[GroupLag]) -> None:
        where = self.settings.bootstrap_servers
        if self.targets.prefix is not None and not lags:
            raise ConfigError(
                f"no consumer group at {where} starts with {self.targets.prefix!r}; "
                "deploy a plan first, or name groups with --group"
            )
        if self.targets.topics_of:
            return  # a plan's stages: missing ones are ERR rows, not an error
        missing = [lag.group for lag in lags if lag.missing]
        if missing:
            raise ConfigError(
                f"no consumer group {', '.join(map(repr, missing))} at {where} (no members, "
                f"no committed offsets); list the groups with `edgesplit lag --prefix ''`"
            )
