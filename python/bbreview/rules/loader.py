"""Reading rules from YAML (bbreview's format) and from gitleaks' TOML.

Both loaders return rules together with where each one came from, so that a
problem found later (an invalid regex when the set compiles) still names the
file and line.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bbreview.errors import RuleError
from bbreview.rules.model import RULE_FIELDS, Rule

__all__ = ["Origin", "read_source", "load_yaml", "load_gitleaks"]

_TOP_LEVEL_KEYS = ("rules", "name", "description")
_REQUIRED = ("id", "message", "patterns")


@dataclass
class Origin:
    """Where a rule was defined: a file (or None for text) and line numbers."""

    source: str | None
    line: int | None
    lines: dict[Any, int] = field(default_factory=dict)  # field or (field, item) -> line

    def line_of(self, field_name: str | None, item: int | None = None) -> int | None:
        if field_name is not None:
            if item is not None and (field_name, item) in self.lines:
                return self.lines[(field_name, item)]
            if field_name in self.lines:
                return self.lines[field_name]
        return self.line


def read_source(path_or_text: str | bytes | os.PathLike[str], suffixes: tuple[str, ...]) -> tuple[str, str | None]:
    """The text to parse and its file name (None for literal text).

    A PathLike is a file. A str is a file name when it is a single line that
    names an existing file or ends in one of ``suffixes``; anything else is
    the text itself.
    """
    if isinstance(path_or_text, os.PathLike):
        path = os.fspath(path_or_text)
    elif isinstance(path_or_text, bytes):
        return path_or_text.decode("utf-8"), None
    elif isinstance(path_or_text, str):
        single_line = "\n" not in path_or_text and "\r" not in path_or_text
        if single_line and (path_or_text.endswith(suffixes) or Path(path_or_text).is_file()):
            path = path_or_text
        else:
            return path_or_text, None
    else:
        raise TypeError(f"expected a path or rule text, not {type(path_or_text).__name__}")
    with open(path, "rb") as fh:
        return fh.read().decode("utf-8"), path


# ---- YAML -----------------------------------------------------------------------

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping_items(
    node: yaml.MappingNode, source: str | None, what: str, rule_id: str | None = None
) -> list[tuple[str, yaml.Node, int]]:
    """(key, value node, key line) for a mapping whose keys are strings, rejecting duplicates."""
    seen: dict[str, int] = {}
    out = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or not isinstance(key_node.value, str):
            raise RuleError(f"{what} keys must be strings", rule_id, source, _line(key_node))
        key = key_node.value
        if key in seen:
            raise RuleError(
                f"duplicate key {key!r} in {what} (first on line {seen[key]})", rule_id, source, _line(key_node), key,
                "YAML keeps only the last of duplicate keys; merge them",
            )
        seen[key] = _line(key_node)
        out.append((key, value_node, _line(key_node)))
    return out


def _unknown_key(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def load_yaml(text: str, source: str | None) -> tuple[list[Rule], list[Origin]]:
    """Rules from bbreview YAML: a mapping whose ``rules`` key is a list of
    rule mappings with Rule's field names. Raises RuleError naming the line
    for YAML syntax errors, unknown or duplicate keys and invalid values."""
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise RuleError(
                f"invalid YAML: {exc.problem or exc.context}",
                source=source, line=mark.line + 1 if mark else None,
                hint="check the indentation and quoting; regexes are easiest in single quotes",
            ) from None
        if root is None:
            raise RuleError("no rules: the document is empty", source=source, hint="start the file with `rules:`")
        if not isinstance(root, yaml.MappingNode):
            raise RuleError(
                "the top level must be a mapping with a `rules:` list", source=source, line=_line(root),
                hint="write `rules:` and then one `- id: ...` entry per rule",
            )
        rules_node = None
        for key, value, line in _mapping_items(root, source, "the top-level mapping"):
            if key not in _TOP_LEVEL_KEYS:
                raise RuleError(
                    f"unknown top-level key {key!r}", source=source, line=line,
                    hint=_unknown_key(key, _TOP_LEVEL_KEYS) + "allowed keys: " + ", ".join(_TOP_LEVEL_KEYS),
                )
            if key == "rules":
                rules_node = value
        if rules_node is None:
            raise RuleError("no `rules:` key at the top level", source=source, line=_line(root))
        if isinstance(rules_node, yaml.ScalarNode) and rules_node.value in ("", "~", "null"):
            return [], []
        if not isinstance(rules_node, yaml.SequenceNode):
            raise RuleError("`rules` must be a list of rule mappings", source=source, line=_line(rules_node))

        rules: list[Rule] = []
        origins: list[Origin] = []
        first_line: dict[str, int] = {}
        for node in rules_node.value:
            rule, origin = _load_rule(loader, node, source)
            if rule.id in first_line:
                raise RuleError(
                    f"duplicate rule id (first defined on line {first_line[rule.id]})",
                    rule.id, source, origin.line_of("id"), "id", "give each rule a unique id",
                )
            first_line[rule.id] = origin.line or 0
            rules.append(rule)
            origins.append(origin)
        return rules, origins
    finally:
        loader.dispose()


def _load_rule(loader: Any, node: yaml.Node, source: str | None) -> tuple[Rule, Origin]:
    if not isinstance(node, yaml.MappingNode):
        raise RuleError(
            "each entry of `rules` must be a mapping (id, message, patterns, ...)", source=source, line=_line(node)
        )
    origin = Origin(source, _line(node))
    values: dict[str, Any] = {}
    rule_id = next(
        (v.value for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "id"
         and isinstance(v, yaml.ScalarNode)),
        None,
    )
    items = _mapping_items(node, source, "a rule", rule_id)
    for key, value_node, key_line in items:
        if key not in RULE_FIELDS:
            raise RuleError(
                f"unknown key {key!r}", rule_id, source, key_line, key,
                _unknown_key(key, RULE_FIELDS) + "rule keys are: " + ", ".join(RULE_FIELDS),
            )
        origin.lines[key] = _line(value_node)
        if isinstance(value_node, yaml.SequenceNode):
            for i, item in enumerate(value_node.value):
                origin.lines[(key, i)] = _line(item)
        try:
            values[key] = loader.construct_object(value_node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise RuleError(f"invalid value for {key!r}: {exc.problem}", rule_id, source, _line(value_node), key) from None
    for key in _REQUIRED:
        if key not in values:
            raise RuleError(
                f"missing required key {key!r}", rule_id, source, origin.line, key,
                "every rule needs id, message and patterns",
            )
    try:
        rule = Rule(**values)
    except RuleError as exc:
        raise exc.located(source, origin.line_of(exc.field)) from None
    return rule, origin


# ---- gitleaks TOML ---------------------------------------------------------------

_GO_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def _go_to_re2(pattern: str) -> str:
    """Go's regexp accepts (?<name>...) since Go 1.22; RE2 (C++) spells it (?P<name>...)."""
    return _GO_NAMED_GROUP.sub("(?P<", pattern)


def _quote(literal: str) -> str:
    return "".join(c if c.isalnum() or c == "_" or ord(c) > 127 else "\\" + c for c in literal)


def _allowlists(table: Mapping[str, Any], where: str, warnings: list[str]) -> tuple[list[str], list[str]]:
    """(line excludes, path excludes) from a rule's or the file's allowlist(s)."""
    lists: list[Mapping[str, Any]] = []
    for key in ("allowlist", "allowlists"):
        value = table.get(key)
        if isinstance(value, Mapping):
            lists.append(value)
        elif isinstance(value, list):
            lists.extend(v for v in value if isinstance(v, Mapping))
    excludes: list[str] = []
    path_excludes: list[str] = []
    for allow in lists:
        target = allow.get("regexTarget", "secret")
        if allow.get("regexes") and target != "line":
            warnings.append(
                f"{where}: allowlist regexes with regexTarget {target!r} are applied to the whole line "
                "(bbreview's exclude), which may exclude slightly more"
            )
        if str(allow.get("condition", "OR")).upper() == "AND" and sum(
            bool(allow.get(k)) for k in ("regexes", "stopwords", "paths", "commits")
        ) > 1:
            warnings.append(f"{where}: allowlist condition AND is read as OR (any entry excludes)")
        if allow.get("commits"):
            warnings.append(f"{where}: allowlist commits are ignored (diff scans have no commit filter)")
        excludes.extend(_go_to_re2(r) for r in allow.get("regexes", []))
        excludes.extend("(?i)" + _quote(w) for w in allow.get("stopwords", []))
        path_excludes.extend(_go_to_re2(p) for p in allow.get("paths", []))
    return excludes, path_excludes


def _toml_line(text: str, rule_id: str) -> int | None:
    match = re.search(r"^[ \t]*id[ \t]*=[ \t]*(['\"]{1,3})" + re.escape(rule_id) + r"\1", text, re.M)
    return text.count("\n", 0, match.start()) + 1 if match else None


def load_gitleaks(text: str, source: str | None, severity: str) -> tuple[list[Rule], list[Origin], list[str]]:
    """Rules from a gitleaks config: ``[[rules]]`` tables with id, description,
    regex, secretGroup, entropy, keywords, path, tags and allowlists; the
    file-level allowlist applies to every rule. Returns rules, origins and
    warnings about what could only be approximated."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise RuleError(f"invalid TOML: {exc}", source=source, line=int(line.group(1)) if line else None) from None
    warnings: list[str] = []
    where_file = source or "gitleaks config"
    if "extend" in doc:
        warnings.append(
            f"{where_file}: [extend] is not supported (bbreview has no copy of gitleaks' default rules); "
            "only the rules in this file are loaded"
        )
    global_excludes, global_path_excludes = _allowlists(doc, where_file, warnings)
    rules: list[Rule] = []
    origins: list[Origin] = []
    for index, table in enumerate(doc.get("rules", [])):
        rule_id = table.get("id")
        if not isinstance(rule_id, str):
            raise RuleError(f"[[rules]] entry #{index + 1} has no id", source=source)
        line = _toml_line(text, rule_id)
        origin = Origin(source, line)
        where = f"{where_file}:{line}" if line else where_file
        if table.get("required"):
            warnings.append(f'{where}: rule "{rule_id}" is a composite rule ([[rules.required]]); skipped')
            continue
        if table.get("report") is False:
            continue  # only used as a component of composite rules
        regex, path = table.get("regex"), table.get("path")
        if not regex and not path:
            raise RuleError("a gitleaks rule needs regex or path", rule_id, source, line)
        excludes, path_excludes = _allowlists(table, f'{where}: rule "{rule_id}"', warnings)
        description = table.get("description") or ""
        tags = table.get("tags") or []
        values: dict[str, Any] = {
            "id": rule_id,
            "message": description or f"possible secret ({rule_id})",
            "category": "secrets",
            "severity": severity,
            "keywords": [k for k in table.get("keywords", []) if k],
            "exclude": global_excludes + excludes,
            "path_exclude_patterns": global_path_excludes + path_excludes,
            "description": description + (f" (tags: {', '.join(map(str, tags))})" if tags else ""),
        }
        if regex:
            values["patterns"] = [_go_to_re2(regex)]
            if path:
                values["path_patterns"] = [_go_to_re2(path)]
        else:
            values["patterns"] = [_go_to_re2(path)]
            values["scope"] = "path"
        if table.get("entropy") is not None:
            values["entropy"] = table["entropy"]
        if table.get("secretGroup"):
            values["entropy_group"] = int(table["secretGroup"])
        try:
            rules.append(Rule(**values))
        except RuleError as exc:
            raise exc.located(source, line) from None
        origins.append(origin)
    return rules, origins, warnings
