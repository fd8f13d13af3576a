"""The bbreview exception hierarchy, rooted at :class:`Error`."""

from __future__ import annotations

__all__ = ["Error", "DiffParseError"]


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
