"""The orchestrator: graph cuts, stage sub-models, and (later) profiling and planning."""
