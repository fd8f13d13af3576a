"""Webhook payload builders (reference §7.4), without a running emulator.

The builders render the same model objects through the same renderer as
:class:`~bbreview.testing.FakeBitbucket`, so their shapes are the emulator's::

    from bbreview.testing import payloads

    body = payloads.comment_event(raw="@{bot} review", inline={"path": "app.py", "to": 3})
    headers, data = payloads.delivery("pullrequest:comment_created", body, secret="s3cret")
    # POST data with headers to the service under test
"""

from __future__ import annotations

import hashlib
import json
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from email.utils import formatdate
from typing import Any

from bbreview.testing._git import CommitInfo
from bbreview.testing._model import Comment, Participant, Project, PullRequest, Repository, User, Workspace
from bbreview.testing._render import Renderer, Urls
from bbreview.testing._webhooks import USER_AGENT, sign

__all__ = [
    "account",
    "comment_event",
    "delivery",
    "encode",
    "pullrequest_event",
    "push_event",
    "sign",
]

_WHEN = "2026-02-21T14:18:33.992854+00:00"


def _uuid(seed: str) -> str:
    return "{" + str(uuidlib.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4)) + "}"


def _hash(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def _user(who: str | Mapping[str, Any] | User) -> User:
    if isinstance(who, User):
        return who
    if isinstance(who, Mapping):
        nickname = str(who.get("nickname") or who.get("display_name") or "user")
        return User(
            uuid=str(who.get("uuid") or _uuid(f"user:{nickname}")),
            account_id=str(who.get("account_id") or f"557058:{_uuid('acct:' + nickname).strip('{}')}"),
            nickname=nickname,
            display_name=str(who.get("display_name") or nickname),
            email=f"{nickname}@example.com",
            created_on=_WHEN,
            type=str(who.get("type", "user")),
            kind=who.get("kind"),
        )
    return User(_uuid(f"user:{who}"), f"557058:{_uuid('acct:' + who).strip('{}')}", who, who.capitalize(),
                f"{who}@example.com", _WHEN)


def account(nickname: str = "emma", **fields: Any) -> dict[str, Any]:
    """An ``actor``/``user`` object (§7.4): ``type``, ``uuid``, ``account_id``, ``nickname``, ``display_name``, ``links``.

    Ids derive from the nickname unless given, so the same name gives the same account.
    """
    return Renderer(Urls()).user(_user({"nickname": nickname, **fields}))


def _repo(full_name: str, private: bool) -> Repository:
    ws_slug, slug = full_name.split("/", 1)
    ws = Workspace(_uuid(f"ws:{ws_slug}"), ws_slug, ws_slug.capitalize(), _WHEN)
    project = Project(_uuid(f"project:{ws_slug}"), "PROJ", "Default project", ws)
    return Repository(_uuid(f"repo:{full_name}"), ws, slug, slug, "", private, "main", project, _WHEN, _WHEN, None)


def _pr(
    repository: str,
    pr_id: int,
    title: str,
    description: str,
    state: str,
    draft: bool,
    source_branch: str,
    destination_branch: str,
    source_hash: str | None,
    destination_hash: str | None,
    author: str | Mapping[str, Any],
    reviewers: Sequence[str | Mapping[str, Any]],
    private: bool,
    source_repository: str | None = None,
) -> PullRequest:
    repo = _repo(repository, private)
    fork = None
    if source_repository and source_repository != repository:
        fork = _repo(source_repository, private)
        fork.parent = repo
    pr = PullRequest(
        repo=repo,
        id=pr_id,
        title=title,
        description=description,
        author=_user(author),
        source_branch=source_branch,
        destination_branch=destination_branch,
        source_commit=source_hash or _hash(f"src:{repository}:{pr_id}"),
        destination_commit=destination_hash or _hash(f"dst:{repository}:{pr_id}"),
        created_on=_WHEN,
        updated_on=_WHEN,
        state=state,
        draft=draft,
        source_repo=fork,
    )
    for r in reviewers:
        user = _user(r)
        pr.reviewers.append(user)
        pr.participants[user.uuid] = Participant(user, "REVIEWER")
    return pr


_STATE_OF = {"pullrequest:fulfilled": "MERGED", "pullrequest:rejected": "DECLINED"}


def pullrequest_event(
    event_key: str = "pullrequest:created",
    *,
    repository: str = "acme/app",
    pr_id: int = 1,
    title: str = "Add a feature",
    description: str = "",
    state: str | None = None,
    draft: bool = False,
    source_branch: str = "feature",
    destination_branch: str = "main",
    source_hash: str | None = None,
    destination_hash: str | None = None,
    author: str | Mapping[str, Any] = "emma",
    actor: str | Mapping[str, Any] | None = None,
    reviewers: Sequence[str | Mapping[str, Any]] = (),
    private: bool = True,
    urls: Urls | None = None,
    source_repository: str | None = None,
) -> dict[str, Any]:
    """A ``pullrequest:*`` payload: ``actor``, ``pullrequest``, ``repository`` (plus
    ``approval``/``changes_request`` for those events).

    Hashes are 40 characters when given and are rendered with 12 (§1).
    ``source_repository`` (``"ws/repo"``) makes it a fork PR: ``pullrequest.source.repository``
    and the diff links name the fork; ``repository`` stays the destination (§6.4, §7.4).
    """
    r = Renderer(urls or Urls())
    pr = _pr(repository, pr_id, title, description, state or _STATE_OF.get(event_key, "OPEN"), draft,
             source_branch, destination_branch, source_hash, destination_hash, author, reviewers, private,
             source_repository)
    who = _user(actor if actor is not None else author)
    out: dict[str, Any] = {
        "actor": r.user(who),
        "pullrequest": r.pullrequest(pr, full=True),
        "repository": r.repository_payload(pr.repo),
    }
    if event_key in ("pullrequest:approved", "pullrequest:unapproved"):
        out["approval"] = {"date": _WHEN, "user": r.user(who)}
    if event_key.startswith("pullrequest:changes_request"):
        out["changes_request"] = {"date": _WHEN, "user": r.user(who)}
    return out


def comment_event(
    event_key: str = "pullrequest:comment_created",
    *,
    raw: str = "Comment text",
    comment_id: int = 17,
    commenter: str | Mapping[str, Any] = "emma",
    inline: Mapping[str, Any] | None = None,
    parent_id: int | None = None,
    deleted: bool | None = None,
    resolved_by: str | Mapping[str, Any] | None = None,
    **pr: Any,
) -> dict[str, Any]:
    """A ``pullrequest:comment_*`` payload: the PR event plus ``comment`` (§7.4).

    ``deleted`` defaults to True for ``comment_deleted``; ``resolved_by`` sets
    ``resolution`` (defaults to the commenter for ``comment_resolved``).
    """
    urls = pr.pop("urls", None) or Urls()
    out = pullrequest_event("pullrequest:updated", actor=pr.pop("actor", commenter), urls=urls, **pr)
    r = Renderer(urls)
    model = _pr(pr.get("repository", "acme/app"), pr.get("pr_id", 1), pr.get("title", "Add a feature"),
                pr.get("description", ""), pr.get("state") or "OPEN", pr.get("draft", False),
                pr.get("source_branch", "feature"), pr.get("destination_branch", "main"),
                pr.get("source_hash"), pr.get("destination_hash"), pr.get("author", "emma"),
                pr.get("reviewers", ()), pr.get("private", True))
    parent = None
    if parent_id is not None:
        parent = Comment(parent_id, model, _user(commenter), "", _WHEN, _WHEN)
    c = Comment(
        id=comment_id,
        pr=model,
        user=_user(commenter),
        raw=raw,
        created_on=_WHEN,
        updated_on=_WHEN,
        inline=dict(inline) if inline is not None else None,
        parent=parent,
        deleted=event_key == "pullrequest:comment_deleted" if deleted is None else deleted,
    )
    if resolved_by is None and event_key == "pullrequest:comment_resolved":
        resolved_by = commenter
    if resolved_by is not None:
        c.resolution = (_user(resolved_by), _WHEN)
    out["comment"] = r.comment(c)
    return out


def push_event(
    *,
    repository: str = "acme/app",
    branch: str = "feature",
    old_hash: str | None = None,
    new_hash: str | None = None,
    actor: str | Mapping[str, Any] = "emma",
    message: str = "Update files",
    created: bool = False,
    closed: bool = False,
    hash_length: int = 12,
    urls: Urls | None = None,
) -> dict[str, Any]:
    """A ``repo:push`` payload with one change (§7.4)."""
    r = Renderer(urls or Urls())
    repo = _repo(repository, True)
    who = _user(actor)
    old = None if created else (old_hash or _hash(f"old:{repository}:{branch}"))
    new = None if closed else (new_hash or _hash(f"new:{repository}:{branch}"))

    def ref(commit: str | None) -> dict[str, Any] | None:
        if commit is None:
            return None
        info = CommitInfo(commit, (old,) if old and commit == new else (), who.display_name, who.email,
                          "2026-02-21T14:18:33+00:00", message)
        target = r.commit(repo, info, who, full=False)
        target["hash"] = commit[:hash_length]
        target["parents"] = [r.commit_ref(repo, p, hash_length) for p in info.parents]
        return {"type": "branch", "name": branch, "target": target,
                "links": {"html": {"href": f"{r.urls.web}/{repository}/branch/{branch}"}}}

    commits = [ref(new)["target"]] if new else []  # type: ignore[index]
    change = {"new": ref(new), "old": ref(old), "created": created, "closed": closed, "forced": False,
              "truncated": False, "commits": commits, "links": {}}
    return {"actor": r.user(who), "repository": r.repository_payload(repo), "push": {"changes": [change]}}


def encode(payload: Mapping[str, Any]) -> bytes:
    """The raw body Bitbucket would send (signatures are over these bytes)."""
    return json.dumps(payload).encode()


def delivery(
    event_key: str,
    payload: Mapping[str, Any] | bytes,
    *,
    secret: str | None = None,
    hook_uuid: str | None = None,
    request_uuid: str | None = None,
    attempt: int = 1,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a webhook POST with the headers of §7.1.

    ``X-Hub-Signature`` is present only with a ``secret`` (§7.2).
    """
    body = payload if isinstance(payload, bytes) else encode(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Event-Key": event_key,
        "X-Hook-UUID": (hook_uuid or str(uuidlib.uuid4())).strip("{}"),
        "X-Request-UUID": request_uuid or str(uuidlib.uuid4()),
        "X-Attempt-Number": str(attempt),
        "X-Event-Time": formatdate(usegmt=True),
    }
    if secret:
        headers["X-Hub-Signature"] = sign(body, secret)
    return headers, body
