"""What a review reads: a change with a diff, a head commit and files.

:class:`PullRequest` is a Bitbucket Cloud pull request read through the
client; :class:`GitChange` is a range of a local git repository;
:class:`PatchSetChange` wraps a diff that is already parsed. The pipeline
needs only the :class:`Change` protocol.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bbreview.diff import PatchSet, parse_diff
from bbreview.errors import Error, NotFound

__all__ = ["Change", "PullRequest", "GitChange", "PatchSetChange", "parse_pr_url", "CONFIG_FILE"]

#: The repository configuration file, read from the change's head (issue: source branch).
CONFIG_FILE = ".bbreview.yaml"


@runtime_checkable
class Change(Protocol):
    """A reviewable change."""

    label: str  # e.g. "acme/app#7" or "HEAD~3..HEAD"
    title: str
    description: str
    base_commit: str | None
    head_commit: str | None

    def diff(self) -> PatchSet: ...
    def diff_since(self, commit: str) -> PatchSet: ...
    def read_file(self, path: str) -> bytes | None: ...


@dataclass
class PatchSetChange:
    """A parsed diff with no repository behind it (no incremental reviews, no files)."""

    patchset: PatchSet
    label: str = "diff"
    title: str = ""
    description: str = ""
    base_commit: str | None = None
    head_commit: str | None = None

    def diff(self) -> PatchSet:
        return self.patchset

    def diff_since(self, commit: str) -> PatchSet:
        raise Error("an incremental review needs a repository; this change is a bare diff")

    def read_file(self, path: str) -> bytes | None:
        return None


def _git(repo: str, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", repo, *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise Error("git is not installed or not on PATH") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Error(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return done.stdout


@dataclass
class GitChange:
    """``base..head`` of a local git repository (``head=None``: the working tree)."""

    repo: str
    base: str
    head: str | None = "HEAD"
    title: str = ""
    description: str = ""
    base_commit: str | None = field(init=False, default=None)
    head_commit: str | None = field(init=False, default=None)
    label: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.base_commit = _git(self.repo, "rev-parse", "--verify", f"{self.base}^{{commit}}").decode().strip()
        if self.head is not None:
            self.head_commit = _git(self.repo, "rev-parse", "--verify", f"{self.head}^{{commit}}").decode().strip()
        self.label = f"{self.base_commit[:12]}..{self.head_commit[:12] if self.head_commit else 'working tree'}"
        if not self.title and self.head_commit:
            self.title = _git(self.repo, "log", "-1", "--format=%s", self.head_commit).decode("utf-8", "replace").strip()

    @classmethod
    def merge_base(cls, repo: str, base: str | None = None, head: str | None = "HEAD") -> GitChange:
        """The change from the merge base of ``head`` and ``base`` (default: the
        default branch: ``origin/HEAD``, else ``main``, else ``master``)."""
        if base is None:
            base = default_branch(repo)
        point = _git(repo, "merge-base", base, head or "HEAD").decode().strip()
        return cls(repo, point, head)

    def _diff(self, base: str) -> PatchSet:
        args = ["diff", "--no-color", "--no-ext-diff", "-M", "--full-index", base]
        if self.head_commit:
            args.append(self.head_commit)
        return parse_diff(_git(self.repo, *args), strict=False)

    def diff(self) -> PatchSet:
        return self._diff(self.base_commit or self.base)

    def diff_since(self, commit: str) -> PatchSet:
        return self._diff(commit)

    def read_file(self, path: str) -> bytes | None:
        if self.head_commit is None:
            try:
                with open(f"{self.repo}/{path}", "rb") as fh:
                    return fh.read()
            except FileNotFoundError:
                return None
        try:
            return _git(self.repo, "show", f"{self.head_commit}:{path}")
        except Error:
            return None


def default_branch(repo: str) -> str:
    """``origin/HEAD``'s target, else ``main``, else ``master``; raises Error naming what to pass."""
    try:
        return _git(repo, "symbolic-ref", "--short", "refs/remotes/origin/HEAD").decode().strip()
    except Error:
        pass
    for name in ("main", "master", "origin/main", "origin/master"):
        try:
            _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
            return name
        except Error:
            continue
    raise Error("cannot find the default branch (no origin/HEAD, main or master); pass --base REV")


_PR_URL = re.compile(
    r"^(?:https?://[^/]+/)?(?P<ws>[^/\s]+)/(?P<repo>[^/\s]+)/pull-requests/(?P<id>\d+)(?:[/?#].*)?$"
)


def parse_pr_url(url: str) -> tuple[str, str, int]:
    """``https://bitbucket.org/WS/REPO/pull-requests/N`` (or ``WS/REPO/pull-requests/N``) → (ws, repo, N)."""
    m = _PR_URL.match(url.strip())
    if not m:
        raise Error(
            f"not a pull request URL: {url!r}; expected https://bitbucket.org/WORKSPACE/REPO/pull-requests/N"
        )
    return m["ws"], m["repo"], int(m["id"])


class PullRequest:
    """A Bitbucket Cloud pull request, read through a :class:`~bbreview.bitbucket.Client`.

    The PR JSON is fetched once (or passed in, e.g. from a webhook payload) and
    the diff is fetched by commit hashes, so it is cached and never races a push.
    """

    def __init__(self, client: Any, workspace: str, repo: str, pr_id: int, *, data: dict | None = None) -> None:
        self.client = client
        self.workspace = workspace
        self.repo = repo
        self.id = int(pr_id)
        self.data = data if data is not None else client.pull_request(workspace, repo, self.id)
        self._diff: PatchSet | None = None
        self._head_full: str | None = None
        self._files: dict[str, bytes | None] = {}

    def prefetch(self, *paths: str) -> None:
        """Fetches the diff, the full head hash and ``paths`` (e.g. ``.bbreview.yaml``)
        in one concurrent batch, so that a review starts after one round trip, not three.
        Failures are left for the individual calls to raise."""
        if not self.head_commit:
            return
        c = self.client.calls
        calls = [c.pr_diff(self.data), c.commit(self.workspace, self.repo, self.head_commit)]
        calls += [c.file(self.workspace, self.repo, self.head_commit, p) for p in paths]
        answers = self.client.map(calls, concurrency=len(calls))
        diff, commit, files = answers[0], answers[1], answers[2:]
        if not isinstance(diff, BaseException):
            self._diff = diff
        if not isinstance(commit, BaseException):
            self._head_full = str(commit["hash"])
        for path, answer in zip(paths, files):
            if isinstance(answer, NotFound):
                self._files[path] = None
            elif not isinstance(answer, BaseException):
                self._files[path] = answer

    @classmethod
    def from_url(cls, client: Any, url: str) -> PullRequest:
        ws, repo, pr_id = parse_pr_url(url)
        return cls(client, ws, repo, pr_id)

    @property
    def label(self) -> str:
        return f"{self.workspace}/{self.repo}#{self.id}"

    @property
    def title(self) -> str:
        return str(self.data.get("title") or "")

    @property
    def description(self) -> str:
        return str(self.data.get("description") or "")

    @property
    def base_commit(self) -> str | None:
        return ((self.data.get("destination") or {}).get("commit") or {}).get("hash")

    @property
    def head_commit(self) -> str | None:
        return ((self.data.get("source") or {}).get("commit") or {}).get("hash")

    @property
    def source_branch(self) -> str | None:
        return ((self.data.get("source") or {}).get("branch") or {}).get("name")

    @property
    def author(self) -> dict[str, Any]:
        return self.data.get("author") or {}

    def full_head(self) -> str:
        """The source commit's full 40-hex hash (webhooks and PR JSON carry 12, §9.8)."""
        if self._head_full is None:
            self._head_full = self.client.full_hash(self.workspace, self.repo, self.head_commit or "")
        return self._head_full

    def diff(self) -> PatchSet:
        if self._diff is None:
            self._diff = self.client.run(self.client.calls.pr_diff(self.data))
        return self._diff

    def diff_since(self, commit: str) -> PatchSet:
        # Repository diff "A..B": A is the change (the new head), B the base (§6.4).
        return self.client.diff(self.workspace, self.repo, spec=f"{self.head_commit}..{commit}")

    def read_file(self, path: str) -> bytes | None:
        if not self.head_commit:
            return None
        if path in self._files:
            return self._files[path]
        try:
            return self.client.file(self.workspace, self.repo, self.head_commit, path)
        except NotFound:
            return None

    def read_base_file(self, path: str) -> bytes | None:
        """``path`` at the destination commit (None when it does not exist there).

        The review reads ``.bbreview.yaml`` (and its rule files) from here when
        the pull request itself changes them, so a PR cannot steer its own review.
        """
        if not self.base_commit:
            return None
        try:
            return self.client.file(self.workspace, self.repo, self.base_commit, path)
        except NotFound:
            return None

    @property
    def destination_branch(self) -> str | None:
        return ((self.data.get("destination") or {}).get("branch") or {}).get("name")
