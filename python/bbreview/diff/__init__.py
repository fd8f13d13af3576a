"""Unified diffs: parse git and plain ``diff -u`` output into a model.

The model nests like the format: :class:`PatchSet` -> :class:`FileDiff` ->
:class:`Hunk` -> :class:`Line`. Parsing runs in C++ with the GIL released; the
whole input is kept in one buffer and every line's content is a view into it.

>>> ps = parse_diff(open("change.diff", "rb").read())          # doctest: +SKIP
>>> for f in ps:                                                # doctest: +SKIP
...     print(f.path, f.status, f.added, f.removed)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from bbreview._native import core
from bbreview.errors import DiffParseError

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "PatchSet",
    "FileDiff",
    "Hunk",
    "Line",
    "Commit",
    "Anchor",
    "parse_diff",
    "diffstat",
]

_d = core.diff
FileDiff = _d.FileDiff
Hunk = _d.Hunk
Line = _d.Line
Commit = _d.Commit
Anchor = _d.Anchor

DiffInput = str | bytes | bytearray | memoryview


def _parse(data: DiffInput, *, strict: bool, keep_lines: bool, source: str | None) -> PatchSet:
    try:
        native = _d.parse(data, strict, keep_lines)
    except _d.ParseError as exc:
        line, text, reason = exc.args
        raise DiffParseError(line, text, reason, source) from None
    return PatchSet(native, source=source)


def parse_diff(text: DiffInput, *, strict: bool = True) -> PatchSet:
    """Parses unified diff text (str, or bytes in any encoding) into a PatchSet.

    Accepts ``git diff``/``show``/``log -p``/``format-patch`` output,
    Bitbucket's ``/diff`` and plain ``diff -u``. In strict mode a malformed diff
    raises :class:`~bbreview.DiffParseError` naming the line and the reason; with
    ``strict=False`` the malformed file is skipped, parsing resumes at the next
    file header and the problem is listed in :attr:`PatchSet.warnings`.
    """
    return _parse(text, strict=strict, keep_lines=True, source=None)


def diffstat(text: DiffInput, *, strict: bool = True) -> PatchSet:
    """The statistics-only fast path: files, paths, status, modes and line counts.

    Hunks and lines are counted and validated but not stored, so the result
    cannot be anchored against or re-emitted. Use it for ``--stat``-like
    summaries over large histories.
    """
    return _parse(text, strict=strict, keep_lines=False, source=None)


class PatchSet:
    """A parsed diff: a sequence of :class:`FileDiff`.

    Also carries the commits met in ``git log -p``/format-patch input
    (:attr:`commits`), the totals :attr:`added`/:attr:`removed`, and the
    :attr:`warnings` collected in lenient mode.
    """

    __slots__ = ("_native", "_file_list", "source")

    def __init__(self, native: Any, *, source: str | None = None) -> None:
        self._native = native
        self._file_list: list[FileDiff] | None = None
        self.source = source

    @property
    def _files(self) -> list[FileDiff]:
        # Built on first use: wrapping thousands of files costs about a tenth
        # of the parse itself, and many callers only need the totals.
        if self._file_list is None:
            self._file_list = self._native.files
        return self._file_list

    # ---- construction -------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, strict: bool = True) -> PatchSet:
        """Parses the diff stored at ``path`` (read as bytes, any encoding)."""
        with open(path, "rb") as fh:
            data = fh.read()
        return _parse(data, strict=strict, keep_lines=True, source=os.fspath(path))

    @classmethod
    def from_text(cls, text: DiffInput, *, strict: bool = True) -> PatchSet:
        """Same as :func:`parse_diff`."""
        return parse_diff(text, strict=strict)

    # ---- sequence protocol --------------------------------------------------
    @property
    def files(self) -> list[FileDiff]:
        return list(self._files)

    def __len__(self) -> int:
        return len(self._native)

    def __iter__(self) -> Iterator[FileDiff]:
        return iter(self._files)

    def __getitem__(self, key: int | str) -> FileDiff:
        """By position, or by path (new path, else old path)."""
        if isinstance(key, str):
            for f in self._files:
                if f.path == key or f.old_path == key:
                    return f
            raise KeyError(f"no file {key!r} in this diff; files: {[f.path for f in self._files][:10]}")
        return self._files[key]

    # ---- totals and metadata ------------------------------------------------
    @property
    def added(self) -> int:
        return self._native.added

    @property
    def removed(self) -> int:
        return self._native.removed

    @property
    def warnings(self) -> list[str]:
        """Problems met in lenient mode (and notes such as skipped combined diffs)."""
        return [message for _, message in self._native.warnings]

    @property
    def commits(self) -> list[Commit]:
        return self._native.commits

    @property
    def stats_only(self) -> bool:
        return self._native.stats_only

    def commit_of(self, file: FileDiff) -> Commit | None:
        """The commit whose header preceded ``file``, if the input had commit headers."""
        index = file.commit_index
        return None if index < 0 else self._native.commits[index]

    # ---- output -------------------------------------------------------------
    def __bytes__(self) -> bytes:
        """A git-style diff equivalent to the input, byte-exact in line content."""
        return self._native.to_text()

    def __str__(self) -> str:
        # surrogateescape keeps non-UTF-8 bytes: str(ps).encode("utf-8", "surrogateescape") == bytes(ps)
        return self._native.to_text().decode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        origin = f" from {self.source!r}" if self.source else ""
        return f"<PatchSet{origin}: {len(self)} files, +{self.added} -{self.removed}>"

    def to_records(self, per: Literal["file", "line"] = "file") -> list[dict[str, Any]]:
        """One dict per file (path, status, counts, modes, commit) or per line."""
        if per == "file":
            return self._native.file_records()
        if per == "line":
            if self.stats_only:
                raise ValueError("per='line' needs line data, but this PatchSet came from diffstat(); use parse_diff()")
            return self._native.line_records()
        raise ValueError(f"per must be 'file' or 'line', got {per!r}")

    def to_frame(self, per: Literal["file", "line"] = "file") -> pandas.DataFrame:
        """The records as a pandas DataFrame (needs pandas: ``pip install bbreview[frames]``)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_frame() needs pandas; install it with `pip install bbreview[frames]`") from exc
        return pd.DataFrame.from_records(self.to_records(per))
