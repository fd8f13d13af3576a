"""The built-in rule packs: every rule's own examples, metadata, and path behaviour.

Each rule carries example lines in its pack (``tests: {positive, negative}``).
Here every example becomes an added line in a synthetic git diff, in a file the
rule applies to, and the whole batch is scanned once with all packs loaded, so
the examples also prove that rules do not swallow each other's findings.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from bbreview.rules import PACKS_DIR, Rule, RuleSet, available_packs

PACKS = ("hygiene", "ml", "secrets", "security")
ID = re.compile(r"(?P<pack>[a-z]+)/[a-z0-9]+(?:-[a-z0-9]+)*\Z")

# One file extension per language the packs name (the engine maps extensions
# to languages; these are the first extension of each).
EXTENSION = {
    "python": "py", "notebook": "ipynb", "javascript": "js", "typescript": "ts", "java": "java", "go": "go",
    "rust": "rs", "c": "c", "cpp": "cpp", "csharp": "cs", "ruby": "rb", "php": "php", "shell": "sh",
    "yaml": "yaml", "json": "json", "sql": "sql", "markdown": "md",
}


def file_diff(path: str, lines: list[str]) -> str:
    """A git diff that adds `path` with `lines` as its content."""
    body = "".join(f"+{line}\n" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\n"
        "new file mode 100644\n"
        "index 0000000..1111111\n"
        "--- /dev/null\n"
        f"+++ b/{path}\n"
        f"@@ -0,0 +1,{len(lines)} @@\n"
        f"{body}"
    )


def example_path(rule: Rule) -> str:
    """Where the rule's examples are scanned: tests.path, else a file of its first language."""
    tests = rule.tests or {}
    if "path" in tests:
        return tests["path"]
    if rule.languages:
        return f"src/example.{EXTENSION[rule.languages[0]]}"
    return "src/example.txt"


ALL = RuleSet.builtin()
RULES = list(ALL)


@pytest.fixture(scope="module")
def example_findings() -> dict[tuple[str, str, int], set[str]]:
    """(rule id, kind, example index) -> rule ids found for that example, from one scan of every example."""
    parts, where = [], {}
    for rule in RULES:
        for kind in ("positive", "negative"):
            for i, example in enumerate((rule.tests or {}).get(kind, ())):
                # Each example in its own directory, so that paths stay distinct and
                # keep the file name and extension the rule expects.
                case = f"case{len(parts)}"
                if rule.scope == "path":
                    path = f"{case}/{example}"
                    lines = ["content"]
                else:
                    path = f"{case}/{example_path(rule)}"
                    lines = [example]
                parts.append(file_diff(path, lines))
                where[path] = (rule.id, kind, i)
    found: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    for finding in ALL.scan("".join(parts)):
        found[where[finding.path]].add(finding.rule_id)
    return found


def _examples(kind: str) -> list[pytest.param]:
    return [
        pytest.param(rule, i, example, id=f"{rule.id}-{kind}{i}")
        for rule in RULES
        for i, example in enumerate((rule.tests or {}).get(kind, ()))
    ]


@pytest.mark.parametrize(("rule", "index", "example"), _examples("positive"))
def test_positive_example_is_found(rule, index, example, example_findings):
    assert rule.id in example_findings[(rule.id, "positive", index)], (
        f"{rule.id} did not fire on its positive example {example!r} in {example_path(rule)}"
    )


@pytest.mark.parametrize(("rule", "index", "example"), _examples("negative"))
def test_negative_example_is_not_found(rule, index, example, example_findings):
    assert rule.id not in example_findings[(rule.id, "negative", index)], (
        f"{rule.id} fired on its negative example {example!r} in {example_path(rule)}"
    )


def test_the_packs_are_the_four_documented_ones():
    assert available_packs() == sorted(PACKS)
    assert sorted(p.stem for p in Path(PACKS_DIR).glob("*.yaml")) == sorted(PACKS)


def test_every_pack_loads_alone_and_together():
    sizes = {name: len(RuleSet.builtin([name])) for name in PACKS}
    assert all(n > 0 for n in sizes.values()), sizes
    assert sum(sizes.values()) == len(ALL)
    assert ALL.warnings == []


def test_the_engine_agrees_on_every_example():
    # RuleSet.check_examples scans each example on its own, with each rule's own
    # example file name; the tests above scan them all together with ours.
    assert ALL.check_examples() == []


def test_at_least_forty_rules_with_unique_ids():
    ids = [r.id for r in RULES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("pack", PACKS)
def test_ids_are_prefixed_by_their_pack_and_category_matches(pack):
    for rule in RuleSet.builtin([pack]):
        m = ID.match(rule.id)
        assert m, f"{rule.id}: ids are '<pack>/<kebab-case-name>'"
        assert m["pack"] == pack, f"{rule.id} lives in {pack}.yaml"
        assert rule.category == pack, f"{rule.id}: category should be {pack!r}"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_is_documented_and_has_examples(rule):
    assert len(rule.message) >= 60, "the message says why it matters and what to do"
    assert rule.message.rstrip().endswith((".", ")", "`")), rule.message
    tests = rule.tests or {}
    assert tests.get("positive"), "at least one positive example"
    assert tests.get("negative"), "at least one negative example"
    if any(not g.startswith("!") and g != "**" for g in rule.paths):
        assert "path" in tests, "a rule limited by paths names tests.path, a file its examples apply to"


def test_secret_rules_redact_what_they_find():
    examples = {
        f"s{n}/{example_path(rule)}": example
        for n, (rule, example) in enumerate(
            (r, ex) for r in RULES if r.category == "secrets" and r.scope == "added" for ex in r.tests["positive"]
        )
    }
    findings = [f for f in ALL.scan("".join(file_diff(p, [ex]) for p, ex in examples.items())) if ALL[f.rule_id].secret]
    assert findings
    for f in findings:
        raw = examples[f.path][f.column_start - 1 : f.column_end - 1]
        assert "*" in f.match and len(f.match) == len(raw), f
        assert len(f.match) - f.match.count("*") <= 4, f
        assert raw not in f.snippet and raw not in f.match, f


@pytest.mark.parametrize(
    "rule", [r for r in RULES if r.suggestion is not None], ids=lambda r: r.id
)
def test_suggestions_fix_the_line(rule):
    path = example_path(rule)
    for example in rule.tests["positive"]:
        [finding] = [f for f in ALL.scan(file_diff(path, [example])) if f.rule_id == rule.id]
        assert finding.suggestion is not None and finding.suggestion != example
        again = [f for f in ALL.scan(file_diff(path, [finding.suggestion])) if f.rule_id == rule.id]
        assert again == [], f"{rule.id}: the suggested line {finding.suggestion!r} still matches"


# ---- paths and languages: where rules apply -----------------------------------------


def rule_ids(path: str, line: str) -> set[str]:
    return {f.rule_id for f in ALL.scan(file_diff(path, [line]))}


@pytest.mark.parametrize(
    ("path", "line", "rule_id", "expected"),
    [
        ("src/app/service.py", "print(x)", "hygiene/python-print", True),
        ("src/app/cli.py", "print(x)", "hygiene/python-print", False),
        ("scripts/seed_db.py", "print(x)", "hygiene/python-print", False),
        ("src/app/service.js", "print(x)", "hygiene/python-print", False),
        ("pkg/store/store.go", '\tfmt.Println("x")', "hygiene/go-fmt-print", True),
        ("cmd/tool/main.go", '\tfmt.Println("x")', "hygiene/go-fmt-print", False),
        ("web/app.min.js", "x" * 300, "hygiene/long-line", False),
        ("web/app.js", "x" * 300, "hygiene/long-line", True),
        ("web/app.js", "x" * 200, "hygiene/long-line", False),
        ("src/train.py", "idx = np.random.permutation(n)", "ml/unseeded-random", True),
        ("src/models/training/loop.py", "idx = np.random.permutation(n)", "ml/unseeded-random", True),
        ("src/serve.py", "idx = np.random.permutation(n)", "ml/unseeded-random", False),
        ("notebooks/eda.ipynb", '   "execution_count": 3,', "ml/notebook-execution-count", True),
        ("data/records.json", '   "execution_count": 3,', "ml/notebook-execution-count", False),
        ("notebooks/eda.ipynb", '    "model = model.cuda()\\n",', "ml/hardcoded-cuda", True),
        ("docs/setup.md", "Download from http://tools.acme.io/setup", "security/insecure-http-url", False),
        ("deploy/values.yaml", "url: http://tools.acme.io/setup", "security/insecure-http-url", True),
        ("ci/build.sh", "curl -k https://tools.acme.io", "security/cli-tls-verify-disabled", True),
        ("ci/Dockerfile", "RUN curl --insecure https://tools.acme.io", "security/cli-tls-verify-disabled", True),
        ("src/fetch.py", "curl -k https://tools.acme.io", "security/cli-tls-verify-disabled", False),
        ("mysite/settings.py", "DEBUG = True", "security/django-debug", True),
        ("mysite/views.py", "DEBUG = True", "security/django-debug", False),
    ],
)
def test_where_rules_apply(path, line, rule_id, expected):
    assert (rule_id in rule_ids(path, line)) is expected


def test_path_rules_look_at_the_file_name_only():
    found = ALL.scan(file_diff("deploy/id_rsa", ["harmless"]))
    assert [(f.rule_id, f.side, f.line) for f in found] == [("secrets/key-file", "path", None)]


def test_notebook_outputs_are_reported_once_per_notebook():
    lines = ['   "execution_count": 1,', '   "outputs": [', '   "execution_count": 2,', '   "outputs": [']
    found = [f.rule_id for f in ALL.scan(file_diff("nb/analysis.ipynb", lines))]
    assert found.count("ml/notebook-outputs") == 1
    assert found.count("ml/notebook-execution-count") == 1


def test_inline_suppression_silences_a_pack_rule():
    lines = [
        "resp = requests.get(url, verify=False)  # bbreview: ignore[security/tls-verify-disabled]",
        "# bbreview: ignore[security/tls-verify-disabled]",
        "resp = requests.get(url, verify=False)",
        "resp = requests.get(url, verify=False)",
    ]
    found = [f.line for f in ALL.scan(file_diff("src/client.py", lines)) if f.rule_id == "security/tls-verify-disabled"]
    assert found == [4]
