"""Shared pytest configuration for the Python suite.

Loads the bbreview test kit's fixtures (``fake_bitbucket``, ``fake_bitbucket_demo``,
``webhook_receiver``) unless the installed package already registers them
through its ``pytest11`` entry point (registering a plugin twice is an error).
"""

from importlib.metadata import entry_points


def _kit_registered_by_entry_point() -> bool:
    return any(ep.value.startswith("bbreview.testing.pytest_plugin") for ep in entry_points(group="pytest11"))


pytest_plugins = [] if _kit_registered_by_entry_point() else ["bbreview.testing.pytest_plugin"]
