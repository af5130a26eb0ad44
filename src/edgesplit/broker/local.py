"""The managed local broker: a real single-node Kafka (KRaft, broker + controller).

It runs from the cached Maven jars on free loopback ports, with its data, logs and
configs under one home directory. A JSON state file there (pid, ports, dirs) lets
`status`, `logs` and `stop` work from any shell.

Extra listeners (`start(extra_listeners={"EDGE": "10.213.37.1"})`) add a PLAINTEXT
listener on another local address, advertised as that address: clients that bootstrap
there (the emulated edge of `edgesplit testbed`) keep talking to it, and only to it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgesplit.broker.jars import KAFKA_VERSION, ensure_jars, find_tool, manifest_dir
from edgesplit.config import KafkaSettings
from edgesplit.errors import (
    BrokerError,
    BrokerStartError,
    BrokerUnreachableError,
    ConfigError,
    PortInUseError,
)
from edgesplit.kafka.admin import ClusterInfo, ping
from edgesplit.log import get_logger

log = get_logger("broker")

HOST = "127.0.0.1"
_JAVA_HINT = (
    "install a Java 17+ runtime (e.g. `apt install openjdk-17-jre-headless`) or set JAVA_HOME"
)
_MVN_HINT = "install Apache Maven (e.g. `apt install maven`) or set MAVEN_HOME"


@dataclass(frozen=True)
class BrokerState:
    """What another shell needs to find the running broker."""

    pid: int
    host: str
    port: int
    controller_port: int
    home: str
    started_at: float
    version: str = KAFKA_VERSION
    # Extra listeners: name -> "host:port", each advertised as that address.
    listeners: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class BrokerStatus:
    state: BrokerState | None
    running: bool
    cluster: ClusterInfo | None


@dataclass(frozen=True)
class StartResult:
    state: BrokerState
    reused: bool
    seconds: float


def port_is_free(port: int, host: str = HOST) -> bool:
    """Can a server listen on host:port?

    Checked as the JVM binds (SO_REUSEADDR): the TIME_WAIT connections of a broker that
    stopped just now do not make its port look taken, so a restart keeps its address.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


_LISTENER_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_RESERVED_LISTENERS = frozenset({"PLAINTEXT", "CONTROLLER"})


def _check_listener_names(names: Iterable[str]) -> None:
    for name in names:
        if not _LISTENER_NAME.fullmatch(name) or name in _RESERVED_LISTENERS:
            raise ConfigError(
                f"bad extra listener name {name!r}: use upper-case letters, digits and _ "
                "(not PLAINTEXT or CONTROLLER), e.g. EDGE"
            )


def _without_stack_frames(lines: list[str]) -> list[str]:
    """Java log lines minus the `at ...` frames of stack traces: what a user can act on."""
    return [line for line in lines if not line.lstrip().startswith(("at ", "... "))]


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, no leading '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


class LocalBroker:
    """One local broker living under `home`; its jars are cached under `cache`.

    The state file outlives the process: it is how another shell finds the broker, and
    how the next start reuses the same ports (clients keep their bootstrap address).
    """

    def __init__(self, home: Path, cache: Path) -> None:
        self.home = home
        self.cache = cache
        self.data_dir = home / "data"
        self.log_dir = home / "logs"
        self.config_dir = home / "config"
        self.state_file = home / "state.json"
        self._proc: subprocess.Popen[bytes] | None = None

    # --- paths and state ------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        return self.log_dir / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.log_dir / "stdout.log"

    @property
    def server_properties(self) -> Path:
        return self.config_dir / "server.properties"

    def read_state(self) -> BrokerState | None:
        try:
            return BrokerState(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def running_state(self) -> BrokerState | None:
        """The state of a live broker process of this home, or None."""
        state = self.read_state()
        if state is None or not self._is_ours(state.pid):
            return None
        return state

    def _is_ours(self, pid: int) -> bool:
        """Is `pid` a live broker of this home (not a recycled pid)?"""
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        for _ in range(5):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
                return False  # exited, not yet reaped
            if cmdline:
                args = cmdline.split(b"\0")
                return b"kafka.Kafka" in args and str(self.server_properties).encode() in args
            # A live process whose cmdline reads empty: the kernel could not read its
            # memory just now (seen while the JVM starts). Look again.
            time.sleep(0.05)
        return True

    def settings(self) -> KafkaSettings:
        state = self.running_state()
        if state is None:
            raise BrokerUnreachableError(
                f"no local broker is running (home {self.home}); start one with "
                "`edgesplit broker start` or pass --bootstrap HOST:PORT"
            )
        return KafkaSettings(state.bootstrap)

    # --- lifecycle ------------------------------------------------------------------

    def install(self) -> Path:
        """Fetch the jars (once) and return their directory."""
        mvn = find_tool("mvn", os.environ.get("MAVEN_HOME"), _MVN_HINT)
        return ensure_jars(self.cache, mvn=mvn)

    def start(
        self,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        heap_mb: int = 512,
        timeout_s: float = 120.0,
        overrides: Mapping[str, str] | None = None,
        fresh: bool = False,
        extra_listeners: Mapping[str, str] | None = None,
    ) -> StartResult:
        """Start the broker and return once it answers a metadata request.

        `extra_listeners` maps a listener name to a local address (name -> host); each
        gets a free port there (the last one again when free), and `state.listeners`
        says where. A running broker is reused as it is: to change its listeners, stop
        it first (its topics survive the restart).
        """
        began = time.monotonic()
        _check_listener_names((extra_listeners or {}).keys())
        running = self.running_state()
        if running is not None:
            self._wait_ready(running, None, began + timeout_s)
            return StartResult(running, True, time.monotonic() - began)

        java = find_tool("java", os.environ.get("JAVA_HOME"), _JAVA_HINT)
        libs = self.install()
        port, controller_port = self._choose_ports(port, controller_port)
        listeners = self._choose_listener_ports(extra_listeners or {})
        if fresh:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        for d in (self.data_dir, self.log_dir, self.config_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._write_configs(port, controller_port, overrides or {}, listeners)
        base = self._java_base(java, libs, heap_mb)
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage(base)

        log.info("broker_starting", port=port, controller_port=controller_port, home=str(self.home))
        with self.stdout_file.open("ab") as out:
            self._proc = subprocess.Popen(
                [*base, "kafka.Kafka", str(self.server_properties)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        state = BrokerState(
            pid=self._proc.pid,
            host=HOST,
            port=port,
            controller_port=controller_port,
            home=str(self.home),
            started_at=time.time(),
            listeners=listeners,
        )
        self.state_file.write_text(json.dumps(asdict(state), indent=2))
        try:
            self._wait_ready(state, self._proc, began + timeout_s)
        except BrokerError:
            self._kill(state.pid)
            raise
        seconds = time.monotonic() - began
        log.info(
            "broker_started", bootstrap=state.bootstrap, pid=state.pid, seconds=round(seconds, 1)
        )
        return StartResult(state, False, seconds)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop gracefully (SIGTERM, wait, then SIGKILL). False if nothing was running."""
        state = self.running_state()
        if state is None:
            return False
        os.kill(state.pid, signal.SIGTERM)
        if not self._wait_exit(state.pid, timeout_s):
            log.warning("broker_killed", pid=state.pid, after_s=timeout_s)
            os.kill(state.pid, signal.SIGKILL)
            self._wait_exit(state.pid, 10.0)
        # The state file stays: it remembers the ports, which the next start reuses.
        log.info("broker_stopped", pid=state.pid)
        return True

    def status(self, timeout_s: float = 3.0) -> BrokerStatus:
        state = self.running_state()
        if state is None:
            return BrokerStatus(self.read_state(), False, None)
        try:
            cluster: ClusterInfo | None = ping(KafkaSettings(state.bootstrap), timeout_s)
        except BrokerUnreachableError:
            cluster = None
        return BrokerStatus(state, True, cluster)

    def tail(self, lines: int = 40, *, stack_frames: bool = True) -> list[str]:
        """The last lines of the broker's log (server.log, else its stdout)."""
        for path in (self.log_file, self.stdout_file):
            if path.is_file() and path.stat().st_size:
                with path.open("rb") as fh:
                    fh.seek(max(0, path.stat().st_size - 256 * 1024))
                    text = fh.read().decode("utf-8", "replace").splitlines()
                return (text if stack_frames else _without_stack_frames(text))[-lines:]
        return []

    # --- internals ------------------------------------------------------------------

    def _choose_ports(self, port: int | None, controller_port: int | None) -> tuple[int, int]:
        previous = self.read_state()
        chosen: list[int] = []
        for asked, kind, before in (
            (port, "--port", previous.port if previous else None),
            (controller_port, "--controller-port", previous.controller_port if previous else None),
        ):
            if asked is not None:
                if not port_is_free(asked):
                    raise PortInUseError(
                        f"port {asked} on {HOST} is taken; choose another with {kind} "
                        "or stop what listens there"
                    )
                chosen.append(asked)
            elif before is not None and before not in chosen and port_is_free(before):
                chosen.append(before)
            else:
                candidate = free_port()
                while candidate in chosen:
                    candidate = free_port()
                chosen.append(candidate)
        return chosen[0], chosen[1]

    def _choose_listener_ports(self, extra: Mapping[str, str]) -> dict[str, str]:
        """name -> "host:port" for each extra listener: its last port when still free."""
        previous = self.read_state()
        before = previous.listeners if previous else {}
        chosen: dict[str, str] = {}
        for name, host in extra.items():
            old_host, _, old_port = before.get(name, "").rpartition(":")
            if old_host == host and old_port.isdigit() and port_is_free(int(old_port), host):
                chosen[name] = f"{host}:{old_port}"
                continue
            try:
                chosen[name] = f"{host}:{free_port(host)}"
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen on {host} for the {name} listener ({exc.strerror}); "
                    "give an address of this machine"
                ) from exc
        return chosen

    def _write_configs(
        self,
        port: int,
        controller_port: int,
        overrides: Mapping[str, str],
        listeners: Mapping[str, str],
    ) -> None:
        template = string.Template((manifest_dir() / "server.properties").read_text())
        text = template.substitute(
            host=HOST,
            port=port,
            controller_port=controller_port,
            data_dir=self.data_dir,
            extra_listeners="".join(f",{n}://{a}" for n, a in listeners.items()),
            extra_advertised="".join(f",{n}://{a}" for n, a in listeners.items()),
            extra_protocols="".join(f",{n}:PLAINTEXT" for n in listeners),
        )
        if overrides:
            text += "\n# --set overrides\n" + "".join(f"{k}={v}\n" for k, v in overrides.items())
        self.server_properties.write_text(text)
        shutil.copyfile(manifest_dir() / "log4j2.properties", self.config_dir / "log4j2.properties")

    def _java_base(self, java: str, libs: Path, heap_mb: int) -> list[str]:
        return [
            java,
            f"-Xmx{heap_mb}m",
            f"-Xms{min(heap_mb, 256)}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.log_dir}",
            f"-Dlog4j2.configurationFile={self.config_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
        ]

    def _format_storage(self, base: list[str]) -> None:
        cluster_id = new_cluster_id()
        cmd = [
            *base,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.server_properties),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            output = "\n".join(
                _without_stack_frames((done.stdout + done.stderr).splitlines())[-10:]
            )
            raise BrokerStartError(f"formatting the broker's storage failed:\n{output}")
        log.info("broker_storage_formatted", cluster_id=cluster_id, data_dir=str(self.data_dir))

    def _wait_ready(
        self, state: BrokerState, proc: subprocess.Popen[bytes] | None, deadline: float
    ) -> None:
        settings = KafkaSettings(state.bootstrap)
        while True:
            exited = proc.poll() if proc is not None else None
            if exited is not None or not self._is_ours(state.pid):
                self._raise_died(exited)
            try:
                ping(settings, timeout_s=1.0)
                return
            except BrokerUnreachableError:
                pass
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"the broker did not answer at {state.bootstrap} in time; last lines of "
                    f"{self.log_file}:\n" + "\n".join(self._complaint())
                )
            time.sleep(0.25)

    def _complaint(self) -> list[str]:
        """The log lines that say why start-up failed: from the first ERROR on, else the tail."""
        lines = self.tail(200, stack_frames=False)
        errors = [i for i, line in enumerate(lines) if " ERROR " in line or " FATAL " in line]
        return (lines[errors[0] :] if errors else lines)[-15:]

    def _raise_died(self, code: int | None) -> None:
        lines = self._complaint()
        if any("Address already in use" in line for line in lines):
            raise PortInUseError(
                "the broker could not bind its ports (Address already in use); "
                "pick others with --port/--controller-port"
            )
        raise BrokerStartError(
            f"the broker exited during start-up (exit code {code}); last lines of its log "
            f"({self.log_dir}):\n" + "\n".join(lines)
        )

    def _wait_exit(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                try:
                    self._proc.wait(timeout=0.2)
                    return True
                except subprocess.TimeoutExpired:
                    continue
            if not self._is_ours(pid):
                return True
            time.sleep(0.2)
        return False

    def _kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self._wait_exit(pid, 10.0)
