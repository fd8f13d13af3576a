"""The rule model (:class:`Rule`) and what a scan reports (:class:`Finding`)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from bbreview._native import core
from bbreview.errors import RuleError

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["Rule", "Finding", "to_frame", "SEVERITIES", "SCOPES", "RULE_FIELDS"]

SEVERITIES = ("info", "warning", "error")
SCOPES = ("added", "removed", "context", "path")

# Letters, digits and - _ . : / so that ids survive in suppression comments
# ("bbreview: ignore[id1, id2]"), SARIF rule ids and file names.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]*\Z")
_GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TEST_KEYS = ("positive", "negative", "path")


def _fail(rule_id: Any, field_name: str, reason: str, hint: str | None = None) -> RuleError:
    return RuleError(reason, rule_id if isinstance(rule_id, str) else None, field=field_name, hint=hint)


def _strings(rule_id: Any, name: str, value: Any, *, allow_empty_item: bool = False) -> tuple[str, ...]:
    """A str, or an iterable of str, as a tuple."""
    if isinstance(value, str):
        items: tuple[Any, ...] = (value,)
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        items = tuple(value)
    else:
        raise _fail(rule_id, name, f"{name} must be a string or a list of strings, not {type(value).__name__}")
    for item in items:
        if not isinstance(item, str):
            raise _fail(rule_id, name, f"{name} must contain only strings, found {item!r}")
        if not item and not allow_empty_item:
            raise _fail(rule_id, name, f"{name} must not contain an empty string")
    return items


@dataclass(frozen=True)
class Rule:
    """One review rule. Immutable; build variants with :func:`dataclasses.replace`.

    A line is a hit when any of ``patterns`` (RE2 syntax) matches it and none of
    ``exclude`` does, in a file that ``paths``/``languages`` select, on the
    side ``scope`` names. See the module documentation for every field.
    """

    id: str
    message: str
    patterns: tuple[str, ...]
    _: KW_ONLY
    severity: Literal["info", "warning", "error"] = "warning"
    category: str = "general"
    exclude: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    scope: Literal["added", "removed", "context", "path"] = "added"
    keywords: tuple[str, ...] = ()
    entropy: float | None = None
    entropy_group: int | str | None = None
    suggestion: str | None = None
    max_per_file: int | None = None
    secret: bool = None  # type: ignore[assignment]  # None: True when category == "secrets"
    description: str = ""
    tests: Mapping[str, Any] | None = field(default=None, hash=False)
    path_patterns: tuple[str, ...] = ()
    path_exclude_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rid = self.id
        set_ = object.__setattr__
        if not isinstance(rid, str) or not _ID.match(rid):
            raise _fail(
                None, "id", f"invalid rule id {rid!r}",
                "ids start with a letter or digit and use only letters, digits and - _ . : /",
            )
        if not isinstance(self.message, str) or not self.message.strip():
            raise _fail(rid, "message", "message must be a non-empty string")
        set_(self, "patterns", _strings(rid, "patterns", self.patterns))
        if not self.patterns:
            raise _fail(rid, "patterns", "a rule needs at least one pattern")
        if self.severity not in SEVERITIES:
            raise _fail(rid, "severity", f"unknown severity {self.severity!r}; use one of {', '.join(SEVERITIES)}")
        if not isinstance(self.category, str) or not self.category:
            raise _fail(rid, "category", "category must be a non-empty string")
        if self.scope not in SCOPES:
            raise _fail(rid, "scope", f"unknown scope {self.scope!r}; use one of {', '.join(SCOPES)}")
        for name in ("exclude", "paths", "keywords", "path_patterns", "path_exclude_patterns"):
            set_(self, name, _strings(rid, name, getattr(self, name), allow_empty_item=name == "paths"))
        languages = []
        for name in _strings(rid, "languages", self.languages):
            canonical = core.rules.canonical_language(name)
            if canonical is None:
                raise _fail(
                    rid, "languages", f"unknown language {name!r}",
                    "known languages: " + ", ".join(core.rules.known_languages()),
                )
            if canonical not in languages:
                languages.append(canonical)
        set_(self, "languages", tuple(languages))
        if self.entropy is not None:
            if isinstance(self.entropy, bool) or not isinstance(self.entropy, (int, float)):
                raise _fail(rid, "entropy", f"entropy must be a number, not {self.entropy!r}")
            if not math.isfinite(self.entropy) or self.entropy < 0:
                raise _fail(rid, "entropy", f"entropy must be at least 0 bits per character, not {self.entropy!r}")
            set_(self, "entropy", float(self.entropy))
        group = self.entropy_group
        if group is not None:
            if isinstance(group, bool) or not isinstance(group, (int, str)):
                raise _fail(rid, "entropy_group", f"entropy_group must be a group number or name, not {group!r}")
            if isinstance(group, int) and group < 0:
                raise _fail(rid, "entropy_group", f"entropy_group must be at least 0, not {group}")
            if isinstance(group, str) and not (group.isdigit() or _GROUP_NAME.match(group)):
                raise _fail(rid, "entropy_group", f"entropy_group {group!r} is not a group number or name")
        if self.suggestion is not None and not isinstance(self.suggestion, str):
            raise _fail(rid, "suggestion", "suggestion must be a string")
        cap = self.max_per_file
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise _fail(rid, "max_per_file", f"max_per_file must be a whole number of at least 1, not {cap!r}")
        if self.secret is None:
            set_(self, "secret", self.category == "secrets")
        elif not isinstance(self.secret, bool):
            raise _fail(rid, "secret", f"secret must be true or false, not {self.secret!r}")
        if not isinstance(self.description, str):
            raise _fail(rid, "description", "description must be a string")
        if self.tests is not None:
            set_(self, "tests", _tests(rid, self.tests))

    # ---- conversions ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from their defaults, as plain YAML-ready values."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "secret":
                if value != (self.category == "secrets"):
                    out["secret"] = value
                continue
            if f.name in ("id", "message", "patterns") or value != f.default:
                if isinstance(value, tuple):
                    value = value[0] if f.name == "patterns" and len(value) == 1 else list(value)
                elif isinstance(value, Mapping):
                    value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
                out[f.name] = value
        return out

    def _native_spec(self) -> dict[str, Any]:
        spec = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("description", "tests")}
        spec["entropy_group"] = None if self.entropy_group is None else str(self.entropy_group)
        return spec


def _tests(rid: str, tests: Any) -> Mapping[str, Any]:
    if not isinstance(tests, Mapping):
        raise _fail(rid, "tests", "tests must be a mapping with positive/negative example lines")
    unknown = sorted(set(tests) - set(_TEST_KEYS))
    if unknown:
        raise _fail(rid, "tests", f"unknown key(s) in tests: {', '.join(map(str, unknown))}; use positive, negative, path")
    out: dict[str, Any] = {}
    for key in ("positive", "negative"):
        if key in tests and tests[key] is not None:
            out[key] = _strings(rid, "tests", tests[key], allow_empty_item=True)
            if any("\n" in line or "\r" in line for line in out[key]):
                raise _fail(rid, "tests", f"each {key} example is one line; split multi-line examples")
    if "path" in tests and tests["path"] is not None:
        if not isinstance(tests["path"], str) or not tests["path"]:
            raise _fail(rid, "tests", "tests.path must be a non-empty string")
        out["path"] = tests["path"]
    return MappingProxyType(out)


RULE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Rule))


class Finding(NamedTuple):
    """One rule hit.

    ``line`` is the new-side line for ``side == "new"`` (added and context
    lines), the old-side line for ``side == "old"`` (removed lines), and None
    for ``side == "path"`` (a rule with ``scope: path``); ``end_line`` equals
    ``line``. Columns count Unicode code points from 1, and ``column_end`` is
    exclusive (SARIF's convention), so ``content[column_start - 1:column_end - 1]``
    is the matched text. ``match`` and ``snippet`` (the whole line) are redacted
    for secret rules, and ``suggestion`` (the whole fixed line) never repeats a
    secret. ``fingerprint`` is a 32-hex-digit hash of the rule id, the path and
    the whitespace-normalised line (no line number), stable across commits.
    ``commit`` is the commit whose header preceded the file in ``git log -p``
    input, else None.
    """

    rule_id: str
    severity: str
    category: str
    message: str
    path: str
    line: int | None
    side: Literal["new", "old", "path"]
    end_line: int | None
    column_start: int
    column_end: int
    match: str
    suggestion: str | None
    fingerprint: str
    snippet: str
    commit: str | None

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (JSON-ready)."""
        return dict(zip(self._fields, self))

    @staticmethod
    def to_frame(findings: Iterable[Finding]) -> pandas.DataFrame:
        """The findings as a pandas DataFrame, one row each, one column per field."""
        return to_frame(findings)

    def __repr__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"<Finding {self.rule_id} {self.severity} {where}:{self.column_start} {self.match!r}>"


def to_frame(findings: Iterable[Finding]) -> pandas.DataFrame:
    """Findings as a pandas DataFrame (needs pandas: ``pip install bbreview[frames]``).

    The columns are Finding's fields in order, also when there are no findings;
    ``line``/``end_line`` use pandas' nullable Int64 so path findings stay <NA>.
    """
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is in the dev extras
        raise ImportError("to_frame() needs pandas; install it with `pip install bbreview[frames]`") from exc
    frame = pd.DataFrame.from_records(list(findings), columns=list(Finding._fields))
    for column in ("line", "end_line"):
        frame[column] = frame[column].astype("Int64")
    return frame
