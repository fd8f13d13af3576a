"""Planning deliveries and parsing bot commands: pure functions, no network."""

from __future__ import annotations

import json

import pytest

from bbreview.service.commands import COMMANDS, description_disables_reviews, help_text, parse_command
from bbreview.service.events import BotIdentity, mentions, plan_delivery
from bbreview.store import Delivery

BOT = BotIdentity("{bot-uuid}", "557058:bot", "reviewbot", "Review Bot")
HUMAN = {"uuid": "{dev}", "account_id": "557058:dev", "nickname": "dev", "display_name": "Dev"}
BOT_USER = {"uuid": "{bot-uuid}", "account_id": "557058:bot", "nickname": "reviewbot"}


def delivery(event: str, body: dict, seq: int = 1) -> Delivery:
    return Delivery(seq=seq, dedup_key=f"k{seq}", event_key=event, body=json.dumps(body).encode(), received_at=1.0)


def pr_body(actor=HUMAN, **extra):
    return {
        "actor": actor,
        "repository": {"full_name": "acme/app"},
        "pullrequest": {"id": 7, "state": "OPEN", "source": {"commit": {"hash": "abcdef123456"}}},
        **extra,
    }


def test_created_and_updated_plan_a_review():
    for event, trigger in (("pullrequest:created", "created"), ("pullrequest:updated", "updated")):
        plan = plan_delivery(delivery(event, pr_body()), BOT)
        [job] = plan.jobs
        assert (job.pr_key, job.kind, job.payload["trigger"]) == ("acme/app#7", "review", trigger)
        assert job.payload["source_commit"] == "abcdef123456"


def test_closing_cancels_pending_work():
    plan = plan_delivery(delivery("pullrequest:fulfilled", pr_body()), BOT)
    assert plan.cancel == ("acme/app#7",) and [j.kind for j in plan.jobs] == ["closed"]


def test_the_bots_own_events_are_ignored():
    assert plan_delivery(delivery("pullrequest:updated", pr_body(actor=BOT_USER)), BOT).jobs == ()
    comment = {"id": 5, "content": {"raw": "@{557058:bot} help"}, "user": BOT_USER}
    assert plan_delivery(delivery("pullrequest:comment_created", pr_body(comment=comment)), BOT).jobs == ()


def test_comments_mentioning_the_bot_become_commands():
    comment = {"id": 5, "content": {"raw": "@{557058:bot} full review"}, "user": HUMAN, "parent": {"id": 4}}
    [job] = plan_delivery(delivery("pullrequest:comment_created", pr_body(comment=comment)), BOT).jobs
    assert job.kind == "command" and job.payload["comment"]["id"] == 5 and job.payload["comment"]["parent"] == 4
    other = {"id": 6, "content": {"raw": "looks good"}, "user": HUMAN}
    assert plan_delivery(delivery("pullrequest:comment_created", pr_body(comment=other)), BOT).jobs == ()


def test_other_events_are_ignored_and_bad_bodies_rejected():
    assert plan_delivery(delivery("repo:push", {"repository": {}}), BOT).jobs == ()
    with pytest.raises(ValueError, match="not JSON"):
        plan_delivery(Delivery(seq=1, dedup_key="x", event_key="pullrequest:created", body=b"{", received_at=0), BOT)
    with pytest.raises(ValueError, match="pullrequest.id"):
        plan_delivery(delivery("pullrequest:created", {"repository": {"full_name": "a/b"}}), BOT)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("@{557058:bot} review", "review"),
        ("@{557058:bot}: Full Review.", "full review"),
        ("@reviewbot pause", "pause"),
        ("@ReviewBot resume!", "resume"),
        ("hey @reviewbot resolve", "resolve"),
        ("@reviewbot summary", "summary"),
        ("@reviewbot config", "configuration"),
        ("@reviewbot help", "help"),
        ("@reviewbot", "help"),
        ("@reviewbot reveiw", "unknown"),
        ("@reviewbot why does this loop never end?", "question"),
        ("@reviewbot review the error handling please", "question"),
    ],
)
def test_commands_are_parsed(raw, name):
    assert parse_command(BOT, raw).name == name


def test_mentions_need_the_exact_account_or_nickname():
    assert mentions(BOT, "@reviewbot2 review") is None
    assert mentions(BOT, "mail reviewbot@example.com") is None
    assert mentions(BOT, "@{557058:other} review") is None
    assert parse_command(BOT, "no mention") is None


def test_help_lists_every_command_and_description_ignore():
    text = help_text(BOT)
    assert all(f"`@reviewbot {name}`" in text for name in COMMANDS)
    assert description_disables_reviews(BOT, "Refactor.\n\n@reviewbot ignore")
    assert not description_disables_reviews(BOT, "Please ignore whitespace.\n@reviewbot review")
