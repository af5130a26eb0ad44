"""Running iproute2 (`ip`, `tc`) for the testbed: argument lists in, text out, typed errors."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from edgesplit.bench.privileges import tool
from edgesplit.errors import TestbedError
from edgesplit.log import get_logger

log = get_logger("testbed.host")


def run(program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip` or `tc` with `args`; TestbedError quoting the command and its complaint."""
    argv = [tool(program), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(f"`{program} {' '.join(args)}` hung for 30 s; try again") from exc
    log.debug("host_command_ran", argv=" ".join(argv[1:]), program=program, rc=done.returncode)
    if check and done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise TestbedError(
            f"`{program} {' '.join(args)}` failed: {reason[-1] if reason else done.returncode}"
        )
    return done


def run_json(program: str, *args: str) -> Any:
    """Run `ip -j ...` / `tc -j ...` and parse its output ([] when it prints nothing)."""
    out = run(program, "-j", *args).stdout.strip()
    return json.loads(out) if out else []
