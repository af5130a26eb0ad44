"""The core's private cache size from sysfs, and the evictor that writes over it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesplit.orchestrator.coldcache import FALLBACK_BYTES, Evictor, private_cache_bytes


def _cache(root: Path, index: int, level: int, size: str) -> None:
    folder = root / f"index{index}"
    folder.mkdir(parents=True)
    (folder / "level").write_text(f"{level}\n")
    (folder / "size").write_text(f"{size}\n")


def test_the_largest_private_level_counts_not_the_shared_last_level(tmp_path: Path) -> None:
    _cache(tmp_path, 0, 1, "48K")  # L1d
    _cache(tmp_path, 1, 1, "32K")  # L1i
    _cache(tmp_path, 2, 2, "2048K")
    _cache(tmp_path, 3, 3, "107520K")
    assert private_cache_bytes(tmp_path) == 2048 * 1024


@pytest.mark.parametrize(("size", "nbytes"), [("4M", 4 << 20), ("512", 512), ("1G", 1 << 30)])
def test_sizes_in_any_unit(tmp_path: Path, size: str, nbytes: int) -> None:
    _cache(tmp_path, 0, 2, size)
    assert private_cache_bytes(tmp_path) == nbytes


def test_no_sysfs_or_unreadable_entries_fall_back(tmp_path: Path) -> None:
    assert private_cache_bytes(tmp_path / "missing") == FALLBACK_BYTES
    _cache(tmp_path, 0, 2, "lots")
    (tmp_path / "index1").mkdir()  # no files at all
    assert private_cache_bytes(tmp_path) == FALLBACK_BYTES


def test_this_machine_reports_a_plausible_size() -> None:
    assert 16 * 1024 <= private_cache_bytes() <= 1 << 30


def test_the_evictor_writes_its_whole_buffer() -> None:
    evict = Evictor(1024)
    evict()
    evict()
    buffer = evict._buffer
    assert buffer.nbytes == 1024
    assert np.all(buffer == 2.0)
