"""SARIF 2.1.0 output for rule findings.

SARIF is the OASIS format that code-scanning tools read (GitHub code scanning,
Azure DevOps, VS Code's SARIF viewer, DefectDojo...). :func:`to_sarif` builds
one run whose ``tool.driver`` is bbreview, with a ``reportingDescriptor`` per
rule and a ``result`` per finding::

    from bbreview.rules import RuleSet
    from bbreview.sarif import to_sarif, write_sarif

    rules = RuleSet.builtin()
    findings = rules.scan(patchset)
    write_sarif(findings, open("bbreview.sarif", "w"), rules=rules)

Mapping:

* severity ``info``/``warning``/``error`` -> level ``note``/``warning``/``error``;
* the finding's path -> ``artifactLocation.uri`` (a relative, percent-encoded
  URI under ``uriBaseId`` ``%SRCROOT%``), its line and column span ->
  ``region`` (columns count Unicode code points, so the run declares
  ``columnKind: unicodeCodePoints``; ``endColumn`` is exclusive, as in SARIF);
* the finding's ``fingerprint`` -> ``partialFingerprints["bbreview/v1"]``, so
  a consumer recognises the same finding on the next commit;
* a suggestion (the whole fixed line) -> a ``fix`` replacing that line.

A finding on the old side of the diff (a removed line) keeps its old-side line
number and says so in ``properties.side``; a finding about a path has no region.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import quote

from bbreview import __version__

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "LEVELS", "to_sarif", "write_sarif"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "bbreview/v1"
SRCROOT = "%SRCROOT%"

# bbreview severity -> SARIF result.level
LEVELS: Mapping[str, str] = {"info": "note", "warning": "warning", "error": "error"}


def _level(severity: str) -> str:
    try:
        return LEVELS[severity]
    except KeyError:
        raise ValueError(f"unknown severity {severity!r}; expected one of {sorted(LEVELS)}") from None


def _uri(path: str) -> str:
    # SARIF wants a URI reference: relative to %SRCROOT%, '/'-separated and
    # percent-encoded (spaces and non-ASCII names occur in real repositories).
    return quote(path.lstrip("/"), safe="/")


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _descriptor(rule: Any) -> dict[str, Any]:
    """A reportingDescriptor for a Rule (or anything with the same attributes)."""
    message = " ".join(str(getattr(rule, "message", "") or "").split())
    description = " ".join(str(getattr(rule, "description", "") or "").split())
    category = getattr(rule, "category", None) or "general"
    severity = getattr(rule, "severity", None) or "warning"
    props: dict[str, Any] = {"category": category, "tags": [category]}
    if category == "secrets" or getattr(rule, "secret", False):
        props["tags"].append("security")
    if category == "security":
        props["tags"].append("security")
    return {
        "id": rule.id,
        "name": rule.id,
        "shortDescription": {"text": _first_sentence(message) or rule.id},
        "fullDescription": {"text": description or message or rule.id},
        "help": {"text": message or rule.id},
        "defaultConfiguration": {"level": _level(severity)},
        "properties": props,
    }


def _result(finding: Any, rule_index: int) -> dict[str, Any]:
    side = getattr(finding, "side", "new")
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(finding.path), "uriBaseId": SRCROOT}}
    line = int(getattr(finding, "line", 0) or 0)
    if side != "path" and line > 0:
        region: dict[str, Any] = {"startLine": line}
        end_line = int(getattr(finding, "end_line", 0) or 0)
        if end_line > line:
            region["endLine"] = end_line
        start_col = int(getattr(finding, "column_start", 0) or 0)
        end_col = int(getattr(finding, "column_end", 0) or 0)
        if start_col > 0:
            region["startColumn"] = start_col
            if end_col > start_col:
                region["endColumn"] = end_col
        match = getattr(finding, "match", None)
        if match:
            region["snippet"] = {"text": match}
        physical["region"] = region
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _level(finding.severity),
        "message": {"text": " ".join(str(finding.message).split())},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {"category": finding.category, "side": side},
    }
    suggestion = getattr(finding, "suggestion", None)
    if suggestion is not None and side == "new" and line > 0:
        result["fixes"] = [
            {
                "description": {"text": "Replace the line with the suggested fix."},
                "artifactChanges": [
                    {
                        "artifactLocation": {"uri": _uri(finding.path), "uriBaseId": SRCROOT},
                        # A region with only startLine is the whole line, without its newline.
                        "replacements": [{"deletedRegion": {"startLine": line}, "insertedContent": {"text": suggestion}}],
                    }
                ],
            }
        ]
    return result


def to_sarif(findings: Iterable[Any], *, rules: Iterable[Any] | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log (a JSON-ready dict) with one run holding ``findings``.

    ``rules`` (a RuleSet or any iterable of Rule) fills ``tool.driver.rules``
    with every rule that was run, so that viewers can show each rule's
    description even when it found nothing. A finding whose rule is not among
    them gets a descriptor built from the finding itself.
    """
    descriptors: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for rule in rules if rules is not None else ():
        if rule.id not in index:
            index[rule.id] = len(descriptors)
            descriptors.append(_descriptor(rule))
    results = []
    for finding in findings:
        if finding.rule_id not in index:
            index[finding.rule_id] = len(descriptors)
            descriptors.append(_descriptor(_FindingAsRule(finding)))
        results.append(_result(finding, index[finding.rule_id]))
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "bbreview",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": descriptors,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "originalUriBaseIds": {SRCROOT: {"description": {"text": "The root of the repository under review."}}},
                "results": results,
            }
        ],
    }


def write_sarif(findings: Iterable[Any], out: TextIO, *, rules: Iterable[Any] | None = None) -> None:
    """Writes :func:`to_sarif` as indented JSON (UTF-8 text, trailing newline) to ``out``."""
    json.dump(to_sarif(findings, rules=rules), out, indent=2, ensure_ascii=False)
    out.write("\n")


class _FindingAsRule:
    """The rule attributes that a finding carries, for a descriptor of an unknown rule."""

    __slots__ = ("id", "message", "severity", "category", "description", "secret")

    def __init__(self, finding: Any) -> None:
        self.id = finding.rule_id
        self.message = finding.message
        self.severity = finding.severity
        self.category = finding.category
        self.description = ""
        self.secret = finding.category == "secrets"
