"""Reading a model's JSON answer robustly.

Models wrap JSON in markdown fences, put prose around it, add trailing text, or
are cut off at ``max_tokens``. :func:`parse_review_json` finds the answer
object in all those cases and, for a truncated answer, recovers every finding
that was complete.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ParsedAnswer", "parse_review_json"]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\r?\n(.*?)(?:```|\Z)", re.DOTALL)
#: Opening braces tried before giving up on a long, prose-heavy answer.
MAX_OBJECT_STARTS = 64
_DECODER = json.JSONDecoder()


@dataclass
class ParsedAnswer:
    """The answer object (``findings`` always a list) and how it was found.

    ``partial`` is True when the JSON was cut off and only complete findings
    were recovered.
    """

    findings: list[Any] = field(default_factory=list)
    summary: Any = None
    partial: bool = False


def parse_review_json(text: str) -> ParsedAnswer | None:
    """The review answer in ``text``, or None when there is none to use."""
    candidates = [text.strip()]
    candidates.extend(m.group(1).strip() for m in _FENCE.finditer(text))
    for candidate in candidates:
        found = _first_object(candidate)
        if found is not None:
            return found
    for candidate in candidates:
        found = _recover_partial(candidate)
        if found is not None:
            return found
    return None


def _shape(value: Any) -> ParsedAnswer | None:
    if isinstance(value, list):  # a bare findings array
        return ParsedAnswer(findings=value)
    if not isinstance(value, dict):
        return None
    findings = value.get("findings")
    if findings is None:
        for alias in ("issues", "comments", "problems"):
            if isinstance(value.get(alias), list):
                findings = value[alias]
                break
    if findings is None and "summary" in value:
        findings = []
    if not isinstance(findings, list):
        return None
    return ParsedAnswer(findings=findings, summary=value.get("summary"))


def _first_object(text: str) -> ParsedAnswer | None:
    try:
        shaped = _shape(json.loads(text))
        if shaped is not None:
            return shaped
    except ValueError:
        pass
    # raw_decode stops at the end of the first complete value, so leading prose
    # is skipped by trying each "{" and trailing garbage is ignored.
    start = text.find("{")
    tries = 0
    while start != -1 and tries < MAX_OBJECT_STARTS:
        tries += 1
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except ValueError:
            pass
        else:
            shaped = _shape(value)
            if shaped is not None:
                return shaped
        start = text.find("{", start + 1)
    return None


_FINDINGS_KEY = re.compile(r'"(?:findings|issues|comments|problems)"\s*:\s*\[')


def _recover_partial(text: str) -> ParsedAnswer | None:
    """Complete findings from an answer cut off inside its findings array."""
    match = _FINDINGS_KEY.search(text)
    if match is None:
        return None
    findings: list[Any] = []
    pos = match.end()
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] == "]":
            break
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except ValueError:
            break  # the truncated element: everything before it is kept
        findings.append(value)
    summary = None
    # A summary written before the findings survives the cut.
    head = text[: match.start()]
    key = head.rfind('"summary"')
    if key != -1:
        colon = head.find(":", key)
        if colon != -1:
            rest = head[colon + 1 :]
            try:
                summary, _ = _DECODER.raw_decode(head, colon + 1 + len(rest) - len(rest.lstrip()))
            except ValueError:
                summary = None
    return ParsedAnswer(findings=findings, summary=summary, partial=True)
