"""Benchmarks: run them as modules from the project root (`python -m bench.pipeline`, `python -m bench.over_http`)."""
