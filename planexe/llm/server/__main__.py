"""``python -m planexe.llm.server``: the same as ``planexe llm-server``."""

from __future__ import annotations

import argparse
import sys

from planexe.llm.server.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m planexe.llm.server",
        description="Run an OpenAI-compatible test server with latency and faults.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
