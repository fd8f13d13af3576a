"""``bbreview token|repos|user|doctor|admin`` end to end, against the emulator on loopback."""

from __future__ import annotations

import importlib
import io
import logging
import stat
import sys

import pytest

from bbreview.cli import main
from bbreview.service import credentials
from bbreview.store import SQLiteStore
from bbreview.testing import BOT_SCOPES, FakeBitbucket, seed_demo

PUBLIC = "https://review.example.com"
HOOK_URL = PUBLIC + "/bitbucketHandler"


@pytest.fixture
def fb():
    with FakeBitbucket(seed=33, webhook_backoff=0.01) as bb:
        bb.demo = seed_demo(bb)
        yield bb


@pytest.fixture
def data(tmp_path, fb, monkeypatch):
    for var in ("BBREVIEW_SECRET_KEY", "BBREVIEW_DATA_DIR", "BBREVIEW_CA_FILE", "BBREVIEW_PORT", "BBREVIEW_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BBREVIEW_BITBUCKET_URL", fb.base_url)
    monkeypatch.setenv("BBREVIEW_PUBLIC_URL", PUBLIC)
    return tmp_path / "data"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(monkeypatch, capsys, data, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    code = main([*argv, "--data-dir", str(data)], out=out)
    return code, out.getvalue(), capsys.readouterr().err


def _set_token(monkeypatch, capsys, data, fb, token=None):
    return run(monkeypatch, capsys, data, "token", "set", "--email", fb.demo.admin.email, "--token-stdin",
               stdin=(token or fb.demo.token.token) + "\n")


def test_token_set_show_and_verify(monkeypatch, capsys, data, fb):
    code, out, err = _set_token(monkeypatch, capsys, data, fb)
    assert code == 0, err
    assert fb.demo.admin.uuid in out and fb.demo.admin.account_id in out
    assert "no scope is missing" in out
    assert f"...{fb.demo.token.token[-4:]}" in out
    assert stat.S_IMODE((data / "secret.key").stat().st_mode) == 0o600
    code, out, _ = run(monkeypatch, capsys, data, "token", "show")
    assert code == 0
    assert "Review Bot" in out and fb.demo.admin.account_id in out and "read:user:bitbucket" in out
    assert f"...{fb.demo.token.token[-4:]}" in out
    code, out, _ = run(monkeypatch, capsys, data, "token", "verify")
    assert code == 0 and "the token works" in out


def test_token_set_refuses_a_wrong_token_with_the_remedy(monkeypatch, capsys, data, fb):
    code, out, _ = _set_token(monkeypatch, capsys, data, fb, "ATATT3xWRONG")
    assert code == 1
    assert "NOT saved" in out and "email" in out and "username" in out
    code, out, _ = run(monkeypatch, capsys, data, "token", "show")
    assert code == 1 and "bbreview token set" in out


def test_token_verify_fails_on_missing_scopes(monkeypatch, capsys, data, fb):
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"delete:webhook:bitbucket"})
    assert _set_token(monkeypatch, capsys, data, fb, narrow.token)[0] == 0
    code, out, _ = run(monkeypatch, capsys, data, "token", "verify")
    assert code == 1
    assert "missing scopes" in out and "delete:webhook:bitbucket" in out and "removing webhooks" in out


def test_token_set_without_a_terminal_asks_for_token_stdin(monkeypatch, capsys, data, fb):
    code, _, err = run(monkeypatch, capsys, data, "token", "set", "--email", fb.demo.admin.email)
    assert code == 2 and "--token-stdin" in err


def test_token_set_prompts_without_echo(monkeypatch, capsys, data, fb):
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or fb.demo.token.token)
    monkeypatch.setattr(sys, "stdin", _Tty(""))
    out = io.StringIO()
    assert main(["token", "set", "--email", fb.demo.admin.email, "--data-dir", str(data)], out=out) == 0
    assert prompts and "hidden" in prompts[0]
    assert fb.demo.token.token not in out.getvalue()


def test_repos_list_install_reinstall_uninstall(monkeypatch, capsys, data, fb):
    fb.add_repository(fb.workspace("acme"), "api", admins=[fb.demo.admin])
    beta = fb.add_workspace("beta")
    fb.add_member(beta, fb.demo.admin, "member")
    fb.add_repository(beta, "readonly", writers=[fb.demo.admin])
    assert _set_token(monkeypatch, capsys, data, fb)[0] == 0

    code, out, _ = run(monkeypatch, capsys, data, "repos", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "PERMISSION", "WEBHOOK", "LAST", "DELIVERY"]
    assert any(line.split()[:3] == ["acme/webapp", "admin", "not"] for line in lines)
    assert any(line.split()[:2] == ["beta/readonly", "write"] for line in lines)
    assert "3 repositories, 0 with bbreview's webhook" in out

    code, out, err = run(monkeypatch, capsys, data, "repos", "install", "acme/webapp", "beta/readonly")
    assert code == 1
    assert "acme/webapp" in out and "created" in out
    assert "the account needs admin permission on this repository" in out
    assert "1 succeeded, 1 failed" in out
    # The note about the running service: it reloads the secrets itself (app.py, every ~5 s).
    assert "within about a second, without a restart" in err
    assert len(fb.repository("acme", "webapp").hooks) == 1

    code, out, _ = run(monkeypatch, capsys, data, "repos", "install", "--all")
    assert code == 0
    assert "acme/api" in out and "created" in out and "unchanged" in out and "beta/readonly" not in out

    code, out, _ = run(monkeypatch, capsys, data, "repos", "list", "--search", "WEB")
    assert "acme/webapp" in out and "installed" in out and "acme/api" not in out

    code, out, _ = run(monkeypatch, capsys, data, "repos", "reinstall", "acme/webapp")
    assert code == 0 and "created" in out

    code, out, _ = run(monkeypatch, capsys, data, "repos", "uninstall", "--all")
    assert code == 0 and out.count("removed") == 2
    assert not fb.repository("acme", "webapp").hooks and not fb.repository("acme", "api").hooks


def _hook_reads(fb) -> int:
    return sum(1 for r in list(fb.requests) if r.method == "GET" and r.path.endswith("/hooks"))


def test_repos_install_all_reads_each_webhook_once(monkeypatch, capsys, data, fb):
    for slug in ("api", "billing", "docs"):
        fb.add_repository(fb.workspace("acme"), slug, admins=[fb.demo.admin])
    assert _set_token(monkeypatch, capsys, data, fb)[0] == 0
    before = _hook_reads(fb)
    code, out, _ = run(monkeypatch, capsys, data, "repos", "install", "--all")
    assert code == 0 and out.count("created") == 4
    assert _hook_reads(fb) - before == 4  # install reads each one; the listing of targets reads none


def test_repos_list_says_why_a_webhook_state_is_unknown(monkeypatch, capsys, data, fb):
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"read:webhook:bitbucket"})
    assert _set_token(monkeypatch, capsys, data, fb, narrow.token)[0] == 0
    code, out, _ = run(monkeypatch, capsys, data, "repos", "list")
    assert code == 0
    assert any(line.split()[:3] == ["acme/webapp", "admin", "unknown"] for line in out.splitlines())
    assert "acme/webapp: cannot read the webhooks: the token lacks read:webhook:bitbucket" in out


def test_repos_install_needs_targets(monkeypatch, capsys, data, fb):
    _set_token(monkeypatch, capsys, data, fb)
    code, _, err = run(monkeypatch, capsys, data, "repos", "install")
    assert code == 2 and "--all" in err
    code, _, err = run(monkeypatch, capsys, data, "repos", "install", "--all", "acme/webapp")
    assert code == 2 and "not both" in err


def test_repos_list_without_a_token_says_how_to_set_one(monkeypatch, capsys, data):
    code, _, err = run(monkeypatch, capsys, data, "repos", "list")
    assert code == 2 and "bbreview token set" in err


def test_user_change_moves_the_hooks_to_the_new_account(monkeypatch, capsys, data, fb):
    _set_token(monkeypatch, capsys, data, fb)
    run(monkeypatch, capsys, data, "repos", "install", "acme/webapp")
    bot2 = fb.add_user("review-bot-2", "Review Bot Two", email="bot2@example.com")
    fb.add_member(fb.workspace("acme"), bot2, "owner")
    token2 = fb.add_api_token(bot2, BOT_SCOPES)
    code, out, err = run(monkeypatch, capsys, data, "user", "change", "--email", bot2.email, "--token-stdin",
                         stdin=token2.token + "\n")
    assert code == 0, err
    assert bot2.uuid in out and "reviews are now posted as Review Bot Two" in out
    assert "old webhooks removed" in out and "removed" in out and "created" in out
    hooks = [h for h in fb.repository("acme", "webapp").hooks.values() if h.url == HOOK_URL]
    assert len(hooks) == 1
    store = SQLiteStore(str(data / "bbreview.db"))
    try:
        assert credentials.token_info(store)["user"]["uuid"] == bot2.uuid
    finally:
        store.close()


def test_user_change_with_a_revoked_old_token_prints_the_links(monkeypatch, capsys, data, fb):
    _set_token(monkeypatch, capsys, data, fb)
    run(monkeypatch, capsys, data, "repos", "install", "acme/webapp")
    fb.revoke(fb.demo.token)
    bot2 = fb.add_user("review-bot-2", email="bot2@example.com")
    fb.add_member(fb.workspace("acme"), bot2, "owner")
    token2 = fb.add_api_token(bot2, BOT_SCOPES - {"delete:webhook:bitbucket"})
    code, out, _ = run(monkeypatch, capsys, data, "user", "change", "--email", bot2.email, "--token-stdin", "--all",
                       stdin=token2.token + "\n")
    assert code == 0
    assert "delete them by hand" in out
    assert "https://bitbucket.org/acme/webapp/admin/webhooks" in out
    assert "the old token no longer works" in out and "the new token lacks delete:webhook:bitbucket" in out


def test_user_change_says_why_a_webhook_was_left_when_the_old_token_still_works(monkeypatch, capsys, data, fb):
    narrow = fb.add_api_token(fb.demo.admin, BOT_SCOPES - {"delete:webhook:bitbucket"})
    _set_token(monkeypatch, capsys, data, fb, narrow.token)
    run(monkeypatch, capsys, data, "repos", "install", "acme/webapp")
    bot2 = fb.add_user("review-bot-2", email="bot2@example.com")
    fb.add_member(fb.workspace("acme"), bot2, "owner")
    token2 = fb.add_api_token(bot2, BOT_SCOPES - {"delete:webhook:bitbucket"})
    code, out, _ = run(monkeypatch, capsys, data, "user", "change", "--email", bot2.email, "--token-stdin",
                       stdin=token2.token + "\n")
    assert code == 0
    assert "the old token lacks delete:webhook:bitbucket" in out
    assert "no longer works" not in out


def test_user_change_removes_the_old_hooks_with_the_new_token_when_the_old_one_cannot(monkeypatch, capsys, data,
                                                                                       fb):
    _set_token(monkeypatch, capsys, data, fb)
    run(monkeypatch, capsys, data, "repos", "install", "acme/webapp")
    (old,) = fb.repository("acme", "webapp").hooks
    fb.revoke(fb.demo.token)
    bot2 = fb.add_user("review-bot-2", email="bot2@example.com")
    fb.add_member(fb.workspace("acme"), bot2, "owner")
    token2 = fb.add_api_token(bot2, BOT_SCOPES)
    code, out, _ = run(monkeypatch, capsys, data, "user", "change", "--email", bot2.email, "--token-stdin",
                       stdin=token2.token + "\n")
    assert code == 0
    assert "by hand" not in out
    hooks = list(fb.repository("acme", "webapp").hooks)
    assert len(hooks) == 1 and hooks[0] != old


def test_doctor_prints_each_problem_with_its_fix(monkeypatch, capsys, data, fb):
    monkeypatch.delenv("BBREVIEW_PUBLIC_URL")
    code, out, _ = run(monkeypatch, capsys, data, "doctor")
    assert code == 1
    assert "error: no Bitbucket token is saved" in out
    assert "fix: run `bbreview token set`" in out and "BBREVIEW_PUBLIC_URL" in out
    monkeypatch.setenv("BBREVIEW_PUBLIC_URL", PUBLIC)
    _set_token(monkeypatch, capsys, data, fb)
    run(monkeypatch, capsys, data, "repos", "install", "acme/webapp")
    code, out, _ = run(monkeypatch, capsys, data, "doctor")
    assert code == 0 and "no problem found" in out
    for hook in fb.repository("acme", "webapp").hooks.values():
        hook.active = False
    code, out, _ = run(monkeypatch, capsys, data, "doctor")
    assert code == 1 and "the webhook is inactive" in out and "bbreview repos reinstall acme/webapp" in out


def test_admin_set_password(monkeypatch, capsys, data):
    code, _, err = run(monkeypatch, capsys, data, "admin", "set-password", "--password-stdin", stdin="short\n")
    assert code == 2 and "at least 12 characters" in err
    code, out, _ = run(monkeypatch, capsys, data, "admin", "set-password", "--password-stdin",
                       stdin="correct horse battery\n")
    assert code == 0 and "scrypt" in out
    store = SQLiteStore(str(data / "bbreview.db"))
    try:
        assert credentials.verify_admin_password(store, "correct horse battery")
    finally:
        store.close()


def test_admin_set_password_asks_twice(monkeypatch, capsys, data):
    answers = iter(["a long password 1", "a long password 2"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", _Tty(""))
    assert main(["admin", "set-password", "--data-dir", str(data)], out=io.StringIO()) == 2
    assert "differ" in capsys.readouterr().err


def test_no_secret_is_printed_or_logged(monkeypatch, capsys, data, fb, caplog):
    caplog.set_level(logging.DEBUG)
    texts = []
    for argv, stdin in ((("token", "set", "--email", fb.demo.admin.email, "--token-stdin"), fb.demo.token.token),
                        (("token", "show"), ""), (("token", "verify"), ""), (("repos", "install", "--all"), ""),
                        (("repos", "list"), ""), (("doctor",), ""), (("repos", "reinstall", "--all"), ""),
                        (("admin", "set-password", "--password-stdin"), "correct horse battery")):
        code, out, err = run(monkeypatch, capsys, data, *argv, stdin=stdin + "\n")
        texts += [out, err]
    key = (data / "secret.key").read_text().strip()
    hook_secrets = [h.secret for h in fb.repository("acme", "webapp").hooks.values()]
    assert hook_secrets and all(hook_secrets)
    texts.append(caplog.text)
    for secret in (fb.demo.token.token, key, "correct horse battery", *hook_secrets):
        assert all(secret not in t for t in texts)


def test_from_nothing_to_a_reviewed_pull_request_with_the_cli_only(monkeypatch, capsys, tmp_path, fb):
    """token set -> repos install -> bbreview serve (a real process) -> a pull request is reviewed.
    The service reads the token and the per-hook secrets from the store: nothing in its environment."""
    import os
    import socket
    import subprocess
    import time
    import urllib.request

    importlib.import_module("bbreview.service.intake")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "data"
    for var in ("BBREVIEW_SECRET_KEY", "BBREVIEW_DATA_DIR", "BITBUCKET_EMAIL", "BITBUCKET_API_TOKEN",
                "BBREVIEW_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BBREVIEW_BITBUCKET_URL", fb.base_url)
    monkeypatch.setenv("BBREVIEW_PUBLIC_URL", f"http://127.0.0.1:{port}")
    assert _set_token(monkeypatch, capsys, data, fb)[0] == 0
    code, out, _ = run(monkeypatch, capsys, data, "repos", "install", "acme/webapp")
    assert code == 0 and "created" in out
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITBUCKET_")}
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bbreview", "serve", "--data-dir", str(data), "--port", str(port),
             "--no-console"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
        d = fb.demo
        fb.commit(d.repository, "feature/cli", {"app.py": "x = eval(input())\n"}, author=d.author, notify=False)
        pr = fb.create_pull_request(d.repository, "feature/cli", title="CLI only", author=d.author)
        deadline = time.monotonic() + 30
        while not any("bbreview:summary" in c.raw for c in list(pr.comments.values())):
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.05)
        assert any(c.inline and "eval" in c.raw for c in pr.comments.values())
    finally:
        proc.terminate()
        proc.wait(15)
    assert fb.demo.token.token not in (tmp_path / "serve.log").read_text()
