"""bbreview: a self-hosted AI code reviewer for Bitbucket Cloud.

The native core parses diffs; this package is its Python API::

    import bbreview
    ps = bbreview.parse_diff(diff_text)
    for f in ps:
        print(f.path, f.status, f.added, f.removed)
"""

from __future__ import annotations

from bbreview.diff import (
    Anchor,
    Commit,
    FileDiff,
    Hunk,
    Line,
    PatchSet,
    diffstat,
    parse_diff,
)
from bbreview.errors import (
    AuthError,
    BitbucketError,
    ConfigError,
    DiffParseError,
    Error,
    NetworkError,
    NotFound,
    PermissionDenied,
    RateLimited,
    RuleError,
    ScopeError,
    ServerError,
    StoreError,
    LLMError,
    WebhookAuthError,
)
from bbreview.rules import Finding, Rule, RuleSet

__version__ = "0.1.0"

__all__ = [
    "Anchor",
    "AuthError",
    "BitbucketError",
    "NetworkError",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ScopeError",
    "ServerError",
    "Commit",
    "ConfigError",
    "LLMError",
    "StoreError",
    "WebhookAuthError",
    "DiffParseError",
    "Error",
    "FileDiff",
    "Finding",
    "Hunk",
    "Line",
    "PatchSet",
    "Rule",
    "RuleError",
    "RuleSet",
    "__version__",
    "check",
    "Review",
    "ReviewConfig",
    "ReviewFinding",
    "Reviewer",
    "diffstat",
    "parse_diff",
]


_LAZY = {"check", "Review", "ReviewConfig", "ReviewFinding", "Reviewer"}


def __getattr__(name: str):  # the review pipeline loads on first use, not at import
    if name in _LAZY:
        from bbreview import review

        return getattr(review, name)
    raise AttributeError(f"module 'bbreview' has no attribute {name!r}")
