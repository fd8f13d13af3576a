"""Reliability of the service: crashes, duplicates, forgeries, bursts. Loopback only, bounded in time."""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from bbreview.review.render import parse_markers
from bbreview.store import SQLiteStore

# The native intake must be built: without it these tests fail (ImportError), never skip.
from bbreview.service.events import HANDLED_EVENTS
from bbreview.service.intake import sign
from bbreview.testing import FakeBitbucket, wait_until
from test_service import FEATURE, SECRET, Env


@pytest.fixture()
def env(tmp_path):
    with FakeBitbucket(seed=8) as bb:
        e = Env(bb, tmp_path)
        try:
            yield e
        finally:
            e.service.stop()


def comment_body(n: int, raw: str = "looks fine") -> bytes:
    return json.dumps({
        "actor": {"uuid": "{dev}", "account_id": "557058:dev"},
        "repository": {"full_name": "acme/app"},
        "pullrequest": {"id": 1, "source": {"commit": {"hash": "abcdef123456"}}},
        "comment": {"id": 10_000 + n, "content": {"raw": raw}, "user": {"uuid": "{dev}"}},
    }).encode()


def post(conn, body: bytes, *, event="pullrequest:comment_created", request_uuid=None, signature="sign",
         hook_uuid=None):
    headers = {"Content-Type": "application/json", "X-Event-Key": event,
               "X-Request-UUID": request_uuid or str(uuid.uuid4()), "X-Attempt-Number": "1"}
    if hook_uuid:
        headers["X-Hook-UUID"] = hook_uuid
    if signature == "sign":
        headers["X-Hub-Signature"] = sign(SECRET, body)
    elif signature is not None:
        headers["X-Hub-Signature"] = signature
    conn.request("POST", "/bitbucketHandler", body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def inbox_count(store) -> int:
    return sum(store.stats()["inbox_by_state"].values())


def test_the_same_delivery_three_times_is_one_job(env):
    body = comment_body(1, f"@{{{env.bot.account_id}}} help")
    rid = str(uuid.uuid4())
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", env.service.port, timeout=10)) as conn:
        answers = [post(conn, body, request_uuid=rid, hook_uuid=env.hook_uuid) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert b"queued" in answers[0][1] and all(b"duplicate" in b for _, b in answers[1:])
    env.service.dispatch_once()
    assert inbox_count(env.store) == 1
    assert len([j for j in env.store.jobs() if j.kind == "command"]) == 1


def test_a_forged_or_missing_signature_gets_401_and_nothing_is_queued(env):
    body = comment_body(2)
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", env.service.port, timeout=10)) as conn:
        assert post(conn, body, signature=None, hook_uuid=env.hook_uuid)[0] == 401
        assert post(conn, body, signature="sha256=" + "0" * 64, hook_uuid=env.hook_uuid)[0] == 401
        assert post(conn, body, signature=sign("wrong secret", body), hook_uuid=env.hook_uuid)[0] == 401
        assert post(conn, body, signature="md5=abc", hook_uuid=env.hook_uuid)[0] == 401
    assert inbox_count(env.store) == 0


def test_a_burst_of_a_thousand_deliveries_is_acknowledged_and_processed(tmp_path):
    # 1,000 real pullrequest:updated deliveries (each a distinct update, §7.4) spread over a few
    # open pull requests: every one is stored, becomes a review job, and is run by the workers.
    n, n_prs = 1000, 8
    with FakeBitbucket(seed=8, rate_limit=None) as bb:
        e = Env(bb, tmp_path, budget_per_hour=10_000_000)
        try:
            prs = bb.add_pull_requests(e.repo, n_prs, author=e.dev,
                                       files=lambda i: {f"mod{i}.py": f"def f{i}(x):\n    return x + {i}\n"})
            for pr in prs:
                e.reviewed(pr)
            e.idle(60)
            reviewed = {pr.id: e.store.pr_state(f"acme/app#{pr.id}").last_reviewed_commit for pr in prs}
            assert all(reviewed.values())
            first_seq = max(o.seq for o in e.store.delivery_outcomes(limit=1000))
            r = bb.renderer

            def body(i: int) -> bytes:
                pr = prs[i % n_prs]
                pullrequest = r.pullrequest(pr, full=True)
                pullrequest["updated_on"] = f"2026-01-05T10:{i // 60:02d}:{i % 60:02d}.000000+00:00"
                return json.dumps({"actor": r.user(e.dev), "pullrequest": pullrequest,
                                   "repository": r.repository_payload(e.repo)}).encode()

            bodies = [body(i) for i in range(n)]

            def send(chunk):
                answers = []
                with contextlib.closing(http.client.HTTPConnection("127.0.0.1", e.service.port, timeout=30)) as conn:
                    for i in chunk:
                        status, answer = post(conn, bodies[i], event="pullrequest:updated", hook_uuid=e.hook_uuid)
                        answers.append((status, json.loads(answer)["status"] if status == 200 else answer))
                return answers

            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                answers = [a for part in pool.map(send, [range(k, n, 16) for k in range(16)]) for a in part]
            assert answers == [(200, "queued")] * n

            def burst():
                return [o for o in e.store.delivery_outcomes(limit=n + 100) if o.seq > first_seq]

            def processed():
                e.service.dispatch_once()
                outcomes = burst()
                return len(outcomes) == n and all(
                    o.state == "taken" and len(o.jobs) == 1 and o.jobs[0].state == "done" for o in outcomes)

            wait_until(processed, 60, "every delivery of the burst to be processed")
            elapsed = time.monotonic() - started
            outcomes = burst()
            assert {o.jobs[0].kind for o in outcomes} == {"review"}
            assert {o.pr_id for o in outcomes} == set(reviewed)
            assert e.store.counts_by_state().get("dead", 0) == 0
            # Nothing new to review: the commits did not change, so no comment was posted twice.
            for pr in prs:
                assert e.store.pr_state(f"acme/app#{pr.id}").last_reviewed_commit == reviewed[pr.id]
                summaries = [c for c in e.bot_comments(pr) if ("summary", []) in parse_markers(c["content"]["raw"])]
                assert len(summaries) == 1
            assert elapsed < 60
        finally:
            e.service.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data_dir, port, env_vars, config_file, log_path):
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bbreview", "serve", "--config", str(config_file), "--data-dir", str(data_dir),
             "--port", str(port), "--no-console", "--workers", "2"],
            env=env_vars, stdout=log, stderr=subprocess.STDOUT,
        )


def healthy(port) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def test_kill_9_in_the_middle_of_a_review_then_restart_completes_it_without_duplicates(tmp_path):
    with FakeBitbucket(seed=9) as bb:
        bot = bb.add_user("review-bot", "Review Bot", email="bot@example.com")
        dev = bb.add_user("dev", "Dev", email="dev@example.com")
        from bbreview.bitbucket import Client
        from bbreview.testing import BOT_SCOPES

        ws = bb.add_workspace("acme", "Acme", owners=[bot])
        bb.add_member(ws, dev, "member")
        token = bb.add_api_token(bot, BOT_SCOPES, name="bot")
        repo = bb.add_repository(ws, "app", admins=[bot], writers=[dev])
        bb.commit(repo, "main", {"README.md": "# app\n"}, message="base", author=dev, notify=False)
        many = {f"mod{i}.py": f"def f{i}(x):\n    print(x)\n    return eval(x)\n" for i in range(4)}
        bb.commit(repo, "feature", {**FEATURE, **many}, message="feature", author=dev, notify=False)
        client = Client(email=bot.email, token=token.token, base_url=bb.base_url)
        port = free_port()
        hook = client.create_hook("acme", "app", f"http://127.0.0.1:{port}/bitbucketHandler", HANDLED_EVENTS,
                                  secret=SECRET)
        assert hook["active"]
        config_file = tmp_path / "service.yaml"
        config_file.write_text(f"lease_seconds: 2\nbitbucket:\n  api_url: {bb.base_url}\n")
        env_vars = {**os.environ, "BITBUCKET_EMAIL": bot.email, "BITBUCKET_API_TOKEN": token.token,
                    "BBREVIEW_WEBHOOK_SECRET": SECRET}
        data_dir = tmp_path / "data"

        # Posting a comment is slow, so the review is killed half-way through.
        bb.latency = lambda req: 0.4 if req.method == "POST" and req.path.endswith("/comments") else 0.0
        proc = serve(data_dir, port, env_vars, config_file, tmp_path / "serve-1.log")
        try:
            wait_until(lambda: healthy(port), 30, "the service to start")
            pr = bb.create_pull_request(repo, "feature", title="Feature", author=dev)

            def bot_comments():
                return [c for c in client.comments("acme", "app", pr.id)
                        if c["user"]["uuid"] == bot.uuid and not c.get("deleted")]

            wait_until(lambda: len(bot_comments()) >= 2, 30, "the review to start posting")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            posted_before = len(bot_comments())
            assert not any(("summary", []) in parse_markers(c["content"]["raw"]) for c in bot_comments())

            bb.latency = 0.0
            proc = serve(data_dir, port, env_vars, config_file, tmp_path / "serve-2.log")
            wait_until(lambda: healthy(port), 30, "the service to restart")

            def finished():
                return any(("summary", []) in parse_markers(c["content"]["raw"]) for c in bot_comments())

            wait_until(finished, 60, "the review to complete after the restart")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        comments = bot_comments()
        fingerprints = [args[0] for c in comments for kind, args in parse_markers(c["content"]["raw"])
                        if kind == "finding"]
        assert len(fingerprints) == len(set(fingerprints)) > posted_before - 1
        assert len([c for c in comments if ("summary", []) in parse_markers(c["content"]["raw"])]) == 1
        store = SQLiteStore(str(data_dir / "bbreview.db"))
        try:
            assert store.counts_by_state().get("dead", 0) == 0
        finally:
            store.close()
