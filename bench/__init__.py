"""Benchmarks: each scenario measures its baseline in the same run and reports the ratio."""
