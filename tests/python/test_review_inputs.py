"""What the Python API does with wrong input, and ``Review.to_text``'s context lines."""

from __future__ import annotations

import pytest

import bbreview
from bbreview.diff import parse_diff
from bbreview.review import ReviewConfig, Reviewer, check

DIFF = """\
diff --git a/app.py b/app.py
index 1111111..2222222 100644
--- a/app.py
+++ b/app.py
@@ -1,9 +1,9 @@
 import os
 import sys
 
 
 def run(expr):
-    return expr
+    return eval(expr)
 
 
 x = 1
"""


# -- bad input -----------------------------------------------------------------------------------


def test_review_of_something_that_is_not_a_change_names_what_is_accepted():
    with pytest.raises(TypeError, match=r"review\(\) takes a Change .* not int \(12\).*PullRequest"):
        Reviewer().review(12)
    with pytest.raises(TypeError, match="not dict"):
        Reviewer().review({"diff": DIFF})


def test_a_check_that_is_not_a_check_is_named_by_its_index():
    @check
    def fine(file):
        return []

    with pytest.raises(TypeError, match=r"checks\[1\] is int \(42\), not a check; a check is a function"):
        Reviewer(None, checks=[fine, 42])
    with pytest.raises(TypeError, match=r"takes a list of checks, not one .*checks=\[fine\]"):
        Reviewer(None, checks=fine)
    assert [c.name for c in Reviewer(None, checks=[fine, lambda f: []]).checks] == ["fine", "<lambda>"]


def test_a_dict_config_is_read_as_bbreview_yaml_keys():
    rv = Reviewer({"reviews": {"profile": "assertive"}})
    assert rv.config.reviews.profile == "assertive"
    assert rv.config == ReviewConfig.from_dict({"reviews": {"profile": "assertive"}}, source=rv.config.source)
    with pytest.raises(bbreview.ConfigError, match=r"Reviewer\(config=\.\.\.\): reviews\.profile"):
        Reviewer({"reviews": {"profile": "loud"}})


def test_a_config_of_another_type_names_what_is_accepted():
    with pytest.raises(TypeError, match=r"takes a ReviewConfig, a dict .* not str .*load_config\(path\)"):
        Reviewer(".bbreview.yaml")
    with pytest.raises(TypeError, match="not int"):
        Reviewer(3)


def test_text_that_is_not_a_diff_is_an_error_quoting_it():
    with pytest.raises(bbreview.DiffParseError, match=r"not a diff: no file diff found \(line 1: 'hello world'\)"):
        Reviewer().review("hello world\nthis is not a patch\n")
    with pytest.raises(ValueError, match="not a diff"):
        Reviewer().review(b"changes.diff")
    with pytest.raises(ValueError, match="empty diff text"):
        Reviewer().review("")
    with pytest.raises(ValueError, match="empty diff text"):
        Reviewer().review(b"  \n")


def test_a_malformed_file_in_a_diff_is_reported_in_the_review():
    broken = DIFF + "diff --git a/b.py b/b.py\n--- a/b.py\n+++ b/b.py\n@@ -1,5 +1,5 @@\n-x\n"
    rv = Reviewer().review(broken)
    assert [e for e in rv.errors if e.startswith("the diff: line ") and "hunk declares 5 old" in e]
    assert "Problem: the diff:" in rv.summary_markdown()


# -- to_text context -------------------------------------------------------------------------------


def test_to_text_shows_context_lines_around_each_comment():
    rv = Reviewer().review(DIFF)
    [c] = [c for c in rv.comments if c.start == 6]
    text = rv.to_text(context=2)
    assert "  >     6 |     return eval(expr)" in text
    assert "        5 | def run(expr):" in text and "        4 | " in text
    assert "        7 | " in text and "        8 | " in text
    assert "        3 | " not in text
    assert "        9 | x = 1" not in text and "import sys" not in text
    none = rv.to_text(context=0)
    assert "    6 |     return eval(expr)" in none and "def run(expr)" not in none
    assert "import sys" in rv.to_text(context=4)


def test_to_text_reads_context_from_a_given_patchset():
    rv = Reviewer().review(DIFF)
    rv.patchset = None  # e.g. a review rebuilt without its diff: only the anchored lines
    assert "def run(expr)" not in rv.to_text(context=3)
    assert "def run(expr)" in rv.to_text(context=3, patchset=parse_diff(DIFF))
    with pytest.raises(ValueError, match="at least 0"):
        rv.to_text(context=-1)


def test_to_text_never_shows_a_secret_line_as_context():
    diff = DIFF.replace(" import sys\n", '+AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n', 1)
    diff = diff.replace("@@ -1,9 +1,9 @@", "@@ -1,8 +1,9 @@")
    rv = Reviewer().review(diff)
    assert any(f.category == "secrets" for f in rv.findings)
    assert "wJalrXUtnFEMI" not in rv.to_text(context=10)
