"""Benchmark scripts: run with ``python -m summarymixing.benchmarks.<name>``; they print tables."""
