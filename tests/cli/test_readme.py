"""Every `edgesplit` command the README shows parses: its sub-commands exist, and its
options exist and take the values it gives them (nothing runs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from edgesplit.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"
CLI: Any = typer.main.get_command(app)  # built once: the click tree every command parses with


def readme_commands() -> list[list[str]]:
    """The `edgesplit` lines of the README's bash blocks, as words (sudo, comments and a
    trailing & left out)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            words = words[1:] if words[:1] == ["sudo"] else words
            words = words[:-1] if words[-1:] == ["&"] else words
            if words[:1] == ["edgesplit"]:
                out.append(words[1:])
    return out


def parse(args: list[str]) -> None:
    """Parse `args` as the CLI would, down to the command that would run; a usage error
    raises."""
    command = CLI
    ctx = command.make_context("edgesplit", list(args))
    while hasattr(command, "commands"):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)


def test_the_readme_shows_the_commands() -> None:
    assert len(readme_commands()) > 30


@pytest.mark.parametrize("args", readme_commands(), ids=" ".join)
def test_a_readme_command_parses(args: list[str]) -> None:
    parse(args)


@pytest.mark.parametrize(
    "args",
    [
        ["bench", "live", "mobilenet_v2", "--experiment", "resplt"],
        ["plan", "auto", "mnist_cnn", "--max-stages", "0"],
        ["cuts", "mnist_cnn", "--every"],
        ["brokers", "start"],
    ],
)
def test_a_wrong_command_does_not(args: list[str]) -> None:
    # click's errors are typer's private classes here: any error, with click's usage code
    with pytest.raises(Exception) as refused:
        parse(args)
    assert getattr(refused.value, "exit_code", None) == 2  # a usage error
