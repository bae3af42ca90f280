"""Benchmarks (scripts, not tests): ``python -m bench.restore_bench --help`` and ``bench/decode_bench.py``."""
