"""The bbreview.rules Python API: rules, rule sets, scanning, findings and bad input."""

from __future__ import annotations

import dataclasses
import pickle
import textwrap
import threading
import time

import pytest

import bbreview
from bbreview import RuleError
from bbreview.rules import (
    Finding,
    Rule,
    RuleSet,
    available_packs,
    fingerprint,
    glob_to_regex,
    language_of,
    redact,
    shannon_entropy,
    to_frame,
)


def added(path: str, *lines: str) -> str:
    """A diff adding ``lines`` to a new file ``path``."""
    body = "".join(f"+{line}\n" for line in lines)
    return f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{body}"


def scan(rules: list[Rule] | Rule, diff: str) -> list[Finding]:
    return RuleSet([rules] if isinstance(rules, Rule) else rules).scan(diff)


MODIFIED = textwrap.dedent(
    """\
    diff --git a/app/m.py b/app/m.py
    --- a/app/m.py
    +++ b/app/m.py
    @@ -1,3 +1,3 @@
     keep TOKEN
    -old TOKEN
    +new TOKEN
     tail
    """
)


# ---- the rule model -------------------------------------------------------------


def test_rule_normalises_strings_to_tuples_and_fills_defaults():
    rule = Rule("no-print", "no print", r"print\(", paths="*.py", keywords="print", languages=["py", "Python"])
    assert rule.patterns == (r"print\(",)
    assert rule.paths == ("*.py",)
    assert rule.keywords == ("print",)
    assert rule.languages == ("python",)
    assert (rule.severity, rule.category, rule.scope, rule.secret) == ("warning", "general", "added", False)
    assert Rule("k", "key", "x", category="secrets").secret is True
    assert Rule("k", "key", "x", category="secrets", secret=False).secret is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.id = "other"  # type: ignore[misc]
    assert hash(rule) == hash(Rule("no-print", "no print", [r"print\("], paths=["*.py"], keywords=["print"],
                                   languages=["python"]))


def test_rule_stores_tests_read_only():
    rule = Rule("r", "m", "x", tests={"positive": ["x = 1"], "negative": "y"})
    assert rule.tests["positive"] == ("x = 1",)
    assert rule.tests["negative"] == ("y",)
    with pytest.raises(TypeError):
        rule.tests["positive"] = ()  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"id": "bad id"}, "id", "invalid rule id"),
        ({"message": ""}, "message", "message"),
        ({"patterns": []}, "patterns", "at least one pattern"),
        ({"patterns": 12}, "patterns", "string or a list"),
        ({"severity": "fatal"}, "severity", "unknown severity 'fatal'"),
        ({"scope": "all"}, "scope", "unknown scope 'all'"),
        ({"languages": ["klingon"]}, "languages", "unknown language 'klingon'"),
        ({"entropy": -1}, "entropy", "at least 0"),
        ({"entropy": "high"}, "entropy", "must be a number"),
        ({"max_per_file": 0}, "max_per_file", "at least 1"),
        ({"keywords": [""]}, "keywords", "empty string"),
        ({"tests": {"positive": ["x"], "maybe": []}}, "tests", "unknown key"),
    ],
)
def test_rule_rejects_bad_values(kwargs, field, text):
    args = {"id": "r", "message": "m", "patterns": "x"} | kwargs
    with pytest.raises(RuleError, match=text) as info:
        Rule(**args)
    assert info.value.field == field


def test_language_of_derives_languages_from_file_names():
    assert language_of("src/app/main.py") == "python"
    assert language_of("analysis.ipynb") == "notebook"
    assert language_of("web/App.TSX") == "typescript"
    assert language_of("x.h") == "c"
    assert language_of("Dockerfile") == "dockerfile"
    assert language_of("README") is None
    assert "notebook" in bbreview.rules.known_languages()


def test_the_package_exports_the_rules_api():
    assert bbreview.Rule is Rule and bbreview.RuleSet is RuleSet and bbreview.Finding is Finding
    assert issubclass(RuleError, bbreview.Error) and issubclass(RuleError, ValueError)
    assert set(bbreview.rules.__all__) <= set(dir(bbreview.rules))


# ---- scanning and findings --------------------------------------------------------


def test_finding_fields_for_an_added_line():
    [f] = scan(Rule("no-print", "Remove the debug print", r"print\(", severity="error", category="hygiene"),
               added("a/b.py", "x = 1", "  print(x)"))
    assert (f.rule_id, f.severity, f.category, f.message) == ("no-print", "error", "hygiene", "Remove the debug print")
    assert (f.path, f.line, f.end_line, f.side) == ("a/b.py", 2, 2, "new")
    assert (f.column_start, f.column_end) == (3, 9)
    assert f.snippet[f.column_start - 1 : f.column_end - 1] == f.match == "print("
    assert f.suggestion is None and f.commit is None
    assert len(f.fingerprint) == 32 and int(f.fingerprint, 16) >= 0
    assert f.to_dict() == dict(zip(Finding._fields, f))
    assert list(f.to_dict()) == list(Finding._fields)


def test_columns_count_characters_not_bytes():
    [f] = scan(Rule("r", "m", "x"), added("a.txt", "ééx😀"))
    assert (f.column_start, f.column_end) == (3, 4)
    assert f.snippet[f.column_start - 1 : f.column_end - 1] == "x"


def test_scopes_pick_added_removed_context_lines_or_the_path():
    rules = [
        Rule("add", "m", "TOKEN"),
        Rule("rem", "m", "TOKEN", scope="removed"),
        Rule("ctx", "m", "TOKEN", scope="context"),
        Rule("path", "m", r"\.py$", scope="path"),
    ]
    got = [(f.rule_id, f.side, f.line, f.end_line) for f in scan(rules, MODIFIED)]
    assert got == [
        ("path", "path", None, None),
        ("ctx", "new", 1, 1),
        ("rem", "old", 2, 2),
        ("add", "new", 2, 2),
    ]


def test_scan_accepts_patchsets_text_bytes_and_file_diffs():
    rules = RuleSet([Rule("r", "m", "TOKEN")])
    ps = bbreview.parse_diff(MODIFIED)
    expected = rules.scan(ps)
    assert len(expected) == 1
    assert rules.scan(MODIFIED) == expected
    assert rules.scan(MODIFIED.encode()) == expected
    assert rules.scan(ps._native) == expected
    assert rules.scan(ps[0]) == expected
    with pytest.raises(TypeError, match="scan\\(\\) takes"):
        rules.scan(42)
    with pytest.raises(ValueError, match="diffstat"):
        rules.scan(bbreview.diffstat(MODIFIED))
    with pytest.raises(bbreview.DiffParseError):
        rules.scan("@@ -1 +1 @@\n+x\n+y\n")


def test_findings_name_the_commit_of_git_log_input():
    log = (
        "commit 1111111111111111111111111111111111111111\nAuthor: A <a@x>\nDate:   today\n\n    one\n\n"
        + added("a.py", "TOKEN")
        + "commit 2222222222222222222222222222222222222222\nAuthor: A <a@x>\nDate:   today\n\n    two\n\n"
        + added("b.py", "TOKEN")
    )
    got = [(f.path, f.commit) for f in scan(Rule("r", "m", "TOKEN"), log)]
    assert got == [("a.py", "1" * 40), ("b.py", "2" * 40)]


def test_any_pattern_matches_and_one_place_is_reported_once():
    got = [f.match for f in scan(Rule("r", "m", ["abc", "bcd", "zz"]), added("a", "abcd zz"))]
    assert got == ["abc", "zz"]


def test_exclude_patterns_veto_a_line():
    rule = Rule("r", "m", r"print\(", exclude=[r"#\s*noqa"])
    assert [f.line for f in scan(rule, added("a.py", "print(1)", "print(2)  # noqa"))] == [1]


def test_path_globs_are_gitignore_style_with_negation():
    rule = Rule("r", "m", "x", paths=["src/**/*.py", "!src/generated/"])
    diff = added("src/a.py", "x") + added("src/deep/b.py", "x") + added("src/generated/c.py", "x") + added(
        "lib/src/d.py", "x"
    )
    assert [f.path for f in scan(rule, diff)] == ["src/a.py", "src/deep/b.py"]
    anywhere = Rule("r", "m", "x", paths="*.py")
    assert [f.path for f in scan(anywhere, added("a/b/c.py", "x") + added("c.pyc", "x"))] == ["a/b/c.py"]
    assert glob_to_regex("src//x") is None
    assert glob_to_regex("*.py") is not None


def test_languages_select_files_by_extension():
    rule = Rule("r", "m", "x", languages=["python", "notebook"])
    diff = added("a.py", "x") + added("b.ipynb", "x") + added("c.js", "x") + added("README", "x")
    assert [f.path for f in scan(rule, diff)] == ["a.py", "b.ipynb"]


def test_keywords_prefilter_lines_ignoring_case():
    rule = Rule("tok", "m", r"[a-z]{3}_[0-9]{4}", keywords=["TOK"])
    assert [f.line for f in scan(rule, added("a", "abc_1234", "tok_1234", "xyz_5678 Tok"))] == [2, 3]


def test_entropy_threshold_applies_to_the_chosen_group():
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    low, high = "key=aaaaaaaaaaaaaaaa", "key=Zx9Qw2Er7Ty5Ui3O"
    rule = Rule("key", "m", r"key=(\w+)", entropy=3.0)
    assert [f.line for f in scan(rule, added("a", low, high))] == [2]
    named = Rule("key", "m", r"(?P<name>key)=(?P<value>\w+)", entropy=3.0, entropy_group="value")
    assert [f.line for f in scan(named, added("a", low, high))] == [2]
    by_number = dataclasses.replace(named, entropy_group=1)  # group 1 is "key": too little entropy
    assert scan(by_number, added("a", high)) == []


def test_suggestion_rewrites_the_match_into_the_fixed_line():
    rule = Rule("r", "m", r"assertEquals\((?P<a>\w+), (\w+)\)", suggestion=r"assert \g<a> == \2")
    [f] = scan(rule, added("t.py", "    assertEquals(x, y)  # done"))
    assert f.suggestion == "    assert x == y  # done"
    [same] = scan(Rule("r", "m", "(x)", suggestion=r"\1"), added("a", "x"))
    assert same.suggestion is None  # nothing would change


def test_max_per_file_caps_findings_per_rule_and_file():
    rule = Rule("r", "m", "x", max_per_file=2)
    got = [(f.path, f.line, f.column_start) for f in scan(rule, added("a", "x x x", "x") + added("b", "x"))]
    assert got == [("a", 1, 1), ("a", 1, 3), ("b", 1, 1)]


def test_secrets_are_redacted_and_kept_out_of_suggestions():
    assert redact("AKIAIOSFODNN7EXAMPLE") == "AKIA****************"
    key = Rule("aws", "AWS key", r"AKIA[0-9A-Z]{16}", category="secrets", suggestion=r'os.environ["AWS"] or \0')
    quote = Rule("quote", "m", r'"[^"]*"', suggestion=r"'\0'")
    f_key, f_quote = scan([key, quote], added("cfg.py", 'k = "AKIAIOSFODNN7EXAMPLE"'))
    assert f_key.match == "AKIA****************"
    assert f_key.snippet == 'k = "AKIA****************"'
    assert f_key.suggestion is None
    assert "AKIAIOSFODNN7EXAMPLE" not in str(f_key.to_dict())
    assert f_quote.snippet == f_key.snippet  # the other rule's snippet hides the secret too
    assert f_quote.suggestion is None  # its fix would repeat the secret
    safe = Rule("pw", "m", r"password = (\S+)", category="secrets", suggestion='password = os.environ["PW"]')
    [f] = scan(safe, added("a.py", "password = hunter2hunter2"))
    assert f.suggestion == 'password = os.environ["PW"]'
    assert f.match == "pass*********************"


def test_fingerprint_ignores_line_numbers_and_indentation():
    rule = Rule("r", "m", "risky_call")
    [a] = scan(rule, added("a.py", "risky_call()"))
    [b] = scan(rule, added("a.py", "", "", "    risky_call()   "))
    assert a.line != b.line and a.fingerprint == b.fingerprint
    assert a.fingerprint == fingerprint("r", "a.py", "risky_call()")
    [other_path] = scan(rule, added("b.py", "risky_call()"))
    assert other_path.fingerprint != a.fingerprint
    first, second = scan(rule, added("a.py", "risky_call()", "risky_call()"))
    assert first.fingerprint == a.fingerprint != second.fingerprint


def test_inline_suppression_on_the_line_or_the_line_above():
    diff = added(
        "a.py",
        "print(1)  # bbreview: ignore[no-print]",
        "# bbreview: ignore[other, no-print]",
        "print(2)",
        "print(3)",
        "# bbreview: ignore",
        "print(4)",
        "# bbreview: ignore[other]",
        "print(5)",
        "print(6)  # bbreview: ignored",
    )
    assert [f.line for f in scan(Rule("no-print", "m", r"print\("), diff)] == [4, 8, 9]


def test_to_frame_gives_one_row_per_finding():
    findings = scan(
        [Rule("r", "m", "TOKEN"), Rule("p", "m", r"\.py$", scope="path")], MODIFIED
    )
    frame = to_frame(findings)
    assert list(frame.columns) == list(Finding._fields)
    assert frame["rule_id"].tolist() == ["p", "r"]
    assert frame["line"].isna().tolist() == [True, False]
    assert Finding.to_frame(findings).equals(frame)
    assert list(to_frame([]).columns) == list(Finding._fields)


def test_scan_many_equals_scan_for_each_input():
    rules = RuleSet([Rule("r", "m", r"\d+"), Rule("k", "m", "n[0-9]", keywords="n")])
    inputs = [added(f"f{i}.py", f"n{i}", "x") for i in range(30)]
    parsed = [bbreview.parse_diff(t) for t in inputs]
    expected = [rules.scan(p) for p in parsed]
    assert rules.scan_many(parsed) == expected
    assert rules.scan_many(inputs, threads=3) == expected
    assert rules.scan_many(iter(parsed), threads=1) == expected
    assert rules.scan_many([]) == []
    with pytest.raises(ValueError, match="threads"):
        rules.scan_many(parsed, threads=0)


def test_scan_many_releases_the_gil():
    # Lines that match nothing, so that the call is all C++ matching.
    lines = [f"value_{i} = compute(alpha, beta, gamma) + {i} * delta  # comment {i}" for i in range(20000)]
    ps = bbreview.parse_diff(added("f.py", *lines))
    rules = RuleSet(
        [Rule(f"r{i}", "m", rf"(?i)\bsecret_{i}[a-z]{{4,20}}\(\d+\)") for i in range(60)]
        + [Rule(f"k{i}", "m", rf"tok{i}_[a-z0-9]{{16}}", keywords=f"tok{i}") for i in range(60)]
    )
    start = time.perf_counter()
    rules.scan(ps)
    copies = min(400, max(4, int(0.4 / max(time.perf_counter() - start, 1e-4))))  # a call of about 0.4 s
    done = threading.Event()
    duration: list[float] = []

    def worker() -> None:
        begin = time.perf_counter()
        result = rules.scan_many([ps] * copies, threads=1)
        duration.append(time.perf_counter() - begin)
        assert result == [[]] * copies
        done.set()

    thread = threading.Thread(target=worker)
    ticks = []
    thread.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    thread.join()
    # Had the GIL been held, this thread would have stalled for the whole
    # call; with it released, it keeps ticking throughout.
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 20
    assert max(gaps) < duration[0] / 2, (max(gaps), duration[0])


def test_scan_releases_the_gil_for_single_patchsets_too():
    lines = [f"v{i} = f(a, b)  # c {i}" for i in range(40000)]
    ps = bbreview.parse_diff(added("a.py", *lines))
    rules = RuleSet([Rule(f"r{i}", "m", rf"zz{i}[a-z]+\(") for i in range(40)])
    results: list[list[Finding]] = []
    threads = [threading.Thread(target=lambda: results.append(rules.scan(ps))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[]] * 4


# ---- rule sets ---------------------------------------------------------------------


YAML = textwrap.dedent(
    """\
    name: demo
    description: demo rules
    rules:
      - id: no-print
        message: Remove the debug print
        severity: error
        category: hygiene
        patterns: ['^\\s*print\\(']
        languages: [python]
        suggestion: ''
        tests:
          positive: ['print(x)']
          negative: ['log(x)']
      - id: todo-ticket
        message: TODO without a ticket
        patterns:
          - 'TODO(?!)'
    """
)


def test_from_yaml_reads_rules_and_collection_protocol(tmp_path):
    text = YAML.replace("'TODO(?!)'", "'TODO\\b'")
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    for rules in (RuleSet.from_yaml(text), RuleSet.from_yaml(path), RuleSet.from_yaml(str(path))):
        assert len(rules) == 2
        assert rules.ids == ["no-print", "todo-ticket"]
        assert [r.id for r in rules] == rules.ids
        assert "no-print" in rules and "nope" not in rules
        assert rules["no-print"].severity == "error"
        assert rules[1].id == "todo-ticket"
        assert rules["no-print"].tests["positive"] == ("print(x)",)
    assert RuleSet.from_yaml(path).origin("todo-ticket") == (str(path), 14)
    assert RuleSet.from_yaml(text).origin("no-print") == (None, 4)
    assert RuleSet.from_yaml("rules: []\n").ids == []


def test_invalid_regex_names_the_file_line_rule_and_re2_message(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(YAML.replace("'TODO(?!)'", "'print('"))
    with pytest.raises(RuleError) as info:
        RuleSet.from_yaml(path)
    err = info.value
    assert str(err).startswith(f'{path}:17: rule "todo-ticket": invalid regex "print(": missing ): print(')
    assert "hint:" in str(err)
    assert (err.rule_id, err.source, err.line, err.field) == ("todo-ticket", str(path), 17, "patterns")
    with pytest.raises(RuleError, match=r"line 17: .*invalid perl operator: \(\?!"):
        RuleSet.from_yaml(YAML)


@pytest.mark.parametrize(
    ("snippet", "line", "text"),
    [
        ("    sevrity: error\n", 5, "unknown key 'sevrity'.*\nhint: did you mean 'severity'"),
        ("    scope: everywhere\n", 5, "unknown scope 'everywhere'"),
        ("    severity: fatal\n", 5, "unknown severity 'fatal'"),
        ("    languages: [python, klingon]\n", 5, "unknown language 'klingon'"),
        ("    suggestion: '\\2'\n", 5, "invalid suggestion.*refers to group 2"),
        ("    entropy_group: value\n", 5, "no group named \"value\""),
        ("    max_per_file: -3\n", 5, "max_per_file"),
        ("    message: again\n", 5, "duplicate key 'message'"),
    ],
)
def test_bad_rule_input_names_the_yaml_line(snippet, line, text):
    doc = "rules:\n  - id: a\n    message: m\n    patterns: '(x)'\n" + snippet
    with pytest.raises(RuleError, match=text) as info:
        RuleSet.from_yaml(doc)
    assert info.value.line == line
    assert info.value.rule_id == "a"


@pytest.mark.parametrize(
    ("doc", "text", "line"),
    [
        ("", "empty", None),
        ("- id: a\n", "top level must be a mapping", 1),
        ("rulez: []\n", "unknown top-level key 'rulez'", 1),
        ("name: x\n", "no `rules:` key", 1),
        ("rules: {id: a}\n", "must be a list", 1),
        ("rules:\n  - id: a\n    message: m\n", "missing required key 'patterns'", 2),
        ("rules:\n  - [a]\n", "must be a mapping", 2),
        ("rules:\n  - id: a\n    message: m\n    patterns: x\n  - id: a\n    message: n\n    patterns: y\n",
         "duplicate rule id", 5),
        ("rules:\n  - id: a\n   message: m\n", "invalid YAML", 3),
    ],
)
def test_bad_rule_files(doc, text, line):
    with pytest.raises(RuleError, match=text) as info:
        RuleSet.from_yaml(doc)
    assert info.value.line == line


def test_globs_that_can_never_match_are_warnings_with_lines():
    doc = textwrap.dedent(
        """\
        rules:
          - id: a
            message: m
            patterns: x
            languages: [python]
            paths:
              - 'src//*.py'
              - '*.js'
              - 'src/**/*.py'
          - id: b
            message: m
            patterns: x
            paths: ['!**']
        """
    )
    rules = RuleSet.from_yaml(doc)
    assert len(rules.warnings) == 3
    first, second, third = rules.warnings
    assert first.startswith('line 7: rule "a": path glob "src//*.py" can never match')
    assert second.startswith('line 8: rule "a": path glob "*.js" can never match') and "javascript" in second
    assert third.startswith('line 13: rule "b": path glob "!**" excludes every path')
    assert RuleSet([Rule("c", "m", "x", paths=["a/../b"])]).warnings[0].startswith('rule "c": path glob')


def test_combining_rule_sets_and_duplicate_ids():
    a = RuleSet([Rule("a", "m", "x")])
    b = RuleSet.from_yaml("rules:\n  - id: b\n    message: m\n    patterns: y\n")
    both = a + b
    assert both.ids == ["a", "b"]
    assert both.origin("b") == (None, 2)
    with pytest.raises(RuleError, match='rule "b": duplicate rule id \\(also defined at line 2\\)') as info:
        both + b
    assert info.value.line == 2
    with pytest.raises(RuleError, match="duplicate rule id"):
        RuleSet([Rule("a", "m", "x"), Rule("a", "m", "y")])
    with pytest.raises(TypeError):
        a + [Rule("c", "m", "z")]  # type: ignore[operator]
    with pytest.raises(TypeError, match="Rule objects"):
        RuleSet(["not a rule"])  # type: ignore[list-item]


def test_severity_overrides_reuse_the_matcher():
    rules = RuleSet([Rule("a", "m", "x"), Rule("b", "m", "y")])
    louder = rules.with_severity_overrides({"a": "error"})
    assert [r.severity for r in louder] == ["error", "warning"]
    assert [r.severity for r in rules] == ["warning", "warning"]
    assert [f.severity for f in louder.scan(added("f", "x y"))] == ["error", "warning"]
    with pytest.raises(RuleError, match="unknown rule 'c'"):
        rules.with_severity_overrides({"c": "error"})
    with pytest.raises(RuleError, match="unknown severity 'loud'"):
        rules.with_severity_overrides({"a": "loud"})


def test_to_yaml_round_trips():
    rules = RuleSet(
        [
            Rule("a", "m", [r"x\d", "y"], severity="error", paths=["*.py", "!tests/"], entropy=3.5,
                 tests={"positive": ["x1"], "negative": ["z"]}),
            Rule("k", "key", "AKIA", category="secrets", keywords="akia", max_per_file=1, suggestion=r"\0"),
        ]
    )
    again = RuleSet.from_yaml(rules.to_yaml())
    assert again.rules == rules.rules
    assert "secret:" not in rules.to_yaml()  # implied by the category


def test_check_examples_runs_each_rules_tests():
    good = RuleSet.from_yaml(YAML.replace("'TODO(?!)'", "'TODO\\b'"))
    assert good.check_examples() == []
    bad = RuleSet(
        [
            Rule("r", "m", "x", tests={"positive": ["y"], "negative": ["x"]}),
            Rule("p", "m", r"\.pem$", scope="path", tests={"positive": ["keys/a.pem"], "negative": ["a.txt"]}),
            Rule("rm", "m", "gone", scope="removed", tests={"positive": ["gone"]}),
            Rule("py", "m", "x", paths=["src/**"], languages=["python"], tests={"positive": ["x"], "path": "src/a.py"}),
        ]
    )
    assert bad.check_examples() == [
        "rule \"r\": positive example 'y' gave no finding (scanned in example.txt)",
        "rule \"r\": negative example 'x' gave a finding (scanned in example.txt)",
    ]


def test_builtin_packs(tmp_path, monkeypatch):
    import bbreview.rules.ruleset as ruleset_module

    for name in available_packs():  # whatever packs ship must load and pass their examples
        pack = RuleSet.builtin(name)
        assert len(pack) > 0
    with pytest.raises(RuleError, match="unknown rule pack\\(s\\): 'nope'") as info:
        RuleSet.builtin(["nope"])
    assert "available packs" in str(info.value)

    monkeypatch.setattr(ruleset_module, "PACKS_DIR", tmp_path)
    assert RuleSet.builtin().ids == []
    (tmp_path / "one.yaml").write_text("rules:\n  - id: a\n    message: m\n    patterns: x\n")
    (tmp_path / "two.yaml").write_text("rules:\n  - id: b\n    message: m\n    patterns: y\n")
    assert available_packs() == ["one", "two"]
    assert RuleSet.builtin().ids == ["a", "b"]
    assert RuleSet.builtin("two").ids == ["b"]
    assert RuleSet.builtin(["two", "one"]).origin("a") == (str(tmp_path / "one.yaml"), 2)
    with pytest.raises(RuleError, match="available packs: one, two"):
        RuleSet.builtin(["three"])


def test_packs_directory_ships_in_the_package():
    from bbreview.rules import PACKS_DIR

    assert PACKS_DIR.name == "packs" and PACKS_DIR.parent.name == "rules"


GITLEAKS = r"""title = "team rules"

[extend]
useDefault = true

[allowlist]
description = "global"
paths = ['''(^|/)vendor/''']
stopwords = ["example"]

[[rules]]
id = "aws-access-key"
description = "AWS access key"
regex = '''\b((?:AKIA|ASIA)[A-Z0-9]{16})\b'''
keywords = ["akia", "asia"]
entropy = 3.0
tags = ["aws", "key"]

[[rules]]
id = "generic-token"
description = "Generic token"
regex = '''token\s*=\s*"(?<name>[a-z]+)_(?<secret>[A-Za-z0-9]{12,})"'''
secretGroup = 2
keywords = ["token"]
path = '''\.(py|env)$'''
  [[rules.allowlists]]
  regexes = ['''test_token''']
  regexTarget = "line"

[[rules]]
id = "pkcs12-file"
description = "PKCS#12 file"
path = '''(?i)\.p(?:12|fx)$'''
"""


def test_from_gitleaks_reads_rules_keywords_entropy_paths_and_allowlists(tmp_path):
    path = tmp_path / "gitleaks.toml"
    path.write_text(GITLEAKS)
    rules = RuleSet.from_gitleaks(path)
    assert rules.ids == ["aws-access-key", "generic-token", "pkcs12-file"]
    aws = rules["aws-access-key"]
    assert (aws.category, aws.secret, aws.severity, aws.keywords, aws.entropy) == (
        "secrets", True, "error", ("akia", "asia"), 3.0)
    assert "tags: aws, key" in aws.description
    token = rules["generic-token"]
    assert token.patterns[0].startswith('token\\s*=\\s*"(?P<name>')
    assert token.entropy_group == 2 and token.path_patterns == (r"\.(py|env)$",)
    assert rules["pkcs12-file"].scope == "path"
    assert rules.origin("generic-token") == (str(path), 20)
    assert any("[extend]" in w for w in rules.warnings)

    diff = (
        added("cfg.py", 'key = "AKIAZ7Q2X4M9P3L8K5N6"', 'key = "AKIAEXAMPLEEXAMPLE12"', 'token = "gh_Zx9Qw2Er7Ty5Ui3O"',
              'test_token = "gh_Zx9Qw2Er7Ty5Ui3O"')
        + added("vendor/lib.py", 'key = "AKIAZ7Q2X4M9P3L8K5N6"')
        + added("notes.txt", 'token = "gh_Zx9Qw2Er7Ty5Ui3O"')
        + added("certs/id.PFX", "binary")
    )
    got = [(f.rule_id, f.path, f.line, f.match) for f in rules.scan(diff)]
    assert got == [
        ("aws-access-key", "cfg.py", 1, "AKIA****************"),
        ("generic-token", "cfg.py", 3, redact('token = "gh_Zx9Qw2Er7Ty5Ui3O"')),
        ("pkcs12-file", "certs/id.PFX", None, ".***"),
    ]
    assert rules.with_severity_overrides({"pkcs12-file": "info"})["pkcs12-file"].severity == "info"
    assert RuleSet.from_gitleaks(GITLEAKS, severity="warning")["aws-access-key"].severity == "warning"


def test_from_gitleaks_bad_input():
    with pytest.raises(RuleError, match="invalid TOML"):
        RuleSet.from_gitleaks("[[rules]\nid = 1\n")
    with pytest.raises(RuleError, match='rule "x": a gitleaks rule needs regex or path'):
        RuleSet.from_gitleaks('[[rules]]\nid = "x"\n')
    with pytest.raises(RuleError, match='line 2: rule "bad": invalid regex "a\\(": missing \\)'):
        RuleSet.from_gitleaks("[[rules]]\nid = 'bad'\nregex = 'a('\n")


def test_max_mem_bounds_memory_and_errors_say_what_to_do():
    with pytest.raises(ValueError, match="max_mem"):
        RuleSet([], max_mem=1000)
    with pytest.raises(RuleError, match="pattern too large.*raise max_mem"):
        RuleSet([Rule("big", "m", "x" * 200_000)], max_mem=1 << 20)
    assert len(RuleSet([Rule("ok", "m", "x{1,500}")], max_mem=1 << 20)) == 1


def test_rule_error_pickles_and_reads_well():
    err = RuleError('invalid regex "print(": missing ): print(', "no-print", "rules.yaml", 12, "patterns", "fix it")
    assert str(err) == 'rules.yaml:12: rule "no-print": invalid regex "print(": missing ): print(\nhint: fix it'
    again = pickle.loads(pickle.dumps(err))
    assert (again.rule_id, again.source, again.line, again.field, str(again)) == (
        "no-print", "rules.yaml", 12, "patterns", str(err))


# ---- the engine agrees with a plain `re` loop ------------------------------------------


def _reference_scan(rules: list[Rule], path: str, lines: list[str]) -> list[tuple[str, int, int, int]]:
    """What the engine must report, computed with Python's re: for each added
    line and rule, leftmost non-overlapping matches of each pattern in turn
    (a place already reported by an earlier pattern of the rule is skipped),
    only on lines containing a keyword, and none on lines an exclude matches."""
    import re

    out = []
    for number, line in enumerate(lines, start=1):
        for rule in rules:
            if rule.keywords and not any(k.lower() in line.lower() for k in rule.keywords):
                continue
            spans: list[tuple[int, int]] = []
            for pattern in rule.patterns:
                for m in re.finditer(pattern, line):
                    b, e = m.span()
                    if not any((b < e2 and b2 < e) or b == b2 for b2, e2 in spans):
                        spans.append((b, e))
            if spans and any(re.search(x, line) for x in rule.exclude):
                continue
            out.extend((rule.id, number, b + 1, e + 1) for b, e in sorted(spans))
    return out


def test_engine_agrees_with_a_python_re_loop_on_random_rules():
    import random

    rng = random.Random(20240601)
    atoms = ["a", "b", "c", "ab", "[abc]", "[^a ]", r"\d", r"\s", "x", "(?:ab|ca)", "."]
    quantifiers = ["", "", "+", "{2}", "{1,3}", "?"]

    def pattern() -> str:
        body = "".join(rng.choice(atoms) + rng.choice(quantifiers) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.2:
            body = "^" + body
        if rng.random() < 0.1:
            body = body + "$"
        return body

    for round_ in range(25):
        rules = []
        for i in range(rng.randint(1, 30)):
            pats = [pattern() for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.1:
                pats.append("^.{%d}" % rng.randint(40, 60))  # heavy: tried on its own, outside the set
            kwargs: dict = {}
            if rng.random() < 0.3:
                kwargs["keywords"] = rng.sample(["ab", "CA", "x", "1", "zz"], rng.randint(1, 2))
            if rng.random() < 0.15:
                kwargs["exclude"] = [rng.choice(["c{2}", "x", "^a"])]
            rules.append(Rule(f"r{round_}-{i}", "m", pats, **kwargs))
        rules = [r for r in rules if not any(__import__("re").fullmatch(p, "") for p in r.patterns)]
        lines = [
            "".join(rng.choice("abcx1 2zAC") for _ in range(rng.randint(0, 70))) for _ in range(rng.randint(1, 40))
        ]
        lines = [line for line in lines if "bbreview:" not in line]
        got = [(f.rule_id, f.line, f.column_start, f.column_end) for f in scan(rules, added("f.txt", *lines))]
        expected = _reference_scan(rules, "f.txt", lines)
        key = lambda t: (t[1], [r.id for r in rules].index(t[0]), t[2])  # noqa: E731 - engine order
        assert got == sorted(expected, key=key), f"round {round_}"


def test_path_globs_and_languages_match_paths_that_are_not_utf8():
    from bbreview.rules import language_of

    raw = b"diff --git a/caf\xe9.py b/caf\xe9.py\n--- a/caf\xe9.py\n+++ b/caf\xe9.py\n@@ -0,0 +1 @@\n+debug_token = 1\n"
    ps = bbreview.parse_diff(raw)
    assert language_of(ps[0].path) == "python"
    for paths in (["**"], ["*.py"], ["caf?.py"]):
        rule = Rule("no-debug-token", "debug token left behind", r"debug_token", paths=paths)
        findings = RuleSet([rule]).scan(ps)
        assert [(f.rule_id, f.line) for f in findings] == [("no-debug-token", 1)], paths
