"""The `bbreview diff` command."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from bbreview.cli import _display_name, main

DIFF = b"""diff --git a/src/app.py b/src/app.py
index 83db48f..bf269f4 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,2 +1,3 @@
 import os
-import sys
+import sys, json
+import re
diff --git a/logo.png b/logo.png
new file mode 100644
index 0000000..e69de29
Binary files /dev/null and b/logo.png differ
diff --git a/docs/old name.md b/docs/new name.md
similarity index 100%
rename from docs/old name.md
rename to docs/new name.md
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


def test_stat_output_matches_git_layout(tmp_path):
    p = tmp_path / "change.diff"
    p.write_bytes(DIFF)
    out = io.StringIO()
    assert main(["diff", str(p), "--stat-width", "80"], out=out) == 0
    assert out.getvalue().splitlines() == [
        " src/app.py                        | 3 ++-",
        " logo.png                          | Bin",
        " docs/{old name.md => new name.md} | 0",
        " 3 files changed, 2 insertions(+), 1 deletion(-)",
    ]


def test_stat_reads_standard_input():
    proc = run(["diff", "-"], stdin=DIFF)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == " 3 files changed, 2 insertions(+), 1 deletion(-)"


def test_json_format(tmp_path):
    p = tmp_path / "change.diff"
    p.write_bytes(DIFF)
    out = io.StringIO()
    assert main(["diff", str(p), "--format", "json"], out=out) == 0
    doc = json.loads(out.getvalue())
    assert doc["totals"] == {"files": 3, "added": 2, "removed": 1}
    assert [(f["path"], f["status"], f["is_binary"]) for f in doc["files"]] == [
        ("src/app.py", "modified", False),
        ("logo.png", "added", True),
        ("docs/new name.md", "renamed", False),
    ]
    assert doc["files"][2]["old_path"] == "docs/old name.md"


def test_malformed_input_names_the_file_line_and_reason(tmp_path):
    p = tmp_path / "bad.diff"
    p.write_bytes(DIFF.replace(b"@@ -1,2 +1,3 @@", b"@@ -1,2 +1,4 @@"))
    proc = run(["diff", str(p)])
    assert proc.returncode == 1
    assert f"{p}:10: hunk declares 4 new lines but 3 follow" in proc.stderr
    assert "--lenient" in proc.stderr
    lenient = run(["diff", str(p), "--lenient"])
    assert lenient.returncode == 0
    assert "warning" in lenient.stderr and "hunk declares 4 new lines" in lenient.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    proc = run(["diff", str(tmp_path / "nope.diff")])
    assert proc.returncode != 0 and "cannot read" in proc.stderr and "nope.diff" in proc.stderr


def test_usage_errors():
    assert run(["diff", "--history"]).returncode == 2
    assert "needs --git" in run(["diff", "--history"]).stderr
    assert run(["diff"]).returncode != 0


@pytest.fixture
def repo(tmp_path, git):
    (tmp_path / "a.py").write_text("one\ntwo\n")
    git("add", ".")
    git("commit", "-qm", "first")
    (tmp_path / "a.py").write_text("one\n2\nthree\n")
    (tmp_path / "b.md").write_text("# b\n")
    git("add", ".")
    git("commit", "-qm", "second")
    return tmp_path


def test_git_range_matches_git_diff_stat(repo):
    proc = run(["diff", "--git", "HEAD~1..HEAD", "--format", "json"], cwd=str(repo))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    numstat = subprocess.run(
        ["git", "diff", "--numstat", "HEAD~1..HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    expected = sorted((int(a), int(r), p) for a, r, p in (ln.split("\t") for ln in numstat if ln))
    assert sorted((f["added"], f["removed"], f["path"]) for f in doc["files"]) == expected


def test_git_history_sums_every_commit(repo):
    proc = run(["diff", "--git", "HEAD", "--history"], cwd=str(repo))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == " 2 files changed, 5 insertions(+), 1 deletion(-) in 2 commits"


def test_git_errors_are_reported(repo):
    proc = run(["diff", "--git", "no-such-rev"], cwd=str(repo))
    assert proc.returncode != 0 and "git diff" in proc.stderr and "no-such-rev" in proc.stderr


@pytest.mark.parametrize(
    ("old", "new", "shown"),
    [
        ("a.py", "a.py", "a.py"),
        ("src/a.py", "src/b.py", "src/{a.py => b.py}"),
        ("x/lib/a.py", "y/lib/a.py", "{x => y}/lib/a.py"),
        ("a.py", "b.txt", "a.py => b.txt"),
        (None, "new.py", "new.py"),
    ],
)
def test_rename_display(old, new, shown):
    assert _display_name(old, new) == shown


def test_fake_bitbucket_subcommand_serves_the_seeded_demo():
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "bbreview.cli", "fake-bitbucket", "--seed-demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert info["base_url"].startswith("http://127.0.0.1:")
        request = urllib.request.Request(f"{info['base_url']}/repositories/{info['workspace']}/{info['repository']}")
        import base64

        basic = base64.b64encode(f"{info['email']}:{info['token']}".encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["type"] == "repository"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_fake_bitbucket_is_listed_in_help():
    assert "fake-bitbucket" in run(["--help"]).stdout
