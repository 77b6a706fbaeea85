"""Luigi plumbing of the plan pipeline: run directory, base task, events, entry point."""
