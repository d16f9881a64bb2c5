"""Benchmarks behind `agora bench …`: each `run()` returns the dict printed as the last JSON line."""
