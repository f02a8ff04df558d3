"""Sub-commands of ``python -m converter``; see ``converter.cli``."""
