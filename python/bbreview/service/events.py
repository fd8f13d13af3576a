"""From a webhook delivery to jobs: which events start which work.

| Event                                  | Jobs                                                   |
|----------------------------------------|--------------------------------------------------------|
| ``pullrequest:created``                | ``review`` (automatic: ``.bbreview.yaml`` auto_review)  |
| ``pullrequest:updated``                | ``review`` (incremental if the source commit changed)  |
| ``pullrequest:fulfilled``/``rejected`` | ``closed`` (and the dispatcher cancels pending work)   |
| ``pullrequest:comment_created``        | ``command`` when the comment mentions the bot          |

Events whose actor is the bot itself are ignored, so the bot never loops
(reference §7.3, §9.13). Planning is pure: it reads the delivery and the bot's
identity, nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bbreview.store import Delivery, JobSpec, make_pr_key

__all__ = ["BotIdentity", "Plan", "plan_delivery", "mentions", "HANDLED_EVENTS", "AUTOMATIC", "CLOSING"]

AUTOMATIC = ("pullrequest:created", "pullrequest:updated")
CLOSING = ("pullrequest:fulfilled", "pullrequest:rejected")
COMMENT = "pullrequest:comment_created"
#: The events a bbreview webhook subscribes to (and the intake accepts).
HANDLED_EVENTS = (*AUTOMATIC, *CLOSING, COMMENT)


@dataclass(frozen=True)
class BotIdentity:
    """The token's user (``GET /2.0/user``): whom mentions address and whose events to ignore."""

    uuid: str
    account_id: str | None = None
    nickname: str | None = None
    display_name: str | None = None

    @classmethod
    def from_user(cls, user: dict[str, Any]) -> BotIdentity:
        return cls(user["uuid"], user.get("account_id"), user.get("nickname"), user.get("display_name"))

    def is_actor(self, account: dict[str, Any] | None) -> bool:
        if not account:
            return False
        return account.get("uuid") == self.uuid or (
            self.account_id is not None and account.get("account_id") == self.account_id
        )


def mentions(bot: BotIdentity, text: str) -> re.Match[str] | None:
    """The first mention of the bot in ``text``: ``@{account_id}`` (how Bitbucket
    stores mentions, §8) or ``@nickname``. The match ends where the command starts."""
    names = []
    if bot.account_id:
        names.append(r"\{" + re.escape(bot.account_id) + r"\}")
    if bot.nickname:
        names.append(re.escape(bot.nickname) + r"(?![\w.-])")
    if not names:
        return None
    return re.search(r"(?<![\w@])@(?:" + "|".join(names) + r")[:,]?", text or "", re.I)


@dataclass(frozen=True)
class Plan:
    """What a delivery leads to: jobs, PRs whose pending work is cancelled, and a note."""

    jobs: tuple[JobSpec, ...]
    cancel: tuple[str, ...] = ()
    note: str = ""


def _pr_fields(body: dict[str, Any]) -> tuple[str, str, int]:
    repo = body.get("repository") or {}
    full = repo.get("full_name") or ""
    pr = body.get("pullrequest") or {}
    if "/" not in full or not isinstance(pr.get("id"), int):
        raise ValueError("the payload has no repository.full_name or pullrequest.id")
    ws, slug = full.split("/", 1)
    return ws, slug, pr["id"]


def plan_delivery(delivery: Delivery, bot: BotIdentity) -> Plan:
    """The jobs for one delivery. Raises ValueError for a body that is not a
    pull request event of the expected shape (the delivery is then rejected)."""
    try:
        body = delivery.json()
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    event = delivery.event_key
    if event not in HANDLED_EVENTS:
        return Plan((), note=f"ignored: bbreview does not act on {event}")
    if bot.is_actor(body.get("actor")):
        return Plan((), note="ignored: the bot's own action")
    ws, repo, pr_id = _pr_fields(body)
    key = make_pr_key(ws, repo, pr_id)
    base = {"workspace": ws, "repo": repo, "pr_id": pr_id, "delivery": delivery.seq, "event": event,
            "received_at": delivery.received_at}
    pr = body.get("pullrequest") or {}
    source = ((pr.get("source") or {}).get("commit") or {}).get("hash")
    if event in AUTOMATIC:
        trigger = "created" if event.endswith("created") else "updated"
        return Plan((JobSpec(key, "review", {**base, "trigger": trigger, "source_commit": source}),),
                    note=f"automatic review of {key}")
    if event in CLOSING:
        return Plan((JobSpec(key, "closed", {**base, "state": pr.get("state")}),), cancel=(key,),
                    note=f"{key} closed: pending work cancelled")
    comment = body.get("comment") or {}
    if bot.is_actor(comment.get("user")):
        return Plan((), note="ignored: the bot's own comment")
    raw = ((comment.get("content") or {}).get("raw")) or ""
    if mentions(bot, raw) is None:
        return Plan((), note="ignored: the comment does not mention the bot")
    payload = {
        **base,
        "comment": {
            "id": comment.get("id"),
            "raw": raw,
            "parent": (comment.get("parent") or {}).get("id"),
            "inline": comment.get("inline"),
            "user": {k: (comment.get("user") or {}).get(k) for k in ("uuid", "account_id", "nickname", "display_name")},
        },
    }
    return Plan((JobSpec(key, "command", payload),), note=f"bot mentioned on {key}")
