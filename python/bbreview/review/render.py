"""How a :class:`~bbreview.review.Review` reads: Bitbucket markdown, terminal
text, SARIF and Code Insights.

Bitbucket renders markdown in safe mode (reference §8): HTML is escaped, so
the hidden markers that let later runs recognise the bot's own comments are
markdown link reference definitions (``[//]: # (bbreview:...)``), which render
as nothing. Suggested fixes are fenced ``diff`` blocks: Bitbucket Cloud has no
committable suggestions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bbreview.review.model import SEVERITY_RANK, ReviewFinding

if TYPE_CHECKING:  # pragma: no cover
    from bbreview.review.pipeline import InlineComment, Review

__all__ = [
    "MAX_COMMENT_CHARS",
    "BADGES",
    "SUMMARY_MARKER",
    "summary",
    "inline_comment",
    "full_markdown",
    "terminal",
    "sarif",
    "code_insights",
    "split_markdown",
    "finding_marker",
    "parse_markers",
]

#: Bitbucket Cloud documents no comment size limit; oversized POSTs have
#: returned 400 and the Data Center limit is 32,768 (reference §8: "keep bot
#: comments < ~30 k chars and split larger reviews").
MAX_COMMENT_CHARS = 30_000
#: Code Insights: at most 1,000 annotations per report (§6.9).
MAX_ANNOTATIONS = 1000
#: Code Insights report ``data`` holds at most 10 entries (§6.9).
MAX_REPORT_DATA = 10
ANNOTATION_SUMMARY_CHARS = 450

BADGES = {
    "critical": "🔴 **Critical**",
    "high": "🟠 **High**",
    "medium": "🟡 **Medium**",
    "low": "🔵 **Low**",
    "nitpick": "⚪ **Nitpick**",
}
_ICONS = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵", "nitpick": "⚪"}

SUMMARY_MARKER = "[//]: # (bbreview:summary)"
_MARKER = re.compile(r"^\[//\]: # \(bbreview:(?P<kind>[a-z-]+)(?: (?P<args>[^)]*))?\)\s*$", re.M)


def finding_marker(finding: ReviewFinding) -> str:
    return f"[//]: # (bbreview:finding {finding.fingerprint} {finding.source.replace(' ', '_')})"


def parse_markers(raw: str) -> list[tuple[str, list[str]]]:
    """The bbreview markers in a comment's raw text: ``[(kind, args), ...]``."""
    return [(m["kind"], (m["args"] or "").split()) for m in _MARKER.finditer(raw or "")]


def _where(f: ReviewFinding) -> str:
    if f.line is None:
        return f"`{f.path}`"
    span = f"{f.line}" if f.end_line == f.line else f"{f.line}-{f.end_line}"
    return f"`{f.path}:{span}`" + (" (old side)" if f.side == "old" else "")


def _who(f: ReviewFinding) -> str:
    if f.source == "rules":
        return f"rule `{f.rule_id}`"
    if f.source.startswith("check:"):
        return f"check `{f.source[6:]}`"
    return "LLM review" if f.source == "llm" else f.source


def _is_secret(f: ReviewFinding) -> bool:
    return f.category == "secrets" or bool(f.extra.get("secret"))


def _fence(lines: Iterable[str]) -> tuple[str, str]:
    """The joined lines and a backtick fence longer than any run inside them."""
    body = "\n".join(lines)
    ticks = "```"
    while ticks in body:
        ticks += "`"
    return body, ticks


def suggestion_block(original: tuple[str, ...], replacement: str) -> str:
    """A fenced ``diff`` block from the original lines to ``replacement``."""
    new_lines = replacement.splitlines() if replacement else []
    lines = [f"-{line}" for line in original] + [f"+{line}" for line in new_lines]
    body, ticks = _fence(lines)
    return f"{ticks}diff\n{body}\n{ticks}"


def inline_comment(comment: InlineComment, *, suggestions: bool = True) -> str:
    """The markdown of one inline comment: badge, title, explanation, fix, marker."""
    f = comment.finding
    head = f"{BADGES[f.severity]} · {f.category} · {_who(f)}"
    parts = [head, "", f"**{_escape_inline(f.title)}**"]
    if f.body.strip():
        parts += ["", f.body.strip()]
    if comment.start != (f.line or comment.start) or comment.end != (f.end_line or comment.end):
        parts += ["", f"_The finding covers lines {f.line}-{f.end_line}; only {comment.start}-{comment.end} "
                      "are in the diff._"]
    if suggestions and f.suggestion is not None:
        if _is_secret(f):
            # Never show the original line of a secret finding: it holds the secret.
            parts += ["", "**Suggested fix**", "", suggestion_block((), f.suggestion)]
        elif comment.original and comment.side == "new":
            parts += ["", "**Suggested fix**", "", suggestion_block(comment.original, f.suggestion)]
    also = f.extra.get("also_found_by")
    if also:
        parts += ["", f"_Also found by: {', '.join(also)}._"]
    parts += ["", finding_marker(f)]
    return "\n".join(parts)


def _escape_inline(text: str) -> str:
    return " ".join(str(text).split()).replace("*", "\\*")


def summary(review: Review, *, earlier_open: int = 0, config_error: str | None = None,
            newer_commit: str | None = None) -> str:
    """The summary comment: overview, counts, range, coverage, cost, files,
    findings that are not on a line, skipped files. ``newer_commit``: the PR
    moved on while this review ran, so nothing was posted on lines."""
    out = ["## bbreview review", ""]
    if newer_commit:
        out += [
            f"> **A newer commit (`{newer_commit[:12]}`) arrived while this review ran.** This summary describes "
            f"`{(review.head_commit or '')[:12]}`; no comments were posted on lines, because they would point at "
            "an outdated diff. The newer commit will be reviewed next.",
            "",
        ]
    out.append(review.overview)
    out.append("")
    counts = review.counts()
    shown = [f"{_ICONS[s]} {n} {s}" for s, n in counts.items() if n]
    out.append("**Findings:** " + (" · ".join(shown) if shown else "none"))
    if earlier_open:
        out.append(f"**Still open from earlier commits:** {earlier_open}")
    rng = _range(review)
    if rng:
        out.append(f"**Commits reviewed:** {rng}")
    out.append(f"**Coverage:** {review.coverage.text()}")
    usage = review.usage
    if review.metadata.get("model"):
        out.append(
            f"**LLM cost:** {usage.input_tokens:,} tokens in, {usage.output_tokens:,} out "
            f"({usage.requests} request{'s' if usage.requests != 1 else ''}, model `{review.metadata['model']}`)"
        )
    elif review.metadata.get("llm_unavailable"):
        out.append(f"**LLM:** not used: {_cell(review.metadata['llm_unavailable'])}. This review comes from the "
                   "rules and checks.")
    else:
        out.append("**LLM:** not configured; this review comes from the rules and checks.")
    out.append("")
    if review.files:
        out += ["### Files", "", "| File | Change | Summary |", "|---|---|---|"]
        for row in review.files:
            name = f"`{row.path}`" + (f" (from `{row.old_path}`)" if row.old_path else "")
            out.append(f"| {name} | {row.status} | {_cell(row.summary)} |")
        out.append("")
    if review.deferred:
        out += ["### Findings not posted on a line", ""]
        for d in review.deferred:
            f = d.finding
            line = f"- {_ICONS[f.severity]} {_where(f)} **{_escape_inline(f.title)}** ({_who(f)}; {d.reason})"
            out.append(line)
            if f.body.strip() and d.reason != "over reviews.max_comments":
                out.append("  " + " ".join(f.body.split())[:500])
        out.append("")
    if review.coverage.skipped:
        out += ["### Skipped files", ""]
        out += [f"- `{p}`: {reason}" for p, reason in review.coverage.skipped]
        out.append("")
    notes = []
    if review.filtered:
        notes.append(
            f"{len(review.filtered)} finding{'s' if len(review.filtered) != 1 else ''} below "
            f"`{review.config.effective_min_severity()}` not shown (reviews.min_severity, profile "
            f"`{review.config.reviews.profile}`)."
        )
    if review.dropped_injection:
        notes.append(
            f"{review.dropped_injection} model finding{'s' if review.dropped_injection != 1 else ''} "
            "addressed the bot instead of the code and were dropped."
        )
    invalid = int(review.metadata.get("invalid_findings") or 0)
    over = int(review.metadata.get("over_cap_findings") or 0)
    if invalid:
        parts = []
        if invalid - over:
            parts.append(f"{invalid - over} named a file or lines it was not shown, or lacked a field")
        if over:
            parts.append(f"{over} were over the limit of findings per request")
        notes.append(f"{invalid} model finding{'s' if invalid != 1 else ''} could not be used: {'; '.join(parts)}.")
    for text in review.config.notes:
        notes.append(f"Configuration: {text}")
    for err in review.errors:
        notes.append(f"Problem: {err}")
    if config_error:
        notes.append(f"Configuration: {config_error}")
    if notes:
        out += ["### Notes", ""] + [f"- {n}" for n in notes] + [""]
    out.append(f"_bbreview {review.metadata.get('bbreview_version', '')} · inputs "
               f"`{str(review.metadata.get('inputs_hash', ''))[:12]}`_")
    out += ["", SUMMARY_MARKER]
    return "\n".join(out)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _range(review: Review) -> str:
    head = (review.head_commit or "")[:12]
    base = (review.base_commit or "")[:12]
    if not head:
        return ""
    text = f"`{base}..{head}`" if base else f"`{head}`"
    if review.since:
        text += f" (new commits since `{review.since[:12]}` reviewed in full; the summary covers the whole change)"
    return text


def full_markdown(review: Review) -> str:
    """The review as one markdown document: the summary, then every inline comment."""
    out = [summary(review)]
    for c in review.comments:
        span = f"{c.start}" if c.start == c.end else f"{c.start}-{c.end}"
        side = "" if c.side == "new" else " (old side)"
        out += ["", "---", "", f"#### `{c.path}` line {span}{side}", "", inline_comment(c, suggestions=review.config.reviews.suggestions)]
    return "\n".join(out) + "\n"


def split_markdown(text: str, limit: int = MAX_COMMENT_CHARS) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, split between lines.

    A fenced code block cut in two is closed at the end of a part and reopened
    at the start of the next; a single line longer than a part is cut hard.
    Parts after the first start with ``(continued, part i of n)``.
    """
    if len(text) <= limit:
        return [text]
    budget = limit - 64  # room for the continuation header and a closing fence
    parts: list[str] = []
    current: list[str] = []
    size = 0
    fence: str | None = None
    for line in text.split("\n"):
        while len(line) > budget:
            line_head, line = line[:budget], line[budget:]
            current.append(line_head)
            parts.append("\n".join(current))
            current, size = [], 0
        if size + len(line) + 1 > budget and current:
            if fence:
                current.append(_closing(fence))
            parts.append("\n".join(current))
            current, size = ([fence] if fence else []), (len(fence) + 1 if fence else 0)
        current.append(line)
        size += len(line) + 1
        stripped = line.strip()
        if stripped.startswith("```"):
            ticks = stripped[: len(stripped) - len(stripped.lstrip("`"))]
            if fence is None:
                fence = stripped
            elif stripped == _closing(fence) or (stripped == ticks and len(ticks) >= len(_closing(fence))):
                fence = None
    if current:
        parts.append("\n".join(current))
    n = len(parts)
    return [p if i == 0 else f"_(continued, part {i + 1} of {n})_\n\n{p}" for i, p in enumerate(parts)]


def _closing(fence: str) -> str:
    return fence[: len(fence) - len(fence.lstrip("`"))]


# -- terminal ------------------------------------------------------------------------------

_COLORS = {"critical": "\033[1;31m", "high": "\033[31m", "medium": "\033[33m", "low": "\033[36m", "nitpick": "\033[2m"}
_RESET = "\033[0m"


def _line_texts(patchset: Any, path: str, side: str) -> dict[int, str]:
    """Line number -> text of ``path``'s lines in ``patchset``'s hunks, on ``side``."""
    for f in patchset or ():
        if f.path == path or (side == "old" and f.old_path == path):
            attr = "new_lineno" if side == "new" else "old_lineno"
            return {getattr(ln, attr): ln.content for h in f.hunks for ln in h.lines if getattr(ln, attr) is not None}
    return {}


def _secret_lines(review: Review) -> set[tuple[str, str, int]]:
    """(path, side, line) of every secret finding's lines: never shown as context."""
    out: set[tuple[str, str, int]] = set()
    for f in review.findings:
        if _is_secret(f) and f.line is not None:
            out.update((f.path, f.side, n) for n in range(f.line, (f.end_line or f.line) + 1))
    return out


def terminal(review: Review, *, color: bool = False, context: int = 0, patchset: Any = None) -> str:
    """Plain text for a terminal: the summary, then each comment with its code.

    A comment shows its anchored lines and ``context`` lines either side taken
    from ``patchset``'s hunks (marked ``>`` and blank); without a patchset, or
    when it lacks the file, only the anchored lines. Lines of secret findings
    are never shown."""

    def paint(text: str, severity: str) -> str:
        return f"{_COLORS[severity]}{text}{_RESET}" if color else text

    secrets = _secret_lines(review)
    texts: dict[tuple[str, str], dict[int, str]] = {}

    def code(c: InlineComment) -> list[str]:
        if _is_secret(c.finding):
            return []
        key = (c.path, c.side)
        if key not in texts:
            texts[key] = _line_texts(patchset, c.path, c.side) if patchset is not None else {}
        lines = texts[key]
        if not lines:  # no diff to read from: the anchored lines the review kept
            return [f"    {n:>5} | {t}" for n, t in zip(range(c.start, c.end + 1), c.original)]
        out = []
        for n in range(max(1, c.start - context), c.end + context + 1):
            if n in lines and (c.path, c.side, n) not in secrets:
                mark = "  > " if context and c.start <= n <= c.end else "    "
                out.append(f"{mark}{n:>5} | {lines[n]}")
        return out

    out = [f"bbreview review of {review.label}" + (f": {review.title}" if review.title else ""), ""]
    out.append(review.overview)
    counts = ", ".join(f"{n} {s}" for s, n in review.counts().items() if n) or "no findings"
    out.append(f"Findings: {counts}")
    out.append(f"Coverage: {review.coverage.text()}")
    if review.metadata.get("model"):
        out.append(f"LLM: {review.usage.input_tokens:,} tokens in, {review.usage.output_tokens:,} out "
                   f"({review.metadata['model']})")
    out.append("")
    for c in review.comments:
        f = c.finding
        span = f"{c.start}" if c.start == c.end else f"{c.start}-{c.end}"
        out.append(paint(f"{f.severity.upper():8}", f.severity) + f" {c.path}:{span}  {f.title}  [{_who(f).replace('`', '')}]")
        out += code(c)
        if f.body.strip():
            out += ["      " + line for line in f.body.strip().splitlines()]
        if f.suggestion is not None and review.config.reviews.suggestions:
            out.append("      suggested fix:")
            out += ["      + " + line for line in f.suggestion.splitlines()]
        out.append("")
    if review.deferred:
        out.append("Not on a changed line:")
        for d in review.deferred:
            f = d.finding
            where = f.path if f.line is None else f"{f.path}:{f.line}"
            out.append("  " + paint(f"{f.severity.upper():8}", f.severity) + f" {where}  {f.title}  ({d.reason})")
        out.append("")
    if review.coverage.skipped:
        out.append("Skipped: " + ", ".join(f"{p} ({r})" for p, r in review.coverage.skipped))
    if review.filtered:
        out.append(f"{len(review.filtered)} findings below {review.config.effective_min_severity()} not shown.")
    for err in review.errors:
        out.append(f"problem: {err}")
    return "\n".join(out).rstrip() + "\n"


# -- SARIF ---------------------------------------------------------------------------------

_RULE_SCALE = {"nitpick": "info", "low": "info", "medium": "warning", "high": "error", "critical": "error"}


class _SarifFinding:
    __slots__ = ("rule_id", "severity", "category", "message", "path", "line", "end_line", "side",
                 "column_start", "column_end", "match", "suggestion", "fingerprint")

    def __init__(self, f: ReviewFinding) -> None:
        self.rule_id = f.rule_id or (f"llm/{f.category}" if f.source == "llm" else f.source)
        self.severity = _RULE_SCALE[f.severity]
        self.category = f.category
        self.message = f.title + (f"\n\n{f.body.strip()}" if f.body.strip() else "")
        self.path = f.path
        self.line = f.line
        self.end_line = f.end_line
        self.side = f.side if f.line is not None else "path"
        self.column_start = 0
        self.column_end = 0
        self.match = ""
        single = f.line is not None and f.end_line == f.line and f.suggestion is not None and "\n" not in f.suggestion
        self.suggestion = f.suggestion if single else None
        self.fingerprint = f.fingerprint


def sarif(review: Review) -> dict[str, Any]:
    from bbreview.sarif import to_sarif

    log = to_sarif([_SarifFinding(f) for f in review.posted_findings()])
    run = log["runs"][0]
    run["properties"] = {
        "review": review.label,
        "headCommit": review.head_commit,
        "coverage": review.coverage.text(),
        **{k: v for k, v in review.metadata.items() if isinstance(v, (str, int, float)) or v is None},
    }
    return log


# -- Code Insights -------------------------------------------------------------------------

_CI_SEVERITY = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW", "nitpick": "LOW"}


def code_insights(review: Review, *, report_id: str = "bbreview") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A Code Insights report and annotations for the rule findings (§6.9).

    Annotations carry the finding's fingerprint as ``external_id`` (unique per
    report), new-side lines only, and at most 1,000, most severe first.
    """
    rule_findings = [f for f in review.findings if f.source == "rules"]
    rule_findings.sort(key=lambda f: (-SEVERITY_RANK[f.severity], f.path, f.line or 0))
    annotations = []
    seen: set[str] = set()
    for f in rule_findings[:MAX_ANNOTATIONS]:
        ext = f"{report_id}-{f.fingerprint}"
        if ext in seen:
            continue
        seen.add(ext)
        a: dict[str, Any] = {
            "external_id": ext,
            "annotation_type": "VULNERABILITY" if f.category in ("secrets", "security") else "CODE_SMELL",
            "path": f.path,
            "summary": _escape_inline(f.title)[:ANNOTATION_SUMMARY_CHARS],
            "severity": _CI_SEVERITY[f.severity],
            "result": "FAILED",
        }
        if f.line is not None and f.side == "new":
            a["line"] = f.line
        details = f"{f.rule_id}: {' '.join(f.body.split())}" if f.body.strip() else str(f.rule_id)
        a["details"] = details[:2000]
        annotations.append(a)
    failing = any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK["high"] for f in rule_findings)
    counts = {s: sum(1 for f in rule_findings if f.severity == s) for s in ("critical", "high", "medium", "low")}
    data = [
        {"title": "Findings", "type": "NUMBER", "value": len(rule_findings)},
        *({"title": s.capitalize(), "type": "NUMBER", "value": n} for s, n in counts.items()),
        {"title": "Files reviewed", "type": "NUMBER", "value": len(review.coverage.reviewed)},
        {"title": "Files skipped", "type": "NUMBER", "value": len(review.coverage.skipped)},
    ][:MAX_REPORT_DATA]
    report = {
        "title": "bbreview",
        "details": f"{len(rule_findings)} rule finding{'s' if len(rule_findings) != 1 else ''}; "
        f"{review.coverage.text()}.",
        "report_type": "SECURITY" if any(f.category in ("secrets", "security") for f in rule_findings) else "BUG",
        "reporter": "bbreview",
        "result": "FAILED" if failing else "PASSED",
        "data": data,
    }
    return report, annotations
