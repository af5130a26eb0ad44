"""What `edgesplit testbed status` shows: the recorded testbed, checked against the host."""

from __future__ import annotations

from dataclasses import dataclass

from edgesplit.bench import shaping
from edgesplit.bench.privileges import is_root
from edgesplit.bench.processes import command_line
from edgesplit.bench.testbed import Testbed, TestbedState


@dataclass(frozen=True)
class EdgeProcess:
    pid: int
    command: str


@dataclass(frozen=True)
class TestbedStatus:
    """A testbed's state plus what a live look at the host found (root only)."""

    __test__ = False

    state: TestbedState
    checked: bool  # False without root: namespaces and qdiscs could not be inspected
    problems: tuple[str, ...]
    sent_bytes: int | None
    dropped_packets: int | None
    processes: tuple[EdgeProcess, ...]

    @property
    def healthy(self) -> bool:
        return self.checked and not self.problems


def testbed_status(testbed: Testbed) -> TestbedStatus | None:
    """None if no testbed is recorded."""
    state = testbed.state()
    if state is None:
        return None
    processes = tuple(EdgeProcess(pid, command_line(pid)) for pid in state.cpu_group.pids())
    if not is_root():
        return TestbedStatus(state, False, (), None, None, processes)
    problems = tuple(testbed.problems(state))
    counters = None if problems else shaping.counters(state.namespace, state.veth_edge)
    return TestbedStatus(
        state,
        True,
        problems,
        counters.get("bytes") if counters else None,
        counters.get("drops") if counters else None,
        processes,
    )
