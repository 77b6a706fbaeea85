"""Sub-command module for ``planexe serve``."""

from planexe_api.cli import add_serve_arguments as add_arguments
from planexe_api.cli import serve as run

__all__ = ["add_arguments", "run"]
