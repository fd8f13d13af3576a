"""The emulator's state: workspaces, users, tokens, repositories and what they hold.

Plain mutable records. The emulator owns them and mutates them under its lock;
tests may read them. Secrets (tokens, webhook secrets) are excluded from reprs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bbreview.testing._git import GitRepo
    from bbreview.testing._webhooks import Delivery

__all__ = [
    "AccessToken",
    "Annotation",
    "ApiToken",
    "BuildStatus",
    "Comment",
    "Hook",
    "Participant",
    "Project",
    "PullRequest",
    "Report",
    "Repository",
    "Task",
    "User",
    "Workspace",
    "PERMISSION_RANK",
]

#: Repository permissions in increasing order (reference §6.1).
PERMISSION_RANK = {"none": 0, "read": 1, "write": 2, "admin": 3}


@dataclass(eq=False)
class User:
    """An Atlassian account, or the pseudo-user of an access token (``type: app_user``)."""

    uuid: str  # with braces
    account_id: str
    nickname: str
    display_name: str
    email: str
    created_on: str
    type: str = "user"
    #: For ``app_user`` actors: the kind of credential behind them (§2.2).
    kind: str | None = None

    def __repr__(self) -> str:
        return f"User({self.nickname!r}, account_id={self.account_id!r})"


@dataclass(eq=False)
class ApiToken:
    """A user's API token (Basic auth with the account email), §2.1.

    ``scopes`` are fine-grained names such as ``read:repository:bitbucket``.
    """

    token: str = field(repr=False)
    user: User
    scopes: frozenset[str]
    name: str = "api-token"
    expired: bool = False
    revoked: bool = False

    @property
    def credential_type(self) -> str:
        return "api_token"

    def basic_auth(self) -> str:
        """The ``Authorization`` header value (contains the secret: do not log it)."""
        import base64

        raw = f"{self.user.email}:{self.token}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def __repr__(self) -> str:
        return f"ApiToken({self.name!r}, user={self.user.nickname!r}, scopes={sorted(self.scopes)})"


@dataclass(eq=False)
class AccessToken:
    """A repository, project or workspace access token (Bearer), §2.2.

    ``scopes`` are classic names such as ``pullrequest:write``. ``user`` is the
    token's pseudo-user (``type: app_user``).
    """

    token: str = field(repr=False)
    name: str
    scopes: frozenset[str]
    subject_type: str  # repository | project | workspace
    subject: Any
    user: User
    revoked: bool = False

    @property
    def credential_type(self) -> str:
        return {"repository": "repo_access_token"}.get(self.subject_type, f"{self.subject_type}_access_token")

    def bearer_auth(self) -> str:
        """The ``Authorization`` header value (contains the secret: do not log it)."""
        return f"Bearer {self.token}"

    def __repr__(self) -> str:
        return f"AccessToken({self.name!r}, {self.subject_type}, scopes={sorted(self.scopes)})"


@dataclass(eq=False)
class Project:
    uuid: str
    key: str
    name: str
    workspace: Workspace

    def __repr__(self) -> str:
        return f"Project({self.key!r})"


@dataclass(eq=False)
class Workspace:
    uuid: str
    slug: str
    name: str
    created_on: str
    is_private: bool = True
    #: user uuid -> (user, "owner" | "create-project" | "collaborator" | "member")
    members: dict[str, tuple[User, str]] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    repositories: dict[str, Repository] = field(default_factory=dict)
    hooks: dict[str, Hook] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Workspace({self.slug!r})"


@dataclass(eq=False)
class BuildStatus:
    key: str
    state: str
    name: str
    description: str
    url: str
    refname: str | None
    commit: str  # full hash
    created_on: str
    updated_on: str
    uuid: str


@dataclass(eq=False)
class Annotation:
    uuid: str
    external_id: str | None
    fields: dict[str, Any]
    created_on: str
    updated_on: str


@dataclass(eq=False)
class Report:
    uuid: str
    external_id: str
    commit: str  # full hash
    fields: dict[str, Any]
    created_on: str
    updated_on: str
    annotations: dict[str, Annotation] = field(default_factory=dict)  # uuid -> annotation


@dataclass(eq=False)
class Hook:
    """A webhook subscription on a repository or a workspace (§6.10)."""

    uuid: str  # with braces
    subject_type: str  # repository | workspace
    subject: Any
    url: str
    description: str
    active: bool
    secret: str | None = field(repr=False)
    events: list[str]
    skip_cert_verification: bool
    created_at: str
    history: list[Delivery] = field(default_factory=list, repr=False)

    @property
    def secret_set(self) -> bool:
        return bool(self.secret)


@dataclass(eq=False)
class Repository:
    uuid: str
    workspace: Workspace
    slug: str
    name: str
    description: str
    is_private: bool
    mainbranch: str
    project: Project
    created_on: str
    updated_on: str
    git: GitRepo | None
    language: str = ""
    #: user uuid -> (user, "admin" | "write" | "read")
    permissions: dict[str, tuple[User, str]] = field(default_factory=dict)
    pull_requests: dict[int, PullRequest] = field(default_factory=dict)
    hooks: dict[str, Hook] = field(default_factory=dict)
    statuses: dict[tuple[str, str], BuildStatus] = field(default_factory=dict)  # (commit, key)
    reports: dict[tuple[str, str], Report] = field(default_factory=dict)  # (commit, uuid)
    next_pr_id: int = 1
    #: The repository this one was forked from (§6.2 ``parent``), None for an original.
    parent: Repository | None = None
    #: Direct forks of this repository, oldest first.
    forks: list[Repository] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.workspace.slug}/{self.slug}"

    @property
    def network(self) -> list[Repository]:
        """Every repository of this one's fork network: the original first, then all forks
        (forks of forks included), depth first. A network shares its git history."""
        root = self
        while root.parent is not None:
            root = root.parent
        out: list[Repository] = []
        stack = [root]
        while stack:
            repo = stack.pop()
            out.append(repo)
            stack.extend(reversed(repo.forks))
        return out

    def __repr__(self) -> str:
        return f"Repository({self.full_name!r})"


@dataclass(eq=False)
class Participant:
    user: User
    role: str  # REVIEWER | PARTICIPANT
    approved: bool = False
    state: str | None = None  # approved | changes_requested | None
    participated_on: str | None = None


@dataclass(eq=False)
class Comment:
    id: int
    pr: PullRequest
    user: User
    raw: str
    created_on: str
    updated_on: str
    inline: dict[str, Any] | None = None
    parent: Comment | None = None
    deleted: bool = False
    pending: bool = False
    resolution: tuple[User, str] | None = None  # (who, when)
    on_diff: bool = True
    outdated: bool = False

    def __repr__(self) -> str:
        return f"Comment({self.id}, pr={self.pr.id}, by={self.user.nickname!r}, deleted={self.deleted})"


@dataclass(eq=False)
class Task:
    id: int
    pr: PullRequest
    creator: User
    raw: str
    state: str  # UNRESOLVED | RESOLVED
    created_on: str
    updated_on: str
    comment: Comment | None = None
    pending: bool = False
    resolved_on: str | None = None
    resolved_by: User | None = None


@dataclass(eq=False)
class PullRequest:
    repo: Repository
    id: int
    title: str
    description: str
    author: User
    source_branch: str
    destination_branch: str
    source_commit: str  # full hash; objects render 12 characters (§1)
    destination_commit: str
    created_on: str
    updated_on: str
    state: str = "OPEN"
    draft: bool = False
    close_source_branch: bool = False
    merge_commit: str | None = None
    closed_by: User | None = None
    reason: str = ""
    reviewers: list[User] = field(default_factory=list)
    participants: dict[str, Participant] = field(default_factory=dict)  # user uuid -> participant
    comments: dict[int, Comment] = field(default_factory=dict)
    tasks: dict[int, Task] = field(default_factory=dict)
    #: Activity entries, oldest first: (kind, payload-producing data, date)
    activity: list[tuple[str, Any, str]] = field(default_factory=list)
    #: Where ``source_branch`` lives when it is not ``repo``: a fork in ``repo``'s network.
    source_repo: Repository | None = None

    @property
    def source_repository(self) -> Repository:
        """The repository of the source branch and commit (a fork for fork PRs, else ``repo``)."""
        return self.source_repo or self.repo

    @property
    def from_fork(self) -> bool:
        return self.source_repo is not None and self.source_repo is not self.repo

    def visible_comments(self, viewer: User | None) -> Iterable[Comment]:
        """Comments in creation order; pending ones only for their author (§6.5)."""
        for c in self.comments.values():
            if c.pending and (viewer is None or viewer.uuid != c.user.uuid):
                continue
            yield c

    def __repr__(self) -> str:
        return f"PullRequest({self.repo.full_name!r}, {self.id}, {self.state})"
