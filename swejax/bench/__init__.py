"""Benchmarks: `python -m swejax.bench.<name>` prints one JSON object as its last line."""
