"""The review pipeline: from a pull request or a diff to a posted review."""

from __future__ import annotations

from bbreview.review.model import SEVERITIES, ReviewFinding, normalise_severity

__all__ = ["SEVERITIES", "ReviewFinding", "normalise_severity"]
