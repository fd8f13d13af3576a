"""The git repositories that back the emulator.

Each emulated repository is a bare git repository on disk. Commits are written
with ``git fast-import`` (one process per commit, no work tree), and every read
(diff, diffstat, patch, log, file contents) asks git itself, so what the
emulator serves is what git computes.

Thread safety: writes take the repository's own lock; reads run git
concurrently (git is safe for concurrent readers). The in-memory index of
branches and commit hashes is replaced, never mutated in place, so readers on
other threads see a consistent snapshot.
"""

from __future__ import annotations

import bisect
import os
import re
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

__all__ = ["GitError", "GitRepo", "CommitInfo", "DiffStatEntry", "git_env"]

#: Upper bound of one git invocation. Generous: a slow disk under a shared CI
#: machine must not fail a test, but a hung git must not hang the emulator.
GIT_TIMEOUT_S = 60.0

_HEX = re.compile(r"^[0-9a-f]{4,40}$")


class GitError(RuntimeError):
    """A git command failed; the message quotes the command and git's stderr."""


def git_env(home: str) -> dict[str, str]:
    """An environment that isolates git from the user's and system configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        HOME=home,
        LC_ALL="C",
        TZ="UTC",
    )
    return env


@dataclass(frozen=True)
class CommitInfo:
    """One commit as git records it (full hashes)."""

    hash: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    date: str  # ISO-8601 with offset, e.g. 2026-01-01T00:00:00+00:00
    message: str


@dataclass(frozen=True)
class DiffStatEntry:
    """One file of a diffstat, as ``git diff --numstat``/``--name-status`` report it."""

    status: str  # added | removed | modified | renamed
    old_path: str | None
    new_path: str | None
    lines_added: int
    lines_removed: int
    binary: bool


@dataclass
class _Index:
    branches: dict[str, str] = field(default_factory=dict)
    hashes: list[str] = field(default_factory=list)  # sorted full hashes


def _quote_path(path: str) -> str:
    """C-style quoting for fast-import paths (always quoted: spaces, quotes, newlines)."""
    out = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{out}"'


class GitRepo:
    """A bare git repository with an in-memory index of its refs and commits.

    ``path`` must not exist yet (``create``) or must be a bare repository made by
    this class. ``home`` is the HOME git runs with (an empty directory).
    """

    def __init__(self, path: str, home: str) -> None:
        self.path = path
        self._env = git_env(home)
        self._write_lock = threading.Lock()
        self._index = _Index()
        self._meta: dict[str, CommitInfo] = {}

    # -- plumbing -----------------------------------------------------------------

    def run(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        """Runs ``git args`` in the repository and returns stdout.

        Raises GitError when git exits non-zero (and ``check`` is true).
        """
        proc = subprocess.run(
            ["git", "--git-dir", self.path, *args],
            input=input,
            capture_output=True,
            env=self._env,
            timeout=GIT_TIMEOUT_S,
        )
        if check and proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise GitError(f"git {' '.join(args)} failed ({proc.returncode}): {err}")
        return proc.stdout

    def create(self, initial_branch: str) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        subprocess.run(
            ["git", "init", "-q", "--bare", "-b", initial_branch, self.path],
            check=True,
            capture_output=True,
            env=self._env,
            timeout=GIT_TIMEOUT_S,
        )

    def fork_to(self, path: str, home: str) -> GitRepo:
        """A new bare repository at ``path`` with this one's branches and history (a fork).

        The fork borrows this repository's objects (``git clone --shared``) instead of
        copying them; see :meth:`set_alternates` for reading a fork's new commits here.
        """
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run(
            ["git", "clone", "-q", "--bare", "--shared", self.path, path],
            check=True,
            capture_output=True,
            env=self._env,
            timeout=GIT_TIMEOUT_S,
        )
        fork = GitRepo(path, self._env["HOME"])
        index = self._index
        fork._index = _Index(dict(index.branches), list(index.hashes))
        return fork

    @property
    def objects_dir(self) -> str:
        return os.path.join(self.path, "objects")

    def set_alternates(self, object_dirs: Iterable[str]) -> None:
        """Lets git read objects from ``object_dirs`` too (``objects/info/alternates``).

        A fork network's repositories list each other, so any of them can diff
        commits made in another (what Bitbucket does for fork pull requests).
        Git skips an entry naming the repository's own object directory. The file
        is replaced atomically: concurrent git readers see the old or the new list.
        """
        info = os.path.join(self.objects_dir, "info")
        os.makedirs(info, exist_ok=True)
        target = os.path.join(info, "alternates")
        tmp = target + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("".join(f"{os.path.abspath(d)}\n" for d in object_dirs))
        os.replace(tmp, target)

    # -- index ----------------------------------------------------------------------

    @property
    def branches(self) -> dict[str, str]:
        """Branch name -> full hash of its tip (a snapshot copy)."""
        return dict(self._index.branches)

    def resolve(self, rev: str) -> str | None:
        """Full hash of a branch name or a (possibly abbreviated) commit hash.

        Returns None when ``rev`` names nothing or an abbreviation is ambiguous.
        Answers from memory; never runs git.
        """
        index = self._index
        tip = index.branches.get(rev)
        if tip is not None:
            return tip
        rev = rev.lower()
        if not _HEX.match(rev):
            return None
        hashes = index.hashes
        i = bisect.bisect_left(hashes, rev)
        if i < len(hashes) and hashes[i].startswith(rev):
            if i + 1 < len(hashes) and hashes[i + 1].startswith(rev) and len(rev) < 40:
                return None
            return hashes[i]
        return None

    def _remember(self, commit: str, branch: str | None) -> None:
        index = self._index
        hashes = list(index.hashes)
        i = bisect.bisect_left(hashes, commit)
        if i >= len(hashes) or hashes[i] != commit:
            hashes.insert(i, commit)
        branches = dict(index.branches)
        if branch is not None:
            branches[branch] = commit
        self._index = _Index(branches, hashes)

    def remember(self, commits: Iterable[str]) -> None:
        """Adds ``commits`` (full hashes, e.g. a fork's commits merged here) to the index."""
        index = self._index
        hashes = sorted(set(index.hashes).union(commits))
        self._index = _Index(dict(index.branches), hashes)

    def _forget_branch(self, branch: str) -> None:
        branches = dict(self._index.branches)
        branches.pop(branch, None)
        self._index = _Index(branches, self._index.hashes)

    # -- writes ---------------------------------------------------------------------

    def commit(
        self,
        branch: str,
        files: Mapping[str, str | bytes | None],
        message: str,
        author_name: str,
        author_email: str,
        when: datetime,
        parent: str | None,
        executable: Iterable[str] = (),
    ) -> str:
        """Writes one commit on ``branch`` and returns its full hash.

        ``files`` maps a path to its new content, or to None to delete it; paths
        not named keep their content from ``parent``. ``parent`` is the full hash
        of the parent commit, or None for a root commit. The branch is moved to
        the new commit (forced: the caller decides the history).
        """
        execs = set(executable)
        ts = int(when.timestamp())
        who = f"{author_name} <{author_email}> {ts} +0000"
        msg = message.encode()
        parts = [
            f"commit refs/heads/{branch}\nmark :1\nauthor {who}\ncommitter {who}\n".encode(),
            b"data %d\n" % len(msg),
            msg,
            b"\n",
        ]
        if parent:
            parts.append(f"from {parent}\n".encode())
        for path, content in files.items():
            if content is None:
                parts.append(f"D {_quote_path(path)}\n".encode())
                continue
            data = content.encode() if isinstance(content, str) else bytes(content)
            mode = "100755" if path in execs else "100644"
            parts.append(f"M {mode} inline {_quote_path(path)}\n".encode())
            parts.append(b"data %d\n" % len(data))
            parts.append(data)
            parts.append(b"\n")
        parts.append(b"get-mark :1\n")
        with self._write_lock:
            out = self.run("fast-import", "--quiet", "--force", input=b"".join(parts))
            full = out.decode().strip().splitlines()[-1]
            self._remember(full, branch)
        return full

    def commit_many(
        self,
        commits: Sequence[tuple[str, Mapping[str, str | bytes | None], str, str, str, datetime, str | None]],
    ) -> list[str]:
        """Writes many commits with one ``git fast-import``; returns their full hashes in order.

        Each item is (branch, files, message, author name, author email, when,
        parent full hash or None), with the meaning of :meth:`commit`.
        """
        parts: list[bytes] = []
        for mark, (branch, files, message, name, email, when, parent) in enumerate(commits, start=1):
            who = f"{name} <{email}> {int(when.timestamp())} +0000"
            msg = message.encode()
            parts.append(f"commit refs/heads/{branch}\nmark :{mark}\nauthor {who}\ncommitter {who}\n".encode())
            parts.append(b"data %d\n" % len(msg) + msg + b"\n")
            if parent:
                parts.append(f"from {parent}\n".encode())
            for path, content in files.items():
                if content is None:
                    parts.append(f"D {_quote_path(path)}\n".encode())
                    continue
                data = content.encode() if isinstance(content, str) else bytes(content)
                parts.append(f"M 100644 inline {_quote_path(path)}\n".encode() + b"data %d\n" % len(data) + data + b"\n")
        parts += [f"get-mark :{mark}\n".encode() for mark in range(1, len(commits) + 1)]
        with self._write_lock:
            out = self.run("fast-import", "--quiet", "--force", input=b"".join(parts))
            hashes = out.decode().split()[-len(commits):] if commits else []
            for (branch, *_rest), full in zip(commits, hashes, strict=True):
                self._remember(full, branch)
        return hashes

    def merge(
        self,
        ours: str,
        theirs: str,
        branch: str,
        message: str,
        author_name: str,
        author_email: str,
        when: datetime,
    ) -> str:
        """Creates a merge commit of ``theirs`` into ``ours`` on ``branch``.

        Raises GitError on a conflict (git merge-tree exits non-zero).
        """
        tree = self.run("merge-tree", "--write-tree", ours, theirs).decode().split()[0]
        date = f"{int(when.timestamp())} +0000"
        env = dict(self._env)
        env.update(
            GIT_AUTHOR_NAME=author_name,
            GIT_AUTHOR_EMAIL=author_email,
            GIT_AUTHOR_DATE=date,
            GIT_COMMITTER_NAME=author_name,
            GIT_COMMITTER_EMAIL=author_email,
            GIT_COMMITTER_DATE=date,
        )
        with self._write_lock:
            proc = subprocess.run(
                ["git", "--git-dir", self.path, "commit-tree", tree, "-p", ours, "-p", theirs],
                input=message.encode(),
                capture_output=True,
                env=env,
                check=True,
                timeout=GIT_TIMEOUT_S,
            )
            full = proc.stdout.decode().strip()
            self.run("update-ref", f"refs/heads/{branch}", full)
            self._remember(full, branch)
        return full

    def set_branch(self, branch: str, commit: str | None) -> None:
        """Points ``branch`` at ``commit`` (None deletes the branch)."""
        with self._write_lock:
            if commit is None:
                self.run("update-ref", "-d", f"refs/heads/{branch}")
                self._forget_branch(branch)
            else:
                self.run("update-ref", f"refs/heads/{branch}", commit)
                self._remember(commit, branch)

    # -- reads ----------------------------------------------------------------------

    def merge_base(self, a: str, b: str) -> str | None:
        out = self.run("merge-base", a, b, check=False).decode().strip()
        return out or None

    def first_parent(self, commit: str) -> str | None:
        info = self.commit_info(commit)
        return info.parents[0] if info.parents else None

    def diff(
        self,
        base: str | None,
        head: str,
        *,
        context: int = 3,
        paths: Sequence[str] = (),
        ignore_whitespace: bool = False,
        renames: bool = True,
        binary: bool = True,
    ) -> bytes:
        """``git diff base head`` as bytes (base None: against the empty tree)."""
        args = ["diff", f"-U{context}", "--no-color", "--no-ext-diff"]
        args.append("-M" if renames else "--no-renames")
        if ignore_whitespace:
            args.append("-w")
        args += [base or self.empty_tree(), head, "--", *paths]
        out = self.run(*args)
        if not binary:
            out = _drop_binary_sections(out)
        return out

    def diffstat(
        self,
        base: str | None,
        head: str,
        *,
        paths: Sequence[str] = (),
        ignore_whitespace: bool = False,
        renames: bool = True,
    ) -> list[DiffStatEntry]:
        """Per-file statistics, in git's file order."""
        common = ["-z", "-M" if renames else "--no-renames"]
        if ignore_whitespace:
            common.append("-w")
        revs = [base or self.empty_tree(), head, "--", *paths]
        status_raw = self.run("diff", "--name-status", *common, *revs).split(b"\0")
        num_raw = self.run("diff", "--numstat", *common, *revs).split(b"\0")
        statuses: list[tuple[str, str | None, str | None]] = []
        i = 0
        while i < len(status_raw) and status_raw[i]:
            code = status_raw[i].decode()[0]
            if code in "RC":
                old, new = status_raw[i + 1].decode(), status_raw[i + 2].decode()
                statuses.append(("renamed" if code == "R" else "added", old if code == "R" else None, new))
                i += 3
                continue
            path = status_raw[i + 1].decode()
            kind = {"A": "added", "D": "removed"}.get(code, "modified")
            statuses.append((kind, None if kind == "added" else path, None if kind == "removed" else path))
            i += 2
        nums: list[tuple[int, int, bool]] = []
        i = 0
        while i < len(num_raw) and num_raw[i]:
            fields = num_raw[i].decode().split("\t")
            added, removed = fields[0], fields[1]
            binary = added == "-"
            nums.append((0 if binary else int(added), 0 if binary else int(removed), binary))
            i += 3 if fields[2] == "" else 1  # renames: "a\tr\t\0old\0new\0"
        return [
            DiffStatEntry(kind, old, new, a, r, b)
            for (kind, old, new), (a, r, b) in zip(statuses, nums, strict=False)
        ]

    def format_patch(self, base: str | None, head: str) -> bytes:
        """``git format-patch --stdout`` for the commits in base..head."""
        if base is None:
            return self.run("format-patch", "--stdout", "--root", head)
        return self.run("format-patch", "--stdout", f"{base}..{head}")

    def empty_tree(self) -> str:
        return self.run("hash-object", "-t", "tree", os.devnull).decode().strip()

    def log(self, include: Sequence[str], exclude: Sequence[str] = (), limit: int | None = None) -> list[CommitInfo]:
        """Commits reachable from ``include`` but not ``exclude``, newest first."""
        args = ["log", "--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%B%x1e"]
        if limit is not None:
            args.append(f"-n{limit}")
        args += list(include) + [f"^{x}" for x in exclude] + ["--"]
        out = self.run(*args).decode("utf-8", "replace")
        infos = []
        for rec in out.split("\x1e"):
            rec = rec.lstrip("\n")
            if not rec:
                continue
            h, parents, name, email, date, body = rec.split("\x00", 5)
            info = CommitInfo(h, tuple(parents.split()), name, email, date, body)
            self._meta[h] = info
            infos.append(info)
        return infos

    def commit_info(self, commit: str) -> CommitInfo:
        """Metadata of one commit (cached: commits are immutable)."""
        info = self._meta.get(commit)
        if info is None:
            info = self.log([commit], limit=1)[0]
        return info

    def object_type(self, commit: str, path: str) -> tuple[str, str, int] | None:
        """(type, object hash, size) of ``path`` at ``commit``; None if missing."""
        spec = f"{commit}:{path}" if path else f"{commit}^{{tree}}"
        out = self.run("cat-file", "--batch-check", input=spec.encode() + b"\n").decode().split()
        if len(out) < 3 or out[1] == "missing":
            return None
        return out[1], out[0], int(out[2])

    def read_blob(self, obj: str) -> bytes:
        return self.run("cat-file", "blob", obj)

    def list_tree(self, commit: str, path: str) -> list[tuple[str, str, str, int | None, str]]:
        """Entries (mode, type, path, size, hash) of the directory ``path`` at ``commit``."""
        target = f"{commit}:{path}" if path else commit
        out = self.run("ls-tree", "-l", "-z", target).split(b"\0")
        entries = []
        for rec in out:
            if not rec:
                continue
            meta, name = rec.decode().split("\t", 1)
            mode, kind, obj, size = meta.split()
            full = f"{path.rstrip('/')}/{name}" if path else name
            entries.append((mode, kind, full, None if size == "-" else int(size), obj))
        return entries

    def changed_paths(self, a: str, b: str) -> set[str]:
        out = self.run("diff", "--name-only", "-z", "--no-renames", a, b)
        return {p.decode() for p in out.split(b"\0") if p}


def _drop_binary_sections(diff: bytes) -> bytes:
    sections = re.split(rb"(?m)^(?=diff --git )", diff)
    return b"".join(s for s in sections if not re.search(rb"(?m)^Binary files .* differ$", s))


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
