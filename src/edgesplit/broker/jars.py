"""The broker's class path: Kafka's jars from Maven Central, fetched once per user.

`mvn dependency:copy-dependencies` runs on the manifest in docker/kafka (shipped in the
wheel as edgesplit/_kafka) and copies every runtime jar into the cache. A marker file
written last makes the cache all-or-nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from edgesplit.errors import MavenError, ToolMissingError
from edgesplit.log import get_logger

KAFKA_VERSION = "4.1.1"
_MARKER = "complete.json"
_NETWORK_HINTS = (
    "Could not transfer",
    "Unknown host",
    "UnknownHostException",
    "Connection refused",
    "Connect to repo",
    "Could not resolve dependencies",
    "Network is unreachable",
    "timed out",
)

log = get_logger("broker.jars")


def manifest_dir() -> Path:
    """Where pom.xml and the config templates live: in the wheel, or in the source tree."""
    packaged = Path(str(resources.files("edgesplit"))) / "_kafka"
    if (packaged / "pom.xml").is_file():
        return packaged
    source_tree = Path(__file__).resolve().parents[3] / "docker" / "kafka"
    if (source_tree / "pom.xml").is_file():
        return source_tree
    raise MavenError(
        "the broker's Maven manifest (docker/kafka/pom.xml) is missing from this install; "
        "reinstall edgesplit"
    )


def jars_dir(cache: Path, version: str = KAFKA_VERSION) -> Path:
    return cache / f"kafka-{version}" / "libs"


def cached_jars(cache: Path, version: str = KAFKA_VERSION) -> Path | None:
    """The jar directory if a complete copy is cached, else None."""
    libs = jars_dir(cache, version)
    marker = libs.parent / _MARKER
    if not marker.is_file():
        return None
    try:
        names = json.loads(marker.read_text())["jars"]
    except (OSError, ValueError, KeyError):
        return None
    if names and all((libs / name).is_file() for name in names):
        return libs
    return None


def find_tool(name: str, env_home: str | None, hint: str) -> str:
    """A program from $X_HOME/bin or PATH, or a ToolMissingError that says how to install it."""
    if env_home:
        candidate = Path(env_home) / "bin" / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(f"`{name}` not found on PATH: {hint}")
    return found


def ensure_jars(cache: Path, *, mvn: str, version: str = KAFKA_VERSION) -> Path:
    """Return the cached jar directory, running Maven first if it is not there yet."""
    cached = cached_jars(cache, version)
    if cached is not None:
        return cached
    libs = jars_dir(cache, version)
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = libs.parent / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    pom = manifest_dir() / "pom.xml"
    log.info("kafka_jars_fetching", version=version, into=str(libs))
    cmd = [
        mvn,
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MavenError(
            "Maven took over 30 minutes to fetch Kafka's jars; check the network and retry "
            "`edgesplit broker install`"
        ) from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        tail = "\n".join(output[-15:])
        if any(hint in line for line in output for hint in _NETWORK_HINTS):
            raise MavenError(
                f"Maven could not download Kafka {version}'s jars from Maven Central. Check the "
                "network or the proxy in ~/.m2/settings.xml, then run `edgesplit broker install`."
                f"\n{tail}"
            )
        raise MavenError(f"`mvn dependency:copy-dependencies` failed:\n{tail}")
    jars = sorted(p.name for p in staging.glob("*.jar"))
    if not any(name.startswith(f"kafka_2.13-{version}") for name in jars):
        raise MavenError(f"Maven finished but kafka_2.13-{version}.jar is not among the jars")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    (libs.parent / _MARKER).write_text(json.dumps({"version": version, "jars": jars}))
    log.info("kafka_jars_fetched", version=version, jars=len(jars))
    return libs
