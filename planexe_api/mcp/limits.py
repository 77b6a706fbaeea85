"""Bounds of the tools' arguments that the stdio proxy needs too (this module imports nothing)."""

WAIT_DEFAULT_S = 45  # plan_wait; below the 60 s request timeout common in MCP clients
WAIT_MAX_S = 300
TEXT_DEFAULT_CHARS = 20_000  # of a file or the report, per call; page on with offset
TEXT_MAX_CHARS = 200_000
TEXT_MAX_OFFSET = 1_000_000_000  # characters; far past any report, and a bounded integer in the schema
