"""The review pipeline without a network: checks, merging, anchoring, rendering."""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bbreview
from bbreview.review import (
    GitChange,
    ReviewConfig,
    Reviewer,
    ReviewFinding,
    anchor,
    check,
)
from bbreview.review.pipeline import BELOW_MIN, EXCLUDED, FILE_LEVEL, NOT_IN_DIFF, OUTSIDE, OVER_CAP
from bbreview.review.render import MAX_COMMENT_CHARS, parse_markers, split_markdown

DIFF = """\
diff --git a/app.py b/app.py
index 1111111..2222222 100644
--- a/app.py
+++ b/app.py
@@ -1,5 +1,8 @@
 import os
+API_KEY = "sk-live-abcdefghijklmnop1234567890"
+print("debug", os.environ)
+x = eval(input())
 def f():
-    return 1
+    return 2
 
 
diff --git a/logo.png b/logo.png
new file mode 100644
index 0000000..3333333
Binary files /dev/null and b/logo.png differ
diff --git a/vendor/lib.py b/vendor/lib.py
new file mode 100644
index 0000000..4444444
--- /dev/null
+++ b/vendor/lib.py
@@ -0,0 +1,2 @@
+print("vendored")
+x = 1
"""


def config(text: str = "") -> ReviewConfig:
    return ReviewConfig.from_yaml(text, source=".bbreview.yaml")


def review(text: str = DIFF, cfg: str = "", checks=(), **kw):
    return Reviewer(config(cfg), checks, **kw).review(text)


def by_rule(rv, rule_id):
    return [c for c in rv.comments if c.finding.rule_id == rule_id]


# -- the pipeline ------------------------------------------------------------------------------


def test_rule_findings_become_inline_comments_on_their_lines():
    rv = review()
    placed = {(c.path, c.start, c.finding.rule_id) for c in rv.comments}
    assert ("app.py", 3, "hygiene/python-print") in placed
    assert ("app.py", 4, "security/eval-dynamic") in placed
    secret = [c for c in rv.comments if c.finding.category == "secrets"]
    assert secret and secret[0].start == 2 and secret[0].finding.severity == "critical"
    # Each anchored line is commentable in the diff.
    for c in rv.comments:
        assert c.inline() == {"path": c.path, "to": c.start}


def test_binary_and_filtered_files_are_skipped_with_a_reason():
    rv = review(cfg="reviews:\n  path_filters: ['!vendor/**']\n")
    assert dict(rv.coverage.skipped) == {"logo.png": "binary", "vendor/lib.py": EXCLUDED}
    assert rv.coverage.text() == (
        "reviewed 1 of 3 files; skipped 2: 1 binary, 1 excluded by reviews.path_filters"
    )
    assert not [c for c in rv.comments if c.path.startswith("vendor/")]


def test_python_checks_run_on_every_text_file_and_accept_dicts():
    seen = []

    @bbreview.check
    def todo(file):
        seen.append(file.path)
        for hunk in file.hunks:
            for line in hunk.lines:
                if line.kind == "+" and "return 2" in line.content:
                    yield {"line": line.new_lineno, "title": "Changed return value", "severity": "low",
                           "body": "Callers may depend on 1.", "suggestion": "    return 1"}

    rv = review(checks=[todo])
    assert seen == ["app.py", "vendor/lib.py"]  # the binary file is not passed
    [c] = [c for c in rv.comments if c.finding.source == "check:todo"]
    assert (c.path, c.start, c.finding.rule_id) == ("app.py", 6, "todo")
    md = rv.comment_markdown(c)
    assert "```diff\n-    return 2\n+    return 1\n```" in md
    assert parse_markers(md) == [("finding", [c.finding.fingerprint, "check:todo"])]


def test_a_failing_check_is_reported_and_the_others_still_run():
    @check(name="boom")
    def boom(file):
        raise RuntimeError("broken heuristic")

    rv = review(checks=[boom])
    assert any("boom" in e and "broken heuristic" in e for e in rv.errors)
    assert by_rule(rv, "security/eval-dynamic")
    assert "broken heuristic" in rv.summary_markdown()


def test_unanchorable_findings_go_to_the_summary_with_the_reason():
    def places(file):
        if file.path != "app.py":
            return []
        return [
            ReviewFinding("app.py", 40, title="Far below the hunk", source="check:x"),
            ReviewFinding("app.py", None, title="About the whole file", source="check:x"),
            ReviewFinding("README.md", 1, title="Another file", source="check:x"),
        ]

    rv = review(checks=[places])
    reasons = {d.finding.title: d.reason for d in rv.deferred}
    assert reasons == {"Far below the hunk": OUTSIDE, "About the whole file": FILE_LEVEL, "Another file": NOT_IN_DIFF}
    summary = rv.summary_markdown()
    for title in reasons:
        assert title in summary
    assert "`app.py:40`" in summary


def test_multi_line_findings_use_start_to_and_partial_overlaps_are_narrowed():
    def ranges(file):
        if file.path != "app.py":
            return []
        return [
            ReviewFinding("app.py", 2, 4, title="Block", source="check:r", category="a"),
            ReviewFinding("app.py", 7, 12, title="Tail", source="check:r", category="b"),
        ]

    rv = review(checks=[ranges])
    block = next(c for c in rv.comments if c.finding.title == "Block")
    assert block.inline() == {"path": "app.py", "to": 4, "start_to": 2}
    tail = next(c for c in rv.comments if c.finding.title == "Tail")
    assert (tail.start, tail.end) == (7, 8) and not tail.exact
    assert "only 7-8 are in the diff" in rv.comment_markdown(tail)


def test_removed_lines_anchor_on_the_old_side():
    def removed(file):
        return [ReviewFinding("app.py", 3, side="old", title="Removed return", source="check:o")] if file.path == "app.py" else []

    rv = review(checks=[removed])
    c = next(c for c in rv.comments if c.finding.title == "Removed return")
    assert c.inline() == {"path": "app.py", "from": 3}


def test_min_severity_flags_findings_without_dropping_them():
    rv = review(cfg="reviews:\n  min_severity: high\n")
    assert {c.finding.severity for c in rv.comments} <= {"high", "critical"}
    assert rv.filtered and all(d.reason == BELOW_MIN for d in rv.filtered)
    assert f"{len(rv.filtered)} finding" in rv.summary_markdown()
    frame = rv.to_frame()
    assert set(frame["placement"]) == {"inline", "filtered"}


def test_nitpicks_need_the_assertive_profile():
    nit = lambda f: [ReviewFinding(f.path, 2, severity="nitpick", title="Style", source="check:n")] if f.path == "app.py" else []  # noqa: E731
    chill = review(checks=[nit], cfg="reviews:\n  min_severity: nitpick\n")
    assert not [c for c in chill.comments if c.finding.severity == "nitpick"]
    loud = review(checks=[nit], cfg="reviews:\n  profile: assertive\n  min_severity: nitpick\n")
    assert [c for c in loud.comments if c.finding.severity == "nitpick"]


def test_max_comments_moves_the_least_severe_to_the_summary():
    rv = review(cfg="reviews:\n  max_comments: 1\n")
    assert len(rv.comments) == 1 and rv.comments[0].finding.severity == "critical"
    assert rv.deferred and all(d.reason == OVER_CAP for d in rv.deferred)


def test_duplicates_merge_by_fingerprint_and_by_place():
    def twice(file):
        if file.path != "app.py":
            return []
        one = ReviewFinding("app.py", 4, title="eval is dangerous", category="security", severity="critical", source="llm")
        return [one, one]

    rv = review(checks=[twice])
    at4 = [c for c in rv.comments if c.start == 4]
    assert len(at4) == 1
    assert at4[0].finding.severity == "critical"
    assert at4[0].finding.extra["also_found_by"] == ["rule security/eval-dynamic"]


def test_secret_lines_are_never_shown():
    rv = review()
    text = rv.to_markdown() + rv.to_text() + json.dumps(rv.to_dict()) + json.dumps(rv.to_sarif())
    assert "abcdefghijklmnop1234567890" not in text


def test_outputs_are_consistent():
    rv = review()
    d = rv.to_dict()
    assert d["counts"]["critical"] == 1
    assert len(d["comments"]) == len(rv.comments)
    assert d["metadata"]["inputs_hash"] == review().metadata["inputs_hash"]  # reproducible
    sarif = rv.to_sarif()
    assert len(sarif["runs"][0]["results"]) == len(rv.posted_findings())
    report, annotations = rv.code_insights()
    assert report["result"] == "FAILED" and report["report_type"] == "SECURITY"
    assert len(report["data"]) <= 10
    assert {a["external_id"] for a in annotations} == {f"bbreview-{f.fingerprint}" for f in rv.findings if f.source == "rules"}
    frame = rv.to_frame()
    assert len(frame) == len(rv.comments) + len(rv.deferred) + len(rv.filtered)


def test_summary_states_range_coverage_and_cost():
    rv = review()
    s = rv.summary_markdown()
    assert "| `app.py` | modified | +4 −1 |" in s
    assert "**Coverage:** reviewed 2 of 3 files; skipped 1: 1 binary" in s
    assert "not configured" in s
    assert s.rstrip().endswith("[//]: # (bbreview:summary)")


# -- splitting --------------------------------------------------------------------------------


def test_split_markdown_keeps_parts_under_the_limit_and_fences_balanced():
    body = "intro\n\n```diff\n" + "\n".join(f"+line {i} " + "x" * 50 for i in range(2000)) + "\n```\n\ntail"
    parts = split_markdown(body, 5000)
    assert len(parts) > 10
    for p in parts:
        assert len(p) <= 5000
        assert len(re.findall(r"^```", p, re.M)) % 2 == 0
    assert parts[1].startswith("_(continued, part 2 of")
    assert split_markdown("short") == ["short"]
    assert MAX_COMMENT_CHARS < 32768


# -- anchoring property --------------------------------------------------------------------------


@st.composite
def diffs(draw):
    """A random single-file diff: hunks of context, added and removed lines."""
    old_line, new_line = 1, 1
    hunks = []
    for _ in range(draw(st.integers(1, 4))):
        old_line += draw(st.integers(0, 30))
        new_line = old_line + (new_line - old_line if hunks else 0)
        kinds = draw(st.lists(st.sampled_from(" +-"), min_size=1, max_size=25))
        if all(k == " " for k in kinds):
            kinds[0] = "+"
        body = [f"{k}line {i}" for i, k in enumerate(kinds)]
        old_n = sum(k != "+" for k in kinds)
        new_n = sum(k != "-" for k in kinds)
        hunks.append((old_line, old_n, new_line, new_n, body))
        old_line += old_n
        new_line += new_n
    text = ["diff --git a/f.py b/f.py", "--- a/f.py", "+++ b/f.py"]
    for o, on, n, nn, body in hunks:
        text.append(f"@@ -{o},{on} +{n},{nn} @@")
        text.extend(body)
    return "\n".join(text) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=diffs(), start=st.integers(1, 200), length=st.integers(0, 20), old=st.booleans())
def test_every_posted_anchor_is_valid_for_the_diff(text, start, length, old):
    ps = bbreview.parse_diff(text)
    file = ps[0]
    side = "old" if old else "new"
    placed = anchor(ReviewFinding("f.py", start, start + length, side=side, source="check:p"), file)
    if isinstance(placed, str):
        assert placed == OUTSIDE
        # Nothing in the requested range is commentable.
        for n in range(start, start + length + 1):
            assert file.anchor(**{f"{side}_line": n}) is None
        return
    assert placed.side == side
    assert start <= placed.start <= placed.end <= start + length
    hunks = [file.anchor(**{f"{side}_line": n}) for n in range(placed.start, placed.end + 1)]
    assert None not in hunks  # every line of the range is commentable
    assert len({(h.old_start, h.new_start) for h in hunks}) == 1  # and within one hunk


# -- local git changes ---------------------------------------------------------------------------


def test_git_change_reviews_a_branch_against_its_merge_base(git, tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    git("add", ".")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "feature")
    (tmp_path / "a.py").write_text("def f():\n    print('x')\n    return 1\n")
    git("commit", "-qam", "debug print")
    (tmp_path / ".bbreview.yaml").write_text("reviews:\n  profile: assertive\n")
    git("add", ".")
    git("commit", "-qm", "config")
    change = GitChange.merge_base(str(tmp_path))
    assert change.title == "config"
    from bbreview.review import load_change_config

    cfg = load_change_config(change)
    assert cfg.reviews.profile == "assertive"
    rv = Reviewer(cfg).review(change)
    assert [(c.path, c.start) for c in rv.comments] == [("a.py", 2)]
    assert rv.head_commit == change.head_commit and rv.base_commit == change.base_commit
