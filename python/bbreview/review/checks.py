"""Checks: what finds problems in a diff.

A check is anything with a ``name`` and a ``run(patchset, context)`` that
returns findings (the :class:`Check` protocol). Three kinds ship:

* :class:`RulesCheck` runs a :class:`~bbreview.RuleSet` (RE2, in C++);
* :func:`check` turns a Python function ``f(file: FileDiff) -> findings`` into
  a check, for heuristics written in a script or a notebook::

      @bbreview.check
      def no_todo_without_ticket(file):
          for hunk in file.hunks:
              for line in hunk.lines:
                  if line.kind == "+" and "TODO" in line.content and "JIRA-" not in line.content:
                      yield {"line": line.new_lineno, "title": "TODO without a ticket", "severity": "low"}

* the LLM reviewer (:mod:`bbreview.review.llm`), wired by the pipeline.

A Python check may return :class:`ReviewFinding` objects, rule
:class:`~bbreview.Finding` objects or plain dicts with ReviewFinding's fields
(``path`` defaults to the file's path). A check that raises is reported in the
review's errors and does not stop the others.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bbreview.diff import FileDiff, PatchSet
from bbreview.review.model import ReviewFinding, fingerprint_of, normalise_severity
from bbreview.rules import Finding, RuleSet

__all__ = ["Check", "CheckContext", "RulesCheck", "PythonCheck", "check", "as_review_finding"]


@dataclass
class CheckContext:
    """What a check may want besides the diff: the configuration and the PR.

    ``deterministic`` checks (rules, Python checks) run over the whole pull
    request on every run; the LLM runs over the new commits only.
    """

    config: Any = None
    title: str = ""
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Check(Protocol):
    """Finds problems. ``run`` returns findings for the files of ``patchset``."""

    name: str

    def run(self, patchset: PatchSet | list[FileDiff], context: CheckContext) -> Iterable[Any]: ...


def as_review_finding(item: Any, *, source: str, default_path: str | None = None) -> ReviewFinding:
    """``item`` (a ReviewFinding, a rule Finding or a dict) as a ReviewFinding.

    Raises ValueError naming the offending field when a dict is incomplete.
    """
    if isinstance(item, ReviewFinding):
        return item if item.source == source or not source.startswith("check:") else item.with_(source=source)
    if isinstance(item, Finding):
        return ReviewFinding.from_rule(item)
    if isinstance(item, Mapping):
        data = dict(item)
        data.setdefault("source", source)
        if "path" not in data:
            if default_path is None:
                raise ValueError("a finding dict needs a 'path'")
            data["path"] = default_path
        if "line" not in data:
            data["line"] = None
        if "rule_id" not in data and source.startswith("check:"):
            data["rule_id"] = source.split(":", 1)[1]
        unknown = set(data) - set(ReviewFinding.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown finding field(s): {', '.join(sorted(unknown))}")
        return ReviewFinding(**data)
    raise TypeError(f"a check returned {type(item).__name__}; return ReviewFinding, Finding or dict")


class RulesCheck:
    """Runs a RuleSet over the diff; ``review_severity`` maps rule ids to an exact review severity."""

    def __init__(self, rules: RuleSet, *, review_severity: Mapping[str, str] | None = None) -> None:
        self.rules = rules
        self.name = "rules"
        self._severity = {k: normalise_severity(v) for k, v in (review_severity or {}).items()}

    def run(self, patchset: PatchSet | list[FileDiff], context: CheckContext) -> list[ReviewFinding]:
        hits: list[Finding] = []
        if isinstance(patchset, PatchSet):
            hits = self.rules.scan(patchset)
        else:
            for file in patchset:
                hits.extend(self.rules.scan(file))
        out = []
        for hit in hits:
            finding = ReviewFinding.from_rule(hit)
            exact = self._severity.get(hit.rule_id)
            out.append(finding.with_(severity=exact) if exact else finding)
        return out

    def __repr__(self) -> str:
        return f"<RulesCheck {len(self.rules)} rules>"


class PythonCheck:
    """A function ``f(file) -> iterable of findings`` run on every file with hunks."""

    def __init__(self, func: Callable[..., Any], *, name: str | None = None, binary: bool = False) -> None:
        self.func = func
        self.name = name or func.__name__
        self.binary = binary
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def run(self, patchset: PatchSet | list[FileDiff], context: CheckContext) -> list[ReviewFinding]:
        out: list[ReviewFinding] = []
        source = f"check:{self.name}"
        for file in patchset:
            if file.is_binary and not self.binary:
                continue
            result = self.func(file)
            if result is None:
                continue
            if isinstance(result, (ReviewFinding, Finding, Mapping)):
                result = [result]
            found = [(item, as_review_finding(item, source=source, default_path=file.path)) for item in result]
            out.extend(_located_fingerprints(found, file))
        return out

    def __repr__(self) -> str:
        return f"<check {self.name}>"


def _auto_fingerprint(finding: ReviewFinding, source: str) -> str:
    key = finding.rule_id or finding.title.strip().lower()
    return fingerprint_of(source, key, finding.path, finding.extra.get("code", ""))


def _located_fingerprints(found: list[tuple[Any, ReviewFinding]], file: FileDiff) -> list[ReviewFinding]:
    """The findings with fingerprints that tell places apart.

    A check's finding without its own fingerprint would be identified by its
    check and title only, so two hits of one check in a file (two ``iterrows``
    loops) would merge into one. Its fingerprint takes in the code of its lines
    instead (no line numbers: it stays stable while that code is unchanged), and
    a repeat of the same code in the file is numbered in line order. Findings
    whose check set a fingerprint, or the code, keep theirs.
    """
    new = {ln.new_lineno: ln.content for h in file.hunks for ln in h.lines if ln.new_lineno is not None}
    old = {ln.old_lineno: ln.content for h in file.hunks for ln in h.lines
           if ln.old_lineno is not None and ln.kind == "-"}
    seen: dict[tuple[str, str, str], list[tuple[str, int | None, int | None]]] = {}
    order = sorted(range(len(found)), key=lambda i: (found[i][1].line or 0, found[i][1].end_line or 0))
    placed: dict[int, ReviewFinding] = {}
    for i in order:
        item, finding = found[i]
        original = item if isinstance(item, ReviewFinding) else finding
        automatic = (not isinstance(item, Finding) and finding.line is not None and "code" not in finding.extra
                     and original.fingerprint == _auto_fingerprint(original, original.source))
        if not automatic:
            placed[i] = finding
            continue
        lines = old if finding.side == "old" else new
        assert finding.end_line is not None
        code = "\n".join(lines.get(n, "") for n in range(finding.line, finding.end_line + 1)).strip()
        key = finding.rule_id or finding.title.strip().lower()
        places = seen.setdefault((key, finding.path, code), [])
        if (finding.side, finding.line, finding.end_line) not in places:  # the same place twice is one finding
            places.append((finding.side, finding.line, finding.end_line))
        n = places.index((finding.side, finding.line, finding.end_line)) + 1
        text = code if n == 1 else f"{code}\n#{n}"
        placed[i] = finding.with_(fingerprint=fingerprint_of(finding.source, key, finding.path, text))
    return [placed[i] for i in range(len(found))]


def check(func: Callable[..., Any] | None = None, *, name: str | None = None, binary: bool = False) -> Any:
    """Decorator: turns ``f(file: FileDiff) -> findings`` into a :class:`PythonCheck`.

    Use bare (``@check``) or with options (``@check(name="todo", binary=False)``).
    The function stays callable as before.
    """
    if func is None:
        return lambda f: PythonCheck(f, name=name, binary=binary)
    return PythonCheck(func, name=name, binary=binary)
