"""Long commands say where they are when stderr is a log file, not a terminal."""

from __future__ import annotations

import re

import pytest

from edgesplit.cli.options import Lines, status


def test_lines_print_the_first_message_then_at_most_one_every_period(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = [0.0]
    lines = Lines(30.0, quiet=False, clock=lambda: now[0])
    for t, message in [(0, "a"), (10, "b"), (29.9, "c"), (30, "d"), (45, "e"), (61, "f")]:
        now[0] = t
        lines.update(message)
    printed = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 1)[1] for line in printed] == ["a", "d", "f"]
    assert all(re.match(r"\d\d:\d\d:\d\d ", line) for line in printed)


def test_lines_are_silent_where_a_bar_is_drawn(capsys: pytest.CaptureFixture[str]) -> None:
    Lines(quiet=True).update("timing cut 3")
    assert capsys.readouterr().err == ""


def test_status_off_a_terminal_says_what_it_starts_and_its_steps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with status("validating mnist_cnn...") as step:
        step.update("cut 1 at 5mbit")  # within the period: held back
    (printed,) = capsys.readouterr().err.splitlines()
    assert printed.endswith(" validating mnist_cnn...")
