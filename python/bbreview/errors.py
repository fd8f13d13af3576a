"""The bbreview exception hierarchy, rooted at :class:`Error`."""

from __future__ import annotations

__all__ = ["Error", "DiffParseError", "RuleError"]


class Error(Exception):
    """Base class of every error bbreview raises on purpose."""


class DiffParseError(Error, ValueError):
    """A diff could not be parsed in strict mode.

    Attributes:
        line: 1-based line number in the input where parsing failed.
        text: the offending input line, truncated to 120 bytes.
        reason: what was wrong, e.g. "hunk declares 5 new lines but 4 follow".
        source: the file the diff came from, when known.
    """

    def __init__(self, line: int, text: str, reason: str, source: str | None = None) -> None:
        self.line = line
        self.text = text
        self.reason = reason
        self.source = source
        where = f"{source}:{line}" if source else f"line {line}"
        super().__init__(
            f"{where}: {reason}: {text!r}\n"
            "hint: pass strict=False to skip malformed files and collect warnings instead"
        )

    def __reduce__(self):  # keeps the exception picklable across processes
        return (type(self), (self.line, self.text, self.reason, self.source))


class RuleError(Error, ValueError):
    """A rule, a rule file or a rule set is invalid.

    Attributes:
        reason: what was wrong, e.g. ``invalid regex "print(": missing ): print(``.
        rule_id: the rule's id, when the problem belongs to one rule.
        source: the file the rule came from, when known.
        line: 1-based line in ``source`` (or in the YAML text) of the offending
            value, or of the rule when the problem is the rule as a whole.
        field: the rule field at fault (``"patterns"``, ``"paths"``...), if any.
        hint: what to do about it.

    ``str(error)`` reads ``rules.yaml:12: rule "no-print": invalid regex ...``
    followed by a ``hint:`` line.
    """

    def __init__(
        self,
        reason: str,
        rule_id: str | None = None,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.rule_id = rule_id
        self.source = source
        self.line = line
        self.field = field
        self.hint = hint
        if source and line:
            where = f"{source}:{line}: "
        elif source:
            where = f"{source}: "
        elif line:
            where = f"line {line}: "
        else:
            where = ""
        who = f'rule "{rule_id}": ' if rule_id else ""
        super().__init__(f"{where}{who}{reason}" + (f"\nhint: {hint}" if hint else ""))

    def located(self, source: str | None, line: int | None) -> RuleError:
        """A copy that names ``source`` and ``line`` (kept when already set)."""
        return RuleError(
            self.reason, self.rule_id, self.source or source, self.line or line, self.field, self.hint
        )

    def __reduce__(self):  # keeps the exception picklable across processes
        return (type(self), (self.reason, self.rule_id, self.source, self.line, self.field, self.hint))
