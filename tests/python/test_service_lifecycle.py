"""The service's life cycle: starting with no token, picking up a saved or changed token,
clear errors for a busy port, surviving a failing store, giving jobs back at shutdown,
and housekeeping. Loopback only, against FakeBitbucket."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from bbreview.errors import ConfigError, Error, StoreError
from bbreview.review import ReviewConfig
from bbreview.review.render import parse_markers
from bbreview.service.admin import Admin
from bbreview.service.app import Service
from bbreview.service.config import ServiceConfig
from bbreview.bitbucket import Client
from bbreview.store import SQLiteStore
from bbreview.testing import BOT_SCOPES, FakeBitbucket, wait_until

BASE = {"app.py": "def greet(name):\n    return 'Hello, ' + name\n"}
FEATURE = {"app.py": "def greet(name):\n    print('greeting', name)\n    return eval(name)\n"}
KEY = "0" * 64  # BBREVIEW_SECRET_KEY for the sealed token (hex, 32 bytes)


class World:
    """FakeBitbucket with two bot accounts, a repository and a service with no token."""

    def __init__(self, bb: FakeBitbucket, tmp_path) -> None:
        self.bb = bb
        self.bot = bb.add_user("review-bot", "Review Bot", email="bot@example.com")
        self.bot2 = bb.add_user("review-bot-2", "Review Bot Two", email="bot2@example.com")
        self.dev = bb.add_user("dev", "Dev Eloper", email="dev@example.com")
        ws = bb.add_workspace("acme", "Acme", owners=[self.bot, self.bot2])
        bb.add_member(ws, self.dev, "member")
        self.token = bb.add_api_token(self.bot, BOT_SCOPES, name="bot")
        self.token2 = bb.add_api_token(self.bot2, BOT_SCOPES, name="bot2")
        self.repo = bb.add_repository(ws, "app", admins=[self.bot, self.bot2], writers=[self.dev])
        bb.commit(self.repo, "main", BASE, message="base", author=self.dev, notify=False)
        bb.commit(self.repo, "feature", FEATURE, message="feature", author=self.dev, notify=False)
        self.env = {"BBREVIEW_SECRET_KEY": KEY}
        self.config = ServiceConfig(data_dir=str(tmp_path / "data"), port=0, console_port=0, workers=2,
                                    lease_seconds=10, api_url=bb.base_url)
        self.service: Service | None = None

    def start(self, **kw) -> Service:
        self.service = Service(self.config, defaults=ReviewConfig.default(), env=self.env, **kw).start()
        return self.service

    def admin(self) -> Admin:
        """The console's Admin: saving a token through it tells the running service."""
        assert self.service is not None and self.service.console is not None
        return self.service.console.console.admin

    def bot_summaries(self, pr, bot):
        token = self.token if bot is self.bot else self.token2
        client = Client(email=bot.email, token=token.token, base_url=self.bb.base_url)
        return [c for c in client.comments("acme", "app", pr.id) if c["user"]["uuid"] == bot.uuid
                and not c.get("deleted") and ("summary", []) in parse_markers(c["content"]["raw"])]


@pytest.fixture()
def world(tmp_path):
    with FakeBitbucket(seed=11) as bb:
        w = World(bb, tmp_path)
        try:
            yield w
        finally:
            if w.service is not None:
                w.service.stop()


def test_the_service_starts_without_a_token_and_reviews_once_one_is_saved_in_the_console(world):
    service = world.start()
    assert not service.connected
    assert "no Bitbucket credentials" in service.credentials_problem
    assert service.console is not None and service.port > 0  # the console and the listener run

    # The administrator saves the token in the console, then installs the repository.
    check = world.admin().save_token(world.bot.email, world.token.token)
    assert check.ok
    assert service.connected and service.bot.uuid == world.bot.uuid
    world.admin().config = world.config.with_(public_url=service.url)
    results = world.admin().install(["acme/app"])
    assert results[0].ok, results[0]

    pr = world.bb.create_pull_request(world.repo, "feature", title="Greeting", author=world.dev)
    wait_until(lambda: world.bot_summaries(pr, world.bot), what="the review by the saved account")


def test_a_token_saved_by_another_process_is_picked_up(world):
    service = world.start(console=False)
    assert not service.connected
    # `bbreview token set` in another process: an Admin with no link to the service.
    Admin(service.store, world.config, env=world.env).save_token(world.bot.email, world.token.token)
    assert service.refresh_credentials()
    assert service.connected and service.bot.uuid == world.bot.uuid
    assert not service.refresh_credentials()  # nothing changed since


def test_changing_the_review_user_switches_the_bot_without_a_restart(world):
    service = world.start()
    admin = world.admin()
    assert admin.save_token(world.bot.email, world.token.token).ok
    assert service.bot.uuid == world.bot.uuid
    assert admin.save_token(world.bot2.email, world.token2.token).ok
    assert service.bot.uuid == world.bot2.uuid
    admin.config = world.config.with_(public_url=service.url)
    assert admin.install(["acme/app"])[0].ok

    pr = world.bb.create_pull_request(world.repo, "feature", title="Greeting", author=world.dev)
    wait_until(lambda: world.bot_summaries(pr, world.bot2), what="the review by the new account")
    assert world.bot_summaries(pr, world.bot) == []


def test_a_revoked_token_leaves_the_service_running_and_says_why(world):
    os.makedirs(world.config.data_dir, exist_ok=True)
    store = SQLiteStore(str(world.config.db_path))
    assert Admin(store, world.config, env=world.env).save_token(world.bot.email, world.token.token).ok
    store.close()
    world.bb.revoke(world.token)
    service = world.start(console=False)
    assert not service.connected
    assert "does not work" in service.credentials_problem
    assert world.token.token not in service.credentials_problem


def test_a_busy_webhook_port_is_a_clear_error(world):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        service = Service(world.config.with_(port=port), env=world.env, console=False)
        with pytest.raises(Error) as err:
            service.start()
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message and "--port" in message


def test_a_busy_console_port_is_a_clear_error_and_releases_the_webhook_port(world):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        service = Service(world.config.with_(console_port=port), env=world.env)
        with pytest.raises(Error) as err:
            service.start()
    assert "--console-port" in str(err.value) and "--no-console" in str(err.value)
    assert service.intake is None


def test_a_failing_store_does_not_kill_the_workers(world, monkeypatch):
    world.start(console=False)
    service = world.service
    Admin(service.store, world.config, env=world.env).save_token(world.bot.email, world.token.token)
    service.refresh_credentials()
    calls = {"n": 0}
    real_complete = service.store.complete

    def flaky_complete(job_id, owner):
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreError("database is locked (simulated)")
        return real_complete(job_id, owner)

    monkeypatch.setattr(service.store, "complete", flaky_complete)
    monkeypatch.setattr(service.runner, "run", lambda job: "ok")
    first = service.store.enqueue("acme/app#1", "command", {})
    second = service.store.enqueue("acme/app#2", "command", {})
    with service._work:
        service._work.notify_all()
    wait_until(lambda: service.store.job(second).state == "done", what="the second job")
    assert calls["n"] >= 2
    assert all(t.is_alive() for t in service._threads)
    assert service.store.job(first).state == "leased"  # its lease expires, then it runs again


def test_stop_gives_running_jobs_back_without_counting_the_attempt(world, monkeypatch):
    service = world.start(console=False)
    Admin(service.store, world.config, env=world.env).save_token(world.bot.email, world.token.token)
    service.refresh_credentials()
    started, release = threading.Event(), threading.Event()

    def slow(job):
        started.set()
        release.wait(10)
        return "ok"

    monkeypatch.setattr(service.runner, "run", slow)
    job_id = service.store.enqueue("acme/app#3", "command", {})
    with service._work:
        service._work.notify_all()
    assert started.wait(10)
    service.stop(drain_timeout=0.2)
    job = service.store.job(job_id)
    release.set()
    assert job.state == "queued" and job.attempts == 0 and "interrupted" in (job.last_error or "")
    world.service = None


def test_housekeeping_prunes_old_finished_work_only(world):
    service = world.start(console=False)
    store = service.store
    done = store.enqueue("acme/app#4", "command", {})
    waiting = store.enqueue("acme/app#5", "command", {})
    leased = store.lease("test-owner", lease_seconds=30)
    assert leased is not None and leased.id == done
    store.complete(done, "test-owner")
    assert service.prune() == {"jobs": 0, "inbox": 0}  # younger than the retention (14 days)
    removed = service.prune(now=time.time() + 15 * 86_400)
    assert removed["jobs"] == 1
    assert store.job(done) is None and store.job(waiting) is not None


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"lease_seconds": 0}, "lease_seconds"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"intake_threads": 0}, "intake_threads"),
        ({"require_signature": "no"}, "require_signature"),
        ({"retention_days": -1}, "retention_days"),
    ],
)
def test_service_settings_are_validated(changes, key):
    with pytest.raises(ConfigError) as err:
        ServiceConfig(**changes)
    assert key in str(err.value)


def test_service_settings_from_a_file_name_the_key_and_file(tmp_path):
    path = tmp_path / "service.yaml"
    path.write_text("max_attempts: zero\n")
    with pytest.raises(ConfigError) as err:
        ServiceConfig.load(str(path), env={})
    assert "max_attempts" in str(err.value)


def test_a_hook_installed_by_another_process_is_verified_within_seconds(world):
    service = world.start(console=False)
    # `bbreview repos install` in another process: no link to the running service.
    admin = Admin(service.store, world.config.with_(public_url=service.url), env=world.env)
    assert admin.save_token(world.bot.email, world.token.token).ok
    (result,) = admin.install(["acme/app"])
    assert result.ok, result
    hook_uuid = service.store.installation("acme/app").hook_uuid.strip("{}").lower()
    wait_until(lambda: hook_uuid in service._loaded_hooks, 5.0, "the new hook's secret to be loaded")  # noqa: SLF001
    pr = world.bb.create_pull_request(world.repo, "feature", title="Greeting", author=world.dev)
    wait_until(lambda: world.bot_summaries(pr, world.bot), what="the review of the first pull request")


def test_bitbucket_unreachable_at_start_is_told_apart_from_a_bad_token(world):
    os.makedirs(world.config.data_dir, exist_ok=True)
    store = SQLiteStore(str(world.config.db_path))
    assert Admin(store, world.config, env=world.env).save_token(world.bot.email, world.token.token).ok
    store.close()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/2.0"
    world.config = world.config.with_(api_url=dead)
    service = world.start(console=False)
    assert not service.connected
    assert "could not be reached" in service.credentials_problem
    assert world.token.token not in service.credentials_problem
