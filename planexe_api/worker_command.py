"""Sub-command module for ``planexe worker``."""

from planexe_api.cli import add_worker_arguments as add_arguments
from planexe_api.cli import worker as run

__all__ = ["add_arguments", "run"]
