"""Supervision of pipeline children: command building, process registry, supervisor, runner."""
