"""The public Python API of bbreview.diff."""

from __future__ import annotations

import pickle
import sys
import threading
import time

import pytest

import bbreview
from bbreview import DiffParseError, PatchSet, diffstat, parse_diff

SIMPLE = b"""diff --git a/src/app.py b/src/app.py
index 83db48f..bf269f4 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,4 +1,5 @@ def main():
 import os
-import sys
+import sys, json
+import re
 
 print(os.getcwd())
"""


def test_public_names_are_exported():
    for name in bbreview.__all__:
        assert hasattr(bbreview, name), name
    assert issubclass(DiffParseError, bbreview.Error)


def test_model_nests_patchset_file_hunk_line():
    ps = parse_diff(SIMPLE)
    assert len(ps) == 1
    (f,) = ps
    assert (f.old_path, f.new_path, f.path, f.status) == ("src/app.py", "src/app.py", "src/app.py", "modified")
    assert (f.old_mode, f.new_mode, f.similarity, f.is_binary) == ("100644", "100644", None, False)
    assert (f.added, f.removed, ps.added, ps.removed) == (2, 1, 2, 1)
    (h,) = f.hunks
    assert (h.old_start, h.old_count, h.new_start, h.new_count, h.section) == (1, 4, 1, 5, "def main():")
    kinds = [(ln.kind, ln.old_lineno, ln.new_lineno, ln.content) for ln in h.lines]
    assert kinds == [
        (" ", 1, 1, "import os"),
        ("-", 2, None, "import sys"),
        ("+", None, 2, "import sys, json"),
        ("+", None, 3, "import re"),
        (" ", 3, 4, ""),
        (" ", 4, 5, "print(os.getcwd())"),
    ]


def test_str_and_bytes_accept_the_same_input():
    assert parse_diff(SIMPLE.decode()).to_records() == parse_diff(SIMPLE).to_records()
    assert parse_diff(bytearray(SIMPLE)).added == 2
    assert parse_diff(memoryview(SIMPLE)).added == 2


def test_rejects_input_of_the_wrong_type_with_a_clear_message():
    with pytest.raises(TypeError, match="must be str, bytes"):
        parse_diff(42)  # type: ignore[arg-type]


def test_objects_outlive_the_patchset_variable():
    line = parse_diff(SIMPLE).files[0].hunks[0].lines[2]
    import gc

    gc.collect()
    assert line.content == "import sys, json"


def test_getitem_by_index_and_path():
    ps = parse_diff(SIMPLE)
    assert ps[0].path == ps["src/app.py"].path
    with pytest.raises(KeyError, match="no file 'nope'"):
        ps["nope"]


def test_anchor_accepts_new_side_added_and_context_and_old_side_removed():
    f = parse_diff(SIMPLE)[0]
    assert f.anchor(new_line=2) is not None  # added
    assert f.anchor(new_line=1) is not None  # context
    assert f.anchor(new_line=6) is None  # outside the hunk
    assert f.anchor(old_line=2) is not None  # removed
    assert f.anchor(old_line=1) is None  # context lines anchor on the new side
    with pytest.raises(TypeError, match="exactly one"):
        f.anchor()
    with pytest.raises(TypeError, match="exactly one"):
        f.anchor(new_line=1, old_line=1)


def test_nearest_anchor_clips_snaps_or_reports_none():
    f = parse_diff(SIMPLE)[0]
    a = f.nearest_anchor(3, 9)
    assert (a.side, a.start, a.end, a.exact) == ("new", 3, 5, False)
    assert f.nearest_anchor(2, 3).exact
    assert f.nearest_anchor(8) is None
    snapped = f.nearest_anchor(8, max_distance=3)
    assert (snapped.start, snapped.end, snapped.exact) == (5, 5, False)
    old = f.nearest_anchor(1, 4, side="old")
    assert (old.side, old.start, old.end) == ("old", 2, 2)
    with pytest.raises(ValueError, match='side must be "new" or "old"'):
        f.nearest_anchor(1, side="left")


def test_strict_mode_raises_with_line_text_and_reason():
    bad = SIMPLE.replace(b"@@ -1,4 +1,5 @@", b"@@ -1,4 +1,6 @@")
    with pytest.raises(DiffParseError) as info:
        parse_diff(bad)
    err = info.value
    assert err.line == 12
    assert err.reason.startswith("hunk declares 6 new lines but 5 follow")
    assert "line 12" in str(err) and "strict=False" in str(err)
    assert pickle.loads(pickle.dumps(err)).reason == err.reason


def test_lenient_mode_recovers_at_the_next_file_and_keeps_a_warning():
    bad = SIMPLE.replace(b"@@ -1,4 +1,5 @@", b"@@ -1,4 +1,9 @@")
    ps = parse_diff(bad + SIMPLE.replace(b"src/app.py", b"src/other.py"), strict=False)
    assert [f.path for f in ps] == ["src/app.py", "src/other.py"]
    assert len(ps.warnings) == 1 and "hunk declares 9 new lines but 5 follow" in ps.warnings[0]
    # The truncated hunk keeps what was read, with counts that match it.
    h = ps[0].hunks[0]
    assert h.new_count == len([ln for ln in h.lines if ln.kind != "-"])


def test_from_file_names_the_file_in_errors(tmp_path):
    p = tmp_path / "broken.diff"
    p.write_bytes(b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n")
    with pytest.raises(DiffParseError, match=r"broken\.diff:6: hunk declares 2 old and 2 new lines but 1 and 0 follow") as info:
        PatchSet.from_file(p)
    assert info.value.source == str(p)


def test_round_trip_reemits_an_equivalent_diff():
    ps = parse_diff(SIMPLE)
    assert bytes(ps) == SIMPLE
    assert parse_diff(str(ps)).to_records("line") == ps.to_records("line")


def test_non_utf8_bytes_survive_round_trip_and_decode_for_display():
    raw = b"diff --git a/l.txt b/l.txt\n--- a/l.txt\n+++ b/l.txt\n@@ -1 +1 @@\n-caf\xe9\n+caf\xc3\xa9\n"
    ps = parse_diff(raw)
    old, new = ps[0].hunks[0].lines
    assert old.content == "caf\ufffd" and old.content_bytes == b"caf\xe9"
    assert new.content == "café"
    assert bytes(ps) == raw
    assert str(ps).encode("utf-8", "surrogateescape") == raw
    assert bytes(parse_diff(str(ps))) == raw  # the surrogates go back to their bytes


def test_crlf_is_kept_byte_for_byte():
    raw = b"diff --git a/w.txt b/w.txt\n--- a/w.txt\n+++ b/w.txt\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n"
    ps = parse_diff(raw)
    lines = ps[0].hunks[0].lines
    assert [ln.content for ln in lines] == ["a", "b", "c"]
    assert {ln.line_ending for ln in lines} == {"\r\n"}
    assert bytes(ps) == raw


def test_diffstat_counts_without_keeping_lines():
    ps = diffstat(SIMPLE)
    assert ps.stats_only and (ps.added, ps.removed) == (2, 1)
    assert ps[0].hunks == []
    with pytest.raises(ValueError, match="statistics-only"):
        ps[0].anchor(new_line=2)
    with pytest.raises(ValueError, match="statistics only"):
        bytes(ps)
    with pytest.raises(ValueError, match="per='line'"):
        ps.to_records("line")


def test_records_and_frames():
    ps = parse_diff(SIMPLE)
    (rec,) = ps.to_records()
    assert rec["path"] == "src/app.py" and rec["added"] == 2 and rec["status"] == "modified"
    lines = ps.to_records("line")
    assert len(lines) == 6 and lines[1] == {
        "path": "src/app.py",
        "kind": "-",
        "old_lineno": 2,
        "new_lineno": None,
        "content": "import sys",
    }
    pd = pytest.importorskip("pandas")
    frame = ps.to_frame("line")
    assert isinstance(frame, pd.DataFrame) and list(frame["kind"]) == [" ", "-", "+", "+", " ", " "]
    with pytest.raises(ValueError, match="per must be"):
        ps.to_records("hunk")  # type: ignore[arg-type]


def test_commits_from_git_log_are_attached_to_their_files():
    log = (
        b"commit " + b"a" * 40 + b"\nAuthor: Ada <ada@example.com>\nDate:   Mon Jan 1 00:00:00 2026 +0000\n\n"
        b"    Add app\n\n    Longer body.\n\n" + SIMPLE + b"\ncommit " + b"b" * 40 + b"\nAuthor: Bo <bo@example.com>\n"
        b"Date:   Tue Jan 2 00:00:00 2026 +0000\n\n    Tweak\n\n" + SIMPLE.replace(b"src/app.py", b"README")
    )
    ps = parse_diff(log)
    assert [c.subject for c in ps.commits] == ["Add app", "Tweak"]
    assert ps.commits[0].message == "Add app\n\nLonger body."
    assert ps.commits[0].author == "Ada <ada@example.com>"
    assert [ps.commit_of(f).sha[0] for f in ps] == ["a", "b"]
    assert [r["commit"][0] for r in ps.to_records()] == ["a", "b"]


def test_empty_and_non_diff_input_yield_no_files():
    assert len(parse_diff(b"")) == 0
    ps = parse_diff(b"just some text\nnot a diff\n")
    assert len(ps) == 0 and "no file diffs found" in ps.warnings[0]


def test_parsing_releases_the_gil():
    """A thread keeps running Python code while another thread is inside parse_diff."""
    big = SIMPLE * 60_000  # ~12 MB: parsing takes long enough to observe
    ticks = 0
    started = threading.Event()
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        started.set()
        while not stop.is_set():
            ticks += 1
            time.sleep(0)  # yields the GIL back between ticks

    old_interval = sys.getswitchinterval()
    # A huge switch interval means the main thread only gives up the GIL when it
    # blocks or when native code releases it explicitly.
    sys.setswitchinterval(100.0)
    try:
        t = threading.Thread(target=spin)
        t.start()
        started.wait()
        before = ticks
        ps = parse_diff(big)
        during = ticks - before
        stop.set()
        t.join()
    finally:
        sys.setswitchinterval(old_interval)
    assert len(ps) == 60_000
    assert during > 0, "the spinning thread never ran while parse_diff held the interpreter"


def test_parsing_from_many_threads_gives_identical_results():
    from concurrent.futures import ThreadPoolExecutor

    text = SIMPLE * 2000
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: parse_diff(text).to_records(), range(8)))
    assert all(r == results[0] for r in results)
