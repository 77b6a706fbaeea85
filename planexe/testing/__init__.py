"""Helpers for tests and benchmarks that start real processes, such as LLM servers on loopback."""
