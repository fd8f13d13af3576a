"""Shared pytest configuration for the Python suite.

Loads the bbreview test kit's fixtures (``fake_bitbucket``, ``fake_bitbucket_demo``,
``webhook_receiver``) unless the installed package already registers them
through its ``pytest11`` entry point (registering a plugin twice is an error).
"""

import os
import subprocess
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit

import pytest


def _kit_registered_by_entry_point() -> bool:
    return any(ep.value.startswith("bbreview.testing.pytest_plugin") for ep in entry_points(group="pytest11"))


pytest_plugins = [] if _kit_registered_by_entry_point() else ["bbreview.testing.pytest_plugin"]


@pytest.fixture
def git(tmp_path: Path) -> Callable[..., None]:
    """``git(*args)`` in a fresh repository at ``tmp_path`` (branch main), isolated
    from the user's and the system's git configuration."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}

    def run(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True)

    run("init", "-q", "-b", "main")
    run("config", "user.name", "Test")
    run("config", "user.email", "test@example.com")
    return run


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bbreview doctor` (and the console's Troubleshooting page) resolve public_url and request
    its /healthz. Network tests use loopback only: another host (review.example.com) "resolves" to
    a public address that is never contacted, and its health check "answers" 200."""
    from bbreview.service import admin

    real_resolve, real_probe = admin._resolve, admin._probe_healthz

    def resolve(host: str, port: int) -> list[str]:
        return real_resolve(host, port) if host == "localhost" else ["93.184.215.14"]

    def probe(url: str, timeout: float, direct: bool) -> tuple[int, str | None]:
        host = urlsplit(url).hostname
        return real_probe(url, timeout, direct) if host in ("127.0.0.1", "::1", "localhost") else (200, None)

    monkeypatch.setattr(admin, "_resolve", resolve)
    monkeypatch.setattr(admin, "_probe_healthz", probe)
