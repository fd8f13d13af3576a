"""The review service end to end, in process: FakeBitbucket sends real signed webhooks to the
service's C++ intake, workers review and answer through the Bitbucket API. Loopback only."""

from __future__ import annotations

import contextlib
import http.client
import json
import time
import urllib.request

import pytest

# The native intake must be built: without it these tests fail (ImportError), never skip.
import bbreview.service.intake  # noqa: F401
from bbreview.bitbucket import Client
from bbreview.review import ReviewConfig
from bbreview.review.render import parse_markers
from bbreview.service.app import Service
from bbreview.service.config import ServiceConfig
from bbreview.service.events import HANDLED_EVENTS
from bbreview.service.worker import LLM_SETUP_HELP
from bbreview.testing import BOT_SCOPES, FakeBitbucket, FakeLLM, wait_until

SECRET = "s3cr3t-for-tests-only"
BASE = {"app.py": "import os\n\n\ndef greet(name):\n    return 'Hello, ' + name\n"}
FEATURE = {
    "app.py": "import os\n\n\ndef greet(name):\n    print('greeting', name)\n    return 'Hello, ' + name\n\n\n"
    "def run(expr):\n    return eval(expr)\n",
}


class Env:
    def __init__(self, bb: FakeBitbucket, tmp_path, *, llm=None, defaults=None, workers=2,
                 budget_per_hour: float = 1000.0) -> None:
        self.bb = bb
        self.budget_per_hour = budget_per_hour
        self.bot = bb.add_user("review-bot", "Review Bot", email="bot@example.com")
        self.dev = bb.add_user("dev", "Dev Eloper", email="dev@example.com")
        ws = bb.add_workspace("acme", "Acme", owners=[self.bot])
        bb.add_member(ws, self.dev, "member")
        self.token = bb.add_api_token(self.bot, BOT_SCOPES, name="bot")
        self.repo = bb.add_repository(ws, "app", admins=[self.bot], writers=[self.dev])
        bb.commit(self.repo, "main", BASE, message="base", author=self.dev, notify=False)
        bb.commit(self.repo, "feature", FEATURE, message="feature", author=self.dev, notify=False)
        self.client = self.make_client()
        config = ServiceConfig(data_dir=str(tmp_path / "data"), port=0, workers=workers, lease_seconds=10)
        self.service = Service(config, client=self.make_client(), defaults=defaults or ReviewConfig.default(),
                               llm=llm, hook_secrets={}, webhook_secret="", env={}, console=False)
        self.service.start()
        hook = self.client.create_hook("acme", "app", f"{self.service.url}{config.path}", HANDLED_EVENTS,
                                       secret=SECRET)
        self.hook_uuid = hook["uuid"].strip("{}")
        self.service.intake.set_hook_secret(self.hook_uuid, SECRET)
        self.store = self.service.store

    def make_client(self) -> Client:
        return Client(email=self.bot.email, token=self.token.token, base_url=self.bb.base_url, backoff=0.01,
                      rate_limit_backoff=0.05, budget_per_hour=self.budget_per_hour)

    def open_pr(self, **kw):
        return self.bb.create_pull_request(self.repo, "feature", title=kw.pop("title", "Greeting"), author=self.dev, **kw)

    def bot_comments(self, pr):
        return [c for c in self.client.comments("acme", "app", pr.id)
                if c["user"]["uuid"] == self.bot.uuid and not c.get("deleted")]

    def summary(self, pr):
        found = [c for c in self.bot_comments(pr) if ("summary", []) in parse_markers(c["content"]["raw"])]
        return found[0] if found else None

    def reviewed(self, pr, timeout=30.0):
        return wait_until(lambda: self.summary(pr), timeout, f"the review of PR #{pr.id}")

    def ask(self, pr, text, **kw):
        return self.bb.add_comment(pr, self.dev, f"@{{{self.bot.account_id}}} {text}", **kw)

    def reply_to(self, comment, pr, timeout=30.0):
        def find():
            for c in self.bot_comments(pr):
                if (c.get("parent") or {}).get("id") == comment.id:
                    return c
            return None

        return wait_until(find, timeout, f"the bot's reply to #{comment.id}")["content"]["raw"]

    def idle(self, timeout=30.0):
        """Waits until every webhook the emulator sent was answered and every job has finished."""
        self.bb.wait_for_deliveries(timeout=timeout)

        def done():
            self.service.dispatch_once()
            counts = self.store.counts_by_state()
            return counts.get("queued", 0) + counts.get("leased", 0) == 0 and not self.service._running
        wait_until(done, timeout, "the queue to drain")


@pytest.fixture()
def env(tmp_path):
    with FakeBitbucket(seed=5) as bb:
        e = Env(bb, tmp_path)
        try:
            yield e
        finally:
            e.service.stop()


def test_a_new_pull_request_is_reviewed_through_the_webhook(env):
    pr = env.open_pr()
    summary = env.reviewed(pr)
    assert "## bbreview review" in summary["content"]["raw"]
    inline = [c for c in env.bot_comments(pr) if c.get("inline")]
    assert {(c["inline"]["path"], c["inline"]["to"]) for c in inline} == {("app.py", 5), ("app.py", 10)}
    env.idle()
    state = env.store.pr_state(f"acme/app#{pr.id}")
    head = env.client.pull_request("acme", "app", pr.id)["source"]["commit"]["hash"]
    assert state.last_reviewed_commit == head and state.summary_comment_id == summary["id"]


def test_the_same_event_delivered_again_is_one_job(env):
    pr = env.open_pr()
    env.reviewed(pr)
    env.idle()
    created = [d for d in env.bb.deliveries if d.event_key == "pullrequest:created"]
    for _ in range(2):
        env.bb.resend(created[0])
    env.bb.wait_for_deliveries(len(env.bb.deliveries))
    env.idle()
    reviews = [j for j in env.store.jobs(pr_key=f"acme/app#{pr.id}") if j.kind == "review"]
    assert len(reviews) == 1
    assert len([c for c in env.bot_comments(pr) if c.get("inline")]) == 2


def test_the_bots_own_comments_do_not_trigger_it(env):
    pr = env.open_pr()
    env.reviewed(pr)
    env.idle()
    outcomes = env.store.delivery_outcomes(repository="acme/app", limit=100)
    own = [o for o in outcomes if o.event_key == "pullrequest:comment_created"]
    assert own and all(o.outcome == "ignored: no jobs" for o in own)
    assert not [j for j in env.store.jobs() if j.kind == "command"]


def test_commands_are_answered_in_the_thread(env):
    pr = env.open_pr()
    env.reviewed(pr)
    asked = env.ask(pr, "help")
    text = env.reply_to(asked, pr)
    assert "`@review-bot full review`" in text and ("reply", [str(asked.id)]) in parse_markers(text)
    asked = env.ask(pr, "reveiw")
    assert "I don't know the command `reveiw`" in env.reply_to(asked, pr)
    asked = env.ask(pr, "configuration")
    assert "```yaml" in env.reply_to(asked, pr)
    asked = env.ask(pr, "why is eval dangerous here?")
    assert env.reply_to(asked, pr).startswith(LLM_SETUP_HELP[:40])


def test_pause_stops_automatic_reviews_until_resume(env):
    pr = env.open_pr()
    env.reviewed(pr)
    env.reply_to(env.ask(pr, "pause"), pr)
    env.idle()
    assert env.store.pr_state(f"acme/app#{pr.id}").paused
    before = len(env.bot_comments(pr))
    env.bb.commit(env.repo, "feature", {"extra.py": "print('x')\n"}, message="more", author=env.dev)
    env.idle()
    assert len(env.bot_comments(pr)) == before  # paused: nothing new
    env.reply_to(env.ask(pr, "resume"), pr)
    env.reply_to(env.ask(pr, "review"), pr)
    assert any(c.get("inline", {}) and c["inline"]["path"] == "extra.py" for c in env.bot_comments(pr))


def test_a_new_commit_is_reviewed_incrementally_and_fixed_comments_resolved(env):
    pr = env.open_pr()
    env.reviewed(pr)
    env.idle()
    fixed = FEATURE["app.py"].replace("    print('greeting', name)\n", "")
    env.bb.commit(env.repo, "feature", {"app.py": fixed}, message="drop the print", author=env.dev)

    def resolved():
        return [c for c in env.bot_comments(pr) if c.get("resolution")]

    [c] = wait_until(resolved, 30, "the fixed comment to be resolved")
    assert "python-print" in c["content"]["raw"]
    env.idle()
    assert len([c for c in env.bot_comments(pr) if ("summary", []) in parse_markers(c["content"]["raw"])]) == 1


def fingerprints(comments):
    return [args[0] for c in comments for kind, args in parse_markers(c["content"]["raw"]) if kind == "finding"]


def test_a_draft_edited_then_marked_ready_on_one_commit_is_reviewed(env):
    # Reference §7.4: pullrequest:updated fires for title edits and draft toggles, on the same commit.
    pr = env.open_pr(draft=True)
    env.idle()
    assert env.bot_comments(pr) == []  # drafts are not reviewed automatically
    model = env.bb.pull_request(env.repo, pr.id)
    env.bb.update_pull_request(model, env.dev, title="Greeting v2")
    env.idle()
    env.bb.update_pull_request(model, env.dev, draft=False)
    env.reviewed(pr)
    env.idle()
    updates = [o for o in env.store.delivery_outcomes(repository="acme/app", limit=50)
               if o.event_key == "pullrequest:updated"]
    assert len(updates) == 2 and all(o.jobs for o in updates)
    assert len(fingerprints(env.bot_comments(pr))) == 2


def test_full_review_reviews_everything_without_duplicating_open_comments(env):
    pr = env.open_pr()
    env.reviewed(pr)
    env.idle()
    before = [c for c in env.bot_comments(pr) if c.get("inline")]
    assert len(before) == 2
    # A person resolves one finding's comment, although the problem is still in the code.
    resolved = next(c for c in before if c["inline"]["to"] == 5)
    model = env.bb.pull_request(env.repo, pr.id)
    env.bb.resolve_comment(model.comments[resolved["id"]], env.dev)
    text = env.reply_to(env.ask(pr, "full review"), pr)
    assert text.startswith("Done: I reviewed the whole pull request again.")
    env.idle()
    after = [c for c in env.bot_comments(pr) if c.get("inline")]
    open_fps = fingerprints(c for c in after if not c.get("resolution"))
    # Each finding has exactly one open comment: the open one was not posted twice,
    # and the resolved one, still in the code, was posted again.
    assert sorted(open_fps) == sorted(fingerprints(before))
    assert len(after) == 3 and {c["id"] for c in before} < {c["id"] for c in after}
    # A second full review changes nothing.
    env.reply_to(env.ask(pr, "full review"), pr)
    env.idle()
    assert len([c for c in env.bot_comments(pr) if c.get("inline")]) == 3


def test_publish_errors_are_recorded_for_the_console(env):
    env.bb.fail_next(1, 403, method="POST", path=r"/pullrequests/\d+/comments$")
    env.bb.fail_next(1, 403, method="PUT", path=r"/reports/")
    pr = env.open_pr()
    summary = env.reviewed(pr)
    env.idle()
    assert "failed" in summary["content"]["raw"]  # the summary says so too
    errors = [e for e in env.store.recent_events("acme/app") if e.kind == "publish_error"]
    assert len(errors) == 2, [e.message for e in env.store.recent_events("acme/app")]
    assert {e.status for e in errors} == {403}
    assert all(e.level == "error" and e.pr_id == pr.id and e.repository == "acme/app" for e in errors)
    messages = sorted(e.message for e in errors)
    assert messages[0].startswith(f"publishing the review of acme/app#{pr.id} at ")
    assert "Code Insights report failed: 403" in messages[0]
    assert "inline comment on app.py:" in messages[1] and "failed: 403" in messages[1]
    assert all("bbreview token verify" in m for m in messages)


def test_resolve_command_resolves_every_bot_comment(env):
    pr = env.open_pr()
    env.reviewed(pr)
    text = env.reply_to(env.ask(pr, "resolve"), pr)
    assert text.startswith("Resolved 2 of my comments")


def test_a_declined_pull_request_cancels_pending_work(env):
    pr = env.open_pr()
    env.reviewed(pr)
    env.idle()
    key = f"acme/app#{pr.id}"
    job_id = env.store.enqueue(key, "review", {"workspace": "acme", "repo": "app", "pr_id": pr.id,
                                                "trigger": "updated"}, run_after=time.time() + 3600)
    env.bb.decline_pull_request(env.bb.pull_request(env.repo, pr.id), env.dev)
    wait_until(lambda: env.store.job(job_id).state == "cancelled", 30, "the pending job to be cancelled")


def test_a_description_that_says_ignore_turns_off_automatic_reviews(env):
    pr = env.open_pr(description=f"WIP refactor.\n\n@{{{env.bot.account_id}}} ignore")
    env.idle()
    assert env.bot_comments(pr) == []
    assert env.store.pr_state(f"acme/app#{pr.id}").auto_review_disabled
    # Taking the request out of the description turns them back on: the next update is reviewed.
    env.bb.update_pull_request(env.bb.pull_request(env.repo, pr.id), env.dev, description="Refactor, ready.")
    env.reviewed(pr)
    env.idle()
    assert not env.store.pr_state(f"acme/app#{pr.id}").auto_review_disabled


def test_an_invalid_configuration_gets_an_error_comment(env):
    # The destination branch's copy is the one in force (a pull request cannot change its own
    # configuration), so the invalid file is on main too.
    for branch in ("main", "feature"):
        env.bb.commit(env.repo, branch, {".bbreview.yaml": "reviews:\n  max_comments: lots\n"}, message="cfg",
                      author=env.dev, notify=False)
    pr = env.open_pr()

    def error_comment():
        return [c for c in env.bot_comments(pr) if ("config-error", []) in parse_markers(c["content"]["raw"])]

    [c] = wait_until(error_comment, 30, "the configuration error comment")
    assert "reviews.max_comments" in c["content"]["raw"] and ".bbreview.yaml:2" in c["content"]["raw"]


def test_rate_limits_and_server_errors_are_retried_without_starving_other_prs(tmp_path):
    # After a 429 the client treats the token's hourly budget as spent (§5) and waits for it to
    # refill; a large budget keeps that wait short, so the test measures the job-level backoff.
    with FakeBitbucket(seed=5) as bb:
        env = Env(bb, tmp_path, budget_per_hour=36_000)
        try:
            _retried_without_starving(env)
        finally:
            env.service.stop()


def _retried_without_starving(env):
    env.bb.commit(env.repo, "other", {"b.py": "x = eval(input())\n"}, message="other", author=env.dev, notify=False)
    # Two 429s, which the client's own retries absorb, and more 5xx on the first PR than the
    # client retries (max_retries=3, so 4 tries a call): its review job fails twice and is
    # retried with backoff.
    env.bb.fail_next(2, 429, method="POST")
    first_id = env.repo.next_pr_id
    env.bb.fail_next(8, 500, method="GET", path=rf"/pullrequests/{first_id}(/|$)")
    first = env.open_pr()
    assert first.id == first_id
    key = f"acme/app#{first.id}"

    def first_failed():
        env.service.dispatch_once()
        return [j for j in env.store.jobs(pr_key=key) if j.kind == "review" and j.last_error]

    [job] = wait_until(first_failed, 30, "the first PR's review to fail")
    assert job.state in ("queued", "leased")  # backing off, not dead
    second = env.bb.create_pull_request(env.repo, "other", title="Other", author=env.dev)
    env.reviewed(second, timeout=60)
    # Read from the store, not the API: the test's own calls on the first PR would meet its faults.
    wait_until(lambda: env.store.job(job.id).state == "done", 60, "the first PR's review to be retried and finish")
    env.idle(60)
    [first_job] = [j for j in env.store.jobs(pr_key=key) if j.kind == "review"]
    [second_job] = [j for j in env.store.jobs(pr_key=f"acme/app#{second.id}") if j.kind == "review"]
    assert first_job.state == second_job.state == "done"
    assert first_job.attempts == 3 and second_job.attempts == 1
    # The PR opened while the first one was backing off was not held up behind it.
    assert second_job.finished_at < first_job.finished_at
    failures = [e for e in env.store.recent_events("acme/app") if e.pr_id == first.id and e.kind == "bitbucket_error"]
    assert [e.status for e in failures] == [500, 500]
    assert env.store.counts_by_state().get("dead", 0) == 0
    assert env.service.client.budget.rate_limited == 2  # the 429s were met, and absorbed
    assert len([c for c in env.bot_comments(first) if c.get("inline")]) == 2  # nothing posted twice


def test_health_and_metrics(env):
    pr = env.open_pr()
    env.reviewed(pr)
    env.idle()
    env.service.intake.set_metrics_text(env.service.metrics_text())
    with urllib.request.urlopen(f"{env.service.url}/healthz", timeout=5) as r:
        assert r.status == 200
    with urllib.request.urlopen(f"{env.service.url}/metrics", timeout=5) as r:
        text = r.read().decode()
    for name in ("bbreview_queue_depth", 'bbreview_jobs{state="done"}', "bbreview_review_latency_seconds_count",
                 "bbreview_bitbucket_budget_remaining", 'bbreview_llm_tokens_total{direction="in"}'):
        assert name in text


def test_malformed_and_unknown_deliveries_get_4xx_and_nothing_crashes(env, caplog):
    from bbreview.service.intake import sign

    def post(conn, event, body):
        headers = {"Content-Type": "application/json", "X-Event-Key": event, "X-Hook-UUID": env.hook_uuid,
                   "X-Request-UUID": f"req-{time.monotonic_ns()}", "X-Hub-Signature": sign(SECRET, body)}
        conn.request("POST", "/bitbucketHandler", body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()

    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", env.service.port, timeout=5)) as conn:
        status, body = post(conn, "pullrequest:created", b"{not json")
        assert status == 400 and b"JSON" in body
        status, body = post(conn, "issue:created", json.dumps({"repository": {"full_name": "acme/app"}}).encode())
        assert status == 400 and b"issue:created" in body
    # The intake's log lines reach Python through a forwarding thread: wait for them.
    wait_until(lambda: any("not valid JSON" in r.getMessage() for r in caplog.records), 10, "the log line")
    with urllib.request.urlopen(f"{env.service.url}/healthz", timeout=5) as r:
        assert r.status == 200
    # The service still reviews.
    env.reviewed(env.open_pr())


def test_questions_are_answered_by_the_llm_with_the_code_as_context(tmp_path):
    with FakeBitbucket(seed=6) as bb, FakeLLM() as fake:
        from bbreview.review.llm import OpenAIProvider

        e = Env(bb, tmp_path, llm=OpenAIProvider(fake.openai_base_url, "fake-model", timeout=20))
        try:
            pr = e.open_pr()
            e.reviewed(pr)
            target = next(c for c in e.bot_comments(pr) if c.get("inline") and c["inline"]["to"] == 10)
            asked = e.ask(pr, "why is this dangerous in our case?", parent=target["id"])
            answer = e.reply_to(asked, pr)
            assert answer.strip()
            prompt = fake.requests[-1].prompt
            assert "why is this dangerous in our case?" in prompt
            assert "return eval(expr)" in prompt  # the code under the comment's anchor
        finally:
            e.service.stop()


def test_a_failing_llm_gets_a_reply_instead_of_silence(tmp_path):
    with FakeBitbucket(seed=7) as bb, FakeLLM() as fake:
        from bbreview.review.llm import OpenAIProvider, RetryPolicy
        from bbreview.testing.fake_llm import Fault

        provider = OpenAIProvider(fake.openai_base_url, "fake-model", timeout=20,
                                  retry=RetryPolicy(max_attempts=2, base_s=0.01, max_s=0.02))
        e = Env(bb, tmp_path, llm=provider)
        try:
            pr = e.open_pr()
            e.reviewed(pr)
            fake.script([Fault.server_error(500)] * 10)
            asked = e.ask(pr, "what does this change break?")
            assert "could not get an answer from the LLM" in e.reply_to(asked, pr)
        finally:
            e.service.stop()


def test_an_uninstalled_hooks_secret_is_dropped_on_reload(env):
    from bbreview.service.intake import sign

    body = json.dumps({"repository": {"full_name": "acme/app"}, "actor": {"uuid": "{x}"},
                       "pullrequest": {"id": 99, "source": {"commit": {"hash": "abc"}}}}).encode()

    def post():
        headers = {"Content-Type": "application/json", "X-Event-Key": "pullrequest:updated",
                   "X-Hook-UUID": env.hook_uuid, "X-Request-UUID": f"r-{time.monotonic_ns()}",
                   "X-Hub-Signature": sign(SECRET, body)}
        with contextlib.closing(http.client.HTTPConnection("127.0.0.1", env.service.port, timeout=5)) as conn:
            conn.request("POST", "/bitbucketHandler", body=body, headers=headers)
            return conn.getresponse().status

    env.service._hook_secrets = {env.hook_uuid: SECRET}
    env.service.reload_secrets()
    assert post() == 200
    env.service._hook_secrets = {}  # the repository was uninstalled
    env.service.reload_secrets()
    assert post() == 401


def test_a_review_overtaken_by_a_newer_commit_keeps_its_lines_for_the_next_review(env, monkeypatch):
    """The head moved while reviewing: only the summary is posted, and the last reviewed commit
    stays where it was, so the next (incremental) review still covers these lines."""
    from bbreview.review import publisher

    monkeypatch.setattr(publisher.BitbucketPublisher, "_newer_head", lambda self, pr, review: "f" * 40)
    pr = env.open_pr()
    summary = env.reviewed(pr)
    env.idle()
    assert "newer commit" in summary["content"]["raw"]
    assert not [c for c in env.bot_comments(pr) if c.get("inline")]
    assert env.store.pr_state(f"acme/app#{pr.id}").last_reviewed_commit is None
