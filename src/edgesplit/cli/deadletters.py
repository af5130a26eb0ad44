"""`edgesplit dead-letters`: what a pipeline refused, and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgesplit.cli.options import Bootstrap, console, kafka_settings


def dead_letters(
    plan_file: Annotated[
        Path, typer.Option("--plan", "-p", help="The plan whose dead letters to list.")
    ],
    limit: Annotated[int, typer.Option(min=1, help="At most this many records.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """List refused records: reason, error type, stage, and where they came from."""
    from edgesplit.consumers.deadletters import read_dead_letters  # noqa: PLC0415
    from edgesplit.orchestrator.plan import load_plan  # noqa: PLC0415

    plan = load_plan(plan_file)
    letters = read_dead_letters(kafka_settings(bootstrap), plan.topics.dead_letters, limit=limit)
    if as_json:
        for d in letters:
            typer.echo(json.dumps(d))
        return
    table = Table(title=f"{len(letters)} dead letters in {plan.topics.dead_letters}")
    for col in ("stage", "error", "field", "reason", "source", "bytes"):
        table.add_column(col)
    for d in letters:
        table.add_row(
            d["stage"],
            d["error"],
            d["field"],
            d["reason"],
            f"{d['source-topic']}[{d['source-partition']}]@{d['source-offset']}",
            str(d["bytes"]),
        )
    console.print(table)
