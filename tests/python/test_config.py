"""Repository configuration (.bbreview.yaml): defaults, merging, validation errors
with key paths and lines, the helpers the pipeline uses, rule sets and the check command."""

from __future__ import annotations

import dataclasses
import pickle
import textwrap
from pathlib import Path

import pytest
import yaml

from bbreview import ConfigError, RuleError
from bbreview.review import config as config_module
from bbreview.review.config import (
    DEFAULT_TITLE_KEYWORDS,
    EXAMPLE_PATH,
    AutoReviewConfig,
    LLMConfig,
    PathInstruction,
    ReviewConfig,
    ReviewsConfig,
    RulesConfig,
    check_file,
    check_main,
    load_config,
)
from bbreview.rules import available_packs


def parse(text: str, **kw) -> ReviewConfig:
    return ReviewConfig.from_yaml(textwrap.dedent(text) if isinstance(text, str) else text, **kw)


def error_of(text: str, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, **kw)
    return info.value


def pr(title: str = "Add feature", *, draft: bool = False, branch: str = "main", state: str = "OPEN") -> dict:
    """The fields of a Bitbucket pull request that auto_review reads."""
    return {"title": title, "draft": draft, "state": state, "destination": {"branch": {"name": branch}}}


# ---- defaults -----------------------------------------------------------------------


def test_default_configuration_values():
    cfg = ReviewConfig.default()
    assert (cfg.language, cfg.tone_instructions) == ("en", "")
    r = cfg.reviews
    assert (r.profile, r.path_filters, r.path_instructions) == ("chill", (), ())
    assert (r.max_comments, r.min_severity) == (30, "low")
    assert (r.code_insights, r.suggestions, r.resolve_fixed) == (True, True, True)
    a = r.auto_review
    assert (a.enabled, a.drafts, a.base_branches) == (True, False, ())
    assert a.ignore_title_keywords == DEFAULT_TITLE_KEYWORDS == ("WIP", "DO NOT MERGE", "[skip review]")
    assert cfg.rules == RulesConfig(packs=tuple(available_packs()), files=(), disable=(), severity={})
    llm = cfg.llm
    assert (llm.provider, llm.model, llm.base_url, llm.api_key_env) == ("none", None, None, None)
    assert (llm.max_tokens_per_review, llm.max_output_tokens, llm.concurrency) == (200_000, 4096, 4)
    assert (llm.timeout_s, llm.temperature, llm.enabled) == (120.0, 0.0, False)


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n", "null\n", "~\n"])
def test_an_empty_file_is_the_default_configuration(text):
    cfg = ReviewConfig.from_yaml(text)
    assert cfg == ReviewConfig.default()
    assert cfg.source == ".bbreview.yaml"


def test_configuration_objects_are_frozen_hashable_and_picklable():
    cfg = load_config(EXAMPLE_PATH)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.language = "de"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.rules.severity["x"] = "high"  # type: ignore[index]
    assert hash(cfg) == hash(load_config(EXAMPLE_PATH))
    clone = pickle.loads(pickle.dumps(cfg))
    assert clone == cfg
    assert clone.lines == cfg.lines


def test_bytes_input_and_non_utf8_input():
    assert ReviewConfig.from_yaml(b"language: de\n").language == "de"
    err = error_of(b"language: \xff\n")  # type: ignore[arg-type]
    assert "not UTF-8" in err.reason and err.source == ".bbreview.yaml"


def test_a_file_larger_than_the_limit_is_refused():
    big = "# " + "x" * config_module.MAX_CONFIG_BYTES + "\n"
    assert "larger than" in error_of(big).reason


# ---- the example file -----------------------------------------------------------------


def _paths(data, prefix=""):
    """Every key path in plain YAML data, list items of mappings as ``key[]``."""
    out = []
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        out.append(path)
        if isinstance(value, dict) and path != "rules.severity":  # its keys are rule ids, not schema
            out.extend(_paths(value, path))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out.extend(_paths(value[0], path + "[]"))
    return out


def test_the_example_file_loads_without_warnings_and_sets_every_key():
    cfg = load_config(EXAMPLE_PATH)
    assert cfg.source == str(EXAMPLE_PATH)
    assert cfg.check() == []
    assert check_file(EXAMPLE_PATH) == []
    keys = _paths(yaml.safe_load(EXAMPLE_PATH.read_text()))
    # The two service-only keys are shown commented out: a repository may not set them.
    service_only = {"llm.base_url", "llm.api_key_env"}
    assert sorted(keys) == sorted(set(config_module._all_keys()) - service_only)
    assert all(f"# {k.split('.')[1]}:" in EXAMPLE_PATH.read_text() for k in service_only)
    assert cfg.reviews.auto_review.base_branches == ("main", "release/.*")
    assert cfg.llm.api_key_env is None
    assert cfg.rules.severity == {"hygiene/python-print": "medium", "hygiene/todo-without-ticket": "nitpick"}


def test_every_key_of_the_example_has_a_comment():
    lines = EXAMPLE_PATH.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        is_key = stripped and not stripped.startswith(("#", "-")) and ":" in stripped
        if is_key and not stripped.startswith(("path:", "instructions:")) and "/" not in stripped.split(":")[0]:
            above = next(x.strip() for x in reversed(lines[:i]) if x.strip())
            assert above.startswith("#"), f"line {i + 1} ({stripped!r}) has no comment above it"


def test_a_full_configuration():
    cfg = parse(
        """\
        language: de
        tone_instructions: Sei freundlich.
        reviews:
          profile: assertive
          path_filters: ["src/**", "!src/gen/**"]
          path_instructions:
            - path: "*.py"
              instructions: Use type hints.
          auto_review: {enabled: false, drafts: true, base_branches: [main], ignore_title_keywords: [NOPE]}
          max_comments: 0
          min_severity: nitpick
          code_insights: false
          suggestions: false
          resolve_fixed: false
        rules:
          packs: [secrets]
          files: [./ci/rules.yaml]
          disable: [secrets/jwt]
          severity: {secrets/jwt: info}
        llm:
          provider: anthropic
          model: claude-x
          base_url: http://localhost:8080
          api_key_env: ANTHROPIC_API_KEY
          max_tokens_per_review: 1000
          max_output_tokens: 500
          concurrency: 32
          timeout_s: 2.5
          temperature: 1
        """
    )
    assert cfg.language == "de" and cfg.tone_instructions == "Sei freundlich."
    assert cfg.reviews == ReviewsConfig(
        profile="assertive",
        path_filters=("src/**", "!src/gen/**"),
        path_instructions=(PathInstruction("*.py", "Use type hints."),),
        auto_review=AutoReviewConfig(False, True, ("main",), ("NOPE",)),
        max_comments=0,
        min_severity="nitpick",
        code_insights=False,
        suggestions=False,
        resolve_fixed=False,
    )
    assert cfg.rules == RulesConfig(("secrets",), ("ci/rules.yaml",), ("secrets/jwt",), {"secrets/jwt": "info"})
    assert cfg.llm == LLMConfig(
        "anthropic", "claude-x", "http://localhost:8080", "ANTHROPIC_API_KEY", 1000, 500, 32, 2.5, 1.0
    )
    assert isinstance(cfg.llm.temperature, float)
    assert cfg.lines["reviews.max_comments"] == 10
    assert cfg.lines["reviews.path_instructions[0].path"] == 7


def test_enumerations_ignore_case():
    cfg = parse("reviews: {profile: Assertive, min_severity: HIGH}\nllm: {provider: OpenAI}\n")
    assert (cfg.reviews.profile, cfg.reviews.min_severity, cfg.llm.provider) == ("assertive", "high", "openai")


# ---- merging over the service's defaults ---------------------------------------------------

SERVICE_DEFAULTS = {
    "tone_instructions": "Be brief.",
    "reviews": {"max_comments": 10, "path_filters": ["!vendor/**"], "auto_review": {"drafts": True}},
    "rules": {"severity": {"hygiene/python-print": "high"}},
    "llm": {"provider": "openai", "model": "base-model", "api_key_env": "OPENAI_API_KEY"},
}


@pytest.mark.parametrize("as_object", [False, True], ids=["dict", "ReviewConfig"])
def test_the_file_merges_over_the_defaults(as_object):
    defaults = ReviewConfig.from_dict(SERVICE_DEFAULTS) if as_object else SERVICE_DEFAULTS
    cfg = parse(
        """\
        reviews:
          profile: assertive
          path_filters: ["src/**"]
          auto_review:
            base_branches: [main]
        rules:
          severity:
            hygiene/console-log: critical
        llm:
          model: repo-model
        """,
        defaults=defaults,
    )
    assert cfg.tone_instructions == "Be brief."  # scalar not in the file: kept
    assert cfg.reviews.max_comments == 10  # sibling key in a merged mapping: kept
    assert cfg.reviews.profile == "assertive"
    assert cfg.reviews.path_filters == ("src/**",)  # lists replace
    assert cfg.reviews.auto_review.drafts is True  # nested mapping merges key by key
    assert cfg.reviews.auto_review.base_branches == ("main",)
    assert cfg.rules.severity == {"hygiene/python-print": "high", "hygiene/console-log": "critical"}
    assert (cfg.llm.provider, cfg.llm.model, cfg.llm.api_key_env) == ("openai", "repo-model", "OPENAI_API_KEY")


def test_an_empty_value_keeps_the_default():
    cfg = parse("tone_instructions:\nreviews:\n  max_comments:\nllm:\n", defaults=SERVICE_DEFAULTS)
    assert cfg.tone_instructions == "Be brief." and cfg.reviews.max_comments == 10 and cfg.llm.model == "base-model"


def test_an_empty_file_is_the_defaults():
    assert parse("", defaults=SERVICE_DEFAULTS) == ReviewConfig.from_dict(SERVICE_DEFAULTS)


def test_invalid_defaults_are_named_as_defaults():
    with pytest.raises(ConfigError) as info:
        parse("", defaults={"reviews": {"profile": "loud"}})
    assert (info.value.source, info.value.key, info.value.line) == ("defaults", "reviews.profile", None)
    with pytest.raises(TypeError):
        parse("", defaults=["not", "a", "mapping"])  # type: ignore[arg-type]


# ---- errors: key path, line, hint -------------------------------------------------------------

ERRORS = [
    # (name, text, key, line, words in the reason, words in the hint)
    ("unknown profile", "reviews:\n  profile: loud\n",
     "reviews.profile", 2, "unknown profile 'loud'", "chill, assertive"),
    ("unknown key, close", "reviews:\n  max_coments: 3\n",
     "reviews.max_coments", 2, "unknown key", "did you mean 'max_comments'"),
    ("key in the wrong section", "reviews:\n  drafts: true\n", "reviews.drafts", 2, "unknown key",
     "did you mean reviews.auto_review.drafts"),
    ("unknown top-level key", "\n\nreveiws:\n  profile: chill\n",
     "reveiws", 3, "unknown key", "did you mean 'reviews'"),
    ("duplicate key", "llm:\n  model: a\n  model: b\n", "llm.model", 3, "duplicate key (first on line 2)", "merge"),
    ("top level a list", "- reviews\n", "", 1, "top level must be a mapping, not a list", "reviews:"),
    ("top level a scalar", "hello\n", "", 1, "top level must be a mapping, not a single value", None),
    ("section not a mapping", "language: en\nllm: openai\n", "llm", 2, "expected a mapping, got a string", None),
    ("wrong type, string", "language: 12\n", "language", 1, "expected a string, got a number (12)", "quotes"),
    ("yes is a boolean", "language: no\n", "language", 1, "expected a string, got true/false", "quotes"),
    ("bad language tag", "language: English\n", "language", 1, "not a language tag", "pt-BR"),
    ("tone too long", "tone_instructions: " + "x" * 1001 + "\n", "tone_instructions", 1, "1001 characters", None),
    ("list expected", "reviews:\n  path_filters: src/**\n", "reviews.path_filters", 2, "expected a list of strings",
     "one `- 'src/**'` line"),
    ("empty glob", "reviews:\n  path_filters:\n    - a\n    - '!'\n",
     "reviews.path_filters[1]", 4, "must not be empty", None),
    ("list item type", "reviews:\n  path_filters:\n    - a\n    - [b]\n", "reviews.path_filters[1]", 4,
     "expected a string, got a list", None),
    ("instruction path type", "reviews:\n  path_instructions:\n    - {path: a, instructions: x}\n    - path: 7\n"
     "      instructions: y\n", "reviews.path_instructions[1].path", 4, "expected a string, got a number", None),
    ("instruction missing key", "reviews:\n  path_instructions:\n    - path: a\n      instructions: x\n    - path: b\n",
     "reviews.path_instructions[1]", 5, "missing required key 'instructions'", None),
    ("instruction unknown key", "reviews:\n  path_instructions:\n    - path: a\n      instruction: x\n",
     "reviews.path_instructions[0].instruction", 4, "unknown key", "did you mean 'instructions'"),
    ("instruction excludes", "reviews:\n  path_instructions:\n    - path: '!a'\n      instructions: x\n",
     "reviews.path_instructions[0].path", 3, "cannot exclude", "path_filters"),
    ("instruction not a mapping", "reviews:\n  path_instructions:\n    - just text\n",
     "reviews.path_instructions[0]", 3,
     "expected a mapping with path and instructions", None),
    ("invalid base branch regex", "reviews:\n  auto_review:\n    base_branches:\n      - main\n      - 'release/('\n",
     "reviews.auto_review.base_branches[1]", 5, "invalid regex 'release/(': missing ), unterminated subpattern",
     "whole branch name"),
    ("bool expected", "reviews:\n  auto_review:\n    drafts: sometimes\n", "reviews.auto_review.drafts", 3,
     "expected true or false, got a string ('sometimes')", None),
    ("negative max_comments", "reviews:\n  max_comments: -1\n", "reviews.max_comments", 2, "at least 0, not -1", None),
    ("float max_comments", "reviews:\n  max_comments: 2.5\n",
     "reviews.max_comments", 2, "expected a whole number", None),
    ("unknown min_severity", "reviews:\n  min_severity: hihg\n", "reviews.min_severity", 2, "unknown severity 'hihg'",
     "did you mean 'high'"),
    ("unknown pack", "rules:\n  packs: [hygiene, secret]\n", "rules.packs[1]", 2, "unknown rule pack 'secret'",
     "did you mean 'secrets'"),
    ("absolute rule file", "rules:\n  files:\n    - /etc/rules.yaml\n",
     "rules.files[0]", 3, "is absolute", "repository root"),
    ("rule file outside", "rules:\n  files:\n    - a/../../x.yaml\n",
     "rules.files[0]", 3, "leaves the repository", None),
    ("severity scale", "rules:\n  severity:\n    hygiene/python-print: loud\n",
     "rules.severity.hygiene/python-print", 3,
     "unknown severity 'loud'", "info, warning, error"),
    ("severity mapping", "rules:\n  severity: [high]\n", "rules.severity", 2, "expected a mapping of rule id", None),
    ("unknown provider", "llm:\n  provider: openia\n",
     "llm.provider", 2, "unknown provider 'openia'", "did you mean 'openai'"),
    ("concurrency range", "llm:\n  concurrency: 33\n", "llm.concurrency", 2, "from 1 to 32, not 33", None),
    ("temperature range", "llm:\n  temperature: -0.5\n", "llm.temperature", 2, "from 0 to 2", None),
    ("timeout zero", "llm:\n  timeout_s: 0\n", "llm.timeout_s", 2, "more than 0 and at most 3600, not 0", None),
    ("max tokens type", "llm:\n  max_output_tokens: lots\n",
     "llm.max_output_tokens", 2, "expected a whole number", None),
    ("base url scheme", "llm:\n  base_url: ftp://example.com\n", "llm.base_url", 2, "not an http(s) URL", None),
    ("non-string key", "llm:\n  1: x\n", "llm", 2, "keys must be strings, not a number (1)", "quote the key"),
    ("unsupported tag", "language: !lang en\n", "language", 1, "invalid value", "remove the YAML tag"),
    ("alias loop", "a: &x [*x]\n", "a[0]", 1, "refers to its own parent", None),
]


@pytest.mark.parametrize("name, text, key, line, reason, hint", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_key_path_and_line(name, text, key, line, reason, hint):
    err = error_of(text)
    assert (err.key, err.line, err.source) == (key, line, ".bbreview.yaml")
    assert reason in err.reason
    if hint is not None:
        assert hint in (err.hint or "")
    expected_start = f".bbreview.yaml:{line}: " + (f"{key}: " if key else "")
    assert str(err).startswith(expected_start)


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("reviews:\n  profile: [chill\n", 3, "did not find expected ',' or ']'"),
        ("reviews:\n  profile: chill\n    x: 1\n", 3, "mapping values are not allowed in this context"),
        ("a: 1\n---\nb: 2\n", 2, "but found another document"),
        ("a: *nowhere\n", 1, "found undefined alias"),
        ("a: \"x\x00\"\n", 1, "unacceptable character"),
    ],
)
def test_yaml_syntax_errors_carry_the_line_and_pyyaml_problem(text, line, problem):
    err = error_of(text)
    assert err.line == line and err.key == ""
    assert err.reason.startswith("invalid YAML: ") and problem in err.reason


def test_errors_name_the_source_given():
    err = error_of("reviews: {profile: loud}\n", source="repo/.bbreview.yaml")
    assert str(err).splitlines()[0] == "repo/.bbreview.yaml:1: reviews.profile: unknown profile 'loud'"
    assert str(err).splitlines()[1] == "hint: use one of chill, assertive"


def test_error_lines_point_at_the_value_not_the_section():
    err = error_of("# c\nllm:\n  provider: openai\n\n  concurrency: 0\n")
    assert err.line == 5


def test_deep_nesting_is_refused():
    err = error_of("a: " + "[" * 100 + "]" * 100 + "\n")
    assert "nested or aliased too deeply" in err.reason


def test_alias_bombs_are_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    err = error_of("\n".join(lines) + "\n")
    assert "nested or aliased too deeply" in err.reason


def test_yaml_anchors_and_merge_keys_are_supported():
    text = "reviews:\n  auto_review: {ignore_title_keywords: &kw [WIP]}\nllm:\n  <<: {provider: openai}\n  model: m\n"
    cfg = parse(text)
    assert (cfg.llm.provider, cfg.llm.model) == ("openai", "m")
    assert cfg.reviews.auto_review.ignore_title_keywords == ("WIP",)


def test_objects_built_in_python_validate_too():
    with pytest.raises(ConfigError) as info:
        ReviewsConfig(profile="loud")
    assert (info.value.key, info.value.source, info.value.line) == ("profile", None, None)
    with pytest.raises(ConfigError) as info:
        ReviewsConfig(path_instructions=[{"path": "a", "instructions": ""}])
    assert info.value.key == "path_instructions[0].instructions"
    assert ReviewsConfig(path_instructions=[{"path": "a", "instructions": "x"}]).path_instructions == (
        PathInstruction("a", "x"),
    )
    with pytest.raises(ConfigError):
        LLMConfig(concurrency=True)


def test_from_dict_errors_have_key_paths_and_no_lines():
    with pytest.raises(ConfigError) as info:
        ReviewConfig.from_dict({"reviews": {"path_instructions": [{"path": "a", "instructions": "x"}, {"path": 1}]}})
    assert (info.value.key, info.value.line, info.value.source) == ("reviews.path_instructions[1]", None, None)
    with pytest.raises(ConfigError) as info:
        ReviewConfig.from_dict({"llm": {"temperature": 9}}, source="svc.yaml")
    assert str(info.value) == "svc.yaml: llm.temperature: must be from 0 to 2, not 9"


def test_config_errors_survive_pickling():
    err = error_of("reviews: {profile: loud}\n")
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.key, clone.line, clone.source, str(clone)) == (err.key, err.line, err.source, str(err))


# ---- secrets ----------------------------------------------------------------------------------

KEY = "sk-proj-Zx81aQw9Lm2Vb7Nc4Rt6Yp0Ks3Df5Gh8"


@pytest.mark.parametrize(
    "text, key",
    [
        (f"llm:\n  provider: openai\n  api_key: {KEY}\n", "llm.api_key"),
        (f"llm:\n  openai_api_key: {KEY}\n", "llm.openai_api_key"),
        (f"llm:\n  token: {KEY}\n", "llm.token"),
        (f"api-key: {KEY}\n", "api-key"),
        (f"llm:\n  api_key_env: {KEY}\n", "llm.api_key_env"),
        ("llm:\n  api_key_env: 'abc def 123 secret'\n", "llm.api_key_env"),
        (f"llm:\n  base_url: https://user:{KEY}@api.example.com/v1\n", "llm.base_url"),
        (f"llm:\n  base_url: https://api.example.com/v1?api_key={KEY}\n", "llm.base_url"),
    ],
)
def test_a_literal_api_key_is_an_error_that_never_echoes_it(text, key):
    err = error_of(text)
    assert err.key == key
    assert err.line == text.count("\n")  # the key is on the last line
    everything = str(err) + repr(err) + repr(err.__reduce__())
    assert KEY not in everything and "abc def" not in everything
    assert "api_key_env" in err.hint
    chained = err.__cause__ or err.__context__
    while chained is not None:  # a traceback would print these too
        assert KEY not in str(chained)
        chained = chained.__cause__ or chained.__context__


def test_a_literal_key_is_rejected_before_a_did_you_mean_hint():
    err = error_of(f"llm:\n  api_key: {KEY}\n")
    assert "literal API key" in err.reason and "rotate" in err.hint


def test_the_effective_configuration_never_contains_secrets():
    cfg = parse("llm:\n  provider: openai\n  api_key_env: MY_KEY\n  base_url: https://proxy.local/v1\n")
    text = cfg.to_yaml()
    assert "api_key_env: MY_KEY" in text
    assert "sk-" not in text


# ---- path filters and instructions ------------------------------------------------------------


@pytest.mark.parametrize(
    "filters, path, included",
    [
        ([], "any/file.py", True),
        (["src/**"], "src/a/b.py", True),
        (["src/**"], "lib/a.py", False),
        (["*.py"], "deep/down/x.py", True),
        (["!*.lock"], "poetry.lock", False),
        (["!*.lock"], "app.py", True),
        (["src/**", "!src/gen/**"], "src/gen/x.py", False),
        (["!src/gen/**", "src/**"], "src/gen/x.py", False),  # order does not matter
        (["!src/gen/**", "src/**"], "src/app.py", True),
        (["src/**", "docs/"], "docs/a/b.md", True),
        (["src/**", "docs/"], "README.md", False),
        (["a?.py"], "ab.py", True),
        (["a?.py"], "abc.py", False),
        (["../x"], "x", False),  # can never match
    ],
)
def test_path_filters(filters, path, included):
    reviews = ReviewsConfig(path_filters=filters)
    assert reviews.includes(path) is included


def test_instructions_for_lists_every_matching_entry_in_order():
    cfg = parse(
        """\
        reviews:
          path_instructions:
            - path: "**/*.py"
              instructions: python
            - path: "tests/**"
              instructions: tests
            - path: "docs/"
              instructions: docs
        """
    )
    assert cfg.reviews.instructions_for("tests/test_a.py") == ["python", "tests"]
    assert cfg.reviews.instructions_for("src/a.py") == ["python"]
    assert cfg.reviews.instructions_for("docs/x/y.md") == ["docs"]
    assert cfg.reviews.instructions_for("README.md") == []


# ---- auto_review.decide -----------------------------------------------------------------------


def test_decide_reviews_an_ordinary_pull_request():
    ok, why = AutoReviewConfig().decide(pr())
    assert ok and why == "the pull request into 'main' passes reviews.auto_review"


def test_decide_skips_drafts_unless_enabled():
    assert AutoReviewConfig().decide(pr(draft=True)) == (
        False, "draft pull requests are not reviewed (reviews.auto_review.drafts: false)"
    )
    assert AutoReviewConfig(drafts=True).decide(pr(draft=True))[0] is True


def test_decide_when_disabled():
    assert AutoReviewConfig(enabled=False).decide(pr()) == (
        False, "automatic reviews are off (reviews.auto_review.enabled: false)"
    )


def test_decide_on_base_branches_matches_whole_names():
    auto = AutoReviewConfig(base_branches=("main", "release/.*"))
    assert auto.decide(pr(branch="main"))[0] is True
    assert auto.decide(pr(branch="release/2.1"))[0] is True
    ok, why = auto.decide(pr(branch="maintenance"))
    assert not ok
    assert why == "the target branch 'maintenance' matches none of reviews.auto_review.base_branches (main, release/.*)"
    assert auto.decide({"title": "x"})[0] is False  # no destination: cannot tell
    assert AutoReviewConfig().decide({"title": "x"}) == (True, "the pull request passes reviews.auto_review")


@pytest.mark.parametrize(
    "title, reviewed",
    [
        ("WIP: new parser", False),
        ("wip new parser", False),
        ("[WIP] parser", False),
        ("Parser (do not merge)", False),
        ("Parser [Skip Review]", False),
        ("Wipe the cache", True),  # WIP as a whole word only
        ("Swipe gestures", True),
        ("", True),
    ],
)
def test_decide_on_title_keywords(title, reviewed):
    ok, why = AutoReviewConfig().decide(pr(title))
    assert ok is reviewed
    if not reviewed:
        assert why.startswith("the title contains ") and why.endswith("(reviews.auto_review.ignore_title_keywords)")


def test_decide_skips_closed_pull_requests():
    assert AutoReviewConfig().decide(pr(state="MERGED")) == (
        False, "the pull request is merged; only open pull requests are reviewed"
    )


def test_decide_from_the_configuration_file():
    cfg = parse("reviews:\n  auto_review:\n    ignore_title_keywords: [draft]\n")
    assert cfg.reviews.auto_review.decide(pr("WIP: still reviewed"))[0] is True
    assert cfg.reviews.auto_review.decide(pr("Draft: skipped"))[0] is False


# ---- severity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "profile, minimum, effective",
    [("chill", "nitpick", "low"), ("assertive", "nitpick", "nitpick"), ("chill", "high", "high"),
     ("assertive", "low", "low"), ("chill", "low", "low")],
)
def test_effective_min_severity(profile, minimum, effective):
    cfg = parse(f"reviews: {{profile: {profile}, min_severity: {minimum}}}\n")
    assert cfg.effective_min_severity() == effective


def test_review_and_rule_severity_of_overrides():
    rules = RulesConfig(severity={"a": "critical", "b": "nitpick", "c": "warning", "d": "ERROR"})
    assert [rules.review_severity(x) for x in "abcde"] == ["critical", "nitpick", "medium", "high", None]
    assert [rules.rule_severity(x) for x in "abcde"] == ["error", "info", "warning", "error", None]


# ---- rule sets ------------------------------------------------------------------------------

EXTRA_RULES = """\
rules:
  - id: team/no-sleep
    message: sleep in a test
    patterns: 'time\\.sleep\\('
    severity: info
"""


def test_ruleset_defaults_to_every_builtin_pack():
    rs = ReviewConfig.default().ruleset()
    assert {rid.split("/")[0] for rid in rs.ids} == set(available_packs())


def test_ruleset_with_packs_disable_severity_and_an_extra_file():
    cfg = parse(
        """\
        rules:
          packs: [hygiene]
          files: [ci/rules.yaml]
          disable: [hygiene/long-line, no/such-rule]
          severity:
            hygiene/python-print: critical
            hygiene/console-log: info
            team/no-sleep: high
        """
    )
    asked = []

    def read_file(path: str) -> bytes:
        asked.append(path)
        return EXTRA_RULES.encode()

    rs = cfg.ruleset(read_file)
    assert asked == ["ci/rules.yaml"]
    assert all(rid.startswith(("hygiene/", "team/")) for rid in rs.ids)
    assert "hygiene/long-line" not in rs and "team/no-sleep" in rs
    assert rs["hygiene/python-print"].severity == "error"
    assert cfg.rules.review_severity("hygiene/python-print") == "critical"
    assert rs["hygiene/console-log"].severity == "info"
    assert rs["team/no-sleep"].severity == "error"
    diff = "diff --git a/t.py b/t.py\n--- a/t.py\n+++ b/t.py\n@@ -1 +1,2 @@\n x\n+time.sleep(1)\n"
    assert [f.rule_id for f in rs.scan(diff)] == ["team/no-sleep"]


def test_ruleset_with_no_packs():
    cfg = parse("rules:\n  packs: []\n  files: [r.yaml]\n")
    assert cfg.ruleset({"r.yaml": EXTRA_RULES}.__getitem__).ids == ["team/no-sleep"]


def test_an_invalid_extra_rule_file_names_rules_files_i():
    cfg = parse("rules:\n  packs: []\n  files:\n    - ok.yaml\n    - bad.yaml\n")
    files = {"ok.yaml": EXTRA_RULES, "bad.yaml": "rules:\n  - id: broken\n    message: m\n    patterns: 'print('\n"}
    with pytest.raises(ConfigError) as info:
        cfg.ruleset(files.__getitem__)
    err = info.value
    assert (err.key, err.line, err.source) == ("rules.files[1]", 5, ".bbreview.yaml")
    assert err.reason.startswith('invalid rule file: bad.yaml:4: rule "broken": invalid regex "print(":')
    assert "RE2" in err.hint
    assert isinstance(err.__cause__, RuleError)


def test_an_extra_rule_file_with_a_yaml_error_names_rules_files_0():
    cfg = parse("rules:\n  files: [bad.yaml]\n")
    with pytest.raises(ConfigError) as info:
        cfg.ruleset(lambda path: "rules: [\n")
    assert info.value.key == "rules.files[0]" and info.value.line == 2
    assert "bad.yaml:2: invalid YAML" in info.value.reason


def test_a_missing_extra_rule_file():
    cfg = parse("rules:\n  files: [gone.yaml]\n")
    with pytest.raises(ConfigError) as info:
        cfg.ruleset({}.__getitem__)
    assert (info.value.key, info.value.reason) == ("rules.files[0]", "cannot read rule file 'gone.yaml': not found")


def test_an_extra_rule_clashing_with_a_pack_rule():
    cfg = parse("rules:\n  packs: [hygiene]\n  files: [r.yaml]\n")
    clash = "rules:\n  - id: hygiene/python-print\n    message: m\n    patterns: x\n"
    with pytest.raises(ConfigError) as info:
        cfg.ruleset(lambda path: clash)
    assert info.value.key == "rules.files[0]"
    assert "already defined by built-in pack 'hygiene'" in info.value.reason


def test_ruleset_reads_rule_files_next_to_the_configuration(tmp_path):
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "rules.yaml").write_text(EXTRA_RULES)
    (tmp_path / ".bbreview.yaml").write_text("rules:\n  packs: []\n  files: [ci/rules.yaml]\n")
    assert load_config(tmp_path / ".bbreview.yaml").ruleset().ids == ["team/no-sleep"]


# ---- output -----------------------------------------------------------------------------------


def test_to_yaml_round_trips():
    for cfg in (ReviewConfig.default(), load_config(EXAMPLE_PATH), parse("", defaults=SERVICE_DEFAULTS)):
        text = cfg.to_yaml()
        assert text.startswith("# bbreview: effective configuration")
        again = ReviewConfig.from_yaml(text)
        assert again == cfg
        assert again.to_yaml().splitlines()[1:] == text.splitlines()[1:]


def test_to_dict_round_trips_and_is_plain_data():
    cfg = load_config(EXAMPLE_PATH)
    data = cfg.to_dict()
    assert ReviewConfig.from_dict(data) == cfg
    assert list(data) == ["language", "tone_instructions", "reviews", "rules", "llm"]
    assert data["reviews"]["path_instructions"][0] == {
        "path": "src/**/*.py", "instructions": "Check that public functions have type hints and docstrings."
    }
    assert type(data["rules"]["severity"]) is dict and type(data["rules"]["packs"]) is list
    assert yaml.safe_load(yaml.safe_dump(data)) == data


def test_to_yaml_quotes_values_yaml_would_misread():
    cfg = parse(
        "language: 'no'\nreviews:\n  path_filters: ['*.py', '!x']\n  auto_review: {ignore_title_keywords: ['yes']}\n"
    )
    assert ReviewConfig.from_yaml(cfg.to_yaml()) == cfg


# ---- check_file and check_main ------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = ".bbreview.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_check_file_warnings(tmp_path):
    (tmp_path / "rules.yaml").write_text(EXTRA_RULES)
    path = write(
        tmp_path,
        """\
        reviews:
          min_severity: nitpick
          path_filters:
            - "!vendor/"
            - "../outside/**"
            - "*.{js,ts}"
          path_instructions:
            - path: vendor/lib.py
              instructions: x
            - path: "/.."
              instructions: y
        rules:
          files: [rules.yaml]
          disable: [hygiene/python-prnt]
          severity:
            team/no-sleep: high
            nobody/here: low
        llm:
          model: m
        """,
    )
    warnings = check_file(path)
    src = str(path)
    assert warnings == [
        f"{src}:5: reviews.path_filters[1]: glob '../outside/**' can never match: "
        'it has a ".." segment, and diff paths are normalised without them',
        f"{src}:6: reviews.path_filters[2]: braces in '*.{{js,ts}}' are matched literally; write one glob per item",
        f"{src}:8: reviews.path_instructions[0].path: 'vendor/lib.py' is excluded by reviews.path_filters, "
        "so these instructions are never used",
        f"{src}:10: reviews.path_instructions[1].path: glob '/..' can never match: "
        + config_module._glob("/..")[1],
        f"{src}:2: reviews.min_severity: nitpick takes effect only with reviews.profile: assertive; low is used",
        f"{src}:19: llm.model: is ignored while llm.provider is none",
        f"{src}:14: rules.disable[0]: no rule has the id 'hygiene/python-prnt'; did you mean 'hygiene/python-print'?",
        f"{src}:17: rules.severity.nobody/here: no rule has the id 'nobody/here'",
    ]


def test_check_reports_rule_file_warnings_with_their_file_and_line():
    cfg = parse("rules:\n  packs: []\n  files: [r.yaml]\n")
    rule = "rules:\n  - id: a\n    message: m\n    patterns: x\n    paths: ['../x']\n"
    warnings = cfg.check({"r.yaml": rule}.__getitem__)
    assert warnings[0].startswith('.bbreview.yaml:3: rules.files[0]: r.yaml:5: rule "a": path glob "../x" can never match')


def test_check_file_raises_for_invalid_files(tmp_path):
    with pytest.raises(ConfigError) as info:
        check_file(write(tmp_path, "rules:\n  files: [missing.yaml]\n"))
    assert info.value.key == "rules.files[0]"
    with pytest.raises(ConfigError) as info:
        check_file(tmp_path / "nope.yaml")
    assert info.value.reason.startswith("cannot read the file") and info.value.source == str(tmp_path / "nope.yaml")


def test_check_main_ok(tmp_path, capsys):
    path = write(tmp_path, "reviews:\n  profile: assertive\n")
    assert check_main([str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: OK\n" and err == ""


def test_check_main_error(tmp_path, capsys):
    path = write(tmp_path, "reviews:\n  profile: loud\n")
    assert check_main([str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"bbreview config check: error: {path}:2: reviews.profile: unknown profile 'loud'\n" \
                  "hint: use one of chill, assertive\n"


def test_check_main_warnings_and_strict(tmp_path, capsys):
    path = write(tmp_path, "reviews:\n  min_severity: nitpick\n")
    assert check_main([str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: OK\n" and "warning: " in err and "reviews.min_severity" in err
    assert check_main(["--strict", str(path)]) == 1
    assert capsys.readouterr().out == f"{path}: 1 warning (--strict)\n"


def test_check_main_several_files_and_usage(tmp_path, capsys):
    good = write(tmp_path, "", "good.yaml")
    bad = write(tmp_path, "- x\n", "bad.yaml")
    assert check_main([str(good), str(bad), str(tmp_path / "missing.yaml")]) == 1
    out, err = capsys.readouterr()
    assert out == f"{good}: OK\n"
    assert err.count("error:") == 2
    assert check_main([]) == 2
    assert "usage: bbreview config check" in capsys.readouterr().err
    assert check_main(["--bogus", str(good)]) == 2
    capsys.readouterr()
    assert check_main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage:")
