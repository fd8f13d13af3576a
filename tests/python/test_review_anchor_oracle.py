"""Inline anchors checked against an oracle that does not use bbreview's diff engine.

Random unified diffs (several files: modified, added, deleted and renamed, hunks
of context, added and removed lines) are written as text. A small parser here
reads which positions Bitbucket Cloud accepts an inline comment on (reference
§6.5, and cpp/diff/anchor.hpp): on the new side (``to``/``start_to``) every
added and context line, on the old side (``from``/``start_from``) every removed
line. Random findings (paths in and out of the diff, line ranges in and out of
the hunks, file-level findings) are returned by a Python check, and the review
must put each one somewhere: on commentable lines of one hunk, or in the
summary or the filtered list with the reason the oracle expects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import bbreview
from bbreview.review import Reviewer, ReviewFinding
from bbreview.review.model import SEVERITY_RANK
from bbreview.review.pipeline import BELOW_MIN, FILE_LEVEL, NOT_IN_DIFF, OUTSIDE, OVER_CAP

# -- the oracle ------------------------------------------------------------------------------------


@dataclass
class OracleFile:
    """One file of the diff as the oracle reads it: commentable (side, line) -> hunk index."""

    path: str
    old_path: str
    positions: dict[tuple[str, int], int] = field(default_factory=dict)

    def intervals(self, side: str) -> list[tuple[int, int]]:
        """Maximal runs of consecutive commentable lines on ``side`` within one hunk."""
        lines = sorted(n for s, n in self.positions if s == side)
        runs: list[list[int]] = []
        for n in lines:
            if runs and n == runs[-1][1] + 1 and self.positions[(side, n)] == self.positions[(side, runs[-1][1])]:
                runs[-1][1] = n
            else:
                runs.append([n, n])
        return [(a, b) for a, b in runs]


def parse_oracle(text: str) -> dict[str, OracleFile]:
    """The files of a ``git diff`` text by every name a finding may use (new path, and old path
    of a rename). Handles only what :func:`diffs` writes."""
    files: dict[str, OracleFile] = {}
    current: OracleFile | None = None
    hunk = -1
    old = new = old_left = new_left = 0
    for line in text.splitlines():
        if line.startswith("\\"):
            continue  # "\ No newline at end of file": not a line of either side, in a hunk or after it
        if old_left or new_left:  # inside a hunk: the counts of its header say how far
            kind = line[:1]
            if kind == " ":
                current.positions[("new", new)] = hunk
                old, new, old_left, new_left = old + 1, new + 1, old_left - 1, new_left - 1
            elif kind == "+":
                current.positions[("new", new)] = hunk
                new, new_left = new + 1, new_left - 1
            elif kind == "-":
                current.positions[("old", old)] = hunk
                old, old_left = old + 1, old_left - 1
            else:
                raise AssertionError(f"oracle: unexpected line inside a hunk: {line!r}")
            continue
        if line.startswith("diff --git "):
            a, b = line[len("diff --git "):].split(" ")
            current = OracleFile(path=b[2:], old_path=a[2:])
            files[current.path] = current
            hunk = -1
        elif line.startswith("deleted file mode"):
            # A deleted file goes by its old path (ReviewFinding: "the old path for deletions").
            files.pop(current.path)
            current.path = current.old_path
            files[current.path] = current
        elif line.startswith("@@ "):
            old_range, new_range = line.split(" ")[1:3]
            old, old_left = _range(old_range[1:])
            new, new_left = _range(new_range[1:])
            hunk += 1
    for f in list(files.values()):
        if f.old_path != f.path:
            files.setdefault(f.old_path, f)
    return files


def _range(spec: str) -> tuple[int, int]:
    """``start,count`` (a missing count means 1) as (first line, count)."""
    start, _, count = spec.partition(",")
    return int(start), int(count) if count else 1


# -- random diffs ------------------------------------------------------------------------------------

NO_NEWLINE = "\\ No newline at end of file"
CONTENT = st.text(alphabet="abxyz =()", min_size=0, max_size=8)


@st.composite
def hunks(draw) -> list[tuple[int, int, int, int, list[str]]]:
    """Hunks of a modified or renamed file: (old_start, old_count, new_start, new_count, lines)."""
    out = []
    old_pos = new_pos = 1  # the next line number on each side
    count = draw(st.integers(1, 4))
    for i in range(count):
        gap = draw(st.integers(0 if i == 0 else 1, 12))  # unchanged lines between hunks, not shown
        old_pos, new_pos = old_pos + gap, new_pos + gap
        kinds = draw(st.lists(st.sampled_from(" +-"), min_size=1, max_size=14))
        if all(k == " " for k in kinds):
            kinds[draw(st.integers(0, len(kinds) - 1))] = draw(st.sampled_from("+-"))
        lines = [k + draw(CONTENT) for k in kinds]
        if i == count - 1 and draw(st.booleans()):
            # The old file's last line lacked a newline and the new one has it: git marks the
            # removed line in the middle of the hunk.
            kinds += ["-", "+"]
            lines += ["-last", NO_NEWLINE, "+last"]
        old_n = sum(k != "+" for k in kinds)
        new_n = sum(k != "-" for k in kinds)
        # With a count of 0, the start names the line before (as diff and git write it).
        out.append((old_pos if old_n else old_pos - 1, old_n, new_pos if new_n else new_pos - 1, new_n, lines))
        old_pos, new_pos = old_pos + old_n, new_pos + new_n
    return out


def header(start: int, count: int, short: bool) -> str:
    return f"{start}" if count == 1 and short else f"{start},{count}"


@st.composite
def diffs(draw) -> tuple[str, list[str]]:
    """(diff text, the paths it names): 1-4 files, each modified, added, deleted or renamed."""
    text: list[str] = []
    names: list[str] = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["modified", "added", "deleted", "renamed"]))
        path = f"src/m{i}.py"
        old_path = f"old/m{i}.py" if kind == "renamed" else path
        names += [path] + ([old_path] if kind == "renamed" else [])
        short = draw(st.booleans())
        text.append(f"diff --git a/{old_path} b/{path}")
        if kind == "added":
            n = draw(st.integers(1, 12))
            text += ["new file mode 100644", "index 0000000..1111111", "--- /dev/null", f"+++ b/{path}",
                     f"@@ -0,0 +{header(1, n, short)} @@"]
            text += ["+" + draw(CONTENT) for _ in range(n)]
        elif kind == "deleted":
            n = draw(st.integers(1, 12))
            text += ["deleted file mode 100644", "index 1111111..0000000", f"--- a/{path}", "+++ /dev/null",
                     f"@@ -{header(1, n, short)} +0,0 @@"]
            text += ["-" + draw(CONTENT) for _ in range(n)]
        else:
            if kind == "renamed":
                text += ["similarity index 90%", f"rename from {old_path}", f"rename to {path}"]
                if draw(st.booleans()):
                    continue  # a pure rename: no hunks, nothing commentable
            text += ["index 1111111..2222222 100644", f"--- a/{old_path}", f"+++ b/{path}"]
            for o, on, n, nn, lines in draw(hunks()):
                text.append(f"@@ -{header(o, on, short)} +{header(n, nn, short)} @@")
                text += lines
        if draw(st.booleans()) and not text[-1].startswith(("rename", "similarity", "\\")):
            text.append(NO_NEWLINE)
    return "\n".join(text) + "\n", names


@st.composite
def findings(draw, names: list[str], last_line: int) -> list[ReviewFinding]:
    """Findings with unique fingerprints and categories, so that none merge with another.

    Mostly on the diff's files and lines up to a little past its last line; now and then on
    a file outside the diff, or about a whole file."""
    out = []
    for i in range(draw(st.integers(0, 14))):
        outside = draw(st.integers(0, 9)) == 0
        path = draw(st.sampled_from(["src/elsewhere.py", "README.md"] if outside else names))
        line = None if draw(st.integers(0, 9)) == 0 else draw(st.integers(1, last_line + 6))
        end = None if line is None else line + draw(st.integers(0, 10))
        out.append(ReviewFinding(
            path, line, end, side=draw(st.sampled_from(["new", "old"])),
            # nitpick last: hypothesis favours early elements, and nitpicks are only filtered
            severity=draw(st.sampled_from(["medium", "high", "critical", "low", "nitpick"])),
            category=f"c{i}", title=f"finding {i}", source="check:oracle", rule_id="oracle",
            fingerprint=f"{i:032x}",
        ))
    return out


# -- the property ------------------------------------------------------------------------------------


def inline_lines(inline: dict) -> tuple[str, int, int]:
    """(side, first, last) of an ``inline`` object, checking that it uses one side only."""
    if "to" in inline:
        assert "from" not in inline and "start_from" not in inline, inline
        return "new", inline.get("start_to", inline["to"]), inline["to"]
    assert "start_to" not in inline, inline
    return "old", inline.get("start_from", inline["from"]), inline["from"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), max_comments=st.integers(1, 15))
def test_every_inline_anchor_is_commentable_and_no_finding_is_dropped(data, max_comments):
    text, names = data.draw(diffs(), label="diff")
    oracle = parse_oracle(text)
    last_line = max((n for f in oracle.values() for _, n in f.positions), default=1)
    wanted = data.draw(findings(names, last_line), label="findings")
    calls: list[str] = []

    @bbreview.check(name="oracle")
    def oracle_check(file):
        calls.append(file.path)
        return wanted if len(calls) == 1 else []  # every finding once, whatever file it names

    rv = Reviewer({"reviews": {"max_comments": max_comments}}, [oracle_check], rules=False).review(text)
    assert rv.errors == []
    assert {f.path for f in rv.patchset} == {f.path for f in oracle.values()}

    by_fp = {f.fingerprint: f for f in wanted}
    placed: dict[str, list[str]] = defaultdict(list)
    for c in rv.comments:
        placed[c.finding.fingerprint].append("inline")
    for d in rv.deferred:
        placed[d.finding.fingerprint].append(d.reason)
    for d in rv.filtered:
        placed[d.finding.fingerprint].append(d.reason)
    for where in placed.values():
        event(f"placed: {where[0]}")
    # Each finding is in exactly one place: on a line, in the summary, or filtered.
    assert {fp: len(where) for fp, where in placed.items() if len(where) != 1} == {}
    assert set(placed) == set(by_fp), "findings dropped (or invented) by the review"

    minimum = rv.config.effective_min_severity()
    for c in rv.comments:
        f = by_fp[c.finding.fingerprint]
        file = oracle[f.path]
        inline = c.inline()
        side, first, last = inline_lines(inline)
        event(f"inline: {side} side, {'range' if last > first else 'one line'}, {'exact' if c.exact else 'narrowed'}")
        assert inline["path"] == file.path and side == f.side, (inline, f)
        assert f.line <= first <= last <= f.end_line, (inline, f)
        hunks = {file.positions.get((side, n)) for n in range(first, last + 1)}
        assert None not in hunks, f"{inline} is not all commentable in\n{text}"
        assert len(hunks) == 1, f"{inline} spans hunks {hunks} in\n{text}"
        # Narrowed to the largest overlap with a run of commentable lines, and exact only if whole.
        overlaps = [min(f.end_line, b) - max(f.line, a) + 1 for a, b in file.intervals(side)]
        assert last - first + 1 == max(overlaps), (inline, f, file.intervals(side))
        assert c.exact == any(a <= f.line and f.end_line <= b for a, b in file.intervals(side))

    least_inline = min((SEVERITY_RANK[c.finding.severity] for c in rv.comments), default=None)
    for d in rv.deferred + rv.filtered:
        f, reason = by_fp[d.finding.fingerprint], d.reason
        if SEVERITY_RANK[f.severity] < SEVERITY_RANK[minimum]:
            assert reason == BELOW_MIN, (reason, f)
            continue
        file = oracle.get(f.path)
        if file is None:
            expected = NOT_IN_DIFF
        elif f.line is None:
            expected = FILE_LEVEL
        elif not any((f.side, n) in file.positions for n in range(f.line, f.end_line + 1)):
            expected = OUTSIDE
        else:
            # Anchorable: only the cap keeps it off its lines, and the cap keeps the most severe.
            expected = OVER_CAP
            assert len(rv.comments) == max_comments, (f, len(rv.comments))
            assert SEVERITY_RANK[f.severity] <= least_inline, f
        assert reason == expected, (f, reason, text)
