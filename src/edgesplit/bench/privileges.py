"""What the testbed needs from the host: root, iproute2 (`ip`, `tc`) and `nsenter`."""

from __future__ import annotations

import os
import shutil

from edgesplit.errors import PrivilegeError, ToolMissingError

PACKAGES = {"ip": "iproute2", "tc": "iproute2", "nsenter": "util-linux"}


def is_root() -> bool:
    return os.geteuid() == 0


def require_root(action: str) -> None:
    """PrivilegeError unless this process is root: namespaces, qdiscs and cgroups need it."""
    if not is_root():
        raise PrivilegeError(
            f"{action} needs root (network namespaces, traffic shaping and cgroups); "
            "run it with sudo, e.g. `sudo edgesplit testbed up`"
        )


def tool(name: str) -> str:
    """The absolute path of `ip`, `tc` or `nsenter`; ToolMissingError naming its package."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise ToolMissingError(
            f"`{name}` not found on PATH: the testbed needs it; install {PACKAGES[name]} "
            f"(e.g. `apt install {PACKAGES[name]}`)"
        )
    return path


def require_host(action: str) -> None:
    """Root first, then the tools: the one-line error names what is missing."""
    require_root(action)
    for name in PACKAGES:
        tool(name)
