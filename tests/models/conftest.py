"""The per-user cache: real assets are fetched and models exported once per machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesplit.config import cache_dir


@pytest.fixture(scope="session")
def cache() -> Path:
    return cache_dir()
