"""The review pipeline: from a pull request or a diff to a posted review.

>>> import bbreview
>>> from bbreview.review import Reviewer, ReviewConfig
>>> review = Reviewer(ReviewConfig.default()).review(diff_text)      # doctest: +SKIP
>>> print(review.to_markdown())                                      # doctest: +SKIP

See :class:`Reviewer` for the steps, :mod:`bbreview.review.publisher` for
posting to Bitbucket and :mod:`bbreview.review.config` for ``.bbreview.yaml``.
"""

from __future__ import annotations

from bbreview.review.checks import Check, CheckContext, PythonCheck, RulesCheck, check
from bbreview.review.config import ReviewConfig, load_config
from bbreview.review.model import SEVERITIES, ReviewFinding, normalise_severity
from bbreview.review.pipeline import (
    Coverage,
    Deferred,
    FileRow,
    InlineComment,
    Review,
    Reviewer,
    Usage,
    anchor,
    load_change_config,
)
from bbreview.review.publisher import BitbucketPublisher, PublishFailure, PublishResult
from bbreview.review.source import Change, GitChange, PatchSetChange, PullRequest, UnavailableFile, parse_pr_url

__all__ = [
    "SEVERITIES",
    "BitbucketPublisher",
    "Change",
    "Check",
    "CheckContext",
    "Coverage",
    "Deferred",
    "FileRow",
    "GitChange",
    "InlineComment",
    "PatchSetChange",
    "PublishFailure",
    "PublishResult",
    "PullRequest",
    "PythonCheck",
    "Review",
    "ReviewConfig",
    "ReviewFinding",
    "Reviewer",
    "RulesCheck",
    "UnavailableFile",
    "Usage",
    "anchor",
    "check",
    "load_change_config",
    "load_config",
    "normalise_severity",
    "parse_pr_url",
]
