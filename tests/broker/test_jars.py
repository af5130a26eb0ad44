"""Fetching the broker's jars: cached once, and a clear error when Maven cannot reach out."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from edgesplit.broker.jars import KAFKA_VERSION, cached_jars, ensure_jars, jars_dir
from edgesplit.config import cache_dir
from edgesplit.errors import MavenError


def test_cached_jars_are_used_without_maven() -> None:
    libs = cached_jars(cache_dir())
    assert libs is not None, "the session's broker fixture fetched them"
    assert ensure_jars(cache_dir(), mvn="/nonexistent/mvn") == libs
    assert any(p.name == f"kafka_2.13-{KAFKA_VERSION}.jar" for p in libs.iterdir())


def test_incomplete_cache_is_not_trusted(tmp_path: Path) -> None:
    libs = jars_dir(tmp_path)
    libs.mkdir(parents=True)
    (libs.parent / "complete.json").write_text(json.dumps({"jars": ["missing.jar"]}))
    assert cached_jars(tmp_path) is None


def test_unreachable_maven_repository_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maven pointed at a mirror that refuses connections, with an empty local repository."""
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><localRepository>" + str(tmp_path / "repo") + "</localRepository>"
        "<mirrors><mirror><id>nowhere</id><mirrorOf>*</mirrorOf>"
        "<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>"
    )
    monkeypatch.setenv("MAVEN_OPTS", f"{os.environ.get('MAVEN_OPTS', '')} -Duser.home={home}")
    mvn = shutil.which("mvn")
    assert mvn is not None
    with pytest.raises(MavenError, match=r"could not download Kafka .* from Maven Central"):
        ensure_jars(tmp_path / "cache", mvn=mvn)
    assert cached_jars(tmp_path / "cache") is None
