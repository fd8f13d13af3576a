"""bbreview.service.admin against the Bitbucket emulator on loopback: the token, the
webhooks, changing the review user, and troubleshooting."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import time

import pytest

from bbreview.service import admin as admin_module
from bbreview.service import credentials
from bbreview.service.admin import (
    REQUIRED_SCOPES,
    Admin,
    ChangeUserResult,
    Installed,
    InstallResult,
    RepoName,
    RepoPage,
    TokenCheck,
)
from bbreview.service.config import ServiceConfig
from bbreview.service.credentials import CredentialsError
from bbreview.errors import BitbucketError
from bbreview.service.events import HANDLED_EVENTS
from bbreview.store import SQLiteStore
from bbreview.testing import BOT_SCOPES, FakeBitbucket, seed_demo

KEY_HEX = "5ec2e7" * 10 + "abcd"
PUBLIC = "https://review.example.com"
HOOK_URL = PUBLIC + "/bitbucketHandler"


@pytest.fixture
def fb():
    with FakeBitbucket(seed=21, webhook_backoff=0.01) as bb:
        bb.demo = seed_demo(bb)
        yield bb


@pytest.fixture
def env():
    return {"BBREVIEW_SECRET_KEY": KEY_HEX}


@pytest.fixture
def config(tmp_path, fb):
    return ServiceConfig(data_dir=str(tmp_path), public_url=PUBLIC, api_url=fb.base_url)


@pytest.fixture
def store(config):
    s = SQLiteStore(str(config.db_path))
    yield s
    s.close()


@pytest.fixture
def admin(store, config, env):
    changes: list[int] = []
    a = Admin(store, config, env=env, on_change=lambda: changes.append(1))
    a.changes = changes  # type: ignore[attr-defined]
    return a


@pytest.fixture
def saved(admin, fb):
    check = admin.save_token(fb.demo.admin.email, fb.demo.token.token)
    assert check.ok
    return admin


def _ours(fb, ws="acme", slug="webapp"):
    return [h for h in fb.repository(ws, slug).hooks.values() if h.url == HOOK_URL]


# -- the token ------------------------------------------------------------------------------------


def test_required_scopes_cover_the_bot_and_deleting_webhooks():
    assert set(REQUIRED_SCOPES) == set(BOT_SCOPES)
    assert "delete:webhook:bitbucket" in REQUIRED_SCOPES
    assert all(why for why in REQUIRED_SCOPES.values())


def test_validate_token_shows_the_user_id_and_no_missing_scope(admin, fb):
    check = admin.validate_token(fb.demo.admin.email, fb.demo.token.token)
    assert isinstance(check, TokenCheck) and check.ok and check.error is None
    assert check.user["uuid"] == fb.demo.admin.uuid
    assert check.user["account_id"] == fb.demo.admin.account_id
    assert check.user["display_name"] == "Review Bot" and check.user["nickname"] == "review-bot"
    assert check.user["avatar_url"].startswith("https://")
    assert set(check.scopes) == set(BOT_SCOPES) and check.missing == []
    assert check.credential_type == "api_token"
    assert json.loads(json.dumps(check.to_dict()))["user"]["uuid"] == fb.demo.admin.uuid


def test_validate_token_lists_each_missing_scope_with_its_consequence(admin, fb):
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"write:webhook:bitbucket", "delete:webhook:bitbucket"})
    check = admin.validate_token(fb.demo.admin.email, narrow.token)
    assert check.ok
    assert dict(check.missing) == {
        "write:webhook:bitbucket": REQUIRED_SCOPES["write:webhook:bitbucket"],
        "delete:webhook:bitbucket": REQUIRED_SCOPES["delete:webhook:bitbucket"],
    }
    assert "write:webhook:bitbucket" in check.remedy
    assert check.to_dict()["missing"][0] == ["write:webhook:bitbucket", REQUIRED_SCOPES["write:webhook:bitbucket"]]


def test_a_token_that_cannot_read_its_user_names_the_scope(admin, fb):
    tok = fb.add_api_token(fb.demo.admin, {"read:repository:bitbucket"})
    check = admin.validate_token(fb.demo.admin.email, tok.token)
    assert not check.ok and check.user is None
    assert "read:user:bitbucket" in dict(check.missing)
    assert "read:user:bitbucket" in check.remedy


def test_a_wrong_token_gets_the_email_versus_username_remedy(admin, fb):
    check = admin.validate_token(fb.demo.admin.email, fb.demo.token.token + "x")
    assert not check.ok and check.user is None
    assert "Login failed" in check.error
    assert "email" in check.remedy and "username" in check.remedy
    by_name = admin.validate_token("review-bot", fb.demo.token.token)
    assert not by_name.ok and "'review-bot' is not an email address" in by_name.remedy
    assert fb.demo.token.token not in json.dumps(check.to_dict()) + json.dumps(by_name.to_dict())


def test_an_expired_token_is_refused(admin, fb):
    old = fb.add_api_token(fb.demo.admin, BOT_SCOPES, expired=True)
    check = admin.validate_token(fb.demo.admin.email, old.token)
    assert not check.ok and "Token is invalid" in check.error


def test_save_token_saves_only_a_valid_token(admin, fb, store):
    bad = admin.save_token(fb.demo.admin.email, "ATATT3xWRONG")
    assert not bad.ok and admin.token_info() is None
    with pytest.raises(CredentialsError, match="bbreview token set"):
        admin.client()
    good = admin.save_token(fb.demo.admin.email, fb.demo.token.token)
    assert good.ok
    info = admin.token_info()
    assert info["last4"] == fb.demo.token.token[-4:]
    assert info["user"]["uuid"] == fb.demo.admin.uuid
    assert fb.demo.token.token not in json.dumps(info)
    assert admin.client().current_user()["uuid"] == fb.demo.admin.uuid
    assert admin.verify_token().ok


# -- repositories --------------------------------------------------------------------------------


def _more_repositories(fb):
    """acme gets a few more repositories; workspace "beta" has one the bot may only write to."""
    ws = fb.workspace("acme")
    for slug in ("api", "billing", "docs"):
        fb.add_repository(ws, slug, admins=[fb.demo.admin])
    beta = fb.add_workspace("beta")
    fb.add_member(beta, fb.demo.admin, "member")
    fb.add_repository(beta, "readonly", writers=[fb.demo.admin])


def test_repositories_lists_every_workspace_with_permission_and_pages(saved, fb):
    _more_repositories(fb)
    page = saved.repositories()
    assert isinstance(page, RepoPage)
    names = [r.full_name for r in page.items]
    assert names == ["acme/api", "acme/billing", "acme/docs", "acme/webapp", "beta/readonly"]
    assert page.total == 5 and page.page == 1
    perms = {r.full_name: r.permission for r in page.items}
    assert perms["acme/webapp"] == "admin" and perms["beta/readonly"] == "write"
    readonly = page.items[-1]
    assert readonly.hook is None and any("needs admin" in p for p in readonly.problems)
    assert all(r.hook is not None and not r.hook.present for r in page.items[:4])
    second = saved.repositories(page=2, per_page=2)
    assert [r.full_name for r in second.items] == ["acme/docs", "acme/webapp"] and second.total == 5
    found = saved.repositories("BILL")
    assert [r.full_name for r in found.items] == ["acme/billing"] and found.total == 1
    assert json.loads(json.dumps(found.to_dict()))["items"][0]["workspace"] == "acme"


def _hook_reads(fb) -> int:
    return sum(1 for r in list(fb.requests) if r.method == "GET" and r.path.endswith("/hooks"))


def test_repository_names_lists_every_match_without_reading_webhooks(saved, fb):
    _more_repositories(fb)
    before = _hook_reads(fb)
    names = saved.repository_names()
    assert all(isinstance(n, RepoName) for n in names)
    assert [n.full_name for n in names] == ["acme/api", "acme/billing", "acme/docs", "acme/webapp", "beta/readonly"]
    assert {n.full_name: n.permission for n in names}["beta/readonly"] == "write"
    assert names[0].to_dict() == {"full_name": "acme/api", "permission": "admin"}
    assert [n.full_name for n in saved.repository_names("BILL")] == ["acme/billing"]
    assert _hook_reads(fb) == before  # no webhook read, whatever the number of repositories
    saved.repositories(per_page=2)
    assert _hook_reads(fb) == before + 2  # a page reads the webhooks of its own rows only


def test_installations_come_from_the_store_when_the_token_no_longer_works(saved, fb):
    first = saved.install(["acme/webapp"])[0]
    fb.revoke(fb.demo.token)
    with pytest.raises(BitbucketError):
        saved.repositories()
    (row,) = saved.installations()
    assert isinstance(row, Installed)
    assert (row.full_name, row.hook_uuid, row.hook_url, row.installed_by, row.last_error) == (
        "acme/webapp", first.hook_uuid, HOOK_URL, fb.demo.admin.uuid, None)
    assert set(row.to_dict()) == {"full_name", "hook_uuid", "hook_url", "installed_by", "installed_at", "last_error"}


def test_repositories_shows_our_hook_and_the_last_delivery(saved, fb, store):
    saved.install(["acme/webapp"])
    store.insert_delivery(dedup_key="k1", event_key="pullrequest:created", body=b"{}", repository="acme/webapp",
                          pr_id=1)
    row = saved.repositories("webapp").items[0]
    assert row.hook.present and row.hook.ours and row.hook.active and row.hook.events_ok and row.hook.secret_set
    assert row.hook.url == HOOK_URL and row.problems == []
    assert row.last_delivery["event"] == "pullrequest:created" and row.last_delivery["state"] == "new"
    assert isinstance(row.last_delivery["at"], float)


# -- installing --------------------------------------------------------------------------------------


def test_install_creates_one_signed_hook_with_our_url_and_events(saved, fb, store, env, config):
    seen = []
    results = saved.install(["acme/webapp"], progress=lambda name, r: seen.append((name, r.action)))
    assert results == [InstallResult("acme/webapp", True, "created", hook_uuid=results[0].hook_uuid)]
    assert seen == [("acme/webapp", "created")]
    hooks = list(fb.repository("acme", "webapp").hooks.values())
    assert len(hooks) == 1
    hook = hooks[0]
    assert hook.url == HOOK_URL and hook.active and set(hook.events) == set(HANDLED_EVENTS)
    assert hook.secret and len(hook.secret) >= 32 and hook.uuid == results[0].hook_uuid
    inst = store.installation("acme/webapp")
    assert inst.hook_uuid == hook.uuid and inst.hook_url == HOOK_URL and inst.installed_by == fb.demo.admin.uuid
    assert hook.secret.encode() not in inst.secret
    assert credentials.hook_secrets(store, config, env) == {hook.uuid.strip("{}"): hook.secret}
    assert saved.changes  # the running service is told to reload its secrets


def test_install_again_is_idempotent(saved, fb):
    first = saved.install(["acme/webapp"])[0]
    again = saved.install(["acme/webapp", "acme/webapp"])
    assert [r.action for r in again] == ["unchanged"]
    assert again[0].hook_uuid == first.hook_uuid
    assert len(fb.repository("acme", "webapp").hooks) == 1


def test_install_repairs_a_broken_hook_instead_of_adding_one(saved, fb, store, config, env):
    first = saved.install(["acme/webapp"])[0]
    hook = fb.repository("acme", "webapp").hooks[first.hook_uuid]
    hook.active = False
    hook.events = ["pullrequest:created"]
    hook.secret = None
    row = saved.repositories("webapp").items[0]
    assert not row.hook.active and not row.hook.events_ok and not row.hook.secret_set
    assert set(row.hook.missing_events) == set(HANDLED_EVENTS) - {"pullrequest:created"}
    assert any("inactive" in p for p in row.problems)
    result = saved.install(["acme/webapp"])[0]
    assert result.ok and result.action == "repaired" and result.hook_uuid == first.hook_uuid
    hooks = list(fb.repository("acme", "webapp").hooks.values())
    assert len(hooks) == 1
    assert hooks[0].active and set(hooks[0].events) == set(HANDLED_EVENTS) and hooks[0].secret
    assert credentials.hook_secrets(store, config, env)[first.hook_uuid.strip("{}")] == hooks[0].secret


def test_install_removes_a_duplicate_hook_to_our_url(saved, fb):
    saved.install(["acme/webapp"])
    fb.add_hook(fb.demo.repository, HOOK_URL, ["pullrequest:created"], secret="someone else's")
    fb.add_hook(fb.demo.repository, "https://ci.example.com/hook", ["repo:push"])
    assert saved.install(["acme/webapp"])[0].action == "repaired"
    assert len(_ours(fb)) == 1
    assert len(fb.repository("acme", "webapp").hooks) == 2  # the CI hook is not ours and stays


def test_a_repair_that_cannot_remove_a_duplicate_keeps_the_new_secret(admin, fb, store, config, env):
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"delete:webhook:bitbucket"})
    admin.save_token(fb.demo.admin.email, narrow.token)
    first = admin.install(["acme/webapp"])[0]
    duplicate = fb.add_hook(fb.demo.repository, HOOK_URL, list(HANDLED_EVENTS), secret="someone else's")
    admin.changes.clear()
    result = admin.install(["acme/webapp"])[0]
    # The hook was repaired with a new secret, and the store has that secret: deliveries still verify.
    assert not result.ok and result.action == "repaired" and result.hook_uuid == first.hook_uuid
    kept = fb.repository("acme", "webapp").hooks[first.hook_uuid]
    assert credentials.hook_secrets(store, config, env)[first.hook_uuid.strip("{}")] == kept.secret
    assert admin.changes  # the running service reloads it
    # The duplicate's failure is on the row, with what to do.
    assert duplicate.uuid in result.error and "more than once" in result.error
    assert "delete:webhook:bitbucket" in result.remedy
    assert "https://bitbucket.org/acme/webapp/admin/webhooks" in result.remedy
    assert duplicate.uuid in fb.repository("acme", "webapp").hooks
    assert "more than once" in store.installation("acme/webapp").last_error


def test_install_on_a_non_admin_repository_gives_the_admin_remedy(saved, fb, store):
    _more_repositories(fb)
    result = saved.install(["beta/readonly"])[0]
    assert not result.ok and result.action == "failed"
    assert result.remedy == "the account needs admin permission on this repository"
    assert "403" in result.error
    assert not fb.repository("beta", "readonly").hooks
    assert store.recent_events("beta/readonly")[0].level == "error"


def test_install_without_write_webhook_names_the_missing_scope(admin, fb):
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"write:webhook:bitbucket"})
    check = admin.save_token(fb.demo.admin.email, narrow.token)
    assert check.ok and [s for s, _ in check.missing] == ["write:webhook:bitbucket"]
    result = admin.install(["acme/webapp"])[0]
    assert not result.ok
    assert result.remedy.startswith("the token lacks write:webhook:bitbucket")
    assert not fb.repository("acme", "webapp").hooks


def test_install_without_public_url_says_what_to_set(store, fb, env, tmp_path):
    config = ServiceConfig(data_dir=str(tmp_path), api_url=fb.base_url)
    admin = Admin(store, config, env=env)
    admin.save_token(fb.demo.admin.email, fb.demo.token.token)
    result = admin.install(["acme/webapp"])[0]
    assert not result.ok
    assert result.remedy == "set public_url (BBREVIEW_PUBLIC_URL) to the address Bitbucket can reach"


def test_install_of_a_missing_repository_and_a_bad_name_fail_cleanly(saved):
    missing, bad = saved.install(["acme/nope", "not-a-name"])
    assert not missing.ok and "cannot see it" in missing.remedy
    assert not bad.ok and "WORKSPACE/REPO" in bad.remedy


def test_uninstall_removes_our_hook_only(saved, fb, store):
    saved.install(["acme/webapp"])
    fb.add_hook(fb.demo.repository, "https://ci.example.com/hook", ["repo:push"])
    assert [r.action for r in saved.uninstall(["acme/webapp"])] == ["removed"]
    assert _ours(fb) == [] and len(fb.repository("acme", "webapp").hooks) == 1
    assert store.installation("acme/webapp") is None
    assert [r.action for r in saved.uninstall(["acme/webapp"])] == ["absent"]


def test_uninstall_without_delete_webhook_names_the_scope(admin, fb):
    admin.save_token(fb.demo.admin.email, fb.demo.token.token)
    admin.install(["acme/webapp"])
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"delete:webhook:bitbucket"})
    admin.save_token(fb.demo.admin.email, narrow.token)
    result = admin.uninstall(["acme/webapp"])[0]
    assert not result.ok and "delete:webhook:bitbucket" in result.remedy
    assert len(_ours(fb)) == 1


def test_reinstall_replaces_the_hook_and_its_secret(saved, fb, store, config, env):
    first = saved.install(["acme/webapp"])[0]
    old_secret = fb.repository("acme", "webapp").hooks[first.hook_uuid].secret
    result = saved.reinstall(["acme/webapp"])[0]
    assert result.ok and result.action == "created" and result.hook_uuid != first.hook_uuid
    hooks = _ours(fb)
    assert len(hooks) == 1 and hooks[0].secret != old_secret
    assert credentials.hook_secrets(store, config, env) == {hooks[0].uuid.strip("{}"): hooks[0].secret}


# -- changing the review user ------------------------------------------------------------------------


def _second_bot(fb):
    bot = fb.add_user("review-bot-2", "Review Bot Two", email="bot2@example.com")
    fb.add_member(fb.workspace("acme"), bot, "owner")
    return bot, fb.add_api_token(bot, BOT_SCOPES, name="bot2")


def test_change_user_removes_old_hooks_and_installs_with_the_new_account(saved, fb, store):
    _more_repositories(fb)
    saved.install(["acme/webapp", "acme/api"])
    old_uuids = {h.uuid for h in _ours(fb) + _ours(fb, "acme", "api")}
    bot2, token2 = _second_bot(fb)
    result = saved.change_user(bot2.email, token2.token)
    assert isinstance(result, ChangeUserResult)
    assert result.check.ok and result.check.user["uuid"] == bot2.uuid
    assert sorted((r.full_name, r.action) for r in result.removed) == [("acme/api", "removed"),
                                                                        ("acme/webapp", "removed")]
    assert result.manual == []
    assert sorted((r.full_name, r.action) for r in result.installed) == [("acme/api", "created"),
                                                                          ("acme/webapp", "created")]
    new = _ours(fb) + _ours(fb, "acme", "api")
    assert len(new) == 2 and not ({h.uuid for h in new} & old_uuids)
    assert saved.token_info()["user"]["uuid"] == bot2.uuid
    assert store.installation("acme/webapp").installed_by == bot2.uuid
    assert saved.client().current_user()["uuid"] == bot2.uuid
    assert token2.token not in json.dumps(result.to_dict())


def test_change_user_installs_only_the_selected_repositories(saved, fb, store):
    _more_repositories(fb)
    saved.install(["acme/webapp", "acme/api"])
    bot2, token2 = _second_bot(fb)
    result = saved.change_user(bot2.email, token2.token, ["acme/docs"])
    assert len(result.removed) == 2
    assert [(r.full_name, r.action) for r in result.installed] == [("acme/docs", "created")]
    assert [i.full_name for i in store.installations()] == ["acme/docs"]


def test_change_user_with_a_revoked_old_token_lists_the_manual_removals(saved, fb, store):
    first = saved.install(["acme/webapp"])[0]
    fb.revoke(fb.demo.token)
    bot2, _ = _second_bot(fb)
    token2 = fb.add_api_token(bot2, BOT_SCOPES - {"delete:webhook:bitbucket"}, name="no-delete")
    result = saved.change_user(bot2.email, token2.token)
    assert result.removed == []
    (manual,) = result.manual
    reason = manual.pop("reason")
    assert manual == {"full_name": "acme/webapp", "hook_uuid": first.hook_uuid,
                      "settings_url": "https://bitbucket.org/acme/webapp/admin/webhooks"}
    assert reason.startswith("the old token no longer works")
    assert reason.endswith("; the new token lacks delete:webhook:bitbucket")
    assert [(r.full_name, r.action) for r in result.installed] == [("acme/webapp", "created")]
    # The old hook is left for the administrator; the new one is separate.
    uuids = {h.uuid for h in _ours(fb)}
    assert first.hook_uuid in uuids and result.installed[0].hook_uuid in uuids and len(uuids) == 2
    assert store.installation("acme/webapp").hook_uuid == result.installed[0].hook_uuid


def test_change_user_with_a_revoked_old_token_removes_the_old_hooks_with_the_new_one(saved, fb, store):
    first = saved.install(["acme/webapp"])[0]
    fb.revoke(fb.demo.token)
    bot2, token2 = _second_bot(fb)  # an owner of acme, with delete:webhook
    result = saved.change_user(bot2.email, token2.token)
    assert [(r.full_name, r.action, r.hook_uuid) for r in result.removed] == [("acme/webapp", "removed",
                                                                               first.hook_uuid)]
    assert result.manual == []
    (hook,) = _ours(fb)
    assert hook.uuid == result.installed[0].hook_uuid != first.hook_uuid


def test_change_user_when_the_old_token_lacks_delete_webhook(admin, fb, store):
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"delete:webhook:bitbucket"})
    admin.save_token(fb.demo.admin.email, narrow.token)
    first = admin.install(["acme/webapp"])[0]
    bot2, token2 = _second_bot(fb)
    # The new account can delete webhooks: it removes the old one.
    result = admin.change_user(bot2.email, token2.token)
    assert [r.full_name for r in result.removed] == ["acme/webapp"] and result.manual == []
    assert [h.uuid for h in _ours(fb)] == [result.installed[0].hook_uuid]
    assert first.hook_uuid not in fb.repository("acme", "webapp").hooks


def test_change_user_gives_each_manual_removal_its_real_reason(admin, fb, store):
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"delete:webhook:bitbucket"})
    admin.save_token(fb.demo.admin.email, narrow.token)
    first = admin.install(["acme/webapp"])[0]
    bot2, _ = _second_bot(fb)
    token2 = fb.add_api_token(bot2, BOT_SCOPES - {"delete:webhook:bitbucket"}, name="no-delete")
    result = admin.change_user(bot2.email, token2.token)
    (manual,) = result.manual
    assert manual["hook_uuid"] == first.hook_uuid
    # The old token works; it lacks the scope. Nothing says it stopped working.
    assert manual["reason"] == ("the old token lacks delete:webhook:bitbucket; "
                                "the new token lacks delete:webhook:bitbucket")


def test_change_user_lists_the_hooks_of_repositories_the_new_account_cannot_administer(saved, fb, store):
    first = saved.install(["acme/webapp"])[0]
    fb.revoke(fb.demo.token)
    stranger = fb.add_user("review-bot-3", "Review Bot Three", email="bot3@example.com")
    token3 = fb.add_api_token(stranger, BOT_SCOPES, name="bot3")  # not a member of acme
    result = saved.change_user(stranger.email, token3.token)
    assert result.removed == []
    (manual,) = result.manual
    assert manual["hook_uuid"] == first.hook_uuid
    assert manual["reason"].startswith("the old token no longer works (")
    assert manual["reason"].endswith("; the new account has no admin permission on the repository")
    assert first.hook_uuid in fb.repository("acme", "webapp").hooks


def test_change_user_does_not_take_a_404_for_the_new_account_as_a_removed_hook(saved, fb, store):
    first = saved.install(["acme/webapp"])[0]
    fb.revoke(fb.demo.token)
    bot2, token2 = _second_bot(fb)
    # The old account installed the hook, so a 404 to it means the repository is gone; another
    # account may just not see the repository, and the hook may still be there.
    fb.fail_next(1, 404, method="GET", path=r"/repositories/acme/webapp/hooks$")
    result = saved.change_user(bot2.email, token2.token)
    assert result.removed == []
    (manual,) = result.manual
    assert manual["hook_uuid"] == first.hook_uuid
    assert manual["reason"].endswith("; the new account cannot see the repository")


def test_change_user_with_an_invalid_new_token_changes_nothing(saved, fb, store):
    saved.install(["acme/webapp"])
    result = saved.change_user("someone@example.com", "ATATT3xWRONG")
    assert not result.check.ok and result.removed == [] and result.installed == []
    assert len(_ours(fb)) == 1 and store.installation("acme/webapp") is not None
    assert saved.token_info()["user"]["uuid"] == fb.demo.admin.uuid


# -- troubleshooting ---------------------------------------------------------------------------------


def test_health_shows_the_hook_deliveries_and_errors(saved, fb, store):
    saved.install(["acme/webapp"])
    store.insert_delivery(dedup_key="d1", event_key="pullrequest:created", body=b"{}", repository="acme/webapp",
                          pr_id=1)
    store.log_event("bitbucket", "POST comment: HTTP 403: forbidden", repository="acme/webapp", level="error",
                    status=403, pr_id=1)
    store.log_event("review", "reviewed", repository="acme/webapp", level="info")
    health = saved.health("acme/webapp")
    assert health.hook.present and health.hook.events_ok and health.problems == []
    assert health.deliveries[0]["event_key"] == "pullrequest:created"
    assert [e["status"] for e in health.errors] == [403]
    data = json.loads(json.dumps(health.to_dict()))
    assert data["errors"][0]["message"].startswith("POST comment")


def test_health_reports_a_missing_hook(saved, fb):
    first = saved.install(["acme/webapp"])[0]
    del fb.repository("acme", "webapp").hooks[first.hook_uuid]
    health = saved.health("acme/webapp")
    assert not health.hook.present and any("gone" in p for p in health.problems)


def test_doctor_with_nothing_set_up(store, fb, env, tmp_path):
    admin = Admin(store, ServiceConfig(data_dir=str(tmp_path), api_url=fb.base_url), env=env)
    problems = admin.doctor()
    whats = [(p.severity, p.what) for p in problems]
    assert ("error", "no Bitbucket token is saved") in whats
    assert any(p.severity == "error" and "public_url" in p.what and "BBREVIEW_PUBLIC_URL" in p.fix for p in problems)


def test_doctor_finds_hook_scope_and_failure_problems(saved, fb, store):
    saved.install(["acme/webapp"])
    assert saved.doctor() == []
    hook = _ours(fb)[0]
    hook.active = False
    hook.events = ["pullrequest:created"]
    store.log_event("bitbucket", "GET diff: HTTP 404", repository="acme/webapp", level="error", status=404)
    job = store.enqueue("acme/webapp#1", "review", {}, max_attempts=1)
    leased = store.lease("w")
    assert leased.id == job
    store.fail(job, "w", "RuntimeError: boom", retry=False)
    problems = saved.doctor()
    text = "\n".join(f"{p.severity}: {p.what} -> {p.fix}" for p in problems)
    assert "error: acme/webapp: the webhook is inactive" in text
    assert "misses events" in text and "bbreview repos reinstall acme/webapp" in text
    assert "warning: acme/webapp: 1 bitbucket error(s)" in text
    assert "dead" in text and "RuntimeError: boom" in text
    assert all(json.dumps(p.to_dict()) for p in problems)


def test_doctor_reports_missing_scopes_and_a_revoked_token(admin, fb):
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"read:webhook:bitbucket"})
    admin.save_token(fb.demo.admin.email, narrow.token)
    assert any(p.severity == "error" and "read:webhook:bitbucket" in p.what for p in admin.doctor())
    fb.revoke(narrow)
    problems = admin.doctor()
    assert any(p.severity == "error" and "does not work" in p.what and "email" in p.fix for p in problems)


def _url_problems(store, fb, env, tmp_path, url):
    admin = Admin(store, ServiceConfig(data_dir=str(tmp_path), api_url=fb.base_url, public_url=url), env=env)
    return [p for p in admin.doctor() if "public_url" in p.what or "healthz" in p.what]


@pytest.mark.parametrize("url, expected", [
    ("http://review.example.com", [("warning", "is plain http")]),
    ("https://review.example.com", []),
    ("https://bot:hunter2@review.example.com", [("error", "contains a user name or password")]),
])
def test_doctor_checks_the_public_url(store, fb, env, tmp_path, url, expected):
    found = _url_problems(store, fb, env, tmp_path, url)
    assert [(p.severity, p.what) for p in found] == [(sev, p.what) for (sev, text), p in zip(expected, found)
                                                     if text in p.what]
    assert len(found) == len(expected)
    assert all("hunter2" not in p.what + p.fix for p in found)


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "non-public"), ("0.0.0.0", "unspecified"),
    ("93.184.215.14", None), ("2606:4700::1", None), ("review.example.com", None),
])
def test_address_kinds_bitbucket_cloud_cannot_reach(address, kind):
    assert admin_module._address_kind(address) == kind


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b"ok\n" if self.path == "/healthz" else b"no\n"
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def listener():
    """A loopback HTTP server whose /healthz answers ``listener.RequestHandlerClass.status``."""
    handler = type("Health", (_Health,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_doctor_warns_that_a_loopback_public_url_is_unreachable_from_bitbucket(store, fb, env, tmp_path, listener,
                                                                                host):
    url = f"http://{host}:{listener.server_address[1]}"
    (found,) = _url_problems(store, fb, env, tmp_path, url)
    assert found.severity == "warning"
    assert "loopback address" in found.what and "Bitbucket Cloud cannot reach it" in found.what
    assert f"bbreview answered at {url}/healthz from this machine only" in found.what
    assert "reachable from the Internet" in found.fix


def test_doctor_reports_a_health_check_that_answers_something_else(store, fb, env, tmp_path, listener):
    listener.RequestHandlerClass.status = 404
    url = f"http://127.0.0.1:{listener.server_address[1]}"
    loopback, other = _url_problems(store, fb, env, tmp_path, url)
    assert "answered" not in loopback.what
    assert (other.severity, other.what) == ("warning", f"{url}/healthz answered HTTP 404, not bbreview's health check")
    assert "route" in other.fix and "/bitbucketHandler" in other.fix


def test_doctor_reports_a_public_url_where_nothing_listens(store, fb, env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    loopback, silent = _url_problems(store, fb, env, tmp_path, url)
    assert "loopback address" in loopback.what
    assert silent.severity == "warning" and silent.what.startswith(f"the health check {url}/healthz did not answer: ")
    assert "bbreview serve" in silent.fix and "firewall" in silent.fix


def test_doctor_gives_up_on_a_silent_public_url_after_the_probe_timeout(store, fb, env, tmp_path, monkeypatch):
    import time

    monkeypatch.setattr(admin_module, "PUBLIC_URL_PROBE_SECONDS", 0.3)
    with socket.socket() as s:  # accepts connections (the backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        started = time.monotonic()
        problems = _url_problems(store, fb, env, tmp_path, url)
        assert time.monotonic() - started < 5
    assert any(p.what == f"the health check {url}/healthz did not answer: timed out after 0.3 s" for p in problems)


def test_send_test_event_goes_through_the_running_service(fb, store, env, tmp_path):
    from bbreview.service.app import Service

    config = ServiceConfig(data_dir=str(tmp_path), public_url=PUBLIC, api_url=fb.base_url, port=0, workers=1)
    setup = Admin(store, config, env=env)
    setup.save_token(fb.demo.admin.email, fb.demo.token.token)
    setup.install(["acme/webapp"])
    service = Service(config, store=store, env=env).start()
    try:
        admin = Admin(store, config.with_(port=service.port), env=env, on_change=service.reload_secrets)
        result = admin.send_test_event("acme/webapp")
        assert result.ok and result.status == 200 and result.error is None
        assert isinstance(result.delivery_seq, int)
        assert result.outcome is not None and result.outcome.startswith("ignored")
        assert store.delivery(result.delivery_seq).hook_uuid.strip("{}") == _ours(fb)[0].uuid.strip("{}").lower()
        # A secret the listener does not know is refused, and the admin sees why.
        admin.reinstall(["acme/webapp"])
        assert admin.send_test_event("acme/webapp").ok  # on_change reloaded the secrets
        assert not admin.send_test_event("acme/nope").ok
    finally:
        service.stop()


def test_send_test_event_reports_an_unreachable_listener(saved, store, config, env):
    saved.install(["acme/webapp"])
    admin = Admin(store, config.with_(port=1), env=env)
    result = admin.send_test_event("acme/webapp")
    assert not result.ok and result.status == 0 and "bbreview serve" in result.error


# -- no secret anywhere ------------------------------------------------------------------------------


def test_no_secret_appears_in_results_logs_or_reprs(fb, store, config, env, caplog):
    caplog.set_level(logging.DEBUG)
    admin = Admin(store, config, env=env)
    token = fb.demo.token.token
    outputs = [admin.save_token(fb.demo.admin.email, token), admin.validate_token(fb.demo.admin.email, token + "x")]
    outputs += admin.install(["acme/webapp"])
    outputs += [admin.repositories(), admin.health("acme/webapp"), admin.token_info(), *admin.doctor()]
    outputs += admin.reinstall(["acme/webapp"])
    bot2, token2 = _second_bot(fb)
    outputs.append(admin.change_user(bot2.email, token2.token))
    outputs.append(admin.send_test_event("acme/webapp"))
    hook_secrets = [h.secret for h in fb.repository("acme", "webapp").hooks.values() if h.secret]
    assert hook_secrets
    secrets = [token, token2.token, KEY_HEX, *hook_secrets]
    texts = [caplog.text, repr(admin)]
    for o in outputs:
        texts += [repr(o), json.dumps(o.to_dict() if hasattr(o, "to_dict") else o)]
    texts += [repr(i) for i in store.installations()]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_a_dns_lookup_that_hangs_does_not_hang_doctor(monkeypatch):
    monkeypatch.undo()  # the real _resolve, not the loopback-only stand-in
    monkeypatch.setattr(admin_module, "PUBLIC_URL_PROBE_SECONDS", 0.2)
    monkeypatch.setattr(admin_module.socket, "getaddrinfo", lambda *a, **k: time.sleep(5))
    with pytest.raises(TimeoutError, match="did not answer within 0.2 s"):
        admin_module._resolve("review.example.com", 443)
