"""Logging survives the stderr it was configured under being swapped out and closed."""

from __future__ import annotations

import io
import json
import sys

import pytest

from edgesplit import log


def test_events_go_to_the_current_stderr_not_a_closed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    borrowed = io.StringIO()
    monkeypatch.setattr(sys, "stderr", borrowed)
    log.configure("json", "info")
    borrowed.close()  # what a CLI runner does to the stream it lent
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    log.get_logger("test").info("something_happened", n=1)
    event = json.loads(now.getvalue())
    assert event["event"] == "something_happened"
    assert event["n"] == 1
    log.configure()
