"""Conformance against git: real repositories, real git output, git as the judge.

Every test builds a repository in tmp_path, makes git write a diff (diff,
log -p, show, format-patch), parses it, and checks each file's paths, status,
binary flag, modes, added/removed counts and hunk ranges against what
``git apply --numstat --summary`` reads in the same bytes (``-p0`` for
``--no-prefix``). The oracle is shared with scripts/regen-golden. Where the
diff came from a commit range, ``bytes(ps)`` must also apply with
``git apply --index`` at the old commit and reproduce the new tree exactly.

Each test runs twice: with git's default core.quotePath (true: non-ASCII names
are C-quoted with octal escapes) and with core.quotePath=false (raw bytes).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bbreview import FileDiff, PatchSet, diffstat, parse_diff

ROOT = Path(__file__).resolve().parents[2]

def load_regen_golden() -> ModuleType:
    """scripts/regen-golden as a module, for its git oracle and Repo helper."""
    path = ROOT / "scripts" / "regen-golden"
    loader = SourceFileLoader("regen_golden", str(path))
    spec = importlib.util.spec_from_file_location("regen_golden", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["regen_golden"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


ORACLE = load_regen_golden()
Repo = ORACLE.Repo
numbered = ORACLE.numbered
blob = ORACLE.blob


# ---- fixtures -------------------------------------------------------------------


@pytest.fixture(params=["default", "false"], ids=["quotepath-default", "quotepath-false"])
def git_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """An environment that ignores the machine's git config: a private HOME and no system config."""
    if shutil.which("git") is None:  # pragma: no cover - git is a test dependency
        pytest.fail("git is needed on PATH for the conformance tests")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_TERMINAL_PROMPT="0",
        TZ="UTC",
        LC_ALL="C",
    )
    config = (
        "[user]\n\tname = Conformance\n\temail = conformance@example.com\n"
        "[init]\n\tdefaultBranch = main\n"
        "[core]\n\tautocrlf = false\n"
        "[advice]\n\tdetachedHead = false\n"
    )
    if request.param == "false":
        config += "[core]\n\tquotePath = false\n"
    (home / ".gitconfig").write_text(config)
    return env


@pytest.fixture
def repo(git_env: dict[str, str], tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo", git_env)


class Judge:
    """Parses git's diffs and compares them with git apply's reading."""

    def __init__(self, work: Path) -> None:
        self.work = work

    def check(self, diff: bytes, *, strip: int = 1, files: int | None = None) -> PatchSet:
        assert diff, "git produced an empty diff: the scenario changed nothing"
        expected = ORACLE.git_expectation(diff, strip, self.work)
        ps = parse_diff(diff)
        assert [describe(f) for f in ps] == [normalized(f) for f in expected]
        assert not ps.warnings
        stats = diffstat(diff)
        assert [(f.path, f.status, f.added, f.removed) for f in stats] == \
            [(f.path, f.status, f.added, f.removed) for f in ps]
        if files is not None:
            assert len(ps) == files
        return ps

    def check_reemitted(self, ps: PatchSet, original: bytes, *, strip: int = 1) -> None:
        """bytes(ps) reads to git as the original does (paths, status, counts, modes)."""
        before = ORACLE.git_expectation(original, strip, self.work)
        after = ORACLE.git_expectation(bytes(ps), 1, self.work)
        for f in before:
            f["commit"] = -1  # bytes(ps) re-emits no commit headers
        assert after == before

    def check_applies(self, repo: Repo, base: str, target: str, ps: PatchSet) -> None:
        """bytes(ps) applies at `base` and yields exactly the tree of `target`."""
        worktree = self.work / f"wt-{base[:12]}-{target[:12]}"
        repo.git("worktree", "add", "-q", "--detach", str(worktree), base)
        patch = self.work / "reemitted.patch"
        patch.write_bytes(bytes(ps))
        run = subprocess.run(["git", "apply", "--index", str(patch)], cwd=worktree, env=repo.env,
                             capture_output=True, check=False)
        assert run.returncode == 0, run.stderr.decode(errors="replace")
        same = subprocess.run(["git", "diff", "--cached", "--quiet", target, "--"], cwd=worktree, env=repo.env,
                              check=False)
        assert same.returncode == 0, "applying bytes(ps) did not reproduce the target tree"
        repo.git("worktree", "remove", "--force", str(worktree))


@pytest.fixture
def judge(tmp_path: Path) -> Judge:
    work = tmp_path / "judge"
    work.mkdir()
    return Judge(work)


def field_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return bytes.fromhex(value["hex"])
    return value.encode("utf-8")


def normalized(f: dict[str, Any]) -> dict[str, Any]:
    out = dict(f, old_path=field_bytes(f["old_path"]), new_path=field_bytes(f["new_path"]))
    out["hunks"] = [dict(h, section=field_bytes(h["section"]).decode("utf-8", "replace")) for h in f["hunks"]]
    return out


def describe(f: FileDiff) -> dict[str, Any]:
    hunks = []
    for h in f.hunks:
        lines = h.lines
        hunks.append({
            "old_start": h.old_start, "old_count": h.old_count, "new_start": h.new_start, "new_count": h.new_count,
            "section": h.section, "lines": "".join(line.kind for line in lines),
            "no_newline": [i for i, line in enumerate(lines) if line.no_newline_at_eof],
            "crlf": [i for i, line in enumerate(lines) if line.line_ending == "\r\n"],
        })
    def encode(path: str | None) -> bytes | None:
        return None if path is None else path.encode("utf-8", "surrogateescape")

    return {
        "old_path": encode(f.old_path), "new_path": encode(f.new_path), "status": f.status,
        "is_binary": f.is_binary, "is_combined": f.is_combined, "old_mode": f.old_mode, "new_mode": f.new_mode,
        "similarity": f.similarity, "dissimilarity": f.dissimilarity, "added": f.added, "removed": f.removed,
        "commit": f.commit_index, "hunks": hunks,
    }


def commit_range(repo: Repo, build: Callable[[Repo], None], message: str = "change") -> tuple[str, str]:
    """Commits what `build` changes; returns (base, target)."""
    base = repo.head()
    build(repo)
    return base, repo.commit(message)


def by_path(ps: PatchSet) -> dict[str | None, FileDiff]:
    return {f.path: f for f in ps}


# ---- renames, copies, rewrites --------------------------------------------------


def test_renames_including_names_with_spaces(repo: Repo, judge: Judge) -> None:
    repo.write("dir one/file name.txt", numbered(1, 10))
    repo.write("plain.txt", numbered(1, 6))
    repo.write("exact copy.txt", numbered(20, 30))
    repo.commit("base")

    def change(r: Repo) -> None:
        r.move("dir one/file name.txt", "dir two/new name.txt")
        r.write("dir two/new name.txt", numbered(1, 10).replace("line 4", "line four"))
        r.move("plain.txt", "moved/plain.txt")
        r.move("exact copy.txt", "renamed exactly.txt")

    base, target = commit_range(repo, change)
    diff = repo.git("diff", "-M", base, target)
    ps = judge.check(diff, files=3)
    assert {f.status for f in ps} == {"renamed"}
    assert by_path(ps)["dir two/new name.txt"].old_path == "dir one/file name.txt"
    assert by_path(ps)["renamed exactly.txt"].similarity == 100
    judge.check_reemitted(ps, diff)
    judge.check_applies(repo, base, target, ps)


def test_copies_with_find_copies_harder(repo: Repo, judge: Judge) -> None:
    repo.write("orig.c", numbered(1, 15, "int v{};\n"))
    repo.commit("base")

    def change(r: Repo) -> None:
        r.write("copy one.c", numbered(1, 15, "int v{};\n").replace("v7;", "w7;"))
        r.write("sub/copy2.c", numbered(1, 15, "int v{};\n"))

    base, target = commit_range(repo, change)
    diff = repo.git("diff", "-C", "--find-copies-harder", base, target)
    ps = judge.check(diff, files=2)
    assert [f.status for f in ps] == ["copied", "copied"]
    assert all(f.old_path == "orig.c" for f in ps)
    judge.check_reemitted(ps, diff)
    judge.check_applies(repo, base, target, ps)


def test_rewrite_and_break_detection(repo: Repo, judge: Judge) -> None:
    repo.write("story.txt", numbered(1, 30, "once upon a time {}\n"))
    repo.commit("base")
    base, target = commit_range(repo, lambda r: r.write("story.txt", numbered(1, 30, "entirely new text {}\n")))
    diff = repo.git("diff", "-B", base, target)
    ps = judge.check(diff, files=1)
    assert ps[0].dissimilarity is not None
    judge.check_applies(repo, base, target, ps)


# ---- binary files ------------------------------------------------------------------


@pytest.mark.parametrize("binary_flag", [True, False], ids=["--binary", "no-binary"])
def test_binary_files(repo: Repo, judge: Judge, binary_flag: bool) -> None:
    repo.write("changed.bin", blob(1, 3000))
    repo.write("gone.bin", blob(2, 100))
    repo.write("text.txt", "text\n")
    repo.commit("base")

    def change(r: Repo) -> None:
        data = blob(1, 3000)
        r.write("changed.bin", data[:1500] + b"CHANGE" + data[1506:])
        r.remove("gone.bin")
        r.write("new pic.bin", blob(3, 64))
        r.write("text.txt", "text\nmore\n")

    base, target = commit_range(repo, change)
    diff = repo.git("diff", *(["--binary"] if binary_flag else []), base, target)
    ps = judge.check(diff, files=4)
    assert [f.is_binary for f in ps] == [True, True, True, False]
    judge.check_reemitted(ps, diff)
    if binary_flag:  # without --binary git has nothing to apply
        judge.check_applies(repo, base, target, ps)


# ---- modes, symlinks, submodules --------------------------------------------------------


def test_mode_changes(repo: Repo, judge: Judge) -> None:
    repo.write("run.sh", "#!/bin/sh\n")
    repo.write("tool with space.sh", "#!/bin/sh\n")
    repo.write("edit.sh", "#!/bin/sh\necho a\n", executable=True)
    repo.commit("base")

    def change(r: Repo) -> None:
        r.write("run.sh", "#!/bin/sh\n", executable=True)
        r.write("tool with space.sh", "#!/bin/sh\n", executable=True)
        r.write("edit.sh", "#!/bin/sh\necho b\n")
        r.write("new.sh", "#!/bin/sh\n", executable=True)

    base, target = commit_range(repo, change)
    diff = repo.git("diff", base, target)
    ps = judge.check(diff, files=4)
    files = by_path(ps)
    assert (files["run.sh"].old_mode, files["run.sh"].new_mode) == ("100644", "100755")
    assert (files["edit.sh"].old_mode, files["edit.sh"].new_mode) == ("100755", "100644")
    assert (files["new.sh"].old_mode, files["new.sh"].new_mode) == (None, "100755")
    judge.check_reemitted(ps, diff)
    judge.check_applies(repo, base, target, ps)


def test_symlinks(repo: Repo, judge: Judge) -> None:
    repo.write("target.txt", "t\n")
    repo.symlink("link", "target.txt")
    repo.write("becomes-link", "a file first\n")
    repo.commit("base")

    def change(r: Repo) -> None:
        r.symlink("link", "other.txt")
        r.symlink("dir/new link", "../target.txt")
        r.remove("becomes-link")
        r.symlink("becomes-link", "target.txt")

    base, target = commit_range(repo, change)
    diff = repo.git("diff", base, target)
    ps = judge.check(diff, files=4)  # the type change is a delete plus a create
    assert {f.new_mode for f in ps if f.new_mode} == {"120000"}
    assert all(line.no_newline_at_eof for f in ps if f.new_mode == "120000" for h in f.hunks
               for line in h.lines if line.kind == "+")
    judge.check_reemitted(ps, diff)
    judge.check_applies(repo, base, target, ps)


def test_submodule_change(repo: Repo, judge: Judge, git_env: dict[str, str], tmp_path: Path) -> None:
    sub = Repo(tmp_path / "sub", git_env)
    sub.write("lib.c", "int lib;\n")
    sub.commit("one")
    repo.write("main.c", "int main;\n")
    repo.commit("base")
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.path), "vendor/lib")
    added = repo.commit("add submodule")
    sub.write("lib.c", "int lib = 2;\n")
    sub.commit("two")
    repo.git("-C", "vendor/lib", "-c", "protocol.file.allow=always", "pull", "-q", "origin", "main")
    moved = repo.commit("move submodule")

    diff = repo.git("diff", "HEAD~2", added)
    ps = judge.check(diff, files=2)
    assert by_path(ps)["vendor/lib"].new_mode == "160000"
    assert by_path(ps)["vendor/lib"].status == "added"

    diff = repo.git("diff", added, moved)
    ps = judge.check(diff, files=1)
    assert (ps[0].old_mode, ps[0].new_mode, ps[0].added, ps[0].removed) == ("160000", "160000", 1, 1)
    judge.check_reemitted(ps, diff)

    # --submodule=diff inlines the submodule's own diff under "Submodule ..." lines.
    ps = judge.check(repo.git("diff", "--submodule=diff", added, moved), files=1)
    assert ps[0].path == "vendor/lib/lib.c"
    # --submodule=log lists commits only: no file diff at all, which is worth a warning.
    log_only = repo.git("diff", "--submodule=log", added, moved)
    assert log_only.startswith(b"Submodule vendor/lib ")
    ps = parse_diff(log_only)
    assert len(ps) == 0 and len(ps.warnings) == 1


# ---- hunks -------------------------------------------------------------------------------


@pytest.mark.parametrize("context", [0, 1, 3, 25])
def test_context_sizes(repo: Repo, judge: Judge, context: int) -> None:
    text = numbered(1, 120)
    repo.write("big.txt", text)
    repo.write("one.txt", "only\n")
    repo.commit("base")

    def change(r: Repo) -> None:
        t = text.replace("line 2\n", "line 2\ninserted\n").replace("line 40\n", "").replace("line 60", "line sixty")
        r.write("big.txt", t.replace("line 64\n", "line 64\nx\ny\n").replace("line 119\n", ""))
        r.write("one.txt", "changed\n")

    base, target = commit_range(repo, change)
    diff = repo.git("diff", f"-U{context}", base, target)
    ps = judge.check(diff, files=2)
    judge.check_reemitted(ps, diff)
    if context:  # git apply refuses -U0 patches without --unidiff-zero
        judge.check_applies(repo, base, target, ps)


def test_function_context_and_section_headings(repo: Repo, judge: Judge) -> None:
    body = "".join(f"    x += {i};\n" for i in range(15))
    src = "int first(int x)\n{\n" + body + "    return x;\n}\n\nint second(int x)\n{\n" + body + "    return x;\n}\n"
    repo.write("prog.c", src)
    repo.commit("base")
    base, target = commit_range(repo, lambda r: r.write("prog.c", src.replace("x += 12;", "x -= 12;")))
    for args in ([], ["-W"]):
        diff = repo.git("diff", *args, base, target)
        ps = judge.check(diff, files=1)
        judge.check_applies(repo, base, target, ps)
    assert parse_diff(repo.git("diff", base, target))[0].hunks[-1].section.startswith("int ")


def test_content_lines_that_look_like_headers(repo: Repo, judge: Judge) -> None:
    old = "top\n-- a/f.txt\ndiff --git a/x b/x\n@@ -1 +1 @@\nkeep\n- item\n"
    new = "top\n++ b/f.txt\ndiff --git a/x b/x\n@@ -2 +2 @@\ndiff --git a/y b/y\nkeep\n-- \n"
    repo.write("f.txt", old)
    repo.write("g.txt", "g\n")
    repo.commit("base")

    def change(r: Repo) -> None:
        r.write("f.txt", new)
        r.write("g.txt", "G\n")

    base, target = commit_range(repo, change)
    for context in (0, 3):
        diff = repo.git("diff", f"-U{context}", base, target)
        ps = judge.check(diff, files=2)
        judge.check_reemitted(ps, diff)


# ---- prefixes ------------------------------------------------------------------------------


def prefix_change(repo: Repo) -> tuple[str, str]:
    repo.write("src/main.c", numbered(1, 6))
    repo.write("src/gone.c", "bye\n")
    repo.write("docs/old name.md", numbered(1, 8))
    repo.write("a/x.txt", "x\n")  # a directory named like the default prefix
    repo.commit("base")

    def change(r: Repo) -> None:
        r.write("src/main.c", numbered(1, 6).replace("line 3", "line three"))
        r.remove("src/gone.c")
        r.write("src/new.c", "hello\n")
        r.move("docs/old name.md", "docs/new name.md")
        r.write("docs/new name.md", numbered(1, 8).replace("line 8", "line eight"))
        r.write("a/x.txt", "x\nx\n", executable=True)

    return commit_range(repo, change)


def test_no_prefix(repo: Repo, judge: Judge) -> None:
    base, target = prefix_change(repo)
    diff = repo.git("diff", "-M", "--no-prefix", base, target)
    ps = judge.check(diff, strip=0, files=5)
    assert by_path(ps)["a/x.txt"].new_mode == "100755"
    judge.check_reemitted(ps, diff, strip=0)
    judge.check_applies(repo, base, target, ps)


@pytest.mark.parametrize("prefixes", [("x/", "y/"), ("old/", "new/"), ("i/", "w/")])
def test_custom_prefix(repo: Repo, judge: Judge, prefixes: tuple[str, str]) -> None:
    base, target = prefix_change(repo)
    diff = repo.git("diff", "-M", f"--src-prefix={prefixes[0]}", f"--dst-prefix={prefixes[1]}", base, target)
    ps = judge.check(diff, files=5)
    judge.check_reemitted(ps, diff)
    judge.check_applies(repo, base, target, ps)


# ---- line endings and bytes -----------------------------------------------------------------------


def test_crlf_content(repo: Repo, judge: Judge) -> None:
    repo.write("win.txt", "a\r\nb\r\nc\r\n")
    repo.write("mixed.txt", "unix\nwin\r\nunix\n")
    repo.commit("base")

    def change(r: Repo) -> None:
        r.write("win.txt", "a\r\nB\r\nc\r\nd\r\n")
        r.write("mixed.txt", "unix\nwin2\r\nunix\nlast\r")

    base, target = commit_range(repo, change)
    diff = repo.git("diff", base, target)
    ps = judge.check(diff, files=2)
    assert [line.line_ending for line in by_path(ps)["win.txt"].hunks[0].lines] == ["\r\n"] * 5
    judge.check_reemitted(ps, diff)
    judge.check_applies(repo, base, target, ps)


@pytest.mark.parametrize("case", ["both", "old", "new"])
def test_no_newline_at_end_of_file(repo: Repo, judge: Judge, case: str) -> None:
    old_end, new_end = {"both": ("", ""), "old": ("", "\n"), "new": ("\n", "")}[case]
    repo.write("f.txt", "one\ntwo\nthree" + old_end)
    repo.commit("base")
    base, target = commit_range(repo, lambda r: r.write("f.txt", "one\ntwo\nTHREE" + new_end))
    diff = repo.git("diff", base, target)
    ps = judge.check(diff, files=1)
    marked = [line.kind for line in ps[0].hunks[0].lines if line.no_newline_at_eof]
    assert marked == {"both": ["-", "+"], "old": ["-"], "new": ["+"]}[case]
    judge.check_reemitted(ps, diff)
    judge.check_applies(repo, base, target, ps)


def test_non_utf8_path_and_content(repo: Repo, judge: Judge) -> None:
    repo.write(b"caf\xe9.txt", b"caf\xe9\n")
    repo.write("utf8 ünï.txt", "ünï\n")
    repo.commit("base")

    def change(r: Repo) -> None:
        r.write(b"caf\xe9.txt", b"caf\xe9 cr\xe8me\n\xff\n")
        r.write("utf8 ünï.txt", "ünï\ncödé\n")
        r.write(b"new \xff\xfe.bin.txt", b"\xfe\n")

    base, target = commit_range(repo, change)
    diff = repo.git("diff", base, target)
    ps = judge.check(diff, files=3)
    assert os.fsencode(by_path(ps)["caf\udce9.txt"].path) == b"caf\xe9.txt"
    assert by_path(ps)["caf\udce9.txt"].hunks[0].lines[-1].content_bytes == b"\xff"
    judge.check_reemitted(ps, diff)
    judge.check_applies(repo, base, target, ps)


def test_empty_files_and_deletes(repo: Repo, judge: Judge) -> None:
    repo.write("placeholder", "")
    repo.write("doomed.txt", numbered(1, 3))
    repo.write("dir/doomed two.txt", "x\n")
    repo.commit("base")

    def change(r: Repo) -> None:
        r.remove("placeholder")
        r.remove("doomed.txt")
        r.remove("dir/doomed two.txt")
        r.write("empty.txt", "")
        r.write("pkg/__init__.py", "")
        r.write("empty with space", "")

    base, target = commit_range(repo, change)
    diff = repo.git("diff", "--no-renames", base, target)
    ps = judge.check(diff, files=6)
    assert sorted(f.status for f in ps) == ["added"] * 3 + ["deleted"] * 3
    judge.check_reemitted(ps, diff)
    judge.check_applies(repo, base, target, ps)
    judge.check(repo.git("diff", "--no-renames", "-D", base, target), files=6)  # --irreversible-delete
    # With rename detection git pairs one deleted empty file with an added one.
    diff = repo.git("diff", "-M", base, target)
    ps = judge.check(diff, files=5)
    assert sorted(f.status for f in ps) == ["added"] * 2 + ["deleted"] * 2 + ["renamed"]
    judge.check_applies(repo, base, target, ps)


ODD_NAMES = ["trailing space ", " leading", "rock and roll.txt", "dev/null", "--- x", "+++ y", "foo b/bar",
             "a/b", "b/a", 'say "q"', "back\\slash", "tab\there", "new\nline", "diff --git x"]


def test_odd_file_names(repo: Repo, judge: Judge) -> None:
    for name in ODD_NAMES:
        repo.write(name, "v\n")
    repo.write("bin and more.bin", b"\x00\x01")
    base = repo.commit("base")
    for name in ODD_NAMES:
        repo.write(name, "v\nw\n")
    repo.write("bin and more.bin", b"\x00\x02")
    edited = repo.commit("edit")
    for args in ([], ["--binary"], ["--no-prefix"]):
        diff = repo.git("diff", *args, base, edited)
        ps = judge.check(diff, strip=0 if args == ["--no-prefix"] else 1, files=len(ODD_NAMES) + 1)
        if args == ["--binary"]:
            judge.check_applies(repo, base, edited, ps)
    for name in ODD_NAMES:  # mode changes alone: the names are only on the "diff --git" line
        repo.write(name, "v\nw\n", executable=True)
    chmod = repo.commit("chmod")
    ps = judge.check(repo.git("diff", edited, chmod), files=len(ODD_NAMES))
    judge.check_applies(repo, edited, chmod, ps)
    judge.check(repo.git("diff", "--no-prefix", edited, chmod), strip=0)
    for name in ODD_NAMES:
        repo.git("mv", "--", name, "renamed " + name.replace("/", "_"))
    moved = repo.commit("rename")
    ps = judge.check(repo.git("diff", "-M", chmod, moved), files=len(ODD_NAMES))
    assert {f.status for f in ps} == {"renamed"}
    judge.check_applies(repo, chmod, moved, ps)
    judge.check(repo.git("diff", "-M", "--no-prefix", chmod, moved), strip=0)


def test_other_diff_flavours(repo: Repo, judge: Judge) -> None:
    repo.write("blank.txt", "a\n\nb\n\nc\n")
    repo.write("data.bin", b"\x00abc\nde\x00f\n\xff\n")
    repo.write("keep.txt", "k\n")
    base = repo.commit("base")
    repo.write("blank.txt", "a\n\nB\n\nc\n")
    repo.write("data.bin", b"\x00abc\nXX\x00f\n\xff\n\rz\r\n")
    repo.remove("keep.txt")
    target = repo.commit("change")
    # Empty context lines written as "" rather than " ".
    ps = judge.check(repo.git("-c", "diff.suppressBlankEmpty=true", "diff", "--binary", base, target), files=3)
    judge.check_applies(repo, base, target, ps)
    # Binary content forced through as text: NUL and CR bytes inside lines.
    ps = judge.check(repo.git("diff", "--text", base, target), files=3)
    judge.check_applies(repo, base, target, ps)
    judge.check(repo.git("diff", "-R", base, target), files=3)
    judge.check(repo.git("diff", "--full-index", "--binary", base, target), files=3)
    judge.check(repo.git("diff", "--abbrev=4", "--stat", "-p", "--summary", base, target), files=3)
    judge.check(repo.git("diff", "--patch-with-raw", base, target), files=3)
    repo.write("blank.txt", "stashed\n")
    repo.git("stash", "-q")
    judge.check(repo.git("stash", "show", "-p"), files=1)


def test_git_diff_no_index(tmp_path: Path, git_env: dict[str, str], judge: Judge) -> None:
    for rel, text in {"old/sub/a.txt": "1\n", "new/sub/a.txt": "2\n", "old/gone.txt": "g\n", "new/born.txt": "b\n",
                      "x.txt": "1\n2\n", "y.txt": "1\n3\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)

    def no_index(*paths: str) -> bytes:
        proc = subprocess.run(["git", "diff", "--no-index", *paths], cwd=tmp_path, env=git_env, capture_output=True,
                              check=False)
        assert proc.returncode == 1, proc.stderr
        return proc.stdout

    ps = judge.check(no_index("x.txt", "y.txt"), files=1)
    assert (ps[0].old_path, ps[0].new_path) == ("x.txt", "y.txt")
    ps = judge.check(no_index("old", "new"), files=3)
    assert by_path(ps)["new/sub/a.txt"].old_path == "old/sub/a.txt"


# ---- history formats --------------------------------------------------------------------------------


def history(repo: Repo, *, diff_in_message: bool = True) -> str:
    """A few commits with renames, deletes, a merge and awkward names; returns the first commit.

    With `diff_in_message`, one message holds diff-like lines: git log indents
    them, but format-patch would not, and then git apply itself reads them as a diff.
    """
    repo.write("app.py", numbered(1, 5))
    repo.write("name with space.txt", "s\n")
    first = repo.commit("Add app")
    repo.git("checkout", "-q", "-b", "topic")
    repo.write("notes.txt", "note\n")
    body = "diff --git a/x b/x\n--- a/x\n+++ b/x" if diff_in_message else "Body.\n---\nAfter a dash line."
    repo.commit("Notes\n\n    indented\n" + body)
    repo.git("checkout", "-q", "main")
    repo.write("app.py", numbered(1, 6))
    repo.write("ünï.txt", "ü\n")
    repo.commit("Grow app and add a long subject line so that format-patch has to fold it over two lines")
    repo.tick += 1
    repo.git("merge", "-q", "--no-ff", "-m", "Merge topic", "topic")
    repo.move("app.py", "src/app.py")
    repo.remove("name with space.txt")
    repo.write("bin.dat", blob(5, 40))
    repo.commit("Move app")
    return first


@pytest.mark.parametrize("log_format", ["medium", "fuller", "raw", "email"])
def test_git_log_p(repo: Repo, judge: Judge, log_format: str) -> None:
    # The email format does not indent messages, so a diff inside one is a diff
    # to git apply too; it then rejects the input, leaving no oracle.
    history(repo, diff_in_message=log_format != "email")
    diff = repo.git("log", "-p", "-M", "--binary", "--decorate", f"--format={log_format}")
    ps = judge.check(diff)
    log = repo.commits()
    assert [c.sha for c in ps.commits] == [c["sha"] for c in log]
    if log_format != "raw":  # raw shows the message, not a subject line
        assert [c.subject for c in ps.commits] == [c["subject"] for c in log]
    judge.check_reemitted(ps, diff)


def test_git_log_p_with_stat_summary_and_raw(repo: Repo, judge: Judge) -> None:
    history(repo)
    for args in (["--stat", "--summary"], ["--raw"], ["-m", "--first-parent"], ["-m"]):
        judge.check(repo.git("log", "-p", "-M", "--binary", *args))


def test_format_patch(repo: Repo, judge: Judge) -> None:
    first = history(repo, diff_in_message=False)
    diff = repo.git("format-patch", "--stdout", "-M", "--binary", f"{first}..main")
    ps = judge.check(diff)
    log = repo.commits("--reverse", "--no-merges", f"{first}..main")
    assert [c.sha for c in ps.commits] == [c["sha"] for c in log]
    assert [c.subject for c in ps.commits] == [c["subject"] for c in log]
    judge.check_reemitted(ps, diff)


def test_format_patch_with_an_empty_commit(repo: Repo, judge: Judge) -> None:
    repo.write("f.txt", "1\n")
    base = repo.commit("base")
    repo.commit("An empty commit")
    repo.write("f.txt", "2\n")
    repo.commit("A real change")
    diff = repo.git("format-patch", "--always", "--stdout", f"{base}..HEAD")
    ps = judge.check(diff, files=1)
    assert [c.subject for c in ps.commits] == ["An empty commit", "A real change"]
    assert ps.commit_of(ps[0]).subject == "A real change"


def test_git_show(repo: Repo, judge: Judge) -> None:
    history(repo)
    for args in ([], ["--stat", "-p"], ["--format=fuller"], ["--binary"]):
        diff = repo.git("show", "-M", *args, "HEAD")
        ps = judge.check(diff, files=3)
        assert [c.sha for c in ps.commits] == [repo.head()]
    base, target = repo.git("rev-parse", "HEAD~1").decode().strip(), repo.head()
    judge.check_applies(repo, base, target, parse_diff(repo.git("show", "-M", "--binary", "HEAD")))


def test_every_commit_of_a_history(repo: Repo, judge: Judge) -> None:
    history(repo)
    for sha in repo.git("rev-list", "--no-merges", "HEAD").decode().split()[:-1]:
        diff = repo.git("diff", "-M", "--binary", f"{sha}~1", sha)
        ps = judge.check(diff)
        judge.check_applies(repo, f"{sha}~1", sha, ps)


# ---- GNU diff ----------------------------------------------------------------------------------------


def test_plain_diff_u_and_recursive(tmp_path: Path, judge: Judge) -> None:
    if shutil.which("diff") is None:  # pragma: no cover
        pytest.fail("GNU diff is needed on PATH")
    for rel, text in {"old/a.txt": "1\n2\n3\n", "new/a.txt": "1\ntwo\n3\n", "old/sub/gone.txt": "g\n",
                      "new/sub/born.txt": "b\n", "old/sub/x y.c": "x\n", "new/sub/x y.c": "x\ny"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    env = dict(os.environ, TZ="UTC", LC_ALL="C")
    one = subprocess.run(["diff", "-u", "old/a.txt", "new/a.txt"], cwd=tmp_path, env=env, capture_output=True).stdout
    judge.check(one, files=1)
    tree = subprocess.run(["diff", "-ruN", "old", "new"], cwd=tmp_path, env=env, capture_output=True).stdout
    ps = judge.check(tree, files=4)
    assert sorted(f.status for f in ps) == ["added", "deleted", "modified", "modified"]
