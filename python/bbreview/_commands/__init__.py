"""Subcommands of the ``bbreview`` command line, one module per area."""
