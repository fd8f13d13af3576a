"""What a review reads: a change with a diff, a head commit and files.

:class:`PullRequest` is a Bitbucket Cloud pull request read through the
client; :class:`GitChange` is a range of a local git repository;
:class:`PatchSetChange` wraps a diff that is already parsed. The pipeline
needs only the :class:`Change` protocol.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from bbreview.diff import PatchSet, parse_diff
from bbreview.errors import BitbucketError, Error, NotFound

__all__ = [
    "Change",
    "PullRequest",
    "GitChange",
    "PatchSetChange",
    "UnavailableFile",
    "parse_pr_url",
    "CONFIG_FILE",
    "DIFF_TOO_LARGE",
]

#: The repository configuration file, read from the change's head (issue: source branch).
CONFIG_FILE = ".bbreview.yaml"

#: Bitbucket answers 555 when it times out generating a diff or diffstat
#: because it is too large (reference §3 status table, §6.4 "huge diffs may 555").
DIFF_TOO_LARGE_STATUS = 555
#: Why a file is missing from a review when even its own diff answers 555.
DIFF_TOO_LARGE = "Bitbucket could not generate its diff: too large"
#: Files (``path`` parameters) per request when a diff is fetched in parts.
#: Bitbucket documents no limit on repeated ``path`` parameters (§6.4); 50
#: keeps the URL a few kilobytes long and each part well under the size that 555s.
DIFF_PATHS_PER_REQUEST = 50
#: Diffstat entries per page: the endpoint's documented maximum (§4.1: default 500, max 5000).
DIFFSTAT_PAGELEN = 5000
#: What Bitbucket answers for a repository the caller may not read: 403, or 404 because
#: private repositories often look missing (§3, §6.2).
HIDDEN_STATUSES = (403, 404)


@dataclass(frozen=True)
class UnavailableFile:
    """A changed file whose diff Bitbucket could not produce, and why.

    ``status``/``added``/``removed`` come from the diffstat when it could be
    read (``status`` is ``"unknown"`` otherwise). The review lists it among the
    skipped files with ``reason``, so nothing goes missing silently.
    """

    path: str
    reason: str = DIFF_TOO_LARGE
    status: str = "unknown"
    added: int = 0
    removed: int = 0
    old_path: str | None = None


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

    # Optional: ``unavailable`` -> list[UnavailableFile], the changed files that
    # diff() could not include (read by the pipeline with getattr, after diff()),
    # and ``unavailable_since`` -> the same for the last diff_since().


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

    Pull requests from forks: the source commit lives in the fork
    (``source.repository``), so files at the head are read there, while
    :meth:`read_base_file` reads the destination. Diffs go through the
    destination repository with the fork-prefixed spec (§6.4), which needs no
    access to the fork. When the fork cannot be read (403/404: a private fork
    the bot is not a member of), :meth:`read_file` answers with the
    destination's copy of the files the pull request does not change and None
    for those it changes, so ``.bbreview.yaml`` and rule files come from the
    destination (also the safe choice for untrusted forks); :attr:`notes` says so.
    """

    def __init__(self, client: Any, workspace: str, repo: str, pr_id: int, *, data: dict | None = None) -> None:
        self.client = client
        self.workspace = workspace
        self.repo = repo
        self.id = int(pr_id)
        self.data = data if data is not None else client.pull_request(workspace, repo, self.id)
        self._diff: PatchSet | None = None
        self._diff_too_large = False
        self._head_full: str | None = None
        self._files: dict[str, bytes | None] = {}
        #: Changed files missing from diff() (Bitbucket answered 555 even for the file alone).
        self.unavailable: list[UnavailableFile] = []
        #: The same for the last diff_since().
        self.unavailable_since: list[UnavailableFile] = []
        #: What the reader of the review should know about how it was read (e.g. an
        #: unreadable fork); each note is added once.
        self.notes: list[str] = []
        #: Whether the source repository can be read: None until a fork read says.
        self._source_readable: bool | None = None if self.from_fork else True

    def prefetch(self, *paths: str) -> None:
        """Fetches the diff, the full head hash and ``paths`` (e.g. ``.bbreview.yaml``)
        in one concurrent batch, so that a review starts after one round trip, not three.
        Failures are left for the individual calls to raise."""
        if not self.head_commit:
            return
        c = self.client.calls
        ws, repo = self.source_repository
        calls = [c.pr_diff(self.data), c.commit(ws, repo, self.head_commit)]
        calls += [c.file(ws, repo, self.head_commit, p) for p in paths]
        answers = self.client.map(calls, concurrency=len(calls))
        diff, commit, files = answers[0], answers[1], answers[2:]
        if not isinstance(diff, BaseException):
            self._diff = diff
        elif _too_large(diff):
            self._diff_too_large = True  # diff() goes straight to the diff in parts
        if not isinstance(commit, BaseException):
            self._head_full = str(commit["hash"])
        for path, answer in zip(paths, files):
            if not isinstance(answer, BaseException):
                self._files[path] = answer
            elif isinstance(answer, NotFound) and not self.from_fork:
                self._files[path] = None
            elif self.from_fork and getattr(answer, "status", 0) == 403:
                self._fork_unreadable(403)
            # A fork's 403/404 may mean the fork is hidden: read_file() finds out.

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

    @property
    def source_repository(self) -> tuple[str, str]:
        """(workspace, repo) holding the source branch and commit: the fork for a fork PR.
        Code Insights reports and build statuses belong to this repository's commit."""
        return self._side_repo("source")

    @property
    def from_fork(self) -> bool:
        """Whether the source repository differs from the destination (a fork PR)."""
        src = "/".join(self._side_repo("source")).lower()
        return src != "/".join(self._side_repo("destination")).lower()

    def full_head(self) -> str:
        """The source commit's full 40-hex hash (webhooks and PR JSON carry 12, §9.8).

        Asked of the source repository; for a fork the bot cannot read, the PR's
        commit list (on the destination) gives it. Raises BitbucketError when
        neither can be read."""
        if self._head_full is None:
            ws, repo = self.source_repository
            head = self.head_commit or ""
            try:
                self._head_full = self.client.full_hash(ws, repo, head)
            except BitbucketError as exc:
                if not self.from_fork or exc.status not in HIDDEN_STATUSES or not head:
                    raise
                full = next((str(c.get("hash")) for c in self.client.commits(self.workspace, self.repo, self.id)
                             if str(c.get("hash") or "").startswith(head)), None)
                if full is None:
                    raise
                self._head_full = full
        return self._head_full

    def diff(self) -> PatchSet:
        """The pull request's diff. When Bitbucket cannot generate it whole (555,
        §6.4), it is fetched in parts by path (see :func:`_diff_in_parts`); the
        files it cannot generate even alone are listed in :attr:`unavailable`.
        Raises BitbucketError for any other failure."""
        if self._diff is None:
            calls = self.client.calls
            if not self._diff_too_large:
                try:
                    self._diff = self.client.run(calls.pr_diff(self.data))
                    return self._diff
                except BitbucketError as exc:
                    if not _too_large(exc):
                        raise
            trees = [(self.workspace, self.repo, self.base_commit or "")]
            if self._source_can_be_read():
                trees.insert(0, (*self.source_repository, self.head_commit or ""))
            self._diff, self.unavailable = _diff_in_parts(
                self.client,
                diff_call=lambda paths: calls.pr_diff(self.data, paths=paths),
                diffstat=lambda paths: self.client.pr_diffstat(self.data, paths=paths),
                trees=trees,
            )
        return self._diff

    def diff_since(self, commit: str) -> PatchSet:
        """The diff from ``commit`` to the head, fetched in parts like :meth:`diff`
        when Bitbucket answers 555 (missing files in :attr:`unavailable_since`).

        For a fork PR both commits live in the fork. The destination repository is
        asked first with both sides named by the fork (``{fork}:{head}..{fork}:{commit}``,
        the form of the PR's own spec, §6.4, which needs no access to the fork); if it
        refuses that spec (400/404), the fork's own diff ``{head}..{commit}``. When
        neither can be had, the whole pull request's diff is returned (it is reviewed
        again rather than not at all) and :attr:`notes` says why."""
        self.unavailable_since = []
        head = self.head_commit or ""
        if not self.from_fork:
            return self._spec_diff(self.workspace, self.repo, head, commit, [commit])
        src = "/".join(self.source_repository)
        attempts = [(self.workspace, self.repo, f"{src}:{head}", f"{src}:{commit}", [])]
        if self._source_readable is not False:
            attempts.append((*self.source_repository, head, commit, [commit]))
        failure: BitbucketError | None = None
        for ws, repo, change, base, base_trees in attempts:
            try:
                return self._spec_diff(ws, repo, change, base, base_trees)
            except BitbucketError as exc:
                if exc.status not in (400, *HIDDEN_STATUSES):
                    raise
                failure = exc
        assert failure is not None
        self._note(
            f"The changes since the last review ({commit[:12]}) could not be diffed: neither the destination "
            f"repository nor the fork `{src}` answered (HTTP {failure.status}), so the whole pull request was "
            "reviewed again."
        )
        patchset = self.diff()
        self.unavailable_since = list(self.unavailable)
        return patchset

    def _spec_diff(self, ws: str, repo: str, change: str, base: str, base_trees: list[str]) -> PatchSet:
        """The repository diff ``change..base`` of ``ws/repo`` (§6.4: A is the change, B the
        base; either side may be ``{ws}/{repo}:{hash}``), in parts when it answers 555.
        ``base_trees`` are commits of ``ws/repo`` to walk besides the head when listing
        the changed files of a diff whose diffstat answers 555 too."""
        calls = self.client.calls
        plain = f"{change.rpartition(':')[2]}..{base.rpartition(':')[2]}"
        # Keep "/" of a repository prefix literal, as in the PR's own spec; calls.diff()
        # would encode it, and only the path differs (both sides are commit hashes).
        diff_path = _spec_path(ws, repo, "diff", change, base)

        def diff_call(paths: list[str]) -> Any:
            return dataclasses.replace(calls.diff(ws, repo, spec=plain, paths=paths), path=diff_path)

        try:
            return self.client.run(diff_call([]))
        except BitbucketError as exc:
            if not _too_large(exc):
                raise
        stat_path = _spec_path(ws, repo, "diffstat", change, base)
        head_trees = [(*self.source_repository, self.head_commit or "")] if self._source_can_be_read() else []
        patchset, self.unavailable_since = _diff_in_parts(
            self.client,
            diff_call=diff_call,
            diffstat=lambda paths: list(self.client.paginate(
                stat_path, [("path", p) for p in paths], pagelen=DIFFSTAT_PAGELEN)),
            trees=head_trees + [(ws, repo, c) for c in base_trees],
        )
        return patchset

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _source_can_be_read(self) -> bool:
        """Whether the source repository answers (always true when it is the destination).
        Asks it once (``GET /repositories/{ws}/{repo}``) for a fork; a 403/404 marks the
        fork unreadable and notes it. Raises BitbucketError for other failures."""
        if self._source_readable is None:
            ws, repo = self.source_repository
            try:
                self.client.repository(ws, repo)
                self._source_readable = True
            except BitbucketError as exc:
                if exc.status not in HIDDEN_STATUSES:
                    raise
                self._fork_unreadable(exc.status)
        return bool(self._source_readable)

    def _fork_unreadable(self, status: int) -> None:
        self._source_readable = False
        where = self.destination_branch
        self._note(
            f"The pull request's source repository `{'/'.join(self.source_repository)}` (a fork) could not be "
            f"read (HTTP {status}), so `{CONFIG_FILE}` and rule files were read from the destination branch"
            + (f" `{where}`" if where else "")
            + ", and the files it changes could not be read at its head."
        )

    def _side_repo(self, side: str) -> tuple[str, str]:
        """(workspace, repo) of the PR's ``source`` or ``destination`` repository (forks differ)."""
        full = (((self.data.get(side) or {}).get("repository") or {}).get("full_name")) or ""
        ws, _, repo = full.partition("/")
        return (ws, repo) if ws and repo else (self.workspace, self.repo)

    def read_file(self, path: str) -> bytes | None:
        """``path`` at the head commit, read from the source repository (the fork, for
        a fork PR); None when it does not exist there.

        When the fork cannot be read (403/404, see the class), the destination's
        copy of a file the pull request does not change is returned (the three-dot
        diff says the head has the same content, short of later changes on the
        destination), and None for a file it changes. Raises BitbucketError for
        other failures."""
        if not self.head_commit:
            return None
        if path in self._files:
            return self._files[path]
        if self._source_readable is False:
            return self._head_file_fallback(path)
        ws, repo = self.source_repository
        try:
            return self.client.file(ws, repo, self.head_commit, path)
        except BitbucketError as exc:
            if not self.from_fork:
                if isinstance(exc, NotFound):
                    return None
                raise
            if exc.status not in HIDDEN_STATUSES:
                raise
            if exc.status == 403:
                self._fork_unreadable(exc.status)
            elif self._source_can_be_read():
                return None  # the fork answers: the file is not at the head
        return self._head_file_fallback(path)

    def _head_file_fallback(self, path: str) -> bytes | None:
        """``path`` at the head of a fork that cannot be read: the destination's copy when
        the pull request does not change it, else None (its head copy is unknowable)."""
        changed: set[str] = set()
        for f in self.diff():
            changed.update(p for p in (f.path, f.old_path) if p)
        for u in self.unavailable:
            changed.update(p for p in (u.path, u.old_path) if p)
        return None if path in changed else self.read_base_file(path)

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


def _spec_path(ws: str, repo: str, kind: str, change: str, base: str) -> str:
    """``/repositories/{ws}/{repo}/{kind}/{change}..{base}``, where a side may carry a
    ``{ws}/{repo}:`` prefix whose ``/`` and ``:`` stay literal (§6.4's Location form)."""
    spec = f"{quote(change, safe='/:')}..{quote(base, safe='/:')}"
    return f"/repositories/{quote(ws, safe='')}/{quote(repo, safe='')}/{kind}/{spec}"


def _too_large(exc: BaseException) -> bool:
    return isinstance(exc, BitbucketError) and exc.status == DIFF_TOO_LARGE_STATUS


def _raw(result: Any) -> bytes:
    return bytes(result.body)


def _split_fetch(
    units: Sequence[tuple[str, ...]],
    fetch: Callable[[list[list[tuple[str, ...]]]], list[Any]],
    per_request: int,
) -> tuple[list[tuple[int, Any]], list[tuple[str, ...]]]:
    """Fetches ``units`` in groups of ``per_request`` with ``fetch`` (one answer
    or exception per group). A group that answers 555 is halved and fetched
    again, down to single units. Returns ([(index of the group's first unit,
    answer)], units that answer 555 alone); any other error is raised."""
    index = {u: i for i, u in enumerate(units)}
    pending = [list(units[i : i + per_request]) for i in range(0, len(units), per_request)]
    done: list[tuple[int, Any]] = []
    too_large: list[tuple[str, ...]] = []
    while pending:
        answers = fetch(pending)
        halves: list[list[tuple[str, ...]]] = []
        for group, answer in zip(pending, answers):
            if _too_large(answer):
                if len(group) == 1:
                    too_large.append(group[0])
                else:
                    mid = len(group) // 2
                    halves += [group[:mid], group[mid:]]
            elif isinstance(answer, BaseException):
                raise answer
            else:
                done.append((index[group[0]], answer))
        pending = halves
    return done, too_large


def _flat(group: list[tuple[str, ...]]) -> list[str]:
    return [p for unit in group for p in unit]


def _changed_files(
    client: Any,
    diffstat: Callable[[list[str]], list[dict]],
    trees: list[tuple[str, str, str]],
) -> tuple[list[dict], list[str]]:
    """The diffstat entries of a change, and the paths whose diffstat answers 555 alone.

    The whole diffstat is tried first. Bitbucket may 555 on it too (§3), and
    then the change is walked by directory: the entries of a directory at the
    ``trees`` commits (head and base, so that deleted paths are seen) are asked
    for by ``path`` in groups, and a directory that still answers 555 alone is
    walked in turn.
    """
    try:
        return diffstat([]), []
    except BitbucketError as exc:
        if not _too_large(exc):
            raise

    def fetch(groups: list[list[tuple[str, ...]]]) -> list[Any]:
        out: list[Any] = []
        for group in groups:
            try:
                out.append(diffstat(_flat(group)))
            except BitbucketError as exc:
                out.append(exc)
        return out

    entries: list[dict] = []
    too_large: list[str] = []
    directories = [""]
    while directories:
        where = directories.pop(0)
        kinds: dict[str, bool] = {}  # path -> is a directory
        for ws, repo, commit in trees:
            if not commit:
                continue
            try:
                for item in client.tree(ws, repo, commit, where):
                    path = str(item.get("path") or "")
                    if path:
                        kinds[path] = kinds.get(path, False) or item.get("type") == "commit_directory"
            except NotFound:
                continue  # the directory does not exist on this side
        units = [(p,) for p in sorted(kinds)]
        done, alone = _split_fetch(units, fetch, DIFF_PATHS_PER_REQUEST)
        for _, answer in sorted(done, key=lambda d: d[0]):
            entries.extend(answer)
        for (path,) in alone:
            (directories if kinds[path] else too_large).append(path)
    return entries, too_large


def _diff_in_parts(
    client: Any,
    *,
    diff_call: Callable[[list[str]], Any],
    diffstat: Callable[[list[str]], list[dict]],
    trees: list[tuple[str, str, str]],
) -> tuple[PatchSet, list[UnavailableFile]]:
    """A diff that Bitbucket cannot generate whole, fetched by ``path`` in parts.

    The changed files come from the diffstat (:func:`_changed_files`); their
    diffs are fetched :data:`DIFF_PATHS_PER_REQUEST` files per request,
    concurrently, and a part that answers 555 is halved down to single files.
    A renamed file's old and new paths stay in one part so the rename is kept.
    Returns the parsed diff (in diffstat order) and the files that could not be
    had, with the reason. Raises BitbucketError for failures other than 555.
    """
    entries, stat_too_large = _changed_files(client, diffstat, trees)
    units: list[tuple[str, ...]] = []
    stats: dict[tuple[str, ...], dict] = {}
    for e in entries:
        old = (e.get("old") or {}).get("path")
        new = (e.get("new") or {}).get("path")
        unit = tuple(dict.fromkeys(p for p in (old, new) if p))
        if unit and unit not in stats:
            units.append(unit)
            stats[unit] = e

    def fetch(groups: list[list[tuple[str, ...]]]) -> list[Any]:
        calls = [dataclasses.replace(diff_call(_flat(g)), decode=_raw) for g in groups]
        return client.map(calls, concurrency=min(8, len(calls)))

    done, too_large = _split_fetch(units, fetch, DIFF_PATHS_PER_REQUEST)
    # Each part is a whole diff; joined in diffstat order, they parse as one.
    parts = [data if not data or data.endswith(b"\n") else data + b"\n" for _, data in sorted(done, key=lambda d: d[0])]
    patchset = parse_diff(b"".join(parts), strict=False)
    missing = [UnavailableFile(path) for path in stat_too_large]
    for unit in too_large:
        e = stats[unit]
        old = (e.get("old") or {}).get("path")
        new = (e.get("new") or {}).get("path")
        missing.append(UnavailableFile(
            path=new or old or unit[-1], status=str(e.get("status") or "unknown"),
            added=int(e.get("lines_added") or 0), removed=int(e.get("lines_removed") or 0),
            old_path=old if old and old != new else None,
        ))
    return patchset, missing
