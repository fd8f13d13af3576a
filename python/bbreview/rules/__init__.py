"""Review rules: RE2 patterns matched over diffs by a native multi-pattern engine.

A :class:`Rule` is data; a :class:`RuleSet` compiles many rules into one RE2
set per scope and scans a :class:`~bbreview.PatchSet` in one pass, returning
:class:`Finding` objects::

    from bbreview.rules import Rule, RuleSet
    rules = RuleSet([Rule("no-print", "debug print left behind", r"^\\s*print\\(",
                          languages=["python"], suggestion="")])
    for finding in rules.scan(diff_text):
        print(finding.path, finding.line, finding.rule_id, finding.match)

Rule fields (also the keys of a YAML rule; any other key is an error):

``id``, ``message``
    Required. Ids use letters, digits and ``- _ . : /``.
``patterns``
    Required. One RE2 pattern or a list; a line is a hit when any matches.
``severity``
    ``info``, ``warning`` (default) or ``error``. ``category``: free text
    (default ``general``); ``secrets`` turns ``secret`` on by default.
``exclude``
    RE2 patterns; a line matching any of them is never a hit for the rule.
``paths``
    gitignore-style globs: ``*.py`` matches at any depth, ``src/**/*.ts`` is
    anchored at the root, ``**`` spans directories, ``build/`` matches all
    below. A leading ``!`` excludes. A file is selected when it matches one of
    the positive globs (or there are none) and none of the ``!`` globs.
``languages``
    Language names from file extensions (see :func:`language_of`); aliases
    such as ``py``, ``js``, ``c++`` are accepted, unknown names are an error.
``scope``
    ``added`` (default), ``removed``, ``context`` lines, or ``path`` (the
    pattern is matched against the file path; such findings have no line).
``keywords``
    Literal prefilter, as in gitleaks: a line is only tried when it contains
    one of the keywords, ignoring ASCII case.
``entropy``, ``entropy_group``
    Minimum Shannon entropy, in bits per byte, of the capture group
    ``entropy_group`` (a number or a name; default group 1 when the pattern has
    groups, else the whole match). A match below the threshold is dropped.
``suggestion``
    Replacement for the matched text, with ``\\0``..``\\9``, ``\\g<n>``,
    ``\\g<name>`` and ``\\\\``; the finding's ``suggestion`` is the whole fixed
    line (None if nothing changes).
``max_per_file``
    At most this many findings of the rule per file (after suppression).
``secret``
    Redact the match (first ``min(4, len // 4)`` characters kept, ``*`` for the
    rest) and every secret in the snippet; drop suggestions that contain it.
``description``, ``tests``
    Documentation; ``tests`` holds example lines ``{positive: [...],
    negative: [...], path: optional file name}`` run by
    :meth:`RuleSet.check_examples`.
``path_patterns``, ``path_exclude_patterns``
    RE2 patterns over the whole path (used for gitleaks' ``path``): one of the
    first must match, none of the second may.

Suppression: a ``bbreview: ignore[rule-id]`` (or ``ignore[id1, id2]``, or a
bare ``bbreview: ignore`` for every rule) on the flagged line, or on a
comment-only line just above it on the same side of the diff, suppresses the
finding.
"""

from __future__ import annotations

import os

from bbreview._native import core
from bbreview.errors import RuleError
from bbreview.rules.model import RULE_FIELDS, SCOPES, SEVERITIES, Finding, Rule, to_frame
from bbreview.rules.ruleset import DEFAULT_MAX_MEM, PACKS_DIR, RuleSet, available_packs

__all__ = [
    "DEFAULT_MAX_MEM",
    "PACKS_DIR",
    "RULE_FIELDS",
    "SCOPES",
    "SEVERITIES",
    "Finding",
    "Rule",
    "RuleError",
    "RuleSet",
    "available_packs",
    "fingerprint",
    "glob_to_regex",
    "known_languages",
    "language_of",
    "redact",
    "shannon_entropy",
    "to_frame",
]


def language_of(path: str) -> str | None:
    """The language of a file, from its extension (case-insensitive) or its
    name: ``"python"`` for ``a/b.py``, ``"notebook"`` for ``.ipynb``,
    ``"dockerfile"`` for ``Dockerfile``; None when unknown."""
    # Diff paths keep undecodable bytes as surrogates (os.fsdecode); hand the
    # core the original bytes.
    return core.rules.language_of(os.fsencode(path))


def known_languages() -> list[str]:
    """Every canonical language name a rule's ``languages`` may use."""
    return core.rules.known_languages()


def glob_to_regex(glob: str) -> str | None:
    """The RE2 regex (matched against the whole path) a ``paths`` glob becomes,
    without its leading ``!``; None when the glob can never match a diff path."""
    regex, _never = core.rules.glob_to_regex(glob)
    return regex


def shannon_entropy(text: str) -> float:
    """Shannon entropy of ``text``'s UTF-8 bytes in bits per byte, as rules' ``entropy`` uses it."""
    return core.rules.shannon_entropy(text)


def redact(secret: str) -> str:
    """A secret as findings show it: ``redact("AKIAIOSFODNN7EXAMPLE") == "AKIA" + 16 * "*"``."""
    return core.rules.redact(secret)


def fingerprint(rule_id: str, path: str, content: str, occurrence: int = 1) -> str:
    """The fingerprint a finding of ``rule_id`` on a line ``content`` of ``path``
    gets: the first 16 bytes, in hex, of SHA-256 over ``rule_id``, NUL,
    ``path``, NUL, and the content with whitespace runs collapsed to one space
    and stripped; the n-th (n > 1) finding with the same rule, path and
    normalised content in one file adds NUL and n."""
    return core.rules.fingerprint(rule_id, path, content, occurrence)
