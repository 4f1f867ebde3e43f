"""Benchmarks run on purpose, not in every CI run: ``python -m bench.<name>``."""
