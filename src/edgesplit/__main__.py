"""`python -m edgesplit` is the `edgesplit` command."""

from edgesplit.cli.main import run

run()
