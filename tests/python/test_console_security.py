"""The web console's security rules over real HTTP (http.client), against FakeBitbucket and the real
Admin: login required everywhere, cookie flags, CSRF, rate limiting, headers, and no secret in any
page, JSON answer or log line. Loopback only."""

from __future__ import annotations

import importlib
import http.client
import json
import logging
import re
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest

from bbreview.service.config import ServiceConfig
from bbreview.store import SQLiteStore
from bbreview.testing import BOT_SCOPES, FakeBitbucket, seed_demo

PASSWORD = "correct horse battery staple"
PAGES = ["/", "/user", "/repositories", "/change-user", "/troubleshooting"]
GET_APIS = ["/api/token", "/api/repositories", "/api/health?repo=acme/webapp", "/api/doctor",
            "/api/jobs/0123456789abcdef", "/api/avatar/0", "/api/session", "/api/repositories/names",
            "/api/installations"]
POST_APIS = ["/api/token", "/api/token/validate", "/api/jobs", "/api/change-user", "/api/test-event", "/api/logout"]


def backend():
    """The real backend modules (``bbreview.service.admin`` and ``credentials``)."""
    admin = importlib.import_module("bbreview.service.admin")
    credentials = importlib.import_module("bbreview.service.credentials")
    return admin, credentials


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def cookies(self) -> dict[str, str]:
        """Set-Cookie lines by cookie name."""
        return {line.split("=", 1)[0]: line for line in self.headers.get_all("Set-Cookie") or []}


@dataclass
class Browser:
    """A minimal cookie-keeping HTTP client for the console."""

    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | dict | None = None, *, headers: dict | None = None,
                csrf: bool | str = True, form: bool = False) -> Reply:
        hdrs = {"Host": f"{self.host}:{self.port}"}
        data = None
        if isinstance(body, dict):
            if form:
                data = urllib.parse.urlencode(body).encode()
                hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
        elif body is not None:
            data = body
        if method != "GET" and data is None:
            data = b""
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method not in ("GET", "HEAD") and csrf:
            hdrs["X-CSRF-Token"] = csrf if isinstance(csrf, str) else self.cookies.get("bbreview_csrf", "")
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            reply = Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()
        for line in reply.headers.get_all("Set-Cookie") or []:
            name, rest = line.split("=", 1)
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in line:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return reply

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> Reply:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def login(self, password: str = PASSWORD) -> Reply:
        return self.post("/login", {"password": password}, form=True, csrf=False)


class World:
    def __init__(self, bb: FakeBitbucket, tmp_path, **console_kw) -> None:
        admin_mod, credentials = backend()
        from bbreview.service.console import ConsoleServer

        self.bb = bb
        self.demo = seed_demo(bb)
        # A repository the account may write to but not administer: hooks need admin (§6.10).
        partners = bb.add_workspace("partners", "Partners")
        bb.add_member(partners, self.demo.admin, "member")
        self.write_only_repo = bb.add_repository(partners, "docs", writers=[self.demo.admin])
        self.config = ServiceConfig(data_dir=str(tmp_path / "data"), public_url="https://review.example.com",
                                    api_url=bb.base_url, console_port=0)
        (tmp_path / "data").mkdir(exist_ok=True)
        self.store = SQLiteStore(str(self.config.db_path))
        credentials.set_admin_password(self.store, PASSWORD)
        self.admin = admin_mod.Admin(self.store, self.config, env={})
        self.server = ConsoleServer(self.admin, self.store, self.config, host="127.0.0.1", port=0, **console_kw).start()

    def browser(self) -> Browser:
        return Browser("127.0.0.1", self.server.port)

    def logged_in(self) -> Browser:
        b = self.browser()
        assert b.login().status == 303
        return b

    def close(self) -> None:
        self.server.stop()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


@pytest.fixture()
def world(tmp_path):
    with FakeBitbucket(seed=21, webhook_backoff=0.01) as bb:
        w = World(bb, tmp_path)
        try:
            yield w
        finally:
            w.close()


def wait_job(b: Browser, job_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = b.get(f"/api/jobs/{job_id}").json()
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


# -- login required -----------------------------------------------------------------------------------


def test_every_page_redirects_to_login_and_every_api_answers_401_without_a_session(world):
    b = world.browser()
    for page in PAGES:
        r = b.get(page)
        assert r.status == 303, page
        assert r.headers["Location"].startswith("/login"), page
    for path in GET_APIS:
        r = b.get(path)
        assert r.status == 401 and r.json() == {"error": "log in first"}, path
    for path in POST_APIS:
        r = b.post(path, {"email": "x@example.com", "token": "t"}, csrf="anything")
        assert r.status == 401, path
    # Public: the login page and the static assets, which carry no data.
    assert b.get("/login").status == 200
    assert b.get("/static/console.css").status == 200
    assert b.get("/static/console.js").status == 200
    assert b.get("/static/login.html").status == 404  # templates are not served raw
    assert b.get("/static/../server.py").status == 404


def test_login_sets_a_strict_http_only_session_cookie_and_a_csrf_cookie(world):
    b = world.browser()
    r = b.login()
    assert r.status == 303 and r.headers["Location"] == "/"
    session, csrf = r.cookies()["bbreview_session"], r.cookies()["bbreview_csrf"]
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {p.strip() for p in session.split(";")}
    assert "Secure" not in session  # plain http on loopback; see the Secure test below
    assert "SameSite=Strict" in csrf and "HttpOnly" not in csrf  # the page's script reads it
    assert len(b.cookies["bbreview_session"]) >= 40 and b.cookies["bbreview_session"] != b.cookies["bbreview_csrf"]
    assert b.get("/repositories").status == 200
    assert b.get("/api/token").status == 200


def test_each_login_gets_a_fresh_random_session_id(world):
    first, second = world.logged_in(), world.logged_in()
    assert first.cookies["bbreview_session"] != second.cookies["bbreview_session"]
    old = dict(first.cookies)
    first.login()
    assert first.cookies["bbreview_session"] != old["bbreview_session"]
    stale = world.browser()
    stale.cookies = old
    assert stale.get("/api/token").status == 401  # logging in again ended the old session


def test_cookies_are_secure_when_configured(tmp_path):
    with FakeBitbucket(seed=22) as bb:
        w = World(bb, tmp_path, secure_cookies=True)
        try:
            r = w.browser().login()
            assert all("Secure" in line for line in r.cookies().values())
        finally:
            w.close()


def test_a_wrong_password_is_refused_without_a_session(world):
    b = world.browser()
    r = b.login("not the password")
    assert r.status == 401 and "Wrong password" in r.text
    assert "bbreview_session" not in b.cookies
    assert b.post("/login", {"password": ""}, form=True, csrf=False).status == 401


def test_without_an_admin_password_the_login_page_says_how_to_set_one(tmp_path):
    admin_mod, _ = backend()
    from bbreview.service.console import ConsoleServer

    config = ServiceConfig(data_dir=str(tmp_path), console_port=0)
    store = SQLiteStore(str(config.db_path))
    with ConsoleServer(admin_mod.Admin(store, config, env={}), store, config, port=0) as server:
        b = Browser("127.0.0.1", server.port)
        page = b.get("/login")
        assert page.status == 200 and "bbreview admin set-password" in page.text
        assert b.login("anything").status == 403
        assert "bbreview_session" not in b.cookies


def test_logout_ends_the_session(world):
    b = world.logged_in()
    stolen = dict(b.cookies)
    r = b.post("/api/logout")
    assert r.status == 200
    assert "Max-Age=0" in r.cookies()["bbreview_session"]
    again = world.browser()
    again.cookies = stolen
    assert again.get("/api/token").status == 401


def test_sessions_expire_on_the_server(tmp_path):
    with FakeBitbucket(seed=23) as bb:
        w = World(bb, tmp_path, session_idle=0.3)
        try:
            b = w.logged_in()
            assert b.get("/api/token").status == 200
            time.sleep(0.5)
            assert b.get("/api/token").status == 401
        finally:
            w.close()


# -- CSRF, origins, hosts -----------------------------------------------------------------------------------


def test_state_changing_requests_need_the_sessions_csrf_token(world):
    b = world.logged_in()
    body = {"email": world.demo.admin.email, "token": world.demo.token.token}
    assert b.post("/api/token/validate", body, csrf=False).status == 403
    assert b.post("/api/token/validate", body, csrf="wrong-token").status == 403
    other = world.logged_in()
    assert b.post("/api/token/validate", body, csrf=other.cookies["bbreview_csrf"]).status == 403
    assert b.post("/api/logout", csrf=False).status == 403
    for method in ("PUT", "DELETE", "PATCH"):
        assert b.request(method, "/api/token", b"{}", csrf=False).status == 403, method
    r = b.post("/api/token/validate", body)
    assert r.status == 200 and r.json()["check"]["ok"] is True


def test_cross_site_requests_and_foreign_hosts_are_refused(world):
    b = world.logged_in()
    body = {"email": world.demo.admin.email, "token": world.demo.token.token}
    assert b.post("/api/token/validate", body, headers={"Origin": "http://evil.example"}).status == 403
    assert b.post("/api/token/validate", body, headers={"Sec-Fetch-Site": "cross-site"}).status == 403
    assert b.post("/login", {"password": PASSWORD}, form=True, csrf=False,
                  headers={"Origin": "http://evil.example"}).status == 403
    same = f"http://127.0.0.1:{world.server.port}"
    assert b.post("/api/token/validate", body, headers={"Origin": same}).status == 200
    # DNS rebinding: a foreign name pointing at 127.0.0.1 sends its own Host.
    assert b.get("/login", headers={"Host": f"evil.example:{world.server.port}"}).status == 400
    assert b.get("/login", headers={"Host": f"localhost:{world.server.port}"}).status == 200


def test_json_apis_refuse_other_content_types(world):
    b = world.logged_in()
    r = b.post("/api/token/validate", b"email=a%40b.c&token=x", headers={"Content-Type": "text/plain"})
    assert r.status == 415


# -- rate limit, limits, headers ---------------------------------------------------------------------------------


def test_login_attempts_are_rate_limited_per_client(world):
    b = world.browser()
    for _ in range(5):
        assert b.login("wrong").status == 401
    r = b.login()  # even the right password, while limited
    assert r.status == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "Too many login attempts" in r.text
    assert "bbreview_session" not in b.cookies


def test_a_small_login_window_recovers(tmp_path):
    with FakeBitbucket(seed=24) as bb:
        w = World(bb, tmp_path, login_attempts=2, login_window=0.5)
        try:
            b = w.browser()
            assert b.login("x").status == 401 and b.login("y").status == 401
            assert b.login().status == 429
            time.sleep(0.6)
            assert b.login().status == 303
        finally:
            w.close()


def test_oversized_and_chunked_bodies_are_refused(world):
    b = world.logged_in()
    assert b.post("/api/token/validate", b"x" * (64 * 1024 + 1), headers={"Content-Type": "application/json"}).status == 413
    conn = http.client.HTTPConnection("127.0.0.1", world.server.port, timeout=10)
    conn.putrequest("POST", "/login", skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{world.server.port}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"0\r\n\r\n")
    assert conn.getresponse().status == 411
    conn.close()


def test_every_response_carries_the_security_headers(world):
    b = world.logged_in()
    for path in ["/login", "/repositories", "/api/token", "/static/console.js", "/api/nothing"]:
        r = b.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "http" not in csp, path  # self only: no external origin allowed
        assert r.headers["X-Frame-Options"] == "DENY", path
        assert r.headers["Referrer-Policy"] == "no-referrer", path
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
    assert b.get("/api/token").headers["Cache-Control"] == "no-store"
    assert b.get("/repositories").headers["Cache-Control"] == "no-store"


def test_pages_load_no_external_asset(world):
    b = world.logged_in()
    for page in PAGES[1:] + ["/login"]:
        html = b.get(page).text
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert ref.startswith("/"), (page, ref)
        assert "<script>" not in html  # no inline script: the CSP forbids it


# -- secrets -------------------------------------------------------------------------------------------------


def test_the_token_is_never_sent_back_and_no_secret_appears_anywhere(world, caplog):
    caplog.set_level(logging.DEBUG)
    b = world.logged_in()
    token = world.demo.token.token
    saved = b.post("/api/token", {"email": world.demo.admin.email, "token": token})
    assert saved.status == 200
    info = saved.json()["token"]
    assert info["last4"] == token[-4:]
    assert saved.json()["check"]["user"]["uuid"] == world.demo.admin.uuid
    job = b.post("/api/jobs", {"action": "install", "full_names": ["acme/webapp"]}).json()
    assert wait_job(b, job["id"])["results"]["acme/webapp"]["ok"] is True
    hook_secrets = [h.secret for h in world.demo.repository.hooks.values() if h.secret]
    assert hook_secrets, "the installed hook has a secret"

    secrets_ = [token, PASSWORD, b.cookies["bbreview_session"], b.cookies["bbreview_csrf"], *hook_secrets]
    bodies = [saved.text]
    for path in PAGES[1:] + GET_APIS[:5] + [f"/api/jobs/{job['id']}", "/login", "/static/console.js"]:
        r = b.get(path)
        bodies.append(r.text)
        bodies.append(str(r.headers.get("Location", "")))
    bodies.append(b.post("/api/token/validate", {"email": world.demo.admin.email, "token": token}).text)
    bodies.append(b.post("/api/test-event", {"full_name": "acme/webapp"}).text)
    for body in bodies:
        for secret in secrets_:
            assert secret not in body
    assert info["last4"] in b.get("/api/token").text
    assert "bbreview.console" in caplog.text  # the console did log
    for secret in secrets_:
        assert secret not in caplog.text


def test_error_messages_never_echo_a_submitted_token(world, caplog):
    caplog.set_level(logging.DEBUG)
    b = world.logged_in()
    bogus = "ATATT3xFfGF0-not-a-real-token-Zq81"
    for path in ("/api/token/validate", "/api/token"):
        r = b.post(path, {"email": "nobody@example.com", "token": bogus})
        assert r.status in (200, 400, 502), r.text
        assert bogus not in r.text and bogus[-12:] not in r.text
    r = b.post("/api/change-user", {"email": "nobody@example.com", "token": bogus, "full_names": ["acme/webapp"]})
    if r.status == 202:
        r_job = wait_job(b, r.json()["id"])
        assert bogus not in json.dumps(r_job)
    assert bogus not in caplog.text
    assert b.login(bogus).status == 401
    assert bogus not in caplog.text


# -- the API maps to the Admin -------------------------------------------------------------------------------------


def test_missing_scopes_are_listed_with_what_fails(world):
    b = world.logged_in()
    limited = world.bb.add_api_token(world.demo.admin, BOT_SCOPES - {"write:webhook:bitbucket", "delete:webhook:bitbucket"})
    check = b.post("/api/token/validate", {"email": world.demo.admin.email, "token": limited.token}).json()["check"]
    missing = {m[0] if isinstance(m, list) else m["scope"]: (m[1] if isinstance(m, list) else m["consequence"])
               for m in check["missing"]}
    assert set(missing) == {"write:webhook:bitbucket", "delete:webhook:bitbucket"}
    assert all(missing.values())
    assert check["user"]["account_id"] == world.demo.admin.account_id


def test_repositories_are_searchable_and_paginated(world):
    b = world.logged_in()
    b.post("/api/token", {"email": world.demo.admin.email, "token": world.demo.token.token})
    page = b.get("/api/repositories?per_page=1&page=1").json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["per_page"] == 1
    found = b.get("/api/repositories?q=docs").json()
    assert [r["full_name"] for r in found["items"]] == ["partners/docs"]
    assert b.get("/api/repositories?page=abc").status == 400


def test_install_reports_each_repository_and_the_remedy_for_a_non_admin_one(world):
    b = world.logged_in()
    b.post("/api/token", {"email": world.demo.admin.email, "token": world.demo.token.token})
    r = b.post("/api/jobs", {"action": "install", "full_names": ["acme/webapp", "partners/docs"]})
    assert r.status == 202
    job = wait_job(b, r.json()["id"])
    assert job["state"] == "done" and job["done"] == job["total"] == 2
    ok, refused = job["results"]["acme/webapp"], job["results"]["partners/docs"]
    assert ok["ok"] and ok["action"] == "created"
    assert not refused["ok"] and refused["action"] == "failed" and "admin" in (refused["remedy"] or "")
    hooks = list(world.demo.repository.hooks.values())
    assert len(hooks) == 1 and hooks[0].url == world.config.hook_url and hooks[0].secret
    assert b.post("/api/jobs", {"action": "install", "full_names": ["not a repo"]}).status == 400
    assert b.post("/api/jobs", {"action": "explode", "full_names": ["acme/webapp"]}).status == 400


def test_reinstall_repairs_a_broken_hook(world):
    b = world.logged_in()
    b.post("/api/token", {"email": world.demo.admin.email, "token": world.demo.token.token})
    wait_job(b, b.post("/api/jobs", {"action": "install", "full_names": ["acme/webapp"]}).json()["id"])
    (hook,) = world.demo.repository.hooks.values()
    hook.active = False
    hook.events = ["repo:push"]
    row = b.get("/api/repositories?q=webapp").json()["items"][0]
    assert row["hook"]["present"] and not (row["hook"]["active"] and row["hook"]["events_ok"])
    job = wait_job(b, b.post("/api/jobs", {"action": "reinstall", "full_names": ["acme/webapp"]}).json()["id"])
    assert job["results"]["acme/webapp"]["ok"]
    hooks = list(world.demo.repository.hooks.values())
    assert len(hooks) == 1 and hooks[0].active and "pullrequest:created" in hooks[0].events
    row = b.get("/api/repositories?q=webapp").json()["items"][0]
    assert row["hook"]["active"] and row["hook"]["events_ok"] and row["hook"]["secret_set"]


def test_change_user_removes_the_old_hooks_and_reinstalls_with_the_new_account(world):
    b = world.logged_in()
    demo = world.demo
    b.post("/api/token", {"email": demo.admin.email, "token": demo.token.token})
    wait_job(b, b.post("/api/jobs", {"action": "install", "full_names": ["acme/webapp"]}).json()["id"])
    (old_hook,) = demo.repository.hooks.values()
    new_user = world.bb.add_user("review-bot-2", "Review Bot Two", email="bot2@example.com")
    world.bb.add_member(demo.workspace, new_user, "member")
    world.bb.grant(demo.repository, new_user, "admin")
    new_token = world.bb.add_api_token(new_user, BOT_SCOPES)
    r = b.post("/api/change-user", {"email": new_user.email, "token": new_token.token, "full_names": ["acme/webapp"]})
    assert r.status == 202
    job = wait_job(b, r.json()["id"])
    assert job["state"] == "done", job
    result = job["result"]
    assert result["check"]["user"]["uuid"] == new_user.uuid
    assert [x["full_name"] for x in result["installed"] if x["ok"]] == ["acme/webapp"]
    hooks = list(demo.repository.hooks.values())
    assert len(hooks) == 1 and hooks[0].uuid != old_hook.uuid
    info = b.get("/api/token").json()["token"]
    assert info["email"] == new_user.email and info["last4"] == new_token.token[-4:]
    assert new_token.token not in json.dumps(job)


def test_health_doctor_and_test_event_answer_json(world):
    b = world.logged_in()
    b.post("/api/token", {"email": world.demo.admin.email, "token": world.demo.token.token})
    health = b.get("/api/health?repo=acme/webapp")
    assert health.status == 200 and health.json()["full_name"] == "acme/webapp"
    assert b.get("/api/health?repo=../../etc").status == 400
    problems = b.get("/api/doctor").json()["problems"]
    assert all({"severity", "what", "fix"} <= set(p) for p in problems)
    test = b.post("/api/test-event", {"full_name": "acme/webapp"})
    assert test.status == 200 and {"ok", "status", "delivery_seq", "outcome", "error"} <= set(test.json())


def _hook_reads(bb) -> int:
    return sum(1 for r in list(bb.requests) if r.method == "GET" and r.path.endswith("/hooks"))


def test_repository_names_list_every_match_without_reading_webhooks(world):
    b = world.logged_in()
    b.post("/api/token", {"email": world.demo.admin.email, "token": world.demo.token.token})
    for n in range(30):
        world.bb.add_repository(world.demo.workspace, f"svc-{n:02d}", admins=[world.demo.admin])
    before = _hook_reads(world.bb)
    data = b.get("/api/repositories/names").json()
    assert data["total"] == 32 and len(data["items"]) == 32
    assert {"full_name": "partners/docs", "permission": "write"} in data["items"]
    assert _hook_reads(world.bb) == before  # select-all and suggestions cost no request per repository
    found = b.get("/api/repositories/names?q=svc-1").json()
    assert [i["full_name"] for i in found["items"]] == [f"acme/svc-1{n}" for n in range(10)] and found["total"] == 10
    page = b.get("/api/repositories?per_page=5&q=svc").json()
    assert page["total"] == 30 and len(page["items"]) == 5
    assert _hook_reads(world.bb) == before + 5


def test_change_user_works_when_the_old_token_was_revoked(world):
    """The page lists what is installed from the store, and an empty list means those repositories:
    the revoked old token can no longer list repositories (a 502 here)."""
    b = world.logged_in()
    demo = world.demo
    b.post("/api/token", {"email": demo.admin.email, "token": demo.token.token})
    wait_job(b, b.post("/api/jobs", {"action": "install", "full_names": ["acme/webapp"]}).json()["id"])
    (old_hook,) = demo.repository.hooks.values()
    world.bb.revoke(demo.token)
    assert b.get("/api/repositories").status == 502
    installed = b.get("/api/installations")
    assert installed.status == 200
    (row,) = installed.json()["items"]
    assert row["full_name"] == "acme/webapp" and row["hook_uuid"] == old_hook.uuid and "secret" not in row
    new_user = world.bb.add_user("review-bot-2", "Review Bot Two", email="bot2@example.com")
    world.bb.add_member(demo.workspace, new_user, "owner")
    new_token = world.bb.add_api_token(new_user, BOT_SCOPES)
    for body in ({}, {"full_names": []}):  # the second time, the "old" token is the new one
        r = b.post("/api/change-user", {"email": new_user.email, "token": new_token.token, **body})
        assert r.status == 202, r.text
        job = wait_job(b, r.json()["id"])
        assert job["state"] == "done", job
        assert [x["full_name"] for x in job["result"]["installed"] if x["ok"]] == ["acme/webapp"]
        assert [x["full_name"] for x in job["result"]["removed"]] == ["acme/webapp"]
        assert job["result"]["manual"] == []
    (hook,) = demo.repository.hooks.values()
    assert hook.uuid != old_hook.uuid
    assert b.get("/api/installations").json()["items"][0]["installed_by"] == new_user.uuid
    assert b.post("/api/change-user", {"email": new_user.email, "token": new_token.token,
                                       "full_names": "acme/webapp"}).status == 400


def test_change_user_tells_why_each_hook_must_be_deleted_by_hand(world):
    b = world.logged_in()
    demo = world.demo
    b.post("/api/token", {"email": demo.admin.email, "token": demo.token.token})
    wait_job(b, b.post("/api/jobs", {"action": "install", "full_names": ["acme/webapp"]}).json()["id"])
    (old_hook,) = demo.repository.hooks.values()
    world.bb.revoke(demo.token)
    new_user = world.bb.add_user("review-bot-2", "Review Bot Two", email="bot2@example.com")
    world.bb.add_member(demo.workspace, new_user, "owner")
    new_token = world.bb.add_api_token(new_user, BOT_SCOPES - {"delete:webhook:bitbucket"})
    job = wait_job(b, b.post("/api/change-user", {"email": new_user.email, "token": new_token.token}).json()["id"])
    (manual,) = job["result"]["manual"]
    assert manual["hook_uuid"] == old_hook.uuid
    assert manual["settings_url"] == "https://bitbucket.org/acme/webapp/admin/webhooks"
    assert manual["reason"].startswith("the old token no longer works")
    assert manual["reason"].endswith("the new token lacks delete:webhook:bitbucket")
    assert new_token.token not in json.dumps(job) and demo.token.token not in json.dumps(job)
