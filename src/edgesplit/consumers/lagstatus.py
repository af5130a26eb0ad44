"""A status per consumer group from a sliding window of lag observations, after Burrow.

Pure logic: fed `GroupLag` measurements (one per poll), no Kafka here. Each partition keeps
its last `window` observations (committed offset, lag, time) and the time the monitor first
saw its current committed offset. Rules, per partition, first match wins:

1. STOP  lag > 0 and no new commit for `stop_after_s` while records were waiting (the
         clock starts when the committed offset was first seen or, if later, when lag
         first rose above 0 at that offset: an idle, caught-up consumer is not stopped).
2. OK    some observation in the window has lag 0 (Burrow's rule 1: it caught up lately).
3. OK    fewer than `window` observations so far: no trend to judge yet.
4. STALL the committed offset is the same in every observation of the window, lag > 0.
5. WARN  the committed offset advanced over the window and the lag grew at every step.
6. OK    otherwise: committing, lag bounded.

A group is ERR when it is missing (no members and no committed offset) or the broker did
not answer; otherwise it takes the worst status of its partitions (ERR > STOP > STALL >
WARN > OK), with that partition's rule.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from edgesplit.consumers.lag import GroupLag, PartitionLag
from edgesplit.errors import ConfigError


class Status(enum.StrEnum):
    OK = "OK"
    WARN = "WARN"
    STALL = "STALL"
    STOP = "STOP"
    ERR = "ERR"

    @property
    def severity(self) -> int:
        return list(Status).index(self)


@dataclass(frozen=True)
class LagRules:
    """The evaluator's parameters."""

    window: int = 5  # observations per partition (at the default 5 s interval: 20 s)
    stop_after_s: float = 60.0  # no new commit for this long while lag > 0: STOP

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ConfigError(f"the lag window needs at least 2 observations, not {self.window}")
        if not self.stop_after_s > 0:
            raise ConfigError(f"the STOP threshold must be positive, not {self.stop_after_s}")


@dataclass(frozen=True)
class PartitionStatus:
    topic: str
    partition: int
    status: Status
    rule: str


@dataclass(frozen=True)
class GroupStatus:
    group: str
    status: Status
    rule: str  # the rule that fired, for people
    at: float  # unix time of the observation judged
    partitions: tuple[PartitionStatus, ...] = ()


@dataclass(frozen=True)
class _Point:
    at: float
    committed: int | None
    lag: int


@dataclass
class _Track:
    """What the evaluator remembers of one partition (internal, mutable)."""

    points: deque[_Point]
    committed: int | None
    committed_seen_at: float
    behind_since: float | None = None

    def add(self, p: PartitionLag, at: float) -> None:
        if p.committed != self.committed:
            self.committed, self.committed_seen_at, self.behind_since = p.committed, at, None
        if p.lag <= 0:
            self.behind_since = None
        elif self.behind_since is None:
            self.behind_since = at
        self.points.append(_Point(at, p.committed, p.lag))


def _offset(committed: int | None) -> str:
    return "none" if committed is None else str(committed)


def _span(points: deque[_Point]) -> str:
    return f"{len(points)} observations ({points[-1].at - points[0].at:.0f} s)"


def _judge(name: str, track: _Track, rules: LagRules) -> tuple[Status, str]:
    pts, now = track.points, track.points[-1]
    since = track.behind_since
    stuck = now.at - since if now.lag > 0 and since is not None else 0.0
    if stuck >= rules.stop_after_s:  # rule 1
        return Status.STOP, (
            f"STOP: no new commit on {name} for {now.at - track.committed_seen_at:.0f} s "
            f"(offset {_offset(now.committed)}) while lag is {now.lag} "
            f"(records waiting for {stuck:.0f} s, threshold {rules.stop_after_s:g} s)"
        )
    if any(p.lag == 0 for p in pts):  # rule 2
        if now.lag == 0:
            return Status.OK, f"OK: {name} caught up at offset {_offset(now.committed)}"
        return Status.OK, f"OK: lag {now.lag} on {name}, caught up within the window"
    if len(pts) < rules.window:  # rule 3
        return Status.OK, (
            f"OK: lag {now.lag} on {name}; {len(pts)} of {rules.window} observations, no trend yet"
        )
    return _trend(name, pts)


def _trend(name: str, pts: deque[_Point]) -> tuple[Status, str]:
    """Rules 4 to 6, on a full window without a caught-up observation."""
    first, now = pts[0], pts[-1]
    if all(p.committed == first.committed for p in pts):
        return Status.STALL, (
            f"STALL: committed offset of {name} unchanged at {_offset(now.committed)} over "
            f"{_span(pts)} while lag is {now.lag}"
        )
    advanced = (now.committed or 0) - (first.committed or 0)
    steps = list(zip(pts, list(pts)[1:], strict=False))
    if advanced > 0 and all(b.lag > a.lag for a, b in steps):
        return Status.WARN, (
            f"WARN: lag of {name} grew at every step ({first.lag} -> {now.lag}) over "
            f"{_span(pts)} while commits advanced {advanced}"
        )
    return (
        Status.OK,
        f"OK: lag {now.lag} on {name}, commits moving ({advanced:+d} over {_span(pts)})",
    )


class LagEvaluator:
    """Keeps the window of each group's partitions and judges every new observation."""

    def __init__(self, rules: LagRules | None = None) -> None:
        self.rules = rules or LagRules()
        self._tracks: dict[str, dict[tuple[str, int], _Track]] = {}

    def observe(self, lag: GroupLag) -> GroupStatus:
        """Add one measurement of a group and return its status."""
        if lag.missing:
            self.forget(lag.group)
            if lag.state in {"DEAD", "UNKNOWN"}:
                why = f"ERR: no consumer group {lag.group!r} (no members, no committed offsets)"
            else:
                why = f"ERR: group {lag.group!r} ({lag.state}, 0 members) has no committed offsets"
            return GroupStatus(lag.group, Status.ERR, why, lag.measured_at)
        tracks = self._tracks.setdefault(lag.group, {})
        seen = set()
        judged: list[tuple[Status, int, PartitionStatus]] = []
        for p in lag.partitions:
            key = (p.topic, p.partition)
            seen.add(key)
            track = tracks.get(key)
            if track is None:
                points: deque[_Point] = deque(maxlen=self.rules.window)
                track = tracks[key] = _Track(points, p.committed, lag.measured_at)
            track.add(p, lag.measured_at)
            status, rule = _judge(p.name, track, self.rules)
            judged.append((status, p.lag, PartitionStatus(p.topic, p.partition, status, rule)))
        for key in set(tracks) - seen:
            del tracks[key]
        parts = tuple(ps for _, _, ps in judged)
        if not judged:
            rule = f"OK: {lag.members} members, no partitions assigned or committed yet"
            return GroupStatus(lag.group, Status.OK, rule, lag.measured_at)
        worst, _, first = max(judged, key=lambda j: (j[0].severity, j[1]))
        rule = first.rule
        others = sum(1 for s, _, _ in judged if s == worst) - 1
        if worst != Status.OK and others:
            rule += f" (and {others} more partition{'s' if others > 1 else ''} {worst})"
        return GroupStatus(lag.group, worst, rule, lag.measured_at, parts)

    def unreachable(self, group: str, reason: str, at: float) -> GroupStatus:
        """The broker did not answer: ERR, keeping the group's window for when it does."""
        return GroupStatus(group, Status.ERR, f"ERR: {reason}", at)

    def forget(self, group: str) -> None:
        self._tracks.pop(group, None)
