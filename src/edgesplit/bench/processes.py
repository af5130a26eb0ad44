"""Stopping the processes left on the emulated edge: SIGTERM, a grace period, SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from edgesplit.errors import TestbedError
from edgesplit.log import get_logger

log = get_logger("testbed.processes")


def stop_all(list_pids: Callable[[], list[int]], where: str, grace_s: float = 5.0) -> list[int]:
    """Stop every process `list_pids()` names (it is asked again as they go); return them.

    SIGTERM first, so that a stage can flush and store its offsets, then SIGKILL for
    what is still there after `grace_s`.
    """
    found = list_pids()
    if not found:
        return []
    log.warning("edge_processes_stopping", pids=found, where=where)
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for pid in list_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while list_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not list_pids():
            return found
    raise TestbedError(f"processes {list_pids()} in {where} survived SIGKILL; stop them, retry")


def command_line(pid: int) -> str:
    """What a process runs, for people ('?' if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part) or "?"
