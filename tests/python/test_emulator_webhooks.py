"""Webhook deliveries of FakeBitbucket (reference §7) into a loopback receiver, and payload builders."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import pytest

from bbreview.testing import (
    Demo,
    FakeBitbucket,
    Quirks,
    ReceivedWebhook,
    WebhookReceiver,
    payloads,
    seed_demo,
    sign,
)

SECRET = "It's a Secret to Everybody"
HEX12 = re.compile(r"^[0-9a-f]{12}$")
UUID_NO_BRACES = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ALL_EVENTS = [
    "pullrequest:created", "pullrequest:updated", "pullrequest:fulfilled", "pullrequest:rejected",
    "pullrequest:approved", "pullrequest:comment_created", "pullrequest:comment_updated",
    "pullrequest:comment_deleted", "pullrequest:comment_resolved", "repo:push",
]


def verify(req: ReceivedWebhook, secret: str) -> bool:
    """What a receiver does (§7.2): HMAC-SHA256 over the raw bytes, compared in constant time."""
    header = req.headers.get("x-hub-signature", "")
    assert header.startswith("sha256=")
    expected = hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256="), expected)


def test_signature_test_vector() -> None:
    # §7.2, verified locally by the reference's authors
    assert sign(b"Hello World!", SECRET) == \
        "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"


def test_events_are_delivered_with_headers_and_signature(
    fake_bitbucket: FakeBitbucket, webhook_receiver: WebhookReceiver
) -> None:
    bb = fake_bitbucket
    demo = seed_demo(bb)
    hook = bb.add_hook(demo.repository, webhook_receiver.url, ALL_EVENTS, secret=SECRET)
    repo, pr = demo.repository, demo.pull_request
    # PR updated / comment lifecycle / approval / push / merge
    bb.update_pull_request(pr, demo.author, title="Excited greetings v2", reviewers=[demo.admin])
    c = bb.add_comment(pr, demo.admin, "Rename?", inline={"path": "app.py", "to": 6})
    bb.update_comment(c, demo.admin, "Rename this?")
    bb.resolve_comment(c, demo.admin)
    other = bb.add_comment(pr, demo.admin, "typo")
    bb.delete_comment(other, demo.admin)
    bb.approve(pr, demo.admin)
    bb.merge_pull_request(pr, demo.admin)
    bb.commit(repo, "topic", {"x.txt": "x\n"}, author=demo.author, notify=False)
    declined = bb.create_pull_request(repo, "topic", title="Nope", author=demo.author)
    bb.decline_pull_request(declined, demo.admin)
    deliveries = bb.wait_for_deliveries()
    received = webhook_receiver.wait_for(len(deliveries))
    keys = [d.event_key for d in deliveries]
    assert keys == [
        "pullrequest:updated", "pullrequest:comment_created", "pullrequest:comment_updated",
        "pullrequest:comment_resolved", "pullrequest:comment_created", "pullrequest:comment_deleted",
        "pullrequest:approved", "repo:push", "pullrequest:fulfilled", "pullrequest:created", "pullrequest:rejected",
    ]
    assert sorted(r.event_key for r in received) == sorted(keys)
    for req in received:
        assert verify(req, SECRET)
        assert req.signature_valid(SECRET) and not req.signature_valid("wrong")
        h = req.headers
        assert h["content-type"] == "application/json"
        assert h["user-agent"] == "Bitbucket-Webhooks/2.0"
        assert h["x-hook-uuid"] == hook.uuid.strip("{}") and UUID_NO_BRACES.match(h["x-hook-uuid"])
        assert h["x-attempt-number"] == "1" and h["x-request-uuid"] and h["x-event-time"].endswith("GMT")
        assert "x-hub-signature-256" not in h
        body = json.loads(req.body)
        assert body["actor"]["type"] == "user" and "username" not in body["actor"]
        assert body["repository"]["full_name"] == "acme/webapp"
        assert {"workspace", "project", "is_private", "scm"} <= set(body["repository"])
    by_key = {r.event_key: json.loads(r.body) for r in received}
    fulfilled = by_key["pullrequest:fulfilled"]["pullrequest"]
    assert fulfilled["state"] == "MERGED" and HEX12.match(fulfilled["merge_commit"]["hash"])
    assert {"participants", "reviewers", "draft", "comment_count", "task_count", "rendered", "summary"} <= set(fulfilled)
    assert by_key["pullrequest:rejected"]["pullrequest"]["state"] == "DECLINED"
    comment = by_key["pullrequest:comment_resolved"]["comment"]
    assert comment["inline"]["path"] == "app.py" and comment["resolution"]["type"] == "comment_resolution"
    assert by_key["pullrequest:comment_deleted"]["comment"]["deleted"] is True
    assert by_key["pullrequest:approved"]["approval"]["user"]["uuid"] == demo.admin.uuid
    change = by_key["repo:push"]["push"]["changes"][0]
    assert change["new"]["type"] == "branch" and change["new"]["name"] == "main"
    assert HEX12.match(change["new"]["target"]["hash"]) and change["old"]["target"]["hash"]
    assert change["created"] is False and change["closed"] is False and change["commits"]
    assert [d.status for d in deliveries] == ["200"] * len(deliveries)
    assert bb.webhook_history(hook) == deliveries


def test_api_actions_fire_hooks_and_no_signature_without_secret(
    fake_bitbucket: FakeBitbucket, webhook_receiver: WebhookReceiver
) -> None:
    bb = fake_bitbucket
    demo = seed_demo(bb)
    r = bb.request("POST", "/repositories/acme/webapp/hooks", auth=demo.token,
                   json_body={"url": webhook_receiver.url, "events": ["pullrequest:comment_created"]})
    assert r.json()["secret_set"] is False
    bb.request("POST", "/repositories/acme/webapp/pullrequests/1/comments", auth=demo.token,
               json_body={"content": {"raw": "From the bot"}})
    (req,) = webhook_receiver.wait_for(1)
    assert "x-hub-signature" not in req.headers
    body = json.loads(req.body)
    assert body["actor"]["account_id"] == demo.admin.account_id  # the bot sees its own actions (§7.3)
    assert body["comment"]["content"]["raw"] == "From the bot"
    assert set(body) == {"actor", "pullrequest", "repository", "comment"}


def test_inactive_hooks_and_unsubscribed_events_are_not_delivered(
    fake_bitbucket: FakeBitbucket, webhook_receiver: WebhookReceiver
) -> None:
    bb = fake_bitbucket
    demo = seed_demo(bb)
    bb.add_hook(demo.repository, webhook_receiver.url, ["pullrequest:created"], active=False)
    bb.add_hook(demo.repository, webhook_receiver.url, ["repo:push"])
    bb.add_hook(demo.workspace, webhook_receiver.url, ["pullrequest:comment_created"])  # workspace-level
    bb.add_comment(demo.pull_request, demo.admin, "hello")
    bb.commit(demo.repository, "new", {"n.txt": "n\n"}, author=demo.author, notify=False)
    bb.create_pull_request(demo.repository, "new", title="New", author=demo.author)
    deliveries = bb.wait_for_deliveries()
    assert [d.event_key for d in deliveries] == ["pullrequest:comment_created"]


@pytest.mark.parametrize(
    ("statuses", "attempts"),
    [
        ([500, 500, 500], ["500", "500", "500"]),  # exactly 2 retries, then dropped
        ([503, 200], ["503", "200"]),
        ([404], ["404"]),  # 4xx is never retried (§7.3)
        ([400], ["400"]),
        ([302], ["302"]),
    ],
)
def test_retries_only_on_5xx(statuses: list[int], attempts: list[str]) -> None:
    replies = iter(statuses + [200] * 3)
    with WebhookReceiver(lambda _req: (next(replies), 0.0)) as receiver, \
            FakeBitbucket(seed=3, webhook_backoff=0.01) as bb:
        demo = seed_demo(bb)
        bb.add_hook(demo.repository, receiver.url, ["pullrequest:comment_created"], secret="s")
        bb.add_comment(demo.pull_request, demo.admin, "hi")
        (delivery,) = bb.wait_for_deliveries()
        assert [a.outcome for a in delivery.attempts] == attempts
        received = receiver.wait_for(len(attempts))
        assert [r.headers["x-attempt-number"] for r in received] == [str(i + 1) for i in range(len(attempts))]
        assert len({r.body for r in received}) == 1 and all(r.signature_valid("s") for r in received)
        time.sleep(0.1)
        assert len(receiver.received) == len(attempts)  # nothing more arrives


def test_timeouts_and_network_errors() -> None:
    with WebhookReceiver(lambda _req: (200, 1.0)) as slow, FakeBitbucket(webhook_timeout=0.2, webhook_backoff=0.0) as bb:
        demo = seed_demo(bb)
        bb.add_hook(demo.repository, slow.url, ["pullrequest:comment_created"])
        bb.add_hook(demo.repository, "http://127.0.0.1:9/closed-port", ["pullrequest:comment_created"])
        bb.add_comment(demo.pull_request, demo.admin, "hi")
        deliveries = {d.url: d for d in bb.wait_for_deliveries(timeout=20)}
        timed_out, refused = deliveries[slow.url], deliveries["http://127.0.0.1:9/closed-port"]
        assert [a.outcome for a in timed_out.attempts] == ["TIMEOUT"] * 3  # Quirks.webhook_retry_on_timeout
        assert all(a.duration_s < 0.9 for a in timed_out.attempts)
        assert [a.outcome for a in refused.attempts] == ["NETWORK ERROR"]
        assert not timed_out.succeeded


def test_request_uuid_per_attempt_is_configurable() -> None:
    for stable in (False, True):
        with WebhookReceiver(lambda _req: (500, 0.0)) as receiver, \
                FakeBitbucket(quirks=Quirks(webhook_request_uuid_stable=stable), webhook_backoff=0.0) as bb:
            demo = seed_demo(bb)
            bb.add_hook(demo.repository, receiver.url, ["pullrequest:comment_created"])
            bb.add_comment(demo.pull_request, demo.admin, "hi")
            bb.wait_for_deliveries()
            uuids = {r.headers["x-request-uuid"] for r in receiver.wait_for(3)}
            assert len(uuids) == (1 if stable else 3)


def test_large_payloads_are_not_sent(fake_bitbucket: FakeBitbucket, webhook_receiver: WebhookReceiver) -> None:
    bb = fake_bitbucket
    demo = seed_demo(bb)
    bb.add_hook(demo.repository, webhook_receiver.url, ["pullrequest:comment_created"])
    bb.quirks.max_comment_chars = None
    bb.add_comment(demo.pull_request, demo.admin, "x" * 300_000)
    (delivery,) = bb.wait_for_deliveries()
    assert delivery.sent is False and delivery.attempts == []  # over 256 KB (§7.3)
    assert webhook_receiver.received == []


def test_resend(fake_bitbucket: FakeBitbucket, webhook_receiver: WebhookReceiver) -> None:
    bb = fake_bitbucket
    demo = seed_demo(bb)
    bb.add_hook(demo.repository, webhook_receiver.url, ["pullrequest:comment_created"])
    bb.add_comment(demo.pull_request, demo.admin, "hi")
    (first,) = bb.wait_for_deliveries()
    again = bb.resend(first)
    assert again.wait(10) and again.body == first.body and again.uuid != first.uuid
    assert len(webhook_receiver.wait_for(2)) == 2


# -- payload builders ---------------------------------------------------------------------------------


def test_payload_builders_match_the_emulator(fake_bitbucket: FakeBitbucket, webhook_receiver: WebhookReceiver) -> None:
    bb = fake_bitbucket
    demo: Demo = seed_demo(bb)
    bb.add_hook(demo.repository, webhook_receiver.url, ["pullrequest:comment_created"])
    bb.add_comment(demo.pull_request, demo.author, "Hi", inline={"path": "app.py", "to": 6})
    (req,) = webhook_receiver.wait_for(1)
    real = json.loads(req.body)
    built = payloads.comment_event(raw="Hi", inline={"path": "app.py", "to": 6}, repository="acme/webapp")

    def shape(obj):  # keys, recursively; lists by their first element
        if isinstance(obj, dict):
            return {k: shape(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [shape(obj[0])] if obj else []
        return type(obj).__name__

    for key in ("actor", "repository", "comment"):
        assert shape(built[key]) == shape(real[key]), key
    assert set(built["pullrequest"]) == set(real["pullrequest"])


def test_payload_builders() -> None:
    created = payloads.pullrequest_event("pullrequest:created", source_hash="a" * 40, reviewers=["bot"])
    assert set(created) == {"actor", "pullrequest", "repository"}
    assert created["pullrequest"]["source"]["commit"]["hash"] == "a" * 12
    assert created["pullrequest"]["reviewers"][0]["nickname"] == "bot"
    assert payloads.pullrequest_event("pullrequest:fulfilled")["pullrequest"]["state"] == "MERGED"
    assert payloads.pullrequest_event("pullrequest:rejected")["pullrequest"]["state"] == "DECLINED"
    assert "approval" in payloads.pullrequest_event("pullrequest:approved")
    assert payloads.account("emma") == payloads.account("emma")  # ids derive from the name
    deleted = payloads.comment_event("pullrequest:comment_deleted", parent_id=16)
    assert deleted["comment"]["deleted"] is True and deleted["comment"]["parent"]["id"] == 16
    resolved = payloads.comment_event("pullrequest:comment_resolved", inline={"path": "a.py", "to": 1})
    assert resolved["comment"]["resolution"]["type"] == "comment_resolution"
    push = payloads.push_event(branch="main")
    change = push["push"]["changes"][0]
    assert change["new"]["name"] == "main" and len(change["new"]["target"]["hash"]) == 12
    headers, body = payloads.delivery("pullrequest:created", created, secret=SECRET, hook_uuid="{abc}")
    assert headers["X-Hub-Signature"] == sign(body, SECRET) and headers["X-Hook-UUID"] == "abc"
    assert json.loads(body) == created
    headers, _ = payloads.delivery("repo:push", push)
    assert "X-Hub-Signature" not in headers and headers["X-Attempt-Number"] == "1"
