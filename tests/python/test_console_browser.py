"""The web console in a real browser: Playwright driving Debian's Chromium, against FakeBitbucket,
the real Admin and the console server, then the whole service. Loopback only.

The module installs what it needs with ``scripts/install-browser`` (Debian's ``chromium`` and the
``playwright`` package; never ``playwright install``, which downloads a browser) and skips only when
that is impossible; in CI (the ``CI`` environment variable is set) it fails instead, so that the
browser tests cannot silently stop running. Each page's screenshot is written to ``build/screenshots/<page>.png`` (``scripts/refresh-screenshots``
copies them to ``docs/screenshots``), which the
README's set-up guide shows.
"""

from __future__ import annotations

import importlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from bbreview.bitbucket import Client
from bbreview.review.render import parse_markers
from bbreview.service.config import ServiceConfig
from bbreview.store import SQLiteStore
from bbreview.testing import BOT_SCOPES, FakeBitbucket, wait_until

ROOT = Path(__file__).resolve().parents[2]
# Test artifacts go to build/screenshots (ignored by git). The README's copies in
# docs/screenshots are refreshed from them with scripts/refresh-screenshots.
SHOTS = Path(os.environ.get("BBREVIEW_SCREENSHOTS", ROOT / "build" / "screenshots"))
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-test admin password"
BASE = {"app.py": "import os\n\n\ndef greet(name):\n    return 'Hello, ' + name\n", "README.md": "# webapp\n"}
FEATURE = {"app.py": "import os\n\n\ndef greet(name):\n    print('greeting', name)\n    return 'Hello, ' + name\n\n\n"
                     "def run(expr):\n    return eval(expr)\n"}
TIMEOUT_MS = 20_000


def _install_browser() -> str | None:
    """Runs scripts/install-browser; returns None when ready, else why not."""
    env = {**os.environ, "BBREVIEW_PYTHON": sys.executable, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = subprocess.run([str(ROOT / "scripts" / "install-browser")], env=env, capture_output=True, text=True,
                              timeout=900, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"scripts/install-browser could not run: {exc}"
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()
        return f"scripts/install-browser failed ({proc.returncode}): {lines[-1]}"
    return None


def _unavailable(reason: str, env: Mapping[str, str] = os.environ) -> None:
    """Skips the browser tests; in CI fails them instead, because a skip there would hide that
    they never ran."""
    if env.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"the console's browser tests cannot run in CI: {reason}. Give the CI job Debian's chromium "
                    "and the playwright package (run scripts/install-browser as root in the image, or let it use "
                    "sudo), or unset CI to allow skipping them", pytrace=False)
    pytest.skip(f"cannot install Debian's Chromium and Playwright here: {reason}")


def test_a_browser_that_cannot_be_installed_fails_in_ci_and_skips_elsewhere():
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI: no apt-get.*scripts/install-browser"):
        _unavailable("no apt-get", {"CI": "true"})
    for env in ({}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}):
        with pytest.raises(pytest.skip.Exception, match="no apt-get"):
            _unavailable("no apt-get", env)


@pytest.fixture(scope="module")
def playwright_api():
    reason = _install_browser()
    if reason:
        _unavailable(reason)
    importlib.invalidate_caches()
    return importlib.import_module("playwright.sync_api")


@pytest.fixture(scope="module")
def browser(playwright_api):
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def expect(playwright_api):
    playwright_api.expect.set_options(timeout=TIMEOUT_MS)
    return playwright_api.expect


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    external: list[str] = []
    pg.on("request", lambda req: external.append(req.url) if not req.url.startswith(("http://127.0.0.1", "data:")) else None)
    try:
        yield pg
    finally:
        context.close()
    assert external == [], f"the console loaded external assets: {external}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class World:
    """acme/webapp and acme/api (the bot is the workspace's owner) and partners/docs (write only)."""

    def __init__(self, bb: FakeBitbucket) -> None:
        self.bb = bb
        self.bot = bb.add_user("review-bot", "Review Bot", email="review-bot@example.com")
        self.dev = bb.add_user("emma", "Emma Developer", email="emma@example.com")
        acme = bb.add_workspace("acme", "Acme", owners=[self.bot])
        bb.add_member(acme, self.dev, "member")
        self.acme = acme
        self.full = bb.add_api_token(self.bot, BOT_SCOPES, name="review-bot")
        self.limited = bb.add_api_token(self.bot, BOT_SCOPES - {"write:webhook:bitbucket", "delete:webhook:bitbucket"},
                                        name="too-narrow")
        self.webapp = bb.add_repository(acme, "webapp", description="Web application", writers=[self.dev])
        bb.commit(self.webapp, "main", BASE, message="base", author=self.dev, notify=False)
        bb.commit(self.webapp, "feature", FEATURE, message="feature", author=self.dev, notify=False)
        self.api = bb.add_repository(acme, "api", description="Public API", writers=[self.dev])
        partners = bb.add_workspace("partners", "Partners")
        bb.add_member(partners, self.bot, "member")
        self.docs = bb.add_repository(partners, "docs", writers=[self.bot])

    def client(self) -> Client:
        return Client(email=self.bot.email, token=self.full.token, base_url=self.bb.base_url, backoff=0.01)


def backend():
    admin = importlib.import_module("bbreview.service.admin")
    credentials = importlib.import_module("bbreview.service.credentials")
    return admin, credentials


def log_in(page, url: str, expect) -> None:
    page.goto(url + "/repositories")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("heading", name="bbreview console")).to_be_visible()
    page.get_by_label("Administrator password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/repositories$"))


def enter_tokens(page, world: World, expect) -> None:
    page.get_by_role("link", name="Bitbucket user").click()
    expect(page.get_by_role("heading", name="Bitbucket user", level=1)).to_be_visible()
    # A token lacking the webhook scopes: the account is shown, and what fails without each scope.
    page.get_by_label("Account email").fill(world.bot.email)
    page.get_by_label("API token", exact=True).fill(world.limited.token)
    page.get_by_role("button", name="Validate only").click()
    check = page.get_by_role("region", name="Token check")
    missing = check.get_by_role("table", name="Missing scopes")
    expect(missing).to_contain_text("write:webhook:bitbucket")
    expect(missing).to_contain_text("delete:webhook:bitbucket")
    expect(check.locator('[data-field="uuid"]')).to_have_text(world.bot.uuid)
    expect(check.locator('[data-field="account_id"]')).to_have_text(world.bot.account_id)
    expect(check.locator('[data-field="display_name"]')).to_have_text("Review Bot")
    expect(check.locator('[data-field="nickname"]')).to_have_text("review-bot")
    shot(page, "user-missing-scopes")
    # The full token: validated and saved; afterwards only its last 4 characters are shown.
    page.get_by_label("API token", exact=True).fill(world.full.token)
    page.get_by_role("button", name="Validate and save").click()
    expect(check).to_contain_text("Saved. Reviews will be posted as Review Bot")
    expect(check).to_contain_text("No scope is missing")
    expect(check.locator('[data-field="uuid"]')).to_have_text(world.bot.uuid)
    expect(page.get_by_label("API token", exact=True)).to_have_value("")
    expect(page.locator("#current [data-field=last4]")).to_have_text("…" + world.full.token[-4:])
    assert world.full.token not in page.content() and world.limited.token not in page.content()
    page.reload()
    expect(page.locator("#current [data-field=last4]")).to_have_text("…" + world.full.token[-4:])
    assert world.full.token not in page.content()
    shot(page, "user")


def install_repositories(page, world: World, expect, hook_url: str) -> None:
    page.get_by_role("link", name="Repositories").click()
    table = page.get_by_role("table", name="Repositories the review account can see")
    expect(table).to_contain_text("acme/webapp")
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1 (3 repositories)")
    # Search, then back to everything.
    page.get_by_label("Search repositories").fill("api")
    page.get_by_role("button", name="Search").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("acme/api")
    page.get_by_label("Search repositories").fill("")
    page.get_by_role("button", name="Search").click()
    expect(table.locator("tbody tr")).to_have_count(3)
    # Select all, then untick nothing: every repository, including the one without admin rights.
    page.get_by_label("Select all repositories").check()
    expect(page.locator("#selection")).to_have_text("3 selected")
    for name in ("acme/api", "acme/webapp", "partners/docs"):
        expect(page.get_by_label(f"Select {name}")).to_be_checked()
    page.get_by_role("button", name="Install repositories").click()
    expect(page.get_by_role("status", name="Progress of acme/webapp")).to_contain_text("created")
    expect(page.get_by_role("status", name="Progress of acme/api")).to_contain_text("created")
    refused = page.get_by_role("status", name="Progress of partners/docs")
    expect(refused).to_contain_text("failed")
    expect(refused).to_contain_text("admin")
    expect(page.locator("#job-status")).to_contain_text("Done: 2 succeeded, 1 failed.")
    expect(page.locator('tr[data-repo="acme/webapp"]')).to_contain_text("webhook present")
    expect(page.locator('tr[data-repo="acme/webapp"]')).to_contain_text("secret set")
    shot(page, "repositories")
    # The hooks, as Bitbucket (the emulator) has them.
    for repo in (world.webapp, world.api):
        hooks = list(repo.hooks.values())
        assert len(hooks) == 1, repo.full_name
        assert hooks[0].url == hook_url and hooks[0].active and hooks[0].secret
        assert "pullrequest:created" in hooks[0].events
    assert list(world.docs.hooks.values()) == []


def test_console_token_install_and_pages(page, expect, tmp_path):
    admin_mod, credentials = backend()
    from bbreview.service.console import ConsoleServer

    with FakeBitbucket(seed=41, webhook_backoff=0.01) as bb:
        world = World(bb)
        config = ServiceConfig(data_dir=str(tmp_path), public_url="https://review.example.com", api_url=bb.base_url,
                               console_port=0)
        store = SQLiteStore(str(config.db_path))
        credentials.set_admin_password(store, PASSWORD)
        with ConsoleServer(admin_mod.Admin(store, config, env={}), store, config, port=0) as console:
            page.goto(console.url + "/login")
            shot(page, "login")
            log_in(page, console.url, expect)
            enter_tokens(page, world, expect)

            # Two rows a page: select-all ticks the page, then offers every repository (names only).
            page.goto(console.url + "/repositories?per_page=2")
            expect(page.locator("#page-info")).to_have_text("Page 1 of 2 (3 repositories)")
            page.get_by_label("Select all repositories").check()
            expect(page.locator("#selection")).to_have_text("2 selected")
            page.get_by_role("button", name="Select all 3 repositories").click()
            expect(page.locator("#selection")).to_have_text("3 selected")
            expect(page.get_by_role("button", name="Select all 3 repositories")).to_be_hidden()
            page.get_by_role("button", name="Next page").click()
            expect(page.get_by_label("Select partners/docs")).to_be_checked()
            page.get_by_role("button", name="Clear selection").click()
            expect(page.locator("#selection")).to_have_text("0 selected")
            expect(page.get_by_label("Select partners/docs")).not_to_be_checked()

            install_repositories(page, world, expect, config.hook_url)

            # Uninstall and reinstall from the same page.
            page.get_by_label("Select acme/api").check()
            page.get_by_role("button", name="Uninstall").click()
            expect(page.get_by_role("status", name="Progress of acme/api")).to_contain_text("removed")
            expect(page.locator("#job-status")).to_contain_text("Done: 1 succeeded")
            assert list(world.api.hooks.values()) == []
            page.get_by_label("Select acme/api").check()
            page.get_by_role("button", name="Reinstall").click()
            expect(page.get_by_role("status", name="Progress of acme/api")).to_contain_text(re.compile("created|repaired"))
            assert len(world.api.hooks) == 1

            # Troubleshooting: doctor and a repository's health.
            page.get_by_role("link", name="Troubleshooting").click()
            expect(page.get_by_role("region", name="Check results")).not_to_contain_text("Checking")
            page.get_by_label("Repository", exact=True).fill("acme/webapp")
            page.get_by_role("button", name="Check health").click()
            expect(page.get_by_role("region", name="Health report")).to_contain_text("Webhook present")

            # Log out: the pages need a login again.
            page.get_by_role("button", name="Log out").click()
            expect(page).to_have_url(re.compile(r"/login"))
            page.goto(console.url + "/user")
            expect(page).to_have_url(re.compile(r"/login\?next=/user"))


def test_from_nothing_to_a_reviewed_pull_request_through_the_service(page, expect, tmp_path):
    """The whole path an administrator takes: log in, give the token, install, and the next pull
    request gets its review; then troubleshooting and changing the review user."""
    _, credentials = backend()
    app = importlib.import_module("bbreview.service.app")
    importlib.import_module("bbreview.service.intake")

    with FakeBitbucket(seed=42, webhook_backoff=0.01) as bb:
        world = World(bb)
        port = free_port()
        config = ServiceConfig(data_dir=str(tmp_path / "data"), public_url=f"http://127.0.0.1:{port}", port=port,
                               console_port=0, api_url=bb.base_url, workers=2, lease_seconds=10)
        os.makedirs(config.data_dir, exist_ok=True)
        store = SQLiteStore(str(config.db_path))
        credentials.set_admin_password(store, PASSWORD)
        # No token anywhere yet: the service starts, the console is where the token is given.
        service = app.Service(config, store=store, webhook_secret="", env={})
        service.start()
        try:
            assert not service.connected
            if getattr(service, "console", None) is None:
                pytest.skip("bbreview.service.app.Service did not start the console")
            url = service.console.url
            log_in(page, url, expect)
            enter_tokens(page, world, expect)
            install_repositories(page, world, expect, config.hook_url)

            # A developer opens a pull request; Bitbucket calls the hook; the review arrives.
            pr = bb.create_pull_request(world.webapp, "feature", title="Greeting", author=world.dev)
            client = world.client()

            def summary():
                for c in client.comments("acme", "webapp", pr.id):
                    if c["user"]["uuid"] == world.bot.uuid and ("summary", []) in parse_markers(c["content"]["raw"]):
                        return c
                return None

            posted = wait_until(summary, 60.0, "the review's summary comment")
            assert "bbreview" in posted["content"]["raw"]
            page.reload()
            expect(page.locator('tr[data-repo="acme/webapp"]')).not_to_contain_text("none yet")

            # Troubleshooting: the hook, the deliveries, and a test event followed through the queue.
            page.goto(url + "/troubleshooting?repo=acme/webapp")
            health = page.get_by_role("region", name="Health report")
            expect(health).to_contain_text("Webhook present")
            expect(health.get_by_role("table", name="Last deliveries")).to_be_visible()
            page.get_by_role("button", name="Send test event").click()
            expect(page.locator("#test-result")).to_contain_text("Test event delivered")
            expect(page.get_by_role("region", name="Check results")).not_to_contain_text("Checking")
            shot(page, "troubleshooting")

            # Change the review user: validate the new token, remove the old hooks, reinstall.
            new_bot = bb.add_user("review-bot-2", "Review Bot Two", email="review-bot-2@example.com")
            bb.add_member(world.acme, new_bot, "owner")
            new_token = bb.add_api_token(new_bot, BOT_SCOPES, name="review-bot-2")
            old_hooks = {h.uuid for h in world.webapp.hooks.values()}
            page.get_by_role("link", name="Change review user").click()
            expect(page.get_by_text("attributed to the")).to_be_visible()
            reinstall = page.get_by_role("group", name="Repositories to reinstall with the new account")
            expect(reinstall.get_by_label("acme/webapp")).to_be_checked()
            page.get_by_label("New account email").fill(new_bot.email)
            page.get_by_label("New API token").fill(new_token.token)
            page.get_by_role("button", name="Validate new token").click()
            expect(page.get_by_role("region", name="New token check").locator('[data-field="uuid"]')).to_have_text(new_bot.uuid)
            page.get_by_role("button", name="Change review user").click()
            result = page.get_by_role("region", name="Change result")
            expect(result).to_contain_text("The review user was changed.")
            expect(result).to_contain_text("acme/webapp")
            assert new_token.token not in page.content()
            shot(page, "change-user")
            hooks = list(world.webapp.hooks.values())
            assert len(hooks) == 1 and hooks[0].uuid not in old_hooks and hooks[0].url == config.hook_url

            # The running service now reviews as the new account, without a restart.
            assert service.bot is not None and service.bot.uuid == new_bot.uuid
            bb.commit(world.webapp, "feature-2", FEATURE, message="feature again", author=world.dev, notify=False)
            second = bb.create_pull_request(world.webapp, "feature-2", title="Greeting again", author=world.dev)
            new_client = Client(email=new_bot.email, token=new_token.token, base_url=bb.base_url)

            def new_summary():
                for c in new_client.comments("acme", "webapp", second.id):
                    if c["user"]["uuid"] == new_bot.uuid and ("summary", []) in parse_markers(c["content"]["raw"]):
                        return c
                return None

            wait_until(new_summary, 60.0, "the review by the new account")
        finally:
            service.stop()


def test_change_user_when_the_old_token_was_revoked(page, expect, tmp_path):
    """The page lists the installed repositories from the store (the revoked token cannot list
    them), and says why each old webhook must be deleted by hand."""
    admin_mod, credentials = backend()
    from bbreview.service.console import ConsoleServer

    with FakeBitbucket(seed=43, webhook_backoff=0.01) as bb:
        world = World(bb)
        config = ServiceConfig(data_dir=str(tmp_path), public_url="https://review.example.com", api_url=bb.base_url,
                               console_port=0)
        store = SQLiteStore(str(config.db_path))
        credentials.set_admin_password(store, PASSWORD)
        admin = admin_mod.Admin(store, config, env={})
        assert admin.save_token(world.bot.email, world.full.token).ok
        (old,) = admin.install(["acme/webapp"])
        bb.revoke(world.full)
        new_bot = bb.add_user("review-bot-2", "Review Bot Two", email="review-bot-2@example.com")
        bb.add_member(world.acme, new_bot, "owner")
        no_delete = bb.add_api_token(new_bot, BOT_SCOPES - {"delete:webhook:bitbucket"}, name="no-delete")
        with ConsoleServer(admin, store, config, port=0) as console:
            log_in(page, console.url, expect)
            page.get_by_role("link", name="Change review user").click()
            reinstall = page.get_by_role("group", name="Repositories to reinstall with the new account")
            expect(reinstall.get_by_label("acme/webapp")).to_be_checked()
            page.get_by_label("New account email").fill(new_bot.email)
            page.get_by_label("New API token").fill(no_delete.token)
            page.get_by_role("button", name="Validate new token").click()
            expect(page.get_by_role("button", name="Change review user")).to_be_enabled()
            page.get_by_role("button", name="Change review user").click()
            result = page.get_by_role("region", name="Change result")
            expect(result).to_contain_text("The review user was changed.")
            manual = result.get_by_role("list", name="Webhooks to delete by hand")
            expect(manual).to_contain_text("acme/webapp")
            expect(manual).to_contain_text("the old token no longer works")
            expect(manual).to_contain_text("the new token lacks delete:webhook:bitbucket")
            expect(manual.get_by_role("link", name="acme/webapp")).to_have_attribute(
                "href", "https://bitbucket.org/acme/webapp/admin/webhooks")
            assert no_delete.token not in page.content()
        hooks = {h.uuid for h in world.webapp.hooks.values()}
        assert old.hook_uuid in hooks and len(hooks) == 2
