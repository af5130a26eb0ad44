"""Consumers of results and of the pipeline itself: the result sink, lag and metrics."""
