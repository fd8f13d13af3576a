"""BBQL filtering (``q``), ``sort`` and partial responses (``fields``), reference §4.2-4.3.

``compile_query(text)`` returns a predicate over an object's JSON (a dict), or
raises QueryError with a message fit for the 400 body. Dotted paths traverse
embedded objects; a path that crosses a list matches when any element matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

__all__ = ["QueryError", "compile_query", "sort_key", "apply_fields"]

_MISSING = object()


class QueryError(ValueError):
    """An invalid ``q``, ``sort`` or ``fields`` parameter."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<op>!=|>=|<=|!~|=|~|>|<)
      | (?P<lp>\()
      | (?P<rp>\))
      | (?P<comma>,)
      | (?P<dt>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?)
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
    )""",
    re.VERBOSE,
)

_KEYWORDS = {"AND", "OR", "NOT", "IN", "NULL", "TRUE", "FALSE"}


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"Invalid query: unexpected character at position {pos}: {text[pos:pos + 10]!r}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "str":
            tokens.append(("lit", re.sub(r"\\(.)", r"\1", value[1:-1])))
        elif kind == "num":
            tokens.append(("lit", float(value) if "." in value else int(value)))
        elif kind == "dt":
            tokens.append(("lit", _parse_datetime(value)))
        elif kind == "word":
            upper = value.upper()
            if upper == "NULL":
                tokens.append(("lit", None))
            elif upper in ("TRUE", "FALSE"):
                tokens.append(("lit", upper == "TRUE"))
            elif upper in _KEYWORDS:
                tokens.append((upper, upper))
            else:
                tokens.append(("path", value))
        else:
            tokens.append((kind, value))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


def _parse_datetime(text: str) -> datetime:
    value = text.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(f"Invalid query: bad datetime {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)  # "UTC unless offset", §4.3
    return parsed


Predicate = Callable[[Mapping[str, Any]], bool]


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]], ranks: Mapping[str, Mapping[str, int]]) -> None:
        self.tokens = tokens
        self.i = 0
        self.ranks = ranks

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self, kind: str) -> Any:
        if self.peek() != kind:
            got = self.tokens[self.i][1] if self.i < len(self.tokens) else "end of query"
            raise QueryError(f"Invalid query: expected {kind} but found {got!r}")
        value = self.tokens[self.i][1]
        self.i += 1
        return value

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.i != len(self.tokens):
            raise QueryError(f"Invalid query: unexpected {self.tokens[self.i][1]!r}")
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek() == "OR":
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda obj: any(p(obj) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() == "AND":
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda obj: all(p(obj) for p in parts))

    def unary(self) -> Predicate:
        if self.peek() == "lp":
            self.i += 1
            inner = self.or_expr()
            self.take("rp")
            return inner
        path = self.take("path")
        if path.startswith("values."):
            raise QueryError(f"Invalid query: do not prefix field names with 'values.': {path}")
        negate = False
        if self.peek() == "NOT":
            self.i += 1
            negate = True
            if self.peek() != "IN":
                raise QueryError("Invalid query: NOT must be followed by IN")
        if self.peek() == "IN":
            self.i += 1
            items = self.literal_list()
            rank = self.ranks.get(path)
            return _in_pred(path.split("."), items, negate, rank)
        op = self.take("op")
        if self.peek() != "lit":
            raise QueryError(f"Invalid query: expected a value after {path} {op}")
        value = self.take("lit")
        return _cmp_pred(path.split("."), op, value, self.ranks.get(path))

    def literal_list(self) -> list[Any]:
        self.take("lp")
        items = [self.take("lit")]
        while self.peek() == "comma":
            self.i += 1
            items.append(self.take("lit"))
        self.take("rp")
        return items


def _values(obj: Any, parts: Sequence[str]) -> list[Any]:
    """All values at a dotted path (several when a list is crossed)."""
    current = [obj]
    for part in parts:
        nxt = []
        for item in current:
            if isinstance(item, list):
                for sub in item:
                    if isinstance(sub, Mapping) and part in sub:
                        nxt.append(sub[part])
            elif isinstance(item, Mapping) and part in item:
                nxt.append(item[part])
        current = nxt
    flat: list[Any] = []
    for item in current:
        if isinstance(item, list):
            flat.extend(item)
        else:
            flat.append(item)
    return flat or [None]


def _coerce(actual: Any, literal: Any, rank: Mapping[str, int] | None) -> tuple[Any, Any] | None:
    if rank is not None and isinstance(actual, str) and isinstance(literal, str):
        return rank.get(actual, -1), rank.get(literal, -1)
    if isinstance(literal, datetime):
        if not isinstance(actual, str):
            return None
        try:
            return _parse_datetime(actual), literal
        except QueryError:
            return None
    if isinstance(literal, bool) or isinstance(actual, bool):
        return (actual, literal) if isinstance(actual, bool) and isinstance(literal, bool) else None
    if isinstance(literal, (int, float)) and isinstance(actual, (int, float)):
        return actual, literal
    if isinstance(literal, str) and isinstance(actual, str):
        return actual, literal
    return None


def _compare(actual: Any, op: str, literal: Any, rank: Mapping[str, int] | None) -> bool:
    if op in ("~", "!~"):
        found = isinstance(actual, str) and isinstance(literal, str) and literal.lower() in actual.lower()
        return found if op == "~" else not found
    if literal is None or actual is None:
        if op == "=":
            return actual is literal
        if op == "!=":
            return actual is not literal
        return False
    pair = _coerce(actual, literal, rank)
    if pair is None:
        return op == "!="
    a, b = pair
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "<":
        return a < b
    return a <= b


def _cmp_pred(parts: list[str], op: str, literal: Any, rank: Mapping[str, int] | None) -> Predicate:
    negative = op in ("!=", "!~")

    def pred(obj: Mapping[str, Any]) -> bool:
        values = _values(obj, parts)
        if negative:
            return all(_compare(v, op, literal, rank) for v in values)
        return any(_compare(v, op, literal, rank) for v in values)

    return pred


def _in_pred(parts: list[str], items: list[Any], negate: bool, rank: Mapping[str, int] | None) -> Predicate:
    def pred(obj: Mapping[str, Any]) -> bool:
        hit = any(_compare(v, "=", item, rank) for v in _values(obj, parts) for item in items)
        return not hit if negate else hit

    return pred


def compile_query(text: str, ranks: Mapping[str, Mapping[str, int]] | None = None) -> Predicate:
    """A predicate for the BBQL expression ``text``.

    ``ranks`` orders enumerations for ``<``/``>`` (e.g. ``permission>"read"``).
    Raises QueryError for anything outside the subset in reference §4.3.
    """
    tokens = _tokenize(text)
    if not tokens:
        raise QueryError("Invalid query: empty expression")
    return _Parser(tokens, ranks or {}).parse()


def sort_key(spec: str) -> tuple[list[str], bool]:
    """(path parts, descending) for ``sort=field`` / ``sort=-field`` (one field only)."""
    spec = spec.strip()
    if not spec or "," in spec:
        raise QueryError(f"Invalid sort field: {spec!r}")
    desc = spec.startswith("-")
    name = spec.lstrip("-+")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
        raise QueryError(f"Invalid sort field: {spec!r}")
    return name.split("."), desc


def sort_objects(objs: list[Mapping[str, Any]], spec: str) -> list[Mapping[str, Any]]:
    parts, desc = sort_key(spec)

    def key(obj: Mapping[str, Any]) -> tuple[int, Any]:
        value = _values(obj, parts)[0]
        if value is None:
            return (1, "")
        if isinstance(value, bool):
            return (0, int(value))
        if isinstance(value, (int, float)):
            return (0, value)
        return (0, str(value))

    present = [o for o in objs if _values(o, parts)[0] is not None]
    absent = [o for o in objs if _values(o, parts)[0] is None]
    try:
        present.sort(key=key, reverse=desc)
    except TypeError:
        present.sort(key=lambda o: str(key(o)[1]), reverse=desc)
    return present + absent


# -- partial responses (fields=) ------------------------------------------------------


def _select(full: Any, parts: list[str]) -> Any:
    """The sub-tree of ``full`` at ``parts`` (with ``*`` wildcards), shaped like ``full``."""
    if not parts:
        return full
    if isinstance(full, list):
        return [_select(item, parts) for item in full]
    if not isinstance(full, Mapping):
        return _MISSING
    head, rest = parts[0], parts[1:]
    out: dict[str, Any] = {}
    keys = list(full) if head == "*" else [head] if head in full else []
    for key in keys:
        sub = _select(full[key], rest)
        if sub is not _MISSING:
            out[key] = sub
    return out if out else _MISSING


def _merge(into: Any, add: Any) -> Any:
    if isinstance(into, dict) and isinstance(add, Mapping):
        for key, value in add.items():
            into[key] = _merge(into[key], value) if key in into else _deep_copy(value)
        return into
    if isinstance(into, list) and isinstance(add, list) and len(into) == len(add):
        return [_merge(a, b) for a, b in zip(into, add, strict=True)]
    return _deep_copy(add)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _remove(obj: Any, parts: list[str]) -> None:
    if isinstance(obj, list):
        for item in obj:
            _remove(item, parts)
        return
    if not isinstance(obj, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    keys = list(obj) if head == "*" else [head] if head in obj else []
    for key in keys:
        if rest:
            _remove(obj[key], rest)
        else:
            del obj[key]


def apply_fields(default: Any, full: Any, spec: str) -> Any:
    """Applies a ``fields`` parameter (reference §4.2).

    ``default`` is what the endpoint returns without the parameter and ``full``
    the same with every costly field included. ``-x`` removes, ``+x`` adds from
    ``full``, and plain names select only those.
    """
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        return default
    selections = [i for i in items if i[0] not in "+-"]
    if selections:
        result: Any = {}
        for sel in selections:
            sub = _select(full, sel.split("."))
            if sub is not _MISSING:
                result = _merge(result, sub)
    else:
        result = _deep_copy(default)
    for item in items:
        if item.startswith("-"):
            _remove(result, item[1:].split("."))
        elif item.startswith("+"):
            sub = _select(full, item[1:].split("."))
            if sub is not _MISSING:
                result = _merge(result, sub)
    return result
