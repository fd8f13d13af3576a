# Type stubs for the compiled extension bbreview._core. Private: import bbreview.
from typing import Any, Literal

class _DiffModule:
    class ParseError(ValueError):
        args: tuple[int, str, str]

    class Line:
        @property
        def kind(self) -> Literal["+", "-", " "]: ...
        @property
        def old_lineno(self) -> int | None: ...
        @property
        def new_lineno(self) -> int | None: ...
        @property
        def content(self) -> str: ...
        @property
        def content_bytes(self) -> bytes: ...
        @property
        def no_newline_at_eof(self) -> bool: ...
        @property
        def line_ending(self) -> Literal["\n", "\r\n", ""]: ...
        @property
        def input_lineno(self) -> int: ...

    class Hunk:
        old_start: int
        old_count: int
        new_start: int
        new_count: int
        input_lineno: int
        @property
        def section(self) -> str: ...
        @property
        def lines(self) -> list[_DiffModule.Line]: ...
        def __len__(self) -> int: ...

    class Commit:
        sha: str
        author: str
        date: str
        subject: str
        message: str
        input_lineno: int

    class Anchor:
        @property
        def side(self) -> Literal["new", "old"]: ...
        start: int
        end: int
        exact: bool
        @property
        def hunk(self) -> _DiffModule.Hunk: ...

    class FileDiff:
        @property
        def old_path(self) -> str | None: ...
        @property
        def new_path(self) -> str | None: ...
        @property
        def path(self) -> str: ...
        @property
        def status(self) -> Literal["added", "deleted", "modified", "renamed", "copied"]: ...
        is_binary: bool
        is_combined: bool
        is_git: bool
        @property
        def old_mode(self) -> str | None: ...
        @property
        def new_mode(self) -> str | None: ...
        similarity: int | None
        dissimilarity: int | None
        old_hash: str
        new_hash: str
        added: int
        removed: int
        input_lineno: int
        commit_index: int
        @property
        def hunks(self) -> list[_DiffModule.Hunk]: ...
        def anchor(self, *, new_line: int | None = None, old_line: int | None = None) -> _DiffModule.Hunk | None: ...
        def nearest_anchor(
            self, start: int, end: int | None = None, *, side: Literal["new", "old"] = "new", max_distance: int = 0
        ) -> _DiffModule.Anchor | None: ...
        def to_text(self) -> bytes: ...

    class PatchSet:
        @property
        def files(self) -> list[_DiffModule.FileDiff]: ...
        @property
        def commits(self) -> list[_DiffModule.Commit]: ...
        @property
        def warnings(self) -> list[tuple[int, str]]: ...
        added: int
        removed: int
        stats_only: bool
        input_size: int
        def __len__(self) -> int: ...
        def to_text(self) -> bytes: ...
        def file_records(self) -> list[dict[str, Any]]: ...
        def line_records(self) -> list[dict[str, Any]]: ...

    @staticmethod
    def parse(data: str | bytes | bytearray | memoryview, strict: bool = True, keep_lines: bool = True) -> _DiffModule.PatchSet: ...

diff: _DiffModule
