"""The golden samples in tests/data/diffs, checked from Python.

The same files drive tests/cpp/diff/test_golden.cpp. scripts/regen-golden
writes them, taking each expectation from git itself wherever git can judge
(see that script's docstring for which fields come from where).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import bbreview
from bbreview import DiffParseError, FileDiff, PatchSet, diffstat, parse_diff

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "diffs"
MALFORMED_DIR = DATA / "malformed"

GOLDEN = sorted(p.name.removesuffix(".diff") for p in DATA.glob("*.diff"))
MALFORMED = sorted(p.name.removesuffix(".diff") for p in MALFORMED_DIR.glob("*.diff"))


def load_regen_golden() -> ModuleType:
    """scripts/regen-golden as a module: its git oracle is shared with these tests."""
    path = ROOT / "scripts" / "regen-golden"
    loader = SourceFileLoader("regen_golden", str(path))
    spec = importlib.util.spec_from_file_location("regen_golden", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["regen_golden"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


def expected_of(directory: Path, name: str) -> dict[str, Any]:
    return json.loads((directory / f"{name}.expected.json").read_text(encoding="utf-8"))


# ---- the actual model in the expectation's shape ----------------------------


def field_bytes(value: Any) -> bytes | None:
    """A path/section field of an expectation as raw bytes."""
    if value is None:
        return None
    if isinstance(value, dict):
        return bytes.fromhex(value["hex"])
    return value.encode("utf-8")


def path_bytes(path: str | None) -> bytes | None:
    # Paths come back with undecodable bytes as surrogates (os.fsdecode style).
    return None if path is None else path.encode("utf-8", "surrogateescape")


def normalized_expectation(f: dict[str, Any]) -> dict[str, Any]:
    out = dict(f)
    out["old_path"] = field_bytes(f["old_path"])
    out["new_path"] = field_bytes(f["new_path"])
    out["hunks"] = [dict(h, section=field_bytes(h["section"]).decode("utf-8", "replace")) for h in f["hunks"]]
    return out


def describe(f: FileDiff) -> dict[str, Any]:
    """One parsed file in the same shape as an expectation entry."""
    hunks = []
    for h in f.hunks:
        lines = h.lines
        hunks.append({
            "old_start": h.old_start, "old_count": h.old_count, "new_start": h.new_start, "new_count": h.new_count,
            "section": h.section,
            "lines": "".join(line.kind for line in lines),
            "no_newline": [i for i, line in enumerate(lines) if line.no_newline_at_eof],
            "crlf": [i for i, line in enumerate(lines) if line.line_ending == "\r\n"],
        })
    return {
        "old_path": path_bytes(f.old_path), "new_path": path_bytes(f.new_path), "status": f.status,
        "is_binary": f.is_binary, "is_combined": f.is_combined, "old_mode": f.old_mode, "new_mode": f.new_mode,
        "similarity": f.similarity, "dissimilarity": f.dissimilarity, "added": f.added, "removed": f.removed,
        "commit": f.commit_index, "hunks": hunks,
    }


def warning_lines(ps: PatchSet) -> list[int]:
    lines = []
    for message in ps.warnings:
        m = re.match(r"line (\d+): ", message)
        assert m, f"warning without a line number: {message!r}"
        lines.append(int(m[1]))
    return lines


# ---- golden samples -----------------------------------------------------------


def test_every_golden_sample_has_an_expectation() -> None:
    assert len(GOLDEN) >= 40
    for directory, names in ((DATA, GOLDEN), (MALFORMED_DIR, MALFORMED)):
        for name in names:
            assert (directory / f"{name}.expected.json").is_file(), f"{name}: run scripts/regen-golden"
    assert len(MALFORMED) >= 5


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_sample_matches_git(name: str) -> None:
    expected = expected_of(DATA, name)
    ps = PatchSet.from_file(DATA / f"{name}.diff")
    assert [describe(f) for f in ps] == [normalized_expectation(f) for f in expected["files"]]
    assert len(ps.warnings) == expected["warnings"], ps.warnings
    assert [{"sha": c.sha, "subject": c.subject} for c in ps.commits] == expected["commits"]
    assert ps.added == sum(f["added"] for f in expected["files"])
    assert ps.removed == sum(f["removed"] for f in expected["files"])


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_sample_line_numbers_follow_the_hunk_header(name: str) -> None:
    for f in parse_diff((DATA / f"{name}.diff").read_bytes()):
        for h in f.hunks:
            old, new = h.old_start, h.new_start
            for line in h.lines:
                assert line.old_lineno == (None if line.kind == "+" else old)
                assert line.new_lineno == (None if line.kind == "-" else new)
                old += line.kind != "+"
                new += line.kind != "-"
            assert (old - h.old_start, new - h.new_start) == (h.old_count, h.new_count)


@pytest.mark.parametrize("name", GOLDEN)
def test_diffstat_agrees_with_the_full_parse(name: str) -> None:
    data = (DATA / f"{name}.diff").read_bytes()
    full, stats = parse_diff(data), diffstat(data)
    assert stats.stats_only
    summary = [(f.old_path, f.new_path, f.status, f.is_binary, f.old_mode, f.new_mode, f.added, f.removed)
               for f in full]
    assert [(f.old_path, f.new_path, f.status, f.is_binary, f.old_mode, f.new_mode, f.added, f.removed)
            for f in stats] == summary
    assert all(not f.hunks for f in stats)


@pytest.mark.parametrize("name", GOLDEN)
def test_str_is_bytes_with_surrogates(name: str) -> None:
    ps = PatchSet.from_file(DATA / f"{name}.diff")
    assert str(ps).encode("utf-8", "surrogateescape") == bytes(ps)


# ---- round trip through git ---------------------------------------------------


ROUNDTRIP = [n for n in GOLDEN if expected_of(DATA, n)["git_roundtrip"]]


@pytest.fixture(scope="module")
def oracle() -> ModuleType:
    if shutil.which("git") is None:  # pragma: no cover - git is a test dependency
        pytest.fail("git is needed on PATH for the round-trip tests")
    return load_regen_golden()


@pytest.mark.parametrize("name", ROUNDTRIP)
def test_reemitted_sample_reads_the_same_to_git(name: str, oracle: ModuleType, tmp_path: Path) -> None:
    """git apply --numstat/--summary see the same files in bytes(ps) as in the input.

    bytes(ps) always uses a/ and b/ prefixes, so it is read with -p1 whatever
    the input needed. Commit headers are not re-emitted; they carry no file data.
    """
    expected = expected_of(DATA, name)
    original = (DATA / f"{name}.diff").read_bytes()
    emitted = bytes(parse_diff(original))
    before = oracle.git_expectation(original, expected["strip"], tmp_path)
    after = oracle.git_expectation(emitted, 1, tmp_path)
    for f in before:
        f["commit"] = -1  # bytes(ps) has no commit headers
        # A plain `diff -u` names no mode; bytes(ps) must name one, and says 100644.
        if f["old_mode"] is None and f["old_path"] is not None and not f["is_binary"] and f["status"] == "deleted":
            f["old_mode"] = "100644"
        if f["new_mode"] is None and f["status"] == "added" and not f["is_binary"]:
            f["new_mode"] = "100644"
    assert after == before


@pytest.mark.parametrize("name", ROUNDTRIP)
def test_reemitted_sample_parses_to_the_same_model(name: str) -> None:
    ps = PatchSet.from_file(DATA / f"{name}.diff")
    again = parse_diff(bytes(ps))
    keep = ("old_path", "new_path", "status", "is_binary", "added", "removed", "hunks")
    assert [{k: describe(f)[k] for k in keep} for f in again] == [{k: describe(f)[k] for k in keep} for f in ps]
    assert [[line.content_bytes for h in f.hunks for line in h.lines] for f in again] == \
        [[line.content_bytes for h in f.hunks for line in h.lines] for f in ps]


# ---- malformed samples --------------------------------------------------------


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_sample_fails_strictly_at_the_expected_line(name: str) -> None:
    expected = expected_of(MALFORMED_DIR, name)["strict"]
    with pytest.raises(DiffParseError) as info:
        PatchSet.from_file(MALFORMED_DIR / f"{name}.diff")
    err = info.value
    assert (err.line, err.text) == (expected["line"], expected["text"])
    assert expected["reason_contains"] in err.reason
    assert err.source == str(MALFORMED_DIR / f"{name}.diff")
    assert f":{expected['line']}: " in str(err)
    assert isinstance(err, bbreview.Error)


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_sample_recovers_leniently(name: str) -> None:
    expected = expected_of(MALFORMED_DIR, name)["lenient"]
    ps = parse_diff((MALFORMED_DIR / f"{name}.diff").read_bytes(), strict=False)
    assert [describe(f) for f in ps] == [normalized_expectation(f) for f in expected["files"]]
    assert warning_lines(ps) == expected["warning_lines"]
