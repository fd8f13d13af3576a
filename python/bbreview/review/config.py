"""Repository configuration: ``.bbreview.yaml`` as one typed, immutable object.

A repository tunes its reviews with a ``.bbreview.yaml`` at its root. Every
key is optional; :data:`EXAMPLE_PATH` is a commented example of all of them.
The file is merged over the service's defaults (mappings merge key by key,
lists and scalars replace, and a key left empty keeps its default) and
validated in one go::

    from bbreview.review.config import ReviewConfig, load_config
    cfg = load_config(".bbreview.yaml")                 # or ReviewConfig.from_yaml(text)
    cfg.reviews.includes("src/app.py")                  # path filters
    cfg.reviews.instructions_for("src/app.py")          # path instructions
    cfg.reviews.auto_review.decide(pr_json)             # (review?, why)
    rules = cfg.ruleset(read_file)                      # packs, extra files, overrides

Every problem is a :class:`~bbreview.ConfigError` naming the key path
(``reviews.path_instructions[2].path``), the file and the line of the
offending value, with a hint. The objects themselves validate too, so a
``ReviewsConfig(profile="loud")`` built in Python fails the same way (its key
paths are then relative to the object).

Secrets never live in this file: a literal API key is an error (the service
reads the key from the environment variable ``llm.api_key_env`` names), and
:meth:`ReviewConfig.to_yaml` therefore never contains one.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import posixpath
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from bbreview._native import core
from bbreview.errors import ConfigError, NotFound, RuleError
from bbreview.review.model import SEVERITIES, normalise_severity
from bbreview.rules import SEVERITIES as RULE_SEVERITIES
from bbreview.rules import Rule, RuleSet, available_packs

# The rule loader's YAML loader and node-line helper: rule files and this file
# report positions the same way.
from bbreview.rules.loader import _line, _Loader

__all__ = [
    "AutoReviewConfig",
    "DEFAULT_TITLE_KEYWORDS",
    "EXAMPLE_PATH",
    "LLMConfig",
    "MAX_CONCURRENCY",
    "MAX_CONFIG_BYTES",
    "MAX_REVIEW_TIMEOUT_S",
    "MAX_TONE_CHARS",
    "PROFILES",
    "PROVIDERS",
    "PathInstruction",
    "ReviewConfig",
    "ReviewsConfig",
    "RulesConfig",
    "check_file",
    "check_main",
    "load_config",
]

PROFILES = ("chill", "assertive")
"""``chill`` (default) never posts nitpicks; ``assertive`` posts them. When
``reviews.min_severity`` is not set, the profile chooses it: ``nitpick`` under
``assertive``, ``low`` under ``chill``."""

PROVIDERS = ("none", "openai", "anthropic")
"""LLM providers: OpenAI-compatible chat completions, the Anthropic Messages
API, or none (rules and Python checks only)."""

DEFAULT_TITLE_KEYWORDS = ("WIP", "DO NOT MERGE", "[skip review]")
"""Titles containing one of these (ignoring case) are not reviewed automatically."""

MAX_TONE_CHARS = 1000
"""Longest ``tone_instructions``: they go into every prompt, so they cost tokens on every call."""

MAX_CONCURRENCY = 32
"""Most parallel LLM calls one review may make (``llm.concurrency``)."""

MAX_REVIEW_TIMEOUT_S = 3600
"""Longest time limit of one review's LLM calls (``llm.review_timeout_s``): a
repository's file may not hold a service worker for longer."""

MAX_CONFIG_BYTES = 1 << 20
"""Largest ``.bbreview.yaml`` accepted (1 MiB). The file comes from the
repository, so its size, nesting and alias expansion are bounded."""

_MAX_DEPTH = 32
_MAX_NODES = 100_000

EXAMPLE_PATH = Path(__file__).with_name("example.bbreview.yaml")
"""A commented ``.bbreview.yaml`` that sets every key."""

# Review severity -> rule severity, for rules.severity overrides on the review scale.
_RULE_SEVERITY_OF = {"nitpick": "info", "low": "info", "medium": "warning", "high": "error", "critical": "error"}

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*\Z")
_KEY_PREFIXES = ("sk-", "sk_", "ghp_", "gho_", "github_pat_", "xox", "AKIA", "AIza", "hf_", "ATATT")
_SECRET_PARAMS = ("key", "token", "secret", "password", "sig", "auth")


# ---- small values -------------------------------------------------------------------


class _FrozenMap(Mapping[str, Any]):
    """An immutable, hashable, picklable mapping (for ``rules.severity`` and ``lines``)."""

    __slots__ = ("_data",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._data = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self):  # keeps configs picklable across processes
        return (type(self), (self._data,))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    return f"a {type(value).__name__}"


def _shown(value: Any) -> str:
    """`` (value)`` for short scalars, to quote in a message; empty otherwise."""
    if isinstance(value, bool):
        return f" ({'true' if value else 'false'})"
    if isinstance(value, (int, float)):
        return f" ({value!r})"
    if isinstance(value, str):
        return f" ({value!r})" if len(value) <= 60 else f" ({value[:57]!r}...)"
    return ""


def _expected(key: str, what: str, value: Any, *, show: bool = True) -> ConfigError:
    """ConfigError for a value of the wrong type; ``show=False`` keeps the value out of the message."""
    hint = None
    if what.startswith("a string") and isinstance(value, bool):
        hint = "YAML reads yes/no/on/off/true/false as true/false; put the value in quotes"
    elif what.startswith("a string") and isinstance(value, (int, float, datetime.date)):
        hint = "put the value in quotes"
    elif what.startswith("a list") and isinstance(value, str):
        item = repr(value) if show and len(value) < 40 else "..."
        hint = f"write it as a list: one `- {item}` line per item (quote globs: `*` starts a YAML alias)"
    return ConfigError(f"expected {what}, got {_kind(value)}{_shown(value) if show else ''}", key, hint=hint)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _within(prefix: str, exc: ConfigError) -> ConfigError:
    """``exc`` with its key path put under ``prefix``."""
    if not exc.key:
        key = prefix
    elif exc.key.startswith("["):
        key = prefix + exc.key
    else:
        key = _join(prefix, exc.key)
    return ConfigError(exc.reason, key, exc.source, exc.line, exc.hint)


def _did_you_mean(value: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _string(value: Any, key: str, *, empty: bool = False, show: bool = True) -> str:
    if not isinstance(value, str):
        raise _expected(key, "a string", value, show=show)
    if not empty and not value.strip():
        raise ConfigError("must not be empty", key)
    return value


def _optional_string(value: Any, key: str, *, show: bool = True) -> str | None:
    return None if value is None else _string(value, key, show=show)


def _boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _expected(key, "true or false", value)
    return value


def _whole(value: Any, key: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _expected(key, "a whole number", value)
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"must be {span}, not {value}", key)
    return value


def _number(value: Any, key: str, low: float, high: float | None, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _expected(key, "a number", value)
    if value != value or (value <= low if low_open else value < low) or (high is not None and value > high):
        span = f"more than {low:g}" if low_open else f"at least {low:g}"
        if high is not None:
            span = f"{span} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"
        raise ConfigError(f"must be {span}, not {value!r}", key)
    return float(value)


def _choice(value: Any, key: str, choices: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str):
        raise _expected(key, f"one of {', '.join(choices)}", value)
    name = value.strip().lower()
    if name not in choices:
        raise ConfigError(
            f"unknown {what} {value!r}", key, hint=_did_you_mean(name, choices) + "use one of " + ", ".join(choices)
        )
    return name


def _strings(value: Any, key: str, *, show: bool = True) -> tuple[str, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise _expected(key, "a list of strings", value, show=show)
    return tuple(_string(item, f"{key}[{i}]", show=show) for i, item in enumerate(value))


# ---- globs --------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _glob(glob: str) -> tuple[re.Pattern[str] | None, str | None]:
    """(compiled regex over the whole path, why the glob never matches), as rules' ``paths`` read globs."""
    regex, never = core.rules.glob_to_regex(glob)
    return (re.compile(regex) if regex is not None else None), never


def _glob_matches(glob: str, path: str) -> bool:
    pattern, _never = _glob(glob)
    return pattern is not None and pattern.fullmatch(path) is not None


def _has_wildcard(glob: str) -> bool:
    return any(c in glob for c in "*?[")


# ---- the configuration objects -----------------------------------------------------


@dataclass(frozen=True)
class PathInstruction:
    """Extra review instructions for the files a glob selects.

    ``path`` reads like a ``reviews.path_filters`` glob (``*.py`` at any depth,
    ``src/**/*.ts`` from the root, ``docs/`` for everything below), without ``!``.
    """

    path: str
    instructions: str

    def __post_init__(self) -> None:
        path = _string(self.path, "path")
        if path.startswith("!"):
            raise ConfigError(
                "a path instruction glob cannot exclude (starts with '!')", "path",
                hint="select the files the instructions are for; exclude files from reviews with reviews.path_filters",
            )
        _string(self.instructions, "instructions")

    def matches(self, path: str) -> bool:
        """Whether the glob selects ``path`` (a repository-relative path with ``/``)."""
        return _glob_matches(self.path, path)


@dataclass(frozen=True)
class AutoReviewConfig:
    """When new pull requests are reviewed without being asked.

    Attributes:
        enabled: review pull requests when they are opened and updated.
        drafts: review draft pull requests too.
        base_branches: regular expressions (Python syntax); the target branch
            must fully match one of them. Empty (the default): any branch.
        ignore_title_keywords: a title that contains one of these, ignoring case
            and as a whole word where the keyword starts or ends with a letter or
            digit, is not reviewed (so ``WIP`` skips "WIP: x" but not "Wipe cache").
    """

    enabled: bool = True
    drafts: bool = False
    base_branches: tuple[str, ...] = ()
    ignore_title_keywords: tuple[str, ...] = DEFAULT_TITLE_KEYWORDS

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        _boolean(self.enabled, "enabled")
        _boolean(self.drafts, "drafts")
        set_(self, "base_branches", _strings(self.base_branches, "base_branches"))
        for i, regex in enumerate(self.base_branches):
            try:
                re.compile(regex)
            except re.error as exc:
                raise ConfigError(
                    f"invalid regex {regex!r}: {exc.msg}" + (f" at position {exc.pos}" if exc.pos is not None else ""),
                    f"base_branches[{i}]",
                    hint="base_branches are Python regular expressions matched against the whole branch name, "
                    "e.g. 'main' or 'release/.*'",
                ) from None
        set_(self, "ignore_title_keywords", _strings(self.ignore_title_keywords, "ignore_title_keywords"))

    def decide(self, pr: Mapping[str, Any]) -> tuple[bool, str]:
        """Whether a pull request (Bitbucket's JSON: ``title``, ``draft``,
        ``state``, ``destination.branch.name``) is reviewed automatically, and
        why, in words fit to show a user. Explicit requests (the bot's
        ``review`` command) do not go through this."""
        if not self.enabled:
            return False, "automatic reviews are off (reviews.auto_review.enabled: false)"
        state = pr.get("state")
        if isinstance(state, str) and state.upper() != "OPEN":
            return False, f"the pull request is {state.lower()}; only open pull requests are reviewed"
        if pr.get("draft") is True and not self.drafts:
            return False, "draft pull requests are not reviewed (reviews.auto_review.drafts: false)"
        title = pr.get("title") if isinstance(pr.get("title"), str) else ""
        for keyword in self.ignore_title_keywords:
            if _keyword(keyword).search(title):
                return False, f"the title contains {keyword!r} (reviews.auto_review.ignore_title_keywords)"
        destination = pr.get("destination") or {}
        branch = ((destination.get("branch") or {}) if isinstance(destination, Mapping) else {}).get("name")
        if self.base_branches:
            if not isinstance(branch, str):
                return False, "the target branch is unknown, and reviews.auto_review.base_branches is set"
            if not any(re.fullmatch(regex, branch) for regex in self.base_branches):
                listed = ", ".join(self.base_branches)
                why = f"the target branch {branch!r} matches none of reviews.auto_review.base_branches ({listed})"
                return False, why
        into = f" into {branch!r}" if isinstance(branch, str) else ""
        return True, f"the pull request{into} passes reviews.auto_review"


@lru_cache(maxsize=256)
def _keyword(keyword: str) -> re.Pattern[str]:
    def word(c: str) -> bool:
        return c.isalnum() or c == "_"

    left = r"(?<!\w)" if word(keyword[0]) else ""
    right = r"(?!\w)" if word(keyword[-1]) else ""
    return re.compile(left + re.escape(keyword) + right, re.IGNORECASE)


@dataclass(frozen=True)
class ReviewsConfig:
    """How reviews behave (the ``reviews:`` section).

    Attributes:
        profile: ``chill`` or ``assertive`` (see :data:`PROFILES`).
        path_filters: globs; ``!glob`` excludes. A path is reviewed when it
            matches an include (or there are none) and no exclude.
        path_instructions: extra instructions for the files a glob selects.
        auto_review: when pull requests are reviewed without being asked.
        max_comments: most inline comments per review; 0 posts only the summary.
        min_severity: the least severe finding posted (a :data:`SEVERITIES`
            name). When neither the file nor the service defaults set it, the
            profile chooses: ``nitpick`` under ``assertive`` (so
            ``profile: assertive`` alone lets nitpicks through), ``low`` under
            ``chill``. An explicit value wins, but ``nitpick`` takes effect only
            under ``assertive`` (see :meth:`effective_min_severity`).
        code_insights: also publish a Code Insights report with annotations.
        suggestions: include suggested fixes (as ``diff`` blocks).
        resolve_fixed: resolve the bot's own comments once their code is fixed.
    """

    profile: str = "chill"
    path_filters: tuple[str, ...] = ()
    path_instructions: tuple[PathInstruction, ...] = ()
    auto_review: AutoReviewConfig = field(default_factory=AutoReviewConfig)
    max_comments: int = 30
    min_severity: str | None = None
    code_insights: bool = True
    suggestions: bool = True
    resolve_fixed: bool = True
    #: True while ``min_severity`` follows the profile (nobody set it); kept by
    #: ``dataclasses.replace``, so a file that sets only ``profile`` re-derives it.
    min_severity_from_profile: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "profile", _choice(self.profile, "profile", PROFILES, "profile"))
        if self.min_severity is None or self.min_severity_from_profile:
            set_(self, "min_severity_from_profile", True)
            set_(self, "min_severity", "nitpick" if self.profile == "assertive" else "low")
        filters = _strings(self.path_filters, "path_filters")
        for i, glob in enumerate(filters):
            if not glob.lstrip("!").strip():
                raise ConfigError("a glob must not be empty", f"path_filters[{i}]", hint="remove the item")
        set_(self, "path_filters", filters)
        items = self.path_instructions
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, (list, tuple)):
            raise _expected("path_instructions", "a list of {path, instructions} mappings", items)
        converted = []
        for i, item in enumerate(items):
            key = f"path_instructions[{i}]"
            if isinstance(item, Mapping):
                item = _build(PathInstruction, item, key, None)
            elif not isinstance(item, PathInstruction):
                raise _expected(key, "a mapping with path and instructions", item)
            converted.append(item)
        set_(self, "path_instructions", tuple(converted))
        if not isinstance(self.auto_review, AutoReviewConfig):
            raise _expected("auto_review", "a mapping", self.auto_review)
        _whole(self.max_comments, "max_comments", 0)
        set_(self, "min_severity", _choice(self.min_severity, "min_severity", SEVERITIES, "severity"))
        for name in ("code_insights", "suggestions", "resolve_fixed"):
            _boolean(getattr(self, name), name)

    def includes(self, path: str) -> bool:
        """Whether ``path`` (repository-relative, ``/``-separated) passes ``path_filters``."""
        includes = [g for g in self.path_filters if not g.startswith("!")]
        if includes and not any(_glob_matches(g, path) for g in includes):
            return False
        return not any(_glob_matches(g[1:], path) for g in self.path_filters if g.startswith("!"))

    def instructions_for(self, path: str) -> list[str]:
        """The instructions of every ``path_instructions`` entry whose glob selects ``path``, in file order."""
        return [p.instructions for p in self.path_instructions if p.matches(path)]

    def effective_min_severity(self) -> str:
        """``min_severity``, except that ``nitpick`` under ``chill`` is ``low``."""
        if self.min_severity == "nitpick" and self.profile != "assertive":
            return "low"
        return self.min_severity


@dataclass(frozen=True)
class RulesConfig:
    """Which rules run (the ``rules:`` section).

    Attributes:
        packs: built-in packs (``bbreview.rules.available_packs()``); default all.
        files: extra rule YAML files, relative to the repository root.
        disable: rule ids that do not run.
        severity: rule id -> severity, on the review scale (nitpick .. critical)
            or the rule scale (info, warning, error).
    """

    packs: tuple[str, ...] = field(default_factory=lambda: tuple(available_packs()))
    files: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=_FrozenMap)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        available = available_packs()
        packs = _strings(self.packs, "packs")
        for i, name in enumerate(packs):
            if name not in available:
                raise ConfigError(
                    f"unknown rule pack {name!r}", f"packs[{i}]",
                    hint=_did_you_mean(name, available) + "built-in packs: " + ", ".join(available),
                )
        set_(self, "packs", tuple(dict.fromkeys(packs)))
        files = []
        for i, name in enumerate(_strings(self.files, "files")):
            files.append(_repository_path(name, f"files[{i}]"))
        set_(self, "files", tuple(files))
        set_(self, "disable", tuple(dict.fromkeys(_strings(self.disable, "disable"))))
        if not isinstance(self.severity, Mapping):
            raise _expected("severity", "a mapping of rule id to severity", self.severity)
        scale = SEVERITIES + RULE_SEVERITIES
        overrides = {}
        for rule_id, value in self.severity.items():
            if not isinstance(rule_id, str) or not rule_id:
                raise ConfigError(f"rule ids must be strings, not {rule_id!r}", "severity", hint="quote the rule id")
            overrides[rule_id] = _choice(value, f"severity.{rule_id}", scale, "severity")
        set_(self, "severity", _FrozenMap(overrides))

    def review_severity(self, rule_id: str) -> str | None:
        """The review severity (nitpick .. critical) ``severity`` sets for a rule, or None.
        Rule-scale overrides read as ``ReviewFinding.from_rule`` reads them (warning -> medium)."""
        value = self.severity.get(rule_id)
        return None if value is None else normalise_severity(value)

    def rule_severity(self, rule_id: str) -> str | None:
        """The rule severity (info, warning, error) ``severity`` sets for a rule, or None."""
        value = self.severity.get(rule_id)
        return None if value is None else _RULE_SEVERITY_OF.get(value, value)


def _repository_path(name: str, key: str) -> str:
    """A repository-relative file path, normalised; absolute paths and ``..`` are errors."""
    hint = "rule files are read from the pull request's source branch; write a path relative to the repository root"
    if "\\" in name:
        raise ConfigError(f"path {name!r} uses backslashes", key, hint="separate directories with '/'")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise ConfigError(f"path {name!r} is absolute", key, hint=hint)
    if ".." in name.split("/"):
        raise ConfigError(f"path {name!r} leaves the repository ('..')", key, hint=hint)
    normal = posixpath.normpath(name)
    if normal in (".", ""):
        raise ConfigError(f"path {name!r} names no file", key, hint=hint)
    return normal


@dataclass(frozen=True)
class LLMConfig:
    """The LLM reviewer (the ``llm:`` section). With ``provider: none`` (the
    default) reviews use rules and Python checks only.

    Attributes:
        provider: ``openai`` (any OpenAI-compatible chat completions API),
            ``anthropic`` (Messages API) or ``none``.
        model: the model name; None leaves the choice to the provider's default.
        base_url: the API's base URL (http or https, no credentials in it).
        api_key_env: the name of the service's environment variable holding the
            key; never the key itself.
        max_tokens_per_review: token budget for all calls of one review.
        max_output_tokens: most tokens one answer may have.
        concurrency: parallel calls per review, 1..32.
        timeout_s: deadline of one call, in seconds.
        temperature: sampling temperature, 0..2.
        review_timeout_s: deadline of all of a review's calls, retries
            included, in seconds (at most MAX_REVIEW_TIMEOUT_S). Files the LLM
            has not reviewed by then are listed as skipped; the rules and
            checks are posted all the same.
    """

    provider: str = "none"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    max_tokens_per_review: int = 200_000
    max_output_tokens: int = 4096
    concurrency: int = 4
    timeout_s: float = 120.0
    temperature: float = 0.0
    review_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "provider", _choice(self.provider, "provider", PROVIDERS, "provider"))
        model = _optional_string(self.model, "model", show=False)
        if model is not None and len(model) > 200:
            raise ConfigError("is longer than 200 characters", "model")
        _base_url(self.base_url)
        _api_key_env(self.api_key_env)
        _whole(self.max_tokens_per_review, "max_tokens_per_review", 1)
        _whole(self.max_output_tokens, "max_output_tokens", 1)
        _whole(self.concurrency, "concurrency", 1, MAX_CONCURRENCY)
        set_(self, "timeout_s", _number(self.timeout_s, "timeout_s", 0, 3600, low_open=True))
        set_(self, "temperature", _number(self.temperature, "temperature", 0, 2))
        set_(self, "review_timeout_s", _number(
            self.review_timeout_s, "review_timeout_s", 0, MAX_REVIEW_TIMEOUT_S, low_open=True
        ))

    @property
    def enabled(self) -> bool:
        """Whether an LLM reviewer runs at all."""
        return self.provider != "none"


def _base_url(url: Any) -> None:
    if url is None:
        return
    _string(url, "base_url", show=False)
    try:
        parts = urlsplit(url)
        has_credentials = parts.username is not None or parts.password is not None
    except ValueError:
        raise ConfigError("is not a valid URL", "base_url", hint="e.g. https://api.openai.com/v1") from None
    if has_credentials:
        # The value is not shown: it holds a credential.
        raise ConfigError(
            "must not contain a user name or password", "base_url",
            hint="remove the credentials from the URL (and rotate them: the repository is not a safe place); "
            "name the environment variable holding the key with llm.api_key_env",
        )
    if any(any(word in name.lower() for word in _SECRET_PARAMS) for name, _ in parse_qsl(parts.query)):
        raise ConfigError(
            "must not carry a key or token in its query string", "base_url",
            hint="remove it (and rotate it); name the environment variable holding the key with llm.api_key_env",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{url!r} is not an http(s) URL", "base_url",
            hint="e.g. https://api.openai.com/v1 or http://localhost:8000/v1",
        )


def _api_key_env(name: Any) -> None:
    if name is None:
        return
    # Values are never shown here: a key pasted into api_key_env must not be echoed.
    _string(name, "api_key_env", show=False)
    if name.startswith(_KEY_PREFIXES) or not _ENV_NAME.match(name):
        raise ConfigError(
            "must be the name of an environment variable (letters, digits and _), not a key; the value is not shown",
            "api_key_env",
            hint="set the key in the bbreview service's environment, e.g. OPENAI_API_KEY=..., and write "
            "api_key_env: OPENAI_API_KEY; if this was a real key, rotate it",
        )


@dataclass(frozen=True)
class ReviewConfig:
    """A repository's effective review configuration.

    Attributes:
        language: the language of the bot's comments, a tag such as ``en`` or ``de``.
        tone_instructions: free text on tone, at most :data:`MAX_TONE_CHARS` characters.
        reviews, rules, llm: the sections.
        source: the file the configuration came from (not part of equality).
        lines: the 1-based line of each key path in ``source`` (empty when not read
            from YAML; not part of equality).
        notes: what the reader of a review should know about where this
            configuration came from (e.g. the destination branch's copy was
            used, a budget was capped); shown in the summary, not part of equality.
    """

    language: str = "en"
    tone_instructions: str = ""
    reviews: ReviewsConfig = field(default_factory=ReviewsConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    source: str | None = field(default=None, compare=False)
    lines: Mapping[str, int] = field(default_factory=_FrozenMap, compare=False, repr=False)
    notes: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        language = _string(self.language, "language")
        if not _LANGUAGE_TAG.match(language):
            raise ConfigError(
                f"{language!r} is not a language tag", "language", hint="use a tag such as en, de or pt-BR"
            )
        tone = _string(self.tone_instructions, "tone_instructions", empty=True)
        if len(tone) > MAX_TONE_CHARS:
            raise ConfigError(
                f"is {len(tone)} characters long; at most {MAX_TONE_CHARS} are allowed", "tone_instructions",
                hint="they go into every prompt; keep them short",
            )
        for name, kind in (("reviews", ReviewsConfig), ("rules", RulesConfig), ("llm", LLMConfig)):
            if not isinstance(getattr(self, name), kind):
                raise _expected(name, "a mapping", getattr(self, name))
        object.__setattr__(self, "lines", _FrozenMap(self.lines))

    # ---- construction ---------------------------------------------------------
    @classmethod
    def default(cls) -> ReviewConfig:
        """The configuration of a repository without ``.bbreview.yaml``."""
        return cls()

    @classmethod
    def from_yaml(
        cls,
        text: str | bytes,
        *,
        source: str | None = ".bbreview.yaml",
        defaults: ReviewConfig | Mapping[str, Any] | None = None,
    ) -> ReviewConfig:
        """The configuration in ``text`` merged over ``defaults`` (a
        ReviewConfig, a partial mapping such as the service's, or None for the
        built-in defaults). An empty file is the defaults. Raises ConfigError
        naming ``source``, the key path and the line."""
        base = _base(defaults)
        raw, lines = _parse(text, source)
        try:
            built = _build(cls, raw, "", base)
        except ConfigError as exc:
            raise _located(exc, source, lines) from None
        return dataclasses.replace(built, source=source, lines=_FrozenMap(lines))

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any] | None,
        *,
        source: str | None = None,
        defaults: ReviewConfig | Mapping[str, Any] | None = None,
    ) -> ReviewConfig:
        """A configuration from plain data (the shape of :meth:`to_dict`, any
        key may be left out) merged over ``defaults``. Raises ConfigError."""
        base = _base(defaults)
        try:
            built = _build(cls, {} if data is None else data, "", base)
        except ConfigError as exc:
            raise _located(exc, source, {}) from None
        return dataclasses.replace(built, source=source)

    # ---- output ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The effective configuration as plain data, every key present;
        ``from_dict`` of it gives an equal configuration. Holds no secrets."""
        return _plain_data(self)

    def to_yaml(self) -> str:
        """The effective configuration as YAML (what the bot's ``configuration``
        command shows); ``from_yaml`` of it gives an equal configuration."""
        header = "# bbreview: effective configuration" + (f" ({self.source} over the defaults)" if self.source else "")
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
        return header + "\n" + body

    # ---- what the pipeline asks -----------------------------------------------
    def effective_min_severity(self) -> str:
        """The least severe finding to post: ``reviews.min_severity``, except
        that ``nitpick`` under the ``chill`` profile is ``low``."""
        return self.reviews.effective_min_severity()

    def ruleset(self, read_file: Callable[[str], str | bytes] | None = None) -> RuleSet:
        """The rules a review runs: the built-in ``rules.packs`` and the
        ``rules.files`` minus ``rules.disable``, with ``rules.severity`` applied
        (review severities map to rule ones: nitpick/low -> info, medium ->
        warning, high/critical -> error; :meth:`RulesConfig.review_severity`
        keeps the exact one).

        ``read_file(path)`` returns a rule file's content for a
        repository-relative path (in the service: from the pull request's
        source branch). It may raise OSError, LookupError or NotFound for a
        missing file. None reads next to ``source`` (or from the current
        directory). Unknown ids in ``disable`` and ``severity`` are ignored
        (:meth:`check` reports them). A rule file that cannot be read or is
        invalid raises ConfigError naming ``rules.files[i]``.
        """
        rules, _warnings = self._gather_rules(read_file)
        disabled = set(self.rules.disable)
        out = []
        for rule, _where in rules:
            if rule.id in disabled:
                continue
            severity = self.rules.rule_severity(rule.id)
            if severity is not None and severity != rule.severity:
                rule = dataclasses.replace(rule, severity=severity)
            out.append(rule)
        return RuleSet(out)

    def check(self, read_file: Callable[[str], str | bytes] | None = None) -> list[str]:
        """Problems that do not stop the configuration from loading but make
        part of it useless, each as ``file:line: key: message``: globs that can
        never match, settings that have no effect, rule ids that name no rule.
        Reads the rule files like :meth:`ruleset`, so raises ConfigError like it."""
        out: list[str] = []

        def warn(key: str, message: str) -> None:
            out.append(str(self._error(key, message)))

        reviews = self.reviews
        for i, glob in enumerate(reviews.path_filters):
            _pattern, never = _glob(glob[1:] if glob.startswith("!") else glob)
            if never:
                warn(f"reviews.path_filters[{i}]", f"glob {glob!r} can never match: {never}")
            elif "{" in glob:
                warn(f"reviews.path_filters[{i}]", f"braces in {glob!r} are matched literally; write one glob per item")
        for i, item in enumerate(reviews.path_instructions):
            key = f"reviews.path_instructions[{i}].path"
            _pattern, never = _glob(item.path)
            if never:
                warn(key, f"glob {item.path!r} can never match: {never}")
            elif "{" in item.path:
                warn(key, f"braces in {item.path!r} are matched literally; write one entry per glob")
            elif not _has_wildcard(item.path) and not reviews.includes(item.path):
                warn(key, f"{item.path!r} is excluded by reviews.path_filters, so these instructions are never used")
        if reviews.min_severity == "nitpick" and reviews.profile != "assertive":
            warn("reviews.min_severity", "nitpick takes effect only with reviews.profile: assertive; low is used")
        llm = self.llm
        if not llm.enabled:
            for name in ("model", "base_url", "api_key_env"):
                if getattr(llm, name) is not None:
                    warn(f"llm.{name}", "is ignored while llm.provider is none")
        elif llm.max_output_tokens > llm.max_tokens_per_review:
            warn("llm.max_output_tokens", "is larger than llm.max_tokens_per_review, so no answer can use all of it")
        if llm.enabled and llm.timeout_s > llm.review_timeout_s:
            warn("llm.timeout_s", "is longer than llm.review_timeout_s, so no call can use all of it")
        rules, rule_warnings = self._gather_rules(read_file)
        for key, message in rule_warnings:
            warn(key, message)
        known = {rule.id for rule, _where in rules}
        for i, rule_id in enumerate(self.rules.disable):
            if rule_id not in known:
                warn(f"rules.disable[{i}]", f"no rule has the id {rule_id!r}" + _rule_hint(rule_id, known))
        for rule_id in self.rules.severity:
            key = f"rules.severity.{rule_id}"
            if rule_id not in known:
                warn(key, f"no rule has the id {rule_id!r}" + _rule_hint(rule_id, known))
            elif rule_id in self.rules.disable:
                warn(key, "the rule is disabled (rules.disable), so its severity does not matter")
        return out

    # ---- internals ------------------------------------------------------------
    def _error(self, key: str, reason: str, hint: str | None = None) -> ConfigError:
        return ConfigError(reason, key, self.source, _line_for(key, self.lines), hint)

    def _read_next_to_source(self, path: str) -> bytes:
        root = Path(self.source).parent if self.source else Path()
        return (root / path).read_bytes()

    def _gather_rules(
        self, read_file: Callable[[str], str | bytes] | None
    ) -> tuple[list[tuple[Rule, str]], list[tuple[str, str]]]:
        """Every rule of the packs and files (before disable and severity), each
        with where it comes from, and the rule files' warnings as (key, message)."""
        out: list[tuple[Rule, str]] = []
        where_of: dict[str, str] = {}
        warnings: list[tuple[str, str]] = []
        if self.rules.packs:
            packs = RuleSet.builtin(self.rules.packs)
            for rule in packs:
                pack_file = packs.origin(rule.id)[0]
                where = f"built-in pack {Path(pack_file).stem!r}" if pack_file else "a built-in pack"
                out.append((rule, where))
                where_of[rule.id] = where
        read = read_file or self._read_next_to_source
        for i, path in enumerate(self.rules.files):
            key = f"rules.files[{i}]"
            try:
                data = read(path)
            except (OSError, LookupError, NotFound) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not found"
                raise self._error(
                    key, f"cannot read rule file {path!r}: {why}",
                    "paths are relative to the repository root and read from the pull request's source branch",
                ) from exc
            if data is None:
                raise self._error(key, f"cannot read rule file {path!r}: not found")
            try:
                text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
            except UnicodeDecodeError as exc:
                raise self._error(key, f"rule file {path!r} is not UTF-8: {exc.reason}") from exc
            try:
                # Bytes are always read as the text itself, never as a file name.
                extra = RuleSet.from_yaml(text.encode("utf-8"))
            except RuleError as exc:
                located = exc.located(path, None)
                first = str(located).split("\n", 1)[0]
                raise self._error(key, f"invalid rule file: {first}", exc.hint) from exc
            for rule in extra:
                if rule.id in where_of:
                    raise self._error(
                        key, f"rule id {rule.id!r} in {path} is already defined by {where_of[rule.id]}",
                        "rename the rule, or drop the other one (rules.disable does not resolve a clash)",
                    )
                where = f"{key} ({path})"
                out.append((rule, where))
                where_of[rule.id] = where
            for warning in extra.warnings:  # "line 5: rule ..." (the text had no name) -> "ci/rules.yaml:5: rule ..."
                located, n = re.subn(r"\Aline (\d+): ", lambda m: f"{path}:{m.group(1)}: ", warning)
                warnings.append((key, located if n else f"{path}: {warning}"))
        return out, warnings


def _rule_hint(rule_id: str, known: set[str]) -> str:
    close = difflib.get_close_matches(rule_id, sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# ---- from plain data to the objects ---------------------------------------------------

_SECTION_OF: dict[type, str] = {
    ReviewConfig: "",
    ReviewsConfig: "reviews",
    AutoReviewConfig: "reviews.auto_review",
    RulesConfig: "rules",
    LLMConfig: "llm",
}
_NESTED: dict[tuple[type, str], type] = {
    (ReviewConfig, "reviews"): ReviewsConfig,
    (ReviewConfig, "rules"): RulesConfig,
    (ReviewConfig, "llm"): LLMConfig,
    (ReviewsConfig, "auto_review"): AutoReviewConfig,
}
_NOT_KEYS = ("source", "lines", "notes", "min_severity_from_profile")

# Key names (lower case, letters and digits only) that hold a credential.
_SECRET_KEY_NAMES = {
    "key", "token", "secret", "password", "passwd", "apitoken", "accesstoken", "authtoken", "bearertoken",
    "bearer", "credentials", "authorization",
}


def _keys_of(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _NOT_KEYS)


def _looks_like_secret(name: str) -> bool:
    squashed = re.sub(r"[^a-z0-9]", "", name.lower())
    return squashed in _SECRET_KEY_NAMES or any(w in squashed for w in ("apikey", "secret", "password"))


def _unknown_key(cls: type, name: str, key: str) -> ConfigError:
    if _looks_like_secret(name):
        return ConfigError(
            "a literal API key or secret does not belong in the repository file (the value is not shown)", key,
            hint="delete it and rotate the key (anyone who can read the repository has it); set the key in the "
            "bbreview service's environment and name the variable with llm.api_key_env, e.g. "
            "api_key_env: OPENAI_API_KEY",
        )
    allowed = _keys_of(cls)
    hint = _did_you_mean(name, allowed)
    if not hint:
        # A key written in the wrong section: an exact name first, then a close one.
        elsewhere = {_join(section, k): k for other, section in _SECTION_OF.items() if other is not cls
                     for k in _keys_of(other)}
        exact = [path for path, k in elsewhere.items() if k == name]
        close = exact or [p for k in difflib.get_close_matches(name, list(elsewhere.values()), n=1)
                          for p, k2 in elsewhere.items() if k2 == k][:1]
        if close:
            hint = f"did you mean {close[0]}? "
    return ConfigError("unknown key", key, hint=hint + "keys allowed here: " + ", ".join(allowed))


def _build(cls: type, data: Any, key: str, base: Any) -> Any:
    """An instance of ``cls`` from a mapping, merged over ``base`` (None: every
    required key must be there). Mappings merge key by key, lists and scalars
    replace, None keeps the base value. Errors carry full key paths."""
    if not isinstance(data, Mapping):
        raise _expected(key or "the top level", "a mapping", data)
    allowed = _keys_of(cls)
    changes: dict[str, Any] = {}
    for name, value in data.items():
        path = _join(key, name) if isinstance(name, str) else key
        if not isinstance(name, str):
            raise ConfigError(f"keys must be strings, not {_kind(name)} ({name!r})", path, hint="quote the key")
        if name not in allowed:
            raise _unknown_key(cls, name, path)
        if value is None:
            continue
        nested = _NESTED.get((cls, name))
        if nested is not None:
            value = _build(nested, value, path, getattr(base, name) if base is not None else nested())
        elif cls is RulesConfig and name == "severity" and base is not None and isinstance(value, Mapping):
            value = {**base.severity, **value}
        changes[name] = value
    if cls is ReviewsConfig and "min_severity" in changes:
        changes["min_severity_from_profile"] = False  # set explicitly: the profile no longer chooses it
    try:
        if base is not None:
            return dataclasses.replace(base, **changes)
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in changes
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ConfigError(
                f"missing required key{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}", "",
                hint="write " + " and ".join(f"`{m}:`" for m in missing),
            )
        return cls(**changes)
    except ConfigError as exc:
        raise _within(key, exc) from None


def _base(defaults: ReviewConfig | Mapping[str, Any] | None) -> ReviewConfig:
    if defaults is None:
        return ReviewConfig.default()
    if isinstance(defaults, ReviewConfig):
        return defaults
    if isinstance(defaults, Mapping):
        return ReviewConfig.from_dict(defaults, source="defaults")
    raise TypeError(f"defaults must be a ReviewConfig, a mapping or None, not {type(defaults).__name__}")


def _plain_data(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [f.name for f in dataclasses.fields(value) if f.name not in _NOT_KEYS]
        return {name: _plain_data(getattr(value, name)) for name in names}
    if isinstance(value, tuple):
        return [_plain_data(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain_data(v) for k, v in value.items()}
    return value


# ---- YAML with positions ----------------------------------------------------------------

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


def _parse(text: str | bytes, source: str | None) -> tuple[Any, dict[str, int]]:
    """(plain data, line of each key path) from YAML text. The line of a
    mapping entry is its value's, or its key's when the value is a list or a
    mapping; a list item's is its own."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigError(f"the file is larger than {MAX_CONFIG_BYTES} bytes", source=source)
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"the file is not UTF-8: {exc.reason}", source=source, hint="save it as UTF-8") from None
    if not isinstance(text, str):
        raise TypeError(f"from_yaml takes str or bytes, not {type(text).__name__}")
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"the file is larger than {MAX_CONFIG_BYTES} bytes", source=source)
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise ConfigError(
                f"invalid YAML: {exc.problem or exc.context}", "", source, mark.line + 1 if mark else None,
                "check the indentation (spaces, not tabs) and quote values that contain ': ' or start with * & ! [ {",
            ) from None
        except yaml.YAMLError as exc:  # ReaderError: bad characters, with a position instead of a mark
            position = getattr(exc, "position", None)
            line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
            raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0]}", "", source, line) from None
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
            return {}, {}
        if not isinstance(root, yaml.MappingNode):
            raise ConfigError(
                f"the top level must be a mapping, not {_node_kind(root)}", "", source, _line(root),
                "write keys such as `reviews:` and `llm:` at the start of lines",
            )
        lines: dict[str, int] = {}
        walker = _Walker(loader, source, lines)
        return walker.plain(root, "", 0), lines
    finally:
        loader.dispose()


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return "a single value"


class _Walker:
    """Turns composed YAML nodes into plain data, recording lines, rejecting
    duplicate and non-string keys, and bounding depth and alias expansion."""

    def __init__(self, loader: Any, source: str | None, lines: dict[str, int]) -> None:
        self.loader = loader
        self.source = source
        self.lines = lines
        self.nodes = 0
        self.active: set[int] = set()

    def fail(self, reason: str, key: str, node: yaml.Node, hint: str | None = None) -> ConfigError:
        return ConfigError(reason, key, self.source, _line(node), hint)

    def plain(self, node: yaml.Node, path: str, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > _MAX_NODES or depth > _MAX_DEPTH:
            raise self.fail("the document is nested or aliased too deeply", path, node)
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node)
            except yaml.MarkedYAMLError as exc:
                raise self.fail(f"invalid value: {exc.problem}", path, node, "remove the YAML tag (!...)") from None
        if id(node) in self.active:
            raise self.fail("a YAML alias refers to its own parent", path, node)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ_TAG:
                    raise self.fail(f"unsupported YAML tag {node.tag!r}", path, node, "remove the tag")
                out = []
                for i, item in enumerate(node.value):
                    child = f"{path}[{i}]"
                    self.lines.setdefault(child, _line(item))
                    out.append(self.plain(item, child, depth + 1))
                return out
            if node.tag != _MAP_TAG:
                raise self.fail(f"unsupported YAML tag {node.tag!r}", path, node, "remove the tag")
            try:
                self.loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
            except yaml.MarkedYAMLError as exc:
                raise self.fail(f"invalid merge key: {exc.problem}", path, node) from None
            mapping: dict[Any, Any] = {}
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = self.plain(key_node, path, depth + 1) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    what = _node_kind(key_node) if key is None else _kind(key) + _shown(key)
                    raise self.fail(f"keys must be strings, not {what}", path, key_node, "quote the key")
                child = _join(path, key)
                if key in first:
                    raise self.fail(
                        f"duplicate key (first on line {first[key]})", child, key_node,
                        "YAML keeps only the last of duplicate keys; merge them",
                    )
                first[key] = _line(key_node)
                collection = isinstance(value_node, (yaml.MappingNode, yaml.SequenceNode))
                self.lines.setdefault(child, _line(key_node) if collection else _line(value_node))
                mapping[key] = self.plain(value_node, child, depth + 1)
            return mapping
        finally:
            self.active.discard(id(node))


def _line_for(key: str, lines: Mapping[str, int]) -> int | None:
    """The line of ``key``, or of the nearest enclosing key that has one."""
    while key:
        if key in lines:
            return lines[key]
        if key.endswith("]"):
            key = key[: key.rindex("[")]
        else:
            key = key.rpartition(".")[0]
    return None


def _located(exc: ConfigError, source: str | None, lines: Mapping[str, int]) -> ConfigError:
    return ConfigError(exc.reason, exc.key, exc.source or source, exc.line or _line_for(exc.key, lines), exc.hint)


# ---- files and the command ------------------------------------------------------------


def load_config(
    path: str | Path, *, defaults: ReviewConfig | Mapping[str, Any] | None = None
) -> ReviewConfig:
    """The configuration in the file ``path`` merged over ``defaults``.
    Raises ConfigError when the file cannot be read or is invalid."""
    source = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", source=source) from None
    return ReviewConfig.from_yaml(data, source=source, defaults=defaults)


def check_file(path: str | Path) -> list[str]:
    """Loads ``path`` (raising ConfigError when it is invalid, rule files
    included: they are read relative to the file's directory, the repository
    root) and returns warnings about what loads but cannot work."""
    return load_config(path).check()


_USAGE = """\
usage: bbreview config check [--strict] FILE [FILE ...]

Validates .bbreview.yaml files: prints "FILE: OK" for each valid file and
warnings for settings that cannot take effect. Rule files under rules.files are
read relative to each file's directory.

  --strict    treat warnings as errors
exit status: 0 when every file is valid, 1 when one is not, 2 for a usage error
"""


def check_main(argv: list[str]) -> int:
    """``bbreview config check [--strict] FILE...``: 0 when every file is valid
    (and, with --strict, has no warnings), 1 otherwise, 2 for a usage error."""
    prog = "bbreview config check"
    strict = False
    files: list[str] = []
    options_done = False
    for arg in argv:
        if not options_done and arg in ("-h", "--help"):
            print(_USAGE, end="")
            return 0
        if not options_done and arg == "--strict":
            strict = True
        elif not options_done and arg == "--":
            options_done = True
        elif not options_done and arg.startswith("-") and arg != "-":
            print(f"{prog}: error: unknown option {arg}\n{_USAGE}", end="", file=sys.stderr)
            return 2
        else:
            files.append(arg)
    if not files:
        print(f"{prog}: error: name at least one file\n{_USAGE}", end="", file=sys.stderr)
        return 2
    status = 0
    for name in files:
        try:
            warnings = check_file(name)
        except ConfigError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            status = 1
            continue
        for warning in warnings:
            print(f"{prog}: warning: {warning}", file=sys.stderr)
        if strict and warnings:
            status = 1
            print(f"{name}: {len(warnings)} warning{'s' if len(warnings) > 1 else ''} (--strict)")
        else:
            print(f"{name}: OK")
    return status


# The key paths the schema knows, for documentation tests and tooling.
def _all_keys() -> list[str]:
    out = []

    def walk(cls: type, prefix: str) -> None:
        for name in _keys_of(cls):
            path = _join(prefix, name)
            out.append(path)
            nested = _NESTED.get((cls, name))
            if nested is not None:
                walk(nested, path)
            elif cls is ReviewsConfig and name == "path_instructions":
                out.extend(f"{path}[].{k}" for k in _keys_of(PathInstruction))

    walk(ReviewConfig, "")
    return out

