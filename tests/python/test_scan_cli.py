"""The `bbreview scan` command."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from bbreview.cli import main

SECRET = "ghp_FAKEu8jzPde0IgxLd6GncfBAepfJBd0KTEST"
DIFF = f"""\
diff --git a/src/client.py b/src/client.py
index 83db48f..bf269f4 100644
--- a/src/client.py
+++ b/src/client.py
@@ -1,2 +1,7 @@
 import requests
+resp = requests.get(url, verify=False)
+token = "{SECRET}"
+    print(resp)
+# TODO: retry on 503
+print(resp)  # bbreview: ignore[hygiene/python-print]
 x = 1
""".encode()

WARNINGS_ONLY = b"""\
diff --git a/src/app.py b/src/app.py
index 83db48f..bf269f4 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1 +1,2 @@
 import os
+    print(os.getcwd())
"""

CLEAN = b"""\
diff --git a/src/app.py b/src/app.py
index 83db48f..bf269f4 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1 +1,2 @@
 import os
+import sys
"""


def run(argv: list[str], stdin: bytes | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bbreview.cli", *argv],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def scan(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["scan", *argv], out=out)
    return code, out.getvalue()


@pytest.fixture
def diff_file(tmp_path):
    p = tmp_path / "change.diff"
    p.write_bytes(DIFF)
    return p


def test_text_report_shows_location_rule_severity_and_redacted_line(diff_file):
    code, text = scan([str(diff_file)])
    assert code == 1  # error findings, and --fail-on defaults to error
    lines = text.splitlines()
    assert "src/client.py:2:26: error [security/tls-verify-disabled]" in lines
    i = lines.index("src/client.py:2:26: error [security/tls-verify-disabled]")
    assert lines[i + 1] == "    resp = requests.get(url, verify=False)"
    assert lines[i + 2] == "    " + " " * 25 + "^" * len("verify=False")
    assert "    suggestion: resp = requests.get(url, verify=True)" in lines
    assert "src/client.py:3:10: error [secrets/github-token]" in lines
    assert '    token = "ghp_' + "*" * 36 + '"' in lines
    assert "src/client.py:4:1: warning [hygiene/python-print]" in lines
    assert "src/client.py:5:1: info [hygiene/todo-without-ticket]" in lines
    assert SECRET not in text
    assert not any(line.startswith("src/client.py:6:") for line in lines)  # suppressed
    assert lines[-1].startswith("4 findings (2 errors, 1 warning, 1 info) in 1 file; ")


def test_json_report(diff_file):
    code, text = scan([str(diff_file), "--format", "json"])
    assert code == 1
    doc = json.loads(text)
    assert doc["source"] == str(diff_file)
    assert doc["summary"] == {"error": 2, "warning": 1, "info": 1}
    assert doc["files"] == 1 and doc["rules"] >= 40
    first = doc["findings"][0]
    assert set(first) >= {"rule_id", "severity", "path", "line", "column_start", "column_end", "match",
                          "suggestion", "fingerprint", "snippet"}
    assert [(f["rule_id"], f["line"]) for f in doc["findings"]] == [
        ("security/tls-verify-disabled", 2),
        ("secrets/github-token", 3),
        ("hygiene/python-print", 4),
        ("hygiene/todo-without-ticket", 5),
    ]
    assert SECRET not in text


def test_sarif_report_to_a_file(diff_file, tmp_path):
    out = tmp_path / "report.sarif"
    code, text = scan([str(diff_file), "--format", "sarif", "--output", str(out)])
    assert code == 1 and text == ""
    log = json.loads(out.read_text(encoding="utf-8"))
    assert log["version"] == "2.1.0"
    run_ = log["runs"][0]
    assert run_["tool"]["driver"]["name"] == "bbreview"
    assert {r["ruleId"] for r in run_["results"]} == {
        "security/tls-verify-disabled", "secrets/github-token", "hygiene/python-print", "hygiene/todo-without-ticket",
    }
    assert SECRET not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("data", "args", "expected"),
    [
        (CLEAN, [], 0),
        (WARNINGS_ONLY, [], 0),
        (WARNINGS_ONLY, ["--fail-on", "warning"], 1),
        (WARNINGS_ONLY, ["--fail-on", "warning", "--min-severity", "error"], 0),
        (DIFF, ["--fail-on", "never"], 0),
        (DIFF, ["--packs", "hygiene"], 0),
        (DIFF, ["--packs", "hygiene", "--fail-on", "info"], 1),
    ],
)
def test_exit_status(tmp_path, data, args, expected):
    p = tmp_path / "in.diff"
    p.write_bytes(data)
    assert scan([str(p), *args])[0] == expected


def test_min_severity_hides_findings(diff_file):
    _, text = scan([str(diff_file), "--min-severity", "error"])
    assert "[hygiene/python-print]" not in text and "[hygiene/todo-without-ticket]" not in text
    assert "2 findings (2 errors) in 1 file" in text


def test_clean_diff_says_so(tmp_path):
    p = tmp_path / "clean.diff"
    p.write_bytes(CLEAN)
    code, text = scan([str(p)])
    assert code == 0
    assert text.startswith("no findings; ") and "1 file scanned" in text


def test_reads_standard_input():
    proc = run(["scan", "-", "--packs", "security"], stdin=DIFF)
    assert proc.returncode == 1, proc.stderr
    assert "src/client.py:2:26: error [security/tls-verify-disabled]" in proc.stdout


def test_packs_are_comma_separated_and_none_disables_builtins(diff_file, tmp_path):
    _, text = scan([str(diff_file), "--packs", "secrets,hygiene", "--format", "json"])
    assert {f["rule_id"].split("/")[0] for f in json.loads(text)["findings"]} == {"secrets", "hygiene"}
    rules = tmp_path / "team.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: team/no-requests-get\n"
        "    message: Use the shared HTTP session, which sets timeouts and retries.\n"
        "    severity: error\n"
        "    patterns: ['\\brequests\\.get\\(']\n"
        "    languages: [python]\n"
    )
    code, text = scan([str(diff_file), "--packs", "none", "--rules", str(rules), "--format", "json"])
    doc = json.loads(text)
    assert code == 1 and doc["rules"] == 1
    assert [(f["rule_id"], f["line"], f["column_start"]) for f in doc["findings"]] == [("team/no-requests-get", 2, 8)]


def test_gitleaks_rules_are_added(tmp_path):
    toml = tmp_path / "gitleaks.toml"
    toml.write_text(
        'title = "team secrets"\n\n'
        "[[rules]]\n"
        'id = "acme-internal-token"\n'
        'description = "ACME internal API token"\n'
        "regex = '''\\b(acme_[a-f0-9]{32})\\b'''\n"
        'keywords = ["acme_"]\n'
    )
    diff = tmp_path / "in.diff"
    diff.write_bytes(CLEAN.replace(b"+import sys", b'+KEY = "acme_0123456789abcdef0123456789abcdef"'))
    code, text = scan([str(diff), "--packs", "none", "--gitleaks", str(toml)])
    assert code == 1
    assert "src/app.py:2:8: error [acme-internal-token]" in text
    assert "0123456789abcdef0123456789abcdef" not in text
    code, _ = scan([str(diff), "--packs", "none", "--gitleaks", str(toml), "--gitleaks-severity", "warning"])
    assert code == 0


def test_list_rules(tmp_path):
    code, text = scan(["--list-rules", "--packs", "ml"])
    assert code == 0
    ids = [line.split()[0] for line in text.splitlines()]
    assert "ml/notebook-outputs" in ids and all(i.startswith("ml/") for i in ids)


# ---- git input -----------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path, git):
    (tmp_path / "app.py").write_text("import os\n")
    git("add", ".")
    git("commit", "-qm", "first")
    (tmp_path / "app.py").write_text("import os\nimport pdb; pdb.set_trace()\n")
    git("commit", "-qam", "second")
    (tmp_path / "app.py").write_text("import os\n")
    (tmp_path / "notes.py").write_text("# TODO: tidy\n")
    git("add", ".")
    git("commit", "-qm", "third")
    return tmp_path


def test_git_range_scans_the_net_diff(repo):
    proc = run(["scan", "--git", "HEAD~2..HEAD", "--format", "json"], cwd=str(repo))
    assert proc.returncode == 0, proc.stderr
    assert [f["rule_id"] for f in json.loads(proc.stdout)["findings"]] == ["hygiene/todo-without-ticket"]


def test_git_history_scans_every_commit_and_names_it(repo):
    proc = run(["scan", "--git", "HEAD~2..HEAD", "--history"], cwd=str(repo))
    assert proc.returncode == 1, proc.stderr
    sha = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert f"app.py:2:1: error [hygiene/python-debugger] (commit {sha[:10]})" in proc.stdout


# ---- bad input: a clear message, exit status 2, no traceback --------------------------


def assert_clean_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("bbreview scan: error: ")
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_missing_diff_file(tmp_path):
    assert_clean_error(run(["scan", str(tmp_path / "nope.diff")]), "cannot read", "nope.diff")


def test_malformed_diff_names_line_and_suggests_lenient(tmp_path):
    p = tmp_path / "bad.diff"
    p.write_bytes(DIFF.replace(b"@@ -1,2 +1,7 @@", b"@@ -1,2 +1,9 @@"))
    assert_clean_error(run(["scan", str(p)]), f"{p}:", "hunk declares", "--lenient")
    lenient = run(["scan", str(p), "--lenient", "--fail-on", "never"])
    assert lenient.returncode == 0 and "bbreview scan: warning:" in lenient.stderr and "hunk declares" in lenient.stderr


def test_invalid_regex_names_file_line_rule_and_re2_message(tmp_path, diff_file):
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: team/broken\n"
        "    message: This pattern has an unclosed group.\n"
        "    patterns:\n"
        "      - 'print('\n"
    )
    proc = run(["scan", str(diff_file), "--rules", str(rules)])
    assert_clean_error(proc, f"{rules}:5", 'rule "team/broken"', "missing )", "hint:")


def test_unknown_rule_key_is_an_error(tmp_path, diff_file):
    rules = tmp_path / "typo.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: team/typo\n"
        "    message: A rule with a misspelt key.\n"
        "    patterns: ['x']\n"
        "    severty: error\n"
    )
    assert_clean_error(run(["scan", str(diff_file), "--rules", str(rules)]), f"{rules}:5", "severty", "severity")


def test_missing_rules_file(tmp_path, diff_file):
    assert_clean_error(run(["scan", str(diff_file), "--rules", str(tmp_path / "none.yaml")]), "none.yaml")


def test_unknown_pack_lists_the_available_ones(diff_file):
    assert_clean_error(run(["scan", str(diff_file), "--packs", "secrets,nope"]), "'nope'", "hygiene, ml, secrets")


def test_bad_gitleaks_file(tmp_path, diff_file):
    toml = tmp_path / "broken.toml"
    toml.write_text("[[rules]]\nid = 'x'\nregex = '''(unclosed'''\n")
    assert_clean_error(run(["scan", str(diff_file), "--gitleaks", str(toml)]), "broken.toml", 'rule "x"')


def test_git_failure(repo):
    assert_clean_error(run(["scan", "--git", "no-such-rev"], cwd=str(repo)), "git diff", "no-such-rev")


def test_usage_errors():
    assert run(["scan"]).returncode == 2
    assert "give a diff FILE" in run(["scan"]).stderr
    assert run(["scan", "--history"]).returncode == 2
    assert run(["scan", "x.diff", "--format", "xml"]).returncode == 2


@pytest.mark.parametrize(
    "line",
    [
        'DB = "http://admin:Zq8vR2mXw9Lp@db.internal.acme.io/app"',  # also an insecure-http finding
        'x = "' + "y" * 200 + ' AKIAQTESTFAKEKEY2345"',  # also a long-line finding
        'print("AKIAIOSFODNN7EXAMPLE", "AKIAQTESTFAKEKEY2345")',  # an excluded example key beside a real one
    ],
)
@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_no_output_format_shows_a_secret(tmp_path, line, fmt):
    secret = "Zq8vR2mXw9Lp" if "Zq8v" in line else "AKIAQTESTFAKEKEY2345"
    p = tmp_path / "leak.diff"
    p.write_text(f"diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -0,0 +1 @@\n+{line}\n")
    _, text = scan([str(p), "--format", fmt])
    assert text.strip() and secret not in text
