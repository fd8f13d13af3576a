"""What never reaches the model, and what never leaves it.

:class:`Redactor` masks secrets in the code sent to a provider: the spans that
secret rules matched (the built-in ``secrets`` pack always runs on the files
sent, whatever the configuration disables, plus any configured rule whose
category is ``secrets``), and every other occurrence of those exact strings.
A masked line keeps its place and line number; only the secret is replaced.

:func:`clean_model_text` makes model-written markdown safe to post: it
removes images, turns links into their text and drops bare URLs, so that a
steered model cannot make a reviewer's browser fetch a URL that carries data.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PLACEHOLDER", "Redactor", "clean_model_text", "public_error"]

#: What a masked secret reads as. Only the value is replaced (``KEY = "[REDACTED-SECRET]"``),
#: so the model still sees the line's structure: an assignment of a literal secret.
PLACEHOLDER = "[REDACTED-SECRET]"
#: Literal secrets shorter than this are not replaced elsewhere (too likely to hit ordinary text).
MIN_LITERAL_CHARS = 8

# Well-known key shapes, masked wherever they appear in model text as a last line of defence.
_KEY_SHAPES = re.compile(
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bsk-(?:live-|proj-|ant-)?[A-Za-z0-9_\-]{16,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{30,}"
    r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|\bAIza[0-9A-Za-z_\-]{35}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
)


@dataclass
class Redactor:
    """Secret spans per file and line, and the literal secrets they hold.

    ``spans[path][line]`` lists 0-based ``(start, end)`` character ranges of
    new-side line ``line``; :meth:`line` masks them, :meth:`text` masks the
    literals anywhere (removed lines, the title, the description, model output).
    """

    spans: dict[str, dict[int, list[tuple[int, int]]]] = field(default_factory=dict)
    literals: set[str] = field(default_factory=set)

    @classmethod
    def from_findings(cls, files: Iterable[Any], findings: Iterable[Any]) -> Redactor:
        """A Redactor for the secret findings (rule ``Finding`` objects with
        ``category == "secrets"`` and columns) on the new side of ``files``."""
        out = cls()
        contents: dict[str, dict[int, str]] = {}
        for file in files:
            contents[file.path] = {
                ln.new_lineno: ln.content for h in file.hunks for ln in h.lines if ln.new_lineno is not None
            }
        for f in findings:
            if getattr(f, "category", "") != "secrets" or getattr(f, "side", "new") != "new" or not f.line:
                continue
            text = contents.get(f.path, {}).get(f.line)
            if text is None:
                continue
            start, end = max(int(f.column_start) - 1, 0), int(f.column_end) - 1
            if end <= start:  # no columns: the whole line
                start, end = 0, len(text)
            out.spans.setdefault(f.path, {}).setdefault(f.line, []).append((start, min(end, len(text))))
            out.literals.update(_literals(text[start:end]))
        return out

    def __bool__(self) -> bool:
        return bool(self.spans or self.literals)

    def line(self, path: str, lineno: int | None, content: str) -> str:
        """``content`` (line ``lineno`` of ``path``, new side; None for a removed line) with secrets masked."""
        spans = self.spans.get(path, {}).get(lineno) if lineno is not None else None
        if spans:
            merged: list[list[int]] = []
            for start, end in sorted(spans):
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            for start, end in reversed(merged):
                segment = content[start:end]
                values = _literals(segment)
                for value in sorted(values, key=len, reverse=True):
                    segment = segment.replace(value, PLACEHOLDER)
                if not values or segment == content[start:end]:
                    segment = PLACEHOLDER
                content = content[:start] + segment + content[end:]
        return self.text(content)

    def text(self, text: str) -> str:
        """``text`` with every known literal secret and well-known key shape masked."""
        if not text:
            return text
        for secret in sorted(self.literals, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, PLACEHOLDER)
        return _KEY_SHAPES.sub(PLACEHOLDER, text)


_QUOTED = re.compile(r"""(["'`])([^"'`\s]{%d,})\1""" % MIN_LITERAL_CHARS)
_TOKEN = re.compile(r"""[^\s"'`=:;,(){}\[\]<>]{%d,}""" % MIN_LITERAL_CHARS)
_IDENTIFIER = re.compile(r"[A-Za-z_]+\Z")


def _literals(span: str) -> set[str]:
    """The secret values inside a matched span: quoted strings and value-like
    tokens (with a digit or symbol), not the variable names around them."""
    out = {m.group(2) for m in _QUOTED.finditer(span)}
    out.update(t for t in _TOKEN.findall(span) if not _IDENTIFIER.match(t))
    span = span.strip()
    if len(span) >= MIN_LITERAL_CHARS and not out:
        out.add(span)
    return out


_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)|!\[([^\]\n]*)\]\[[^\]\n]*\]")
_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*[^)\n]*\)")
_REF_DEF = re.compile(r"^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*\S+.*$", re.M)
_AUTOLINK = re.compile(r"<(?:https?|ftp|mailto|data|javascript):[^>\s]*>", re.I)
_BARE_URL = re.compile(r"\b(?:https?|ftp)://[^\s)>\]`'\"]+|\bwww\.[^\s)>\]`'\"]+", re.I)
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.I)


def clean_model_text(text: str, redactor: Redactor | None = None) -> str:
    """Model-written markdown made safe to post: secrets masked, images removed
    (their alt text kept), links reduced to their text, link definitions and
    bare URLs dropped."""
    if not text:
        return text
    if redactor is not None:
        text = redactor.text(text)
    else:
        text = _KEY_SHAPES.sub(PLACEHOLDER, text)
    text = _IMAGE.sub(lambda m: (m.group(1) or m.group(2) or "").strip(), text)
    text = _HTML_IMG.sub("", text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _REF_DEF.sub("", text)
    text = _AUTOLINK.sub("(link removed)", text)
    return _BARE_URL.sub("(link removed)", text)


_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s)'\"]+", re.I)
_HOST_PORT = re.compile(r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\]|[a-z0-9\-]+(?:\.[a-z0-9\-]+)+):\d{1,5}\b", re.I)


def public_error(exc: BaseException | str) -> str:
    """An LLM failure as a reader of the pull request should see it: what went
    wrong and what to do, without URLs, hosts or keys (those stay in the logs).

    E.g. ``the LLM provider could not be reached (connection refused)``.
    """
    text = str(exc)
    status = int(getattr(exc, "status", 0) or 0)
    lowered = text.lower()
    if status == 0:
        if "refused" in lowered:
            return "the LLM provider could not be reached (connection refused)"
        if "timed out" in lowered or "timeout" in lowered:
            return "the LLM provider did not answer in time (timed out)"
        if "no response" in lowered or "cannot connect" in lowered or "resolve" in lowered:
            return "the LLM provider could not be reached (no response)"
    elif status in (401, 403):
        return f"the LLM provider rejected the service's credentials (HTTP {status}); check the API key setting"
    elif status == 404:
        return "the LLM provider answered HTTP 404; check the configured base URL and model name"
    elif status == 429:
        return "the LLM provider is limiting the request rate (HTTP 429); the next review retries"
    elif status >= 500:
        return f"the LLM provider failed (HTTP {status}); the next review retries"
    provider = getattr(exc, "provider", "")
    if provider and text.startswith(f"{provider}: "):
        text = text[len(provider) + 2:]
    text = _URL.sub("the configured endpoint", text)
    return _HOST_PORT.sub("the configured endpoint", text)


@functools.lru_cache(maxsize=1)
def builtin_secret_rules() -> Any:
    """The built-in ``secrets`` pack, compiled once."""
    from bbreview.rules import RuleSet

    return RuleSet.builtin(["secrets"])


def secret_findings(files: Iterable[Any], extra_rules: Any = None) -> list[Any]:
    """Rule findings of the built-in secrets pack on ``files``, plus those of
    ``extra_rules`` (a RuleSet of the configuration's other secret rules, or None)."""
    out: list[Any] = []
    for rules in (builtin_secret_rules(), extra_rules):
        if rules is None or not len(rules):
            continue
        for file in files:
            out.extend(rules.scan(file))
    return out
