"""The store's seam: the :class:`Store` protocol and the rows it hands out.

Every row is a small frozen dataclass. Timestamps are unix seconds (float).
A store is safe to share between threads, and several processes may open the
same database at once; the job queue gives each job to one worker at a time
and runs the jobs of one pull request strictly in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "JOB_STATES",
    "UNFINISHED_JOB_STATES",
    "DELIVERY_STATES",
    "COMMENT_STATES",
    "EVENT_LEVELS",
    "Delivery",
    "DeliveryOutcome",
    "JobSpec",
    "Job",
    "JobSummary",
    "PRState",
    "PostedComment",
    "Installation",
    "Event",
    "Store",
    "make_pr_key",
    "split_pr_key",
]

#: Every state a job can be in. ``failed`` is accepted everywhere (counts, filters)
#: for stores that keep failed attempts as rows of their own; the SQLite store
#: requeues a failed attempt as ``queued`` and parks a job that is out of attempts
#: in ``dead``.
JOB_STATES = ("queued", "leased", "done", "failed", "dead", "cancelled")
#: Jobs in these states hold back the later jobs of their pull request.
UNFINISHED_JOB_STATES = ("queued", "leased")
#: ``new`` until claimed; then ``taken`` (jobs were made, possibly none) or ``rejected``.
DELIVERY_STATES = ("new", "taken", "rejected")
COMMENT_STATES = ("open", "resolved", "deleted")
EVENT_LEVELS = ("debug", "info", "warning", "error")

_PR_KEY = re.compile(r"^(?P<workspace>[^/#]+)/(?P<repo>[^/#]+)#(?P<pr_id>\d+)$")


def make_pr_key(workspace: str, repo: str, pr_id: int) -> str:
    """The queue's key of a pull request: ``"workspace/repo#7"``."""
    return f"{workspace}/{repo}#{int(pr_id)}"


def split_pr_key(pr_key: str) -> tuple[str | None, str | None, int | None]:
    """``(workspace, repo, pr_id)`` of a key made by :func:`make_pr_key`;
    ``(None, None, None)`` for any other key (keys are opaque to the queue)."""
    m = _PR_KEY.match(pr_key)
    if not m:
        return None, None, None
    return m["workspace"], m["repo"], int(m["pr_id"])


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as the intake stored it (a row of ``inbox``).

    ``dedup_key`` is unique: Bitbucket's retries of one event share it.
    ``body`` is the raw request body; :meth:`json` decodes it.
    """

    seq: int
    dedup_key: str
    event_key: str
    body: bytes = field(repr=False)
    received_at: float
    request_uuid: str | None = None
    hook_uuid: str | None = None
    repository: str | None = None
    pr_id: int | None = None
    attempt: int = 1
    state: str = "new"

    def json(self) -> Any:
        """The body decoded as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class JobSpec:
    """A job to enqueue, as a delivery handler returns it."""

    pr_key: str
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)
    run_after: float = 0.0
    max_attempts: int = 5


@dataclass(frozen=True)
class Job:
    """A row of the job queue, with ``payload`` decoded from JSON.

    ``attempts`` counts leases so far, the current one included.
    """

    id: int
    pr_key: str
    kind: str
    payload: Any = field(hash=False)
    state: str
    attempts: int
    max_attempts: int
    run_after: float
    lease_owner: str | None
    lease_expires: float | None
    last_error: str | None
    delivery_seq: int | None
    created_at: float
    updated_at: float
    finished_at: float | None


@dataclass(frozen=True)
class JobSummary:
    """A job as the troubleshooting view lists it beside its delivery."""

    id: int
    kind: str
    state: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one delivery: its state, the outcome text and its jobs.

    ``outcome`` is None while the delivery is ``new``; for ``rejected`` it is the
    handler's error, e.g. ``"ValueError: no pullrequest in body"``.
    """

    seq: int
    event_key: str
    repository: str | None
    pr_id: int | None
    received_at: float
    state: str
    outcome: str | None
    jobs: tuple[JobSummary, ...] = ()


@dataclass(frozen=True)
class PRState:
    """Review state of one pull request; the defaults describe one never seen."""

    pr_key: str
    workspace: str | None = None
    repo: str | None = None
    pr_id: int | None = None
    last_reviewed_commit: str | None = None
    summary_comment_id: int | None = None
    paused: bool = False
    auto_review_disabled: bool = False
    auto_review_disabled_reason: str | None = None
    last_review_at: float | None = None
    updated_at: float | None = None


@dataclass(frozen=True)
class PostedComment:
    """An inline comment the bot posted, keyed by the finding's fingerprint."""

    pr_key: str
    fingerprint: str
    comment_id: int
    path: str | None
    line: int | None
    commit: str | None
    state: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Installation:
    """The webhook bbreview installed on one repository.

    ``secret`` is opaque: the caller encrypts it before saving and decrypts it
    after loading. ``installed_by`` is the Bitbucket account uuid that installed it.
    """

    full_name: str
    workspace: str | None = None
    repo_uuid: str | None = None
    hook_uuid: str | None = None
    hook_url: str | None = None
    events: tuple[str, ...] = ()
    secret: bytes | None = field(default=None, repr=False)
    active: bool = True
    installed_by: str | None = None
    installed_at: float | None = None
    updated_at: float | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Event:
    """A Bitbucket error or notable event, kept for the troubleshooting view."""

    id: int
    at: float
    repository: str | None
    pr_id: int | None
    level: str
    kind: str
    status: int | None
    message: str


@runtime_checkable
class Store(Protocol):
    """Persistent state of the service. Implementations: :class:`~bbreview.store.SQLiteStore`.

    Every method raises :class:`bbreview.StoreError` when the database cannot be
    read or written; the message names the database and what to do.
    """

    def close(self) -> None: ...

    # -- inbox: webhook deliveries ------------------------------------------------
    def insert_delivery(
        self,
        *,
        dedup_key: str,
        event_key: str,
        body: bytes,
        request_uuid: str | None = None,
        hook_uuid: str | None = None,
        repository: str | None = None,
        pr_id: int | None = None,
        attempt: int = 1,
        received_at: float | None = None,
    ) -> int | None: ...

    def claim_deliveries(self, handler: Callable[[Delivery], Iterable[JobSpec]], limit: int = 100) -> int: ...

    def delivery(self, seq: int) -> Delivery | None: ...

    def delivery_outcomes(self, repository: str | None = None, limit: int = 20) -> list[DeliveryOutcome]: ...

    # -- jobs: the durable queue ----------------------------------------------
    def enqueue(
        self,
        pr_key: str,
        kind: str,
        payload: Any = None,
        *,
        delivery_seq: int | None = None,
        run_after: float = 0.0,
        max_attempts: int = 5,
    ) -> int: ...

    def lease(self, owner: str, lease_seconds: float = 60.0, kinds: Iterable[str] | None = None) -> Job | None: ...

    def heartbeat(self, job_id: int, owner: str, lease_seconds: float = 60.0) -> bool: ...

    def complete(self, job_id: int, owner: str) -> bool: ...

    def fail(
        self, job_id: int, owner: str, error: str, *, retry: bool = True, retry_after: float | None = None
    ) -> Job | None: ...

    def release(self, job_id: int, owner: str, reason: str = "the service stopped") -> bool: ...

    def cancel_pending(self, pr_key: str, kinds: Iterable[str] | None = None) -> int: ...

    def retry_dead(self, job_id: int) -> bool: ...

    def job(self, job_id: int) -> Job | None: ...

    def jobs(self, state: str | None = None, pr_key: str | None = None, limit: int = 100) -> list[Job]: ...

    def counts_by_state(self) -> dict[str, int]: ...

    def queue_depth(self) -> int: ...

    def oldest_queued_age(self) -> float: ...

    def prune(self, before: float) -> dict[str, int]: ...

    # -- pull request state and posted comments ---------------------------------
    def pr_state(self, pr_key: str) -> PRState: ...

    def update_pr_state(self, pr_key: str, **fields: Any) -> PRState: ...

    def posted(self, pr_key: str) -> dict[str, PostedComment]: ...

    def record_posted(
        self, pr_key: str, fingerprint: str, comment_id: int, path: str | None, line: int | None, commit: str | None
    ) -> PostedComment: ...

    def mark_comment(self, pr_key: str, fingerprint: str, state: str) -> bool: ...

    def forget_posted(self, pr_key: str) -> int: ...

    # -- installations and settings -------------------------------------------
    def installation(self, full_name: str) -> Installation | None: ...

    def installations(self) -> list[Installation]: ...

    def save_installation(self, full_name: str, **fields: Any) -> Installation: ...

    def delete_installation(self, full_name: str) -> bool: ...

    def hook_secrets(self) -> dict[str, bytes]: ...

    def get_setting(self, key: str, default: bytes | None = None) -> bytes | None: ...

    def set_setting(self, key: str, value: bytes | str) -> None: ...

    def delete_setting(self, key: str) -> bool: ...

    # -- events log and figures -------------------------------------------------
    def log_event(
        self,
        kind: str,
        message: str,
        *,
        repository: str | None = None,
        pr_id: int | None = None,
        level: str = "info",
        status: int | None = None,
        at: float | None = None,
    ) -> int: ...

    def recent_events(self, repository: str | None = None, limit: int = 50) -> list[Event]: ...

    def stats(self) -> dict[str, Any]: ...
