"""Bitbucket Cloud REST 2.0: a concurrent native client with typed errors.

    from bbreview.bitbucket import Client
    bb = Client(email="bot@example.com", token=os.environ["BITBUCKET_TOKEN"])
    print(bb.current_user()["display_name"], sorted(bb.scopes))
    for pr in bb.pull_requests("acme", "webapp", state="OPEN"):
        ps = bb.diff("acme", "webapp", pr["id"])

Errors are ``bbreview.BitbucketError`` subclasses: ``AuthError`` (401),
``ScopeError`` (403 naming the required scopes), ``PermissionDenied``,
``NotFound``, ``RateLimited``, ``ServerError`` and ``NetworkError``.
"""

from __future__ import annotations

from bbreview.bitbucket._client import (
    DEFAULT_BASE_URL,
    MAX_ANNOTATIONS_PER_REPORT,
    MAX_ANNOTATIONS_PER_REQUEST,
    MAX_DIFFSTAT_PAGELEN,
    MAX_PAGELEN,
    MAX_PULL_REQUEST_PAGELEN,
    Budget,
    Call,
    Calls,
    Client,
    error_from,
)
from bbreview.errors import (
    AuthError,
    BitbucketError,
    NetworkError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ScopeError,
    ServerError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_ANNOTATIONS_PER_REPORT",
    "MAX_ANNOTATIONS_PER_REQUEST",
    "MAX_DIFFSTAT_PAGELEN",
    "MAX_PAGELEN",
    "MAX_PULL_REQUEST_PAGELEN",
    "AuthError",
    "BitbucketError",
    "Budget",
    "Call",
    "Calls",
    "Client",
    "NetworkError",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ScopeError",
    "ServerError",
    "error_from",
]
