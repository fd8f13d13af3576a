"""pytest fixtures for the bbreview test kit.

Enable with ``pytest_plugins = ["bbreview.testing.pytest_plugin"]`` or through
the ``pytest11`` entry point. Fixtures:

- ``fake_bitbucket``: a started :class:`~bbreview.testing.FakeBitbucket` (fast
  webhook retries), stopped after the test;
- ``fake_bitbucket_demo``: the same, seeded with :func:`~bbreview.testing.seed_demo`;
  yields the :class:`~bbreview.testing.Demo` (its emulator is ``fake_bitbucket``);
- ``webhook_receiver``: a started :class:`~bbreview.testing.WebhookReceiver` on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bbreview.testing import Demo, FakeBitbucket, WebhookReceiver, seed_demo

__all__ = ["fake_bitbucket", "fake_bitbucket_demo", "webhook_receiver"]


@pytest.fixture
def fake_bitbucket() -> Iterator[FakeBitbucket]:
    with FakeBitbucket(seed=1234, webhook_backoff=0.01) as bb:
        yield bb


@pytest.fixture
def fake_bitbucket_demo(fake_bitbucket: FakeBitbucket) -> Demo:
    return seed_demo(fake_bitbucket)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver
