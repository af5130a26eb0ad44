"""The typer CLI: one sub-app per area; commands parse, delegate and print."""
