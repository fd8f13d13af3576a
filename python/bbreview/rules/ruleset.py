"""RuleSet: a compiled, immutable collection of rules that scans diffs."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bbreview._native import core
from bbreview.diff import DiffInput, PatchSet, parse_diff
from bbreview.errors import RuleError
from bbreview.rules.loader import Origin, load_gitleaks, load_yaml, read_source
from bbreview.rules.model import SEVERITIES, Finding, Rule

__all__ = ["RuleSet", "DEFAULT_MAX_MEM", "PACKS_DIR", "available_packs"]

DEFAULT_MAX_MEM = 64 << 20
"""Default memory budget for a rule set's compiled regexes (64 MiB)."""

PACKS_DIR = Path(__file__).with_name("packs")
"""Where the built-in rule packs live: one ``<name>.yaml`` per pack."""

_FileDiff = core.diff.FileDiff
_NativePatchSet = core.diff.PatchSet

ScanTarget = PatchSet | DiffInput | Any  # also a FileDiff or a native PatchSet


def available_packs() -> list[str]:
    """Names of the built-in rule packs, sorted (``RuleSet.builtin(packs=...)``)."""
    return sorted(p.stem for p in PACKS_DIR.glob("*.yaml"))


@lru_cache(maxsize=64)
def _load_pack(path: str, mtime_ns: int) -> tuple[tuple[Rule, ...], tuple[Origin, ...]]:
    del mtime_ns  # part of the cache key only: an edited pack is read again
    text, source = read_source(Path(path), (".yaml", ".yml"))
    rules, origins = load_yaml(text, source)
    return tuple(rules), tuple(origins)


class RuleSet:
    """Rules compiled into one RE2 multi-pattern matcher per scope.

    Immutable and thread-safe: :meth:`scan` and :meth:`scan_many` release the
    GIL while matching, so several threads may scan with one RuleSet.

    ``max_mem`` (default 64 MiB) bounds RE2's memory: the multi-pattern sets
    share half of it, and each rule's own regex may use up to an eighth (1 to
    8 MiB). RE2 allocates lazily, so these are ceilings. A set that cannot
    fit raises :class:`~bbreview.RuleError` saying so; raise ``max_mem``.

    Performance: rules with ``keywords`` cost almost nothing on lines without
    their keywords. Give large patterns that can start anywhere (``^.{201}``,
    ``[\\w.-]*?(?:secret|token)...``) keywords where possible: without them
    each is one more pass over every line.
    """

    __slots__ = ("_rules", "_index", "_native", "_origins", "_max_mem", "_load_warnings")

    def __init__(self, rules: Iterable[Rule] = (), *, max_mem: int = DEFAULT_MAX_MEM) -> None:
        rules = tuple(rules)
        self._setup(rules, [None] * len(rules), max_mem, [])

    # ---- construction ---------------------------------------------------------
    def _setup(
        self, rules: tuple[Rule, ...], origins: list[Origin | None], max_mem: int, load_warnings: list[str]
    ) -> None:
        for rule in rules:
            if not isinstance(rule, Rule):
                raise TypeError(f"RuleSet takes Rule objects, not {type(rule).__name__}")
        if isinstance(max_mem, bool) or not isinstance(max_mem, int) or max_mem < 1 << 20:
            raise ValueError(f"max_mem must be a number of bytes, at least 1 MiB (1048576), not {max_mem!r}")
        index: dict[str, int] = {}
        for i, rule in enumerate(rules):
            if rule.id in index:
                first = origins[index[rule.id]]
                there = _where(first) or f"rule #{index[rule.id] + 1}"
                origin = origins[i]
                raise RuleError(
                    f"duplicate rule id (also defined at {there})", rule.id,
                    origin.source if origin else None, origin.line_of("id") if origin else None, "id",
                    "rule ids must be unique in a rule set; rename one or drop it before combining",
                )
            index[rule.id] = i
        self._rules = rules
        self._index = index
        self._origins = origins
        self._max_mem = max_mem
        self._load_warnings = load_warnings
        try:
            self._native = core.rules.compile([r._native_spec() for r in rules], max_mem)
        except core.rules.CompileError as exc:
            raise self._compile_error(*exc.args) from None

    @classmethod
    def _assemble(
        cls, rules: Iterable[Rule], origins: Iterable[Origin | None], max_mem: int, load_warnings: list[str]
    ) -> RuleSet:
        self = cls.__new__(cls)
        self._setup(tuple(rules), list(origins), max_mem, load_warnings)
        return self

    def _compile_error(self, rule_index: int, field: str, item: int, value: str, reason: str) -> RuleError:
        if rule_index < 0:
            return RuleError(reason, hint="raise max_mem, e.g. RuleSet(..., max_mem=256 << 20)")
        rule = self._rules[rule_index]
        origin = self._origins[rule_index]
        if len(value) > 120:
            value = value[:117] + "..."
        source = origin.source if origin else None
        line = origin.line_of(field, item) if origin else None
        if field in ("patterns", "exclude", "path_patterns", "path_exclude_patterns"):
            what = {"patterns": "regex", "exclude": "exclude regex"}.get(field, field.replace("_", " ")[:-1])
            hint = (
                "raise max_mem, e.g. RuleSet(..., max_mem=256 << 20), or simplify the pattern"
                if "max_mem" in reason
                else "patterns use RE2 syntax (no lookaround, no backreferences); fix the pattern "
                "or escape literal characters with a backslash"
            )
            return RuleError(f'invalid {what} "{value}": {reason}', rule.id, source, line, field, hint)
        if field == "suggestion":
            hint = "refer to groups with \\1..\\9, \\g<n> or \\g<name>; write \\\\ for a backslash"
        elif field == "entropy_group":
            hint = "name a capture group that every pattern of the rule has"
        else:
            hint = None
        shown = f' "{value}"' if value else ""
        return RuleError(f"invalid {field}{shown}: {reason}", rule.id, source, line, field, hint)

    @classmethod
    def from_yaml(cls, path_or_text: str | bytes | os.PathLike[str], *, max_mem: int = DEFAULT_MAX_MEM) -> RuleSet:
        """Rules from a YAML file (a path) or YAML text: a top-level ``rules:``
        list of mappings whose keys are :class:`Rule`'s field names (optional
        top-level ``name`` and ``description`` are allowed). Unknown keys, bad
        values and invalid regexes raise :class:`~bbreview.RuleError` naming
        the file and line."""
        text, source = read_source(path_or_text, (".yaml", ".yml"))
        rules, origins = load_yaml(text, source)
        return cls._assemble(rules, origins, max_mem, [])

    @classmethod
    def from_gitleaks(
        cls, path_or_text: str | bytes | os.PathLike[str], *, severity: str = "error", max_mem: int = DEFAULT_MAX_MEM
    ) -> RuleSet:
        """Rules from a gitleaks TOML config (a path or the text).

        Each ``[[rules]]`` entry becomes a secrets rule (scope ``added``):
        ``regex`` -> patterns, ``keywords``, ``entropy``, ``secretGroup`` ->
        entropy_group, ``path`` -> path_patterns (or, without ``regex``, a
        ``scope: path`` rule), ``tags`` into the description, and allowlist
        ``regexes``/``stopwords`` -> exclude, ``paths`` -> path_exclude_patterns
        (the file-level allowlist applies to every rule). What can only be
        approximated is listed in :attr:`warnings`.
        """
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        text, source = read_source(path_or_text, (".toml",))
        rules, origins, warnings = load_gitleaks(text, source, severity)
        return cls._assemble(rules, origins, max_mem, warnings)

    @classmethod
    def builtin(cls, packs: Iterable[str] | str | None = None, *, max_mem: int = DEFAULT_MAX_MEM) -> RuleSet:
        """The built-in rule packs (``python/bbreview/rules/packs/*.yaml``): all
        of them, or the named ones. An unknown name raises RuleError listing the
        available packs."""
        available = available_packs()
        if packs is None:
            names = available
        else:
            names = [packs] if isinstance(packs, str) else list(packs)
            unknown = [n for n in names if n not in available]
            if unknown:
                raise RuleError(
                    f"unknown rule pack(s): {', '.join(map(repr, unknown))}",
                    hint="available packs: " + (", ".join(available) if available else "(none installed)"),
                )
        rules: list[Rule] = []
        origins: list[Origin | None] = []
        for name in dict.fromkeys(names):
            path = PACKS_DIR / f"{name}.yaml"
            pack_rules, pack_origins = _load_pack(str(path), path.stat().st_mtime_ns)
            rules.extend(pack_rules)
            origins.extend(pack_origins)
        return cls._assemble(rules, origins, max_mem, [])

    # ---- combining and deriving -----------------------------------------------
    def __add__(self, other: RuleSet) -> RuleSet:
        """Both sets' rules (self's first). A shared id raises RuleError."""
        if not isinstance(other, RuleSet):
            return NotImplemented
        return RuleSet._assemble(
            self._rules + other._rules,
            self._origins + other._origins,
            max(self._max_mem, other._max_mem),
            self._load_warnings + other._load_warnings,
        )

    def with_severity_overrides(self, overrides: Mapping[str, str]) -> RuleSet:
        """A copy with some rules' severities changed (``{"rule-id": "error"}``).
        Reuses the compiled matcher, since severity does not affect matching."""
        rules = list(self._rules)
        for rule_id, severity in overrides.items():
            if rule_id not in self._index:
                raise RuleError(
                    f"cannot override the severity of unknown rule {rule_id!r}",
                    hint="known rule ids: " + ", ".join(self.ids[:20]) + (" ..." if len(self) > 20 else ""),
                )
            if severity not in SEVERITIES:
                raise RuleError(
                    f"unknown severity {severity!r}", rule_id, field="severity",
                    hint="use one of " + ", ".join(SEVERITIES),
                )
            i = self._index[rule_id]
            rules[i] = dataclasses.replace(rules[i], severity=severity)
        clone = RuleSet.__new__(RuleSet)
        clone._rules = tuple(rules)
        clone._index = self._index
        clone._native = self._native
        clone._origins = self._origins
        clone._max_mem = self._max_mem
        clone._load_warnings = self._load_warnings
        return clone

    # ---- the collection -------------------------------------------------------
    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    @property
    def ids(self) -> list[str]:
        """Rule ids, in order."""
        return [r.id for r in self._rules]

    @property
    def max_mem(self) -> int:
        return self._max_mem

    @property
    def warnings(self) -> list[str]:
        """Problems that do not stop the set from working but make a rule
        useless or approximate, e.g. a path glob that can never match. Each
        names the file and line when known."""
        out = list(self._load_warnings)
        for rule_index, field, item, message in self._native.warnings:
            rule = self._rules[rule_index]
            origin = self._origins[rule_index]
            where = ""
            if origin is not None:
                line = origin.line_of(field, item)
                where = _where(Origin(origin.source, line)) + ": "
            out.append(f'{where}rule "{rule.id}": {message}')
        return out

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._index

    def __getitem__(self, key: str | int) -> Rule:
        """A rule by id or by position."""
        if isinstance(key, str):
            try:
                return self._rules[self._index[key]]
            except KeyError:
                raise KeyError(f"no rule {key!r} in this rule set") from None
        return self._rules[key]

    def __repr__(self) -> str:
        return f"<RuleSet: {len(self)} rules>"

    def origin(self, rule_id: str) -> tuple[str | None, int | None]:
        """(file, line) where a rule was defined; (None, None) for rules built in Python."""
        origin = self._origins[self._index[rule_id]]
        return (origin.source, origin.line) if origin else (None, None)

    def to_yaml(self) -> str:
        """The rules as bbreview YAML, loadable with :meth:`from_yaml`."""
        return yaml.safe_dump(
            {"rules": [r.to_dict() for r in self._rules]}, sort_keys=False, allow_unicode=True, width=1000
        )

    # ---- scanning -------------------------------------------------------------
    def scan(self, target: ScanTarget) -> list[Finding]:
        """Findings for a diff: a :class:`~bbreview.PatchSet`, diff text (str or
        bytes, parsed strictly), or one :class:`~bbreview.FileDiff`.

        Findings come in file order, path findings before line findings, then
        by line, rule and column. Matching runs in C++ with the GIL released.
        """
        if isinstance(target, _FileDiff):
            return self._findings(self._native.scan_file(target))
        return self._findings(self._native.scan(_native_patchset(target)))

    def scan_many(self, targets: Iterable[ScanTarget], threads: int | None = None) -> list[list[Finding]]:
        """``[self.scan(t) for t in targets]``, scanned on up to ``threads``
        C++ threads (None: one per CPU) with the GIL released throughout."""
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive number or None, not {threads!r}")
        natives = [_native_patchset(t) for t in targets]
        return [self._findings(raw) for raw in self._native.scan_many(natives, threads or 0)]

    def _findings(self, raw: list[tuple[Any, ...]]) -> list[Finding]:
        rules = self._rules
        out = []
        for rule_index, path, line, side, start, end, match, suggestion, fingerprint, snippet, commit in raw:
            r = rules[rule_index]
            out.append(
                Finding(
                    r.id, r.severity, r.category, r.message, path, line, side, line, start, end, match,
                    suggestion, fingerprint, snippet, commit,
                )
            )
        return out

    # ---- examples ---------------------------------------------------------------
    def check_examples(self) -> list[str]:
        """Runs every rule's ``tests`` examples through this rule set and returns
        one message per failure (an empty list means all pass): each positive
        line must give at least one finding of its rule and each negative line
        none. Examples are scanned as the rule's scope (added, removed or
        context lines; paths for ``scope: path``) in a file named by
        ``tests.path``, or else ``example.<ext>`` for the rule's first language,
        or ``example.txt``."""
        cases: list[tuple[Rule, str, bool, str]] = []
        texts: list[str] = []
        for rule in self._rules:
            if not rule.tests:
                continue
            default_path = "example.txt"
            if rule.languages:
                default_path = core.rules.example_file_name(rule.languages[0]) or default_path
            path = rule.tests.get("path", default_path)
            for expected, key in ((True, "positive"), (False, "negative")):
                for example in rule.tests.get(key, ()):
                    example_path = example if rule.scope == "path" else path
                    if any(c.isspace() for c in example_path) or '"' in example_path:
                        raise RuleError(
                            f"example path {example_path!r} has whitespace or quotes", rule.id, field="tests",
                        )
                    cases.append((rule, example, expected, example_path))
                    texts.append(_example_diff(rule.scope, example_path, example))
        results = self.scan_many([parse_diff(t) for t in texts])
        failures = []
        for (rule, example, expected, path), findings in zip(cases, results):
            hit = any(f.rule_id == rule.id for f in findings)
            if hit != expected:
                what = "gave no finding" if expected else "gave a finding"
                kind = "positive" if expected else "negative"
                failures.append(f'rule "{rule.id}": {kind} example {example!r} {what} (scanned in {path})')
        return failures


def _where(origin: Origin | None) -> str:
    if origin is None:
        return ""
    if origin.source and origin.line:
        return f"{origin.source}:{origin.line}"
    if origin.source:
        return origin.source
    return f"line {origin.line}" if origin.line else ""


def _native_patchset(target: ScanTarget) -> Any:
    if isinstance(target, PatchSet):
        native = target._native
    elif isinstance(target, _NativePatchSet):
        native = target
    elif isinstance(target, (str, bytes, bytearray, memoryview)):
        native = parse_diff(target)._native
    else:
        raise TypeError(
            "scan() takes a bbreview.PatchSet, diff text (str or bytes) or a FileDiff, "
            f"not {type(target).__name__}"
        )
    if native.stats_only:
        raise ValueError("this PatchSet came from diffstat() and has no lines to scan; use parse_diff()")
    return native


def _example_diff(scope: str, path: str, line: str) -> str:
    if scope == "removed":
        return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +0,0 @@\n-{line}\n"
    if scope == "context":
        return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n {line}\n"
    body = "x" if scope == "path" else line
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -0,0 +1 @@\n+{body}\n"
