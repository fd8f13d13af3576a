"""What every check reports: :class:`ReviewFinding`, and the severity scale.

Rules, Python checks and the LLM reviewer all produce ReviewFindings; the
pipeline merges, deduplicates and anchors them. A finding names lines of the
*new* file (``side="new"``, the default), of the old file (``side="old"``,
for removed lines) or no line at all (``line=None``: a file-level finding).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "SEVERITIES",
    "SEVERITY_RANK",
    "ReviewFinding",
    "normalise_severity",
    "severity_at_least",
    "fingerprint_of",
]

#: From least to most severe. Code Insights' CRITICAL/HIGH/MEDIUM/LOW map 1:1;
#: ``nitpick`` is style and taste, posted only under the ``assertive`` profile.
SEVERITIES = ("nitpick", "low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

# Rule severities (``info``/``warning``/``error``) and common synonyms LLMs use.
_ALIASES = {
    "info": "low",
    "warning": "medium",
    "warn": "medium",
    "error": "high",
    "nit": "nitpick",
    "style": "nitpick",
    "minor": "low",
    "major": "high",
    "blocker": "critical",
    "moderate": "medium",
}


def normalise_severity(value: str) -> str:
    """``value`` on the review scale; unknown names raise ValueError naming the scale."""
    name = str(value).strip().lower()
    name = _ALIASES.get(name, name)
    if name not in SEVERITY_RANK:
        raise ValueError(f"unknown severity {value!r}; use one of {', '.join(SEVERITIES)}")
    return name


def severity_at_least(severity: str, minimum: str) -> bool:
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[minimum]


_WS = re.compile(r"\s+")


def fingerprint_of(source: str, key: str, path: str, text: str) -> str:
    """A 32-hex-digit fingerprint stable across commits: no line numbers in it.

    ``key`` is the rule id, check name or a normalised title; ``text`` is the
    code the finding is about (whitespace-normalised here).
    """
    h = hashlib.blake2b(digest_size=16)
    for part in (source, key, path, _WS.sub(" ", text).strip()):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(])")


def _split_message(message: str) -> tuple[str, str]:
    """A rule message as (headline, explanation): its first sentence, then the rest."""
    text = " ".join(message.split())
    parts = _SENTENCE_END.split(text, maxsplit=1)
    head = parts[0].rstrip(".")
    return head, parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class ReviewFinding:
    """One problem a check found.

    Attributes:
        path: the file's path in the new revision (the old path for deletions).
        line: first line (1-based) on ``side``; None for a file-level finding.
        end_line: last line of the range, inclusive; equals ``line`` for one line.
        side: ``"new"`` (added/context lines) or ``"old"`` (removed lines).
        severity: one of :data:`SEVERITIES`.
        category: e.g. ``"security"``, ``"secrets"``, ``"bug"``, ``"style"``.
        title: one line, shown in bold as the comment's headline.
        body: the explanation, markdown.
        suggestion: replacement text for lines ``line..end_line`` (new side),
            rendered as a fenced ``diff`` block; None when there is no fix.
        source: who found it: ``"rules"``, ``"check:<name>"`` or ``"llm"``.
        rule_id: the rule id or check name, when there is one.
        fingerprint: identity for dedup across runs; computed when empty.
        extra: free-form metadata (kept in to_dict, never posted).
    """

    path: str
    line: int | None
    end_line: int | None = None
    side: Literal["new", "old"] = "new"
    severity: str = "medium"
    category: str = "general"
    title: str = ""
    body: str = ""
    suggestion: str | None = None
    source: str = "rules"
    rule_id: str | None = None
    fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.path, str) or not self.path:
            raise ValueError("a finding needs a non-empty path")
        if self.line is not None:
            if isinstance(self.line, bool) or not isinstance(self.line, int) or self.line < 1:
                raise ValueError(f"line must be a whole number of at least 1 or None, not {self.line!r}")
            end = self.line if self.end_line is None else self.end_line
            if isinstance(end, bool) or not isinstance(end, int) or end < self.line:
                raise ValueError(f"end_line must be at least line ({self.line}), not {self.end_line!r}")
            set_(self, "end_line", end)
        else:
            set_(self, "end_line", None)
        if self.side not in ("new", "old"):
            raise ValueError(f"side must be 'new' or 'old', not {self.side!r}")
        set_(self, "severity", normalise_severity(self.severity))
        if not self.title:
            set_(self, "title", (self.body.strip().splitlines() or ["(no title)"])[0][:120])
        if not self.fingerprint:
            key = self.rule_id or self.title.strip().lower()
            set_(self, "fingerprint", fingerprint_of(self.source, key, self.path, self.extra.get("code", "")))

    def with_(self, **changes: Any) -> ReviewFinding:
        """A copy with ``changes`` applied (the fingerprint is kept unless changed)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain, JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_rule(cls, finding: Any) -> ReviewFinding:
        """A :class:`bbreview.Finding` (a rule hit) as a ReviewFinding.

        Secret rules become ``critical``; the rule's own fingerprint is kept, so
        the same hit has the same identity in every output.
        """
        severity = "critical" if finding.category == "secrets" else normalise_severity(finding.severity)
        line = finding.line if finding.side in ("new", "old") else None
        title, body = _split_message(finding.message)
        return cls(
            path=finding.path,
            line=line,
            end_line=finding.end_line if line is not None else None,
            side="old" if finding.side == "old" else "new",
            severity=severity,
            category=finding.category,
            title=title,
            body=body,
            suggestion=finding.suggestion,
            source="rules",
            rule_id=finding.rule_id,
            fingerprint=finding.fingerprint,
            extra={"match": finding.match, "snippet": finding.snippet, "column": finding.column_start},
        )
