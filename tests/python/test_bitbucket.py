"""bbreview.bitbucket against the emulator (bbreview.testing.FakeBitbucket), on loopback."""

from __future__ import annotations

import logging
import pickle
import threading
import time

import pytest

import bbreview
from bbreview._native import core
from bbreview.bitbucket import (
    AuthError,
    BitbucketError,
    Client,
    NetworkError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ScopeError,
    ServerError,
    error_from,
)
from bbreview.testing import BOT_SCOPES, FakeBitbucket, seed_demo

WS, REPO = "acme", "webapp"


@pytest.fixture(scope="module")
def fb():
    with FakeBitbucket(seed=7) as bb:
        bb.demo = seed_demo(bb)
        yield bb


@pytest.fixture()
def client(fb):
    fb.clear_faults()
    fb.reset_rate_limits()
    d = fb.demo
    return Client(email=d.admin.email, token=d.token.token, base_url=fb.base_url, backoff=0.01, rate_limit_backoff=0.05)


def _requests(fb, method, pattern):
    return [r for r in fb.requests if r.method == method and pattern in r.path]


# -- auth, identity, secrets -----------------------------------------------------------------


def test_current_user_reads_the_account_and_granted_scopes(client, fb):
    me = client.current_user()
    assert me["uuid"] == fb.demo.admin.uuid
    assert me["display_name"] == "Review Bot"
    assert client.scopes == BOT_SCOPES
    assert client.credential_type == "api_token"


def test_token_never_appears_in_repr_errors_or_logs(fb, caplog):
    caplog.set_level(logging.DEBUG)
    secret = fb.demo.token.token
    c = Client(email=fb.demo.admin.email, token=secret, base_url=fb.base_url)
    assert secret not in repr(c) and "review-bot@example.com" in repr(c)
    assert not any(secret in str(v) for v in vars(c).values())
    with pytest.raises(NotFound) as info:
        c.pull_request(WS, REPO, 9999)
    wrong = Client(email=fb.demo.admin.email, token=secret + "x", base_url=fb.base_url)
    with pytest.raises(AuthError) as bad:
        wrong.current_user()
    for exc in (info.value, bad.value):
        text = str(exc) + repr(exc) + repr(vars(exc)) + str(pickle.dumps(exc))
        assert secret not in text
        assert fb.demo.token.basic_auth().split()[1] not in text
    assert secret not in caplog.text
    assert all(secret not in (r.headers.get("Authorization", "")) for r in fb.requests)


def test_bad_basic_credentials_raise_auth_error_with_the_plain_text_message(fb):
    c = Client(email=fb.demo.admin.email, token="ATATT3xWRONG", base_url=fb.base_url)
    with pytest.raises(AuthError) as info:
        c.current_user()
    e = info.value
    assert isinstance(e, BitbucketError) and isinstance(e, bbreview.Error)
    assert e.status == 401 and e.method == "GET" and e.path == "/2.0/user"
    assert e.message and "<" not in e.message
    assert "hint:" in str(e)


def test_expired_token_raises_auth_error_from_the_json_body(fb):
    tok = fb.add_api_token(fb.demo.admin, BOT_SCOPES, name="old", expired=True)
    c = Client(email=fb.demo.admin.email, token=tok.token, base_url=fb.base_url)
    with pytest.raises(AuthError) as info:
        c.current_user()
    assert "Token is invalid" in info.value.message


def test_missing_scope_raises_scope_error_naming_required_and_granted(fb):
    tok = fb.add_api_token(fb.demo.admin, {"read:repository:bitbucket"}, name="narrow")
    c = Client(email=fb.demo.admin.email, token=tok.token, base_url=fb.base_url)
    with pytest.raises(ScopeError) as info:
        c.current_user()
    e = info.value
    assert e.status == 403
    assert "read:user:bitbucket" in e.required
    assert "read:repository:bitbucket" in e.granted
    assert e.missing == ("read:user:bitbucket",)
    assert "read:user:bitbucket" in str(e)


def test_access_token_uses_bearer(fb):
    tok = fb.add_access_token(fb.demo.repository, ["repository", "pullrequest"], name="repo-bot")
    c = Client(access_token=tok.token, base_url=fb.base_url)
    assert "access token" in repr(c) and tok.token not in repr(c)
    assert c.pull_request(WS, REPO, 1)["id"] == 1
    assert c.credential_type == "repo_access_token"
    with pytest.raises(ValueError):
        Client(email="a@b", token="t", access_token="u")
    with pytest.raises(ValueError):
        Client(token="t")


def test_non_admin_cannot_install_hooks(fb):
    reader = fb.add_user("reader", email="reader@example.com")
    fb.grant(fb.demo.repository, reader, "read")
    tok = fb.add_api_token(reader, BOT_SCOPES, name="reader")
    c = Client(email=reader.email, token=tok.token, base_url=fb.base_url)
    assert c.repo_permission(WS, REPO) == "read"
    with pytest.raises(PermissionDenied) as info:
        c.create_hook(WS, REPO, "http://127.0.0.1:9/hook", ["pullrequest:created"])
    assert info.value.status == 403 and info.value.method == "POST"


# -- workspaces, repositories, pull requests ---------------------------------------------------


def test_workspaces_repositories_and_permission(client):
    assert [w["workspace"]["slug"] for w in client.workspaces()] == ["acme"]
    assert [r["full_name"] for r in client.repositories(WS, role="admin")] == ["acme/webapp"]
    assert client.repository(WS, REPO)["full_name"] == "acme/webapp"
    assert client.repo_permission(WS, REPO) == "admin"


def test_pull_requests_follow_next_links_opaquely(client, fb):
    d = fb.demo
    if len(d.repository.pull_requests) < 3:
        for i in range(2):
            fb.commit(d.repository, f"feature/p{i}", {f"p{i}.txt": "x\n"}, author=d.author, notify=False)
            fb.create_pull_request(d.repository, f"feature/p{i}", title=f"P{i}", author=d.author)
    fb.requests.clear()
    prs = list(client.pull_requests(WS, REPO, state="OPEN", pagelen=1))
    assert len(prs) >= 3 and len({p["id"] for p in prs}) == len(prs)
    pages = _requests(fb, "GET", "/pullrequests")
    assert len(pages) == len(prs)
    for page in pages:  # the query is never re-appended to a next link
        assert page.query.count("pagelen=") == 1 and page.query.count("state=") == 1
    assert [p["id"] for p in client.pull_requests(WS, REPO, q='title ~ "P1"')] == [
        p["id"] for p in prs if p["title"] == "P1"
    ]
    with pytest.raises(ValueError):
        list(client.pull_requests(WS, REPO, pagelen=100))


def test_pull_request_and_not_found(client):
    pr = client.pull_request(WS, REPO, 1)
    assert pr["title"] == "Excited greetings" and pr["state"] == "OPEN"
    with pytest.raises(NotFound) as info:
        client.pull_request(WS, REPO, 4242)
    assert info.value.status == 404
    assert info.value.path == "/2.0/repositories/acme/webapp/pullrequests/4242"


# -- diffs, files, commits -----------------------------------------------------------------------


def test_pr_diff_follows_the_302_and_parses_a_patchset(client, fb):
    fb.requests.clear()
    ps = client.diff(WS, REPO, 1)
    assert isinstance(ps, bbreview.PatchSet)
    assert sorted(f.path for f in ps) == ["app.py", "docs/usage.md"]
    followed = [r for r in fb.requests if "/diff/" in r.path]
    assert followed and ("%0D" in followed[0].path or "\r" in followed[0].path)
    assert "Excited" in client.diff_text(WS, REPO, 1) or "excited" in client.diff_text(WS, REPO, 1)


def test_diff_between_two_commits_is_cached_by_hash(client, fb):
    pr = client.pull_request(WS, REPO, 1)
    spec_src = pr["source"]["commit"]["hash"]
    spec_dst = pr["destination"]["commit"]["hash"]
    fb.requests.clear()
    a = client.diff(WS, REPO, spec=f"{spec_src}..{spec_dst}")
    b = client.diff(WS, REPO, spec=f"{spec_src}..{spec_dst}")
    assert [f.path for f in a] == [f.path for f in b]
    assert len([r for r in fb.requests if "/diff/" in r.path]) == 1
    assert client.cache_entries >= 1


def test_diffstat_commits_and_file(client):
    stat = client.diffstat(WS, REPO, 1)
    assert {e["new"]["path"] for e in stat if e["new"]} == {"app.py", "docs/usage.md"}
    commits = list(client.commits(WS, REPO, 1))
    assert len(commits) == 2
    head = commits[-1]["hash"] if len(commits[-1]["hash"]) == 40 else commits[0]["hash"]
    body = client.file(WS, REPO, head, "app.py")
    assert isinstance(body, bytes) and b"def greet" in body


def test_diffs_runs_concurrently_and_caches_by_commit_hash(client, fb):
    prs = list(client.pull_requests(WS, REPO))
    fb.requests.clear()
    first = client.diffs(prs + [(WS, REPO, 4242)], concurrency=4)
    assert all(isinstance(p, bbreview.PatchSet) for p in first[:-1])
    assert isinstance(first[-1], NotFound)
    n = len(fb.requests)
    again = client.diffs(prs)
    assert [len(p) for p in again] == [len(p) for p in first[:-1]]
    assert len(fb.requests) == n  # served from the cache


def test_555_is_a_server_error_and_not_retried(client, fb):
    fb.fail_next(1, 555, path="/diff")
    with pytest.raises(ServerError) as info:
        client.diff(WS, REPO, 1)
    assert info.value.status == 555


# -- comments -------------------------------------------------------------------------------------


def test_comment_lifecycle(client, fb):
    general = client.create_comment(WS, REPO, 1, "Looks good overall")
    assert general["content"]["raw"] == "Looks good overall" and "inline" not in general or not general.get("inline")
    inline = client.create_comment(WS, REPO, 1, "Nit", path="app.py", to=8)
    assert inline["inline"]["path"] == "app.py" and inline["inline"]["to"] == 8
    ranged = client.create_comment(WS, REPO, 1, "Range", path="app.py", start_to=7, to=8)
    assert ranged["inline"]["start_to"] == 7
    reply = client.reply(WS, REPO, 1, inline["id"], "Fixed")
    assert reply["parent"]["id"] == inline["id"]
    assert client.comment(WS, REPO, 1, reply["id"])["content"]["raw"] == "Fixed"
    assert client.update_comment(WS, REPO, 1, general["id"], "Edited")["content"]["raw"] == "Edited"
    resolution = client.resolve_comment(WS, REPO, 1, inline["id"])
    assert resolution["type"] == "comment_resolution"
    with pytest.raises(BitbucketError) as again:
        client.resolve_comment(WS, REPO, 1, inline["id"])
    assert again.value.status == 409
    client.reopen_comment(WS, REPO, 1, inline["id"])
    with pytest.raises(NotFound):
        client.reopen_comment(WS, REPO, 1, inline["id"])
    client.delete_comment(WS, REPO, 1, general["id"])
    listed = {c["id"]: c for c in client.comments(WS, REPO, 1)}
    assert listed[general["id"]]["deleted"] is True  # soft-deleted comments stay listed
    assert {inline["id"], ranged["id"], reply["id"]} <= set(listed)


def test_comment_list_follows_pagination_past_ten(client, fb):
    pr = fb.pull_request(fb.demo.repository, 1)
    for i in range(12):
        fb.add_comment(pr, fb.demo.author, f"bulk {i}")
    raws = [c["content"]["raw"] for c in client.comments(WS, REPO, 1)]
    assert sum(r.startswith("bulk ") for r in raws) >= 12


def test_invalid_inline_range_and_oversized_comment_decode_their_errors(client):
    with pytest.raises(BitbucketError) as rng:
        client.create_comment(WS, REPO, 1, "bad", path="app.py", start_to=9, to=3)
    assert rng.value.status == 400 and rng.value.message
    with pytest.raises(BitbucketError) as big:
        client.create_comment(WS, REPO, 1, "x" * 40000)
    assert big.value.status == 400
    assert "Bad Request" in big.value.message and "<" not in big.value.message
    with pytest.raises(ValueError):
        client.calls.create_comment(WS, REPO, 1, "x", to=3)


# -- tasks, approvals, statuses, insights, hooks --------------------------------------------------------


def test_tasks(client):
    task = client.create_task(WS, REPO, 1, "Add a test")
    assert task["state"] == "UNRESOLVED"
    assert task["id"] in [t["id"] for t in client.tasks(WS, REPO, 1)]
    assert client.update_task(WS, REPO, 1, task["id"], resolved=True)["state"] == "RESOLVED"
    client.delete_task(WS, REPO, 1, task["id"])
    assert task["id"] not in [t["id"] for t in client.tasks(WS, REPO, 1)]


def test_approve_and_request_changes(client):
    p = client.approve(WS, REPO, 1)
    assert p["approved"] is True and p["state"] == "approved"
    client.unapprove(WS, REPO, 1)
    p = client.request_changes(WS, REPO, 1)
    assert p["state"] == "changes_requested"
    client.remove_change_request(WS, REPO, 1)


def test_commit_statuses(client):
    head = client.pull_request(WS, REPO, 1)["source"]["commit"]["hash"]
    st = client.set_status(WS, REPO, head, "BBREVIEW", "INPROGRESS", name="bbreview", url="https://example.com/r/1")
    assert st["state"] == "INPROGRESS"
    client.set_status(WS, REPO, head, "BBREVIEW", "SUCCESSFUL", name="bbreview", url="https://example.com/r/1")
    states = [s["state"] for s in client.statuses(WS, REPO, head) if s["key"] == "BBREVIEW"]
    assert states == ["SUCCESSFUL"]


def test_code_insights_batches_annotations_by_100(client, fb):
    head = client.commits(WS, REPO, 1)
    commit = next(iter(head))["hash"]
    report = client.put_report(
        WS, REPO, commit, "bbreview-1", {"title": "bbreview", "details": "2 findings", "report_type": "BUG", "result": "FAILED"}
    )
    assert report["external_id"] == "bbreview-1" or report.get("title") == "bbreview"
    anns = [
        {"external_id": f"a{i}", "annotation_type": "CODE_SMELL", "path": "app.py", "line": 1, "summary": f"n{i}"}
        for i in range(250)
    ]
    fb.requests.clear()
    stored = client.add_annotations(WS, REPO, commit, "bbreview-1", anns)
    assert len(stored) == 250
    assert len(_requests(fb, "POST", "/annotations")) == 3
    assert len(list(client.annotations(WS, REPO, commit, "bbreview-1"))) == 250
    with pytest.raises(ValueError):
        client.add_annotations(WS, REPO, commit, "bbreview-1", anns * 5)
    assert client.report(WS, REPO, commit, "bbreview-1")["title"] == "bbreview"
    assert [r["title"] for r in client.reports(WS, REPO, commit)] == ["bbreview"]
    client.delete_report(WS, REPO, commit, "bbreview-1")
    with pytest.raises(NotFound):
        client.report(WS, REPO, commit, "bbreview-1")


def test_webhooks_crud(client):
    hook = client.create_hook(
        WS, REPO, "http://127.0.0.1:9/bitbucketHandler", ["pullrequest:created"], secret="s3cret"
    )
    assert hook["secret_set"] is True and hook["uuid"].startswith("{")
    assert hook["uuid"] in [h["uuid"] for h in client.hooks(WS, REPO)]
    updated = client.update_hook(WS, REPO, hook["uuid"], description="changed", url=hook["url"],
                                 events=["pullrequest:created", "pullrequest:updated"], active=True)
    assert updated["description"] == "changed" and updated["secret_set"] is True
    assert client.hook(WS, REPO, hook["uuid"])["description"] == "changed"
    client.delete_hook(WS, REPO, hook["uuid"])
    with pytest.raises(NotFound):
        client.hook(WS, REPO, hook["uuid"])


# -- batches, faults, rate limits, threads -------------------------------------------------------------


def test_map_returns_results_in_order_with_failures_in_their_slots(client):
    seen = []
    calls = [client.calls.pull_request(WS, REPO, i) for i in (1, 4242, 1)]
    out = client.map(calls, concurrency=3, progress=lambda done, total: seen.append((done, total)))
    assert out[0]["id"] == 1 and out[2]["id"] == 1
    assert isinstance(out[1], NotFound)
    assert seen[-1] == (3, 3)


def test_map_propagates_a_progress_exception_after_finishing(client):
    def boom(done, total):
        raise KeyError("stop")

    with pytest.raises(KeyError):
        client.map([client.calls.pull_request(WS, REPO, 1)] * 3, progress=boom)


def test_idempotent_calls_survive_5xx_and_dropped_connections(client, fb):
    fb.fail_next(2, 503, method="GET", path="/pullrequests/1$")
    assert client.pull_request(WS, REPO, 1)["id"] == 1
    fb.drop_next(1, method="GET", path="/pullrequests/1$")
    assert client.pull_request(WS, REPO, 1)["id"] == 1
    assert client.stats["retries"] >= 2


def test_posts_are_not_retried(client, fb):
    fb.requests.clear()
    fb.fail_next(1, 500, method="POST", path="/comments$")
    with pytest.raises(ServerError):
        client.create_comment(WS, REPO, 1, "once")
    assert len(_requests(fb, "POST", "/comments")) == 1


def test_429_backs_off_then_raises_rate_limited_without_a_storm():
    with FakeBitbucket(rate_limit=3) as small:
        demo = seed_demo(small)
        c = Client(
            email=demo.admin.email, token=demo.token.token, base_url=small.base_url,
            rate_limit_backoff=0.05, rate_limit_backoff_max=0.2, max_rate_limit_retries=2,
            budget_per_hour=360000,
        )
        out = c.map([c.calls.pull_request(WS, REPO, 1)] * 6, concurrency=6)
        ok = [r for r in out if isinstance(r, dict)]
        limited = [r for r in out if isinstance(r, RateLimited)]
        assert len(ok) == 3 and len(limited) == 3
        assert limited[0].status == 429 and "Rate limit" in limited[0].message
        assert c.budget.rate_limited >= 1
        # every call tries at most 1 + max_rate_limit_retries times
        assert len(small.requests) <= 6 * 3
        small.advance_time(3600)
        assert c.pull_request(WS, REPO, 1)["id"] == 1


def test_budget_is_visible_and_spent(fb):
    d = fb.demo
    c = Client(email=d.admin.email, token=d.token.token, base_url=fb.base_url, budget_per_hour=3600, budget_burst=2)
    b0 = c.budget
    assert b0.per_hour == 3600 and b0.capacity == 2 and b0.remaining == pytest.approx(2, abs=0.1)
    started = time.monotonic()
    for _ in range(3):
        c.pull_request(WS, REPO, 1)
    assert time.monotonic() - started >= 0.5  # the third call waited for a token (1 per second)
    assert c.budget.spent == 3


def test_calls_release_the_gil(fb):
    d = fb.demo
    fb.latency = 0.3
    try:
        c = Client(email=d.admin.email, token=d.token.token, base_url=fb.base_url)
        ticks = 0
        stop = threading.Event()

        def spin():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1

        spinner = threading.Thread(target=spin)
        spinner.start()
        started = time.monotonic()
        threads = [threading.Thread(target=c.pull_request, args=(WS, REPO, 1)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        stop.set()
        spinner.join()
        assert elapsed < 0.3 * 4 * 0.75  # the four calls overlapped
        assert ticks > 1000  # Python kept running while the calls waited
    finally:
        fb.latency = 0.0


def test_tls_with_the_emulator_ca():
    with FakeBitbucket(tls=True) as tls:
        demo = seed_demo(tls)
        c = Client(email=demo.admin.email, token=demo.token.token, base_url=tls.base_url, ca_file=tls.ca_file)
        assert c.current_user()["uuid"] == demo.admin.uuid
        untrusting = Client(email=demo.admin.email, token=demo.token.token, base_url=tls.base_url, max_retries=0)
        with pytest.raises(NetworkError) as info:
            untrusting.current_user()
        assert info.value.status == 0 and "tls" in str(info.value).lower()


def test_decoded_error_variants_map_to_exception_classes():
    cases = [
        (401, "text/plain", b"Login failed due to incorrect login credentials or method.\n", AuthError),
        (403, "application/json",
         b'{"type":"error","error":{"message":"m","detail":{"required":["read:user:bitbucket"]}}}', ScopeError),
        (403, "application/json", b'{"type":"error","error":{"message":"Forbidden"}}', PermissionDenied),
        (404, "application/json", b'{"type":"error","error":{"message":"No such PR"}}', NotFound),
        (429, "text/plain", b"Rate limit for this resource has been exceeded", RateLimited),
        (555, "application/json", b'{"type":"error","error":{"message":"Diff too large"}}', ServerError),
        (400, "text/html", b"<html><title>Bad Request (400)</title></html>", BitbucketError),
    ]
    for status, ctype, body, cls in cases:
        exc = error_from(core.bitbucket.decode_error(status, ctype, body))
        assert type(exc) is cls and exc.status == status and exc.message
    fields = error_from(core.bitbucket.decode_error(
        400, "application/json",
        b'{"type":"error","error":{"message":"Bad request","fields":{"pending":"extra keys not allowed"}}}'))
    assert fields.fields == {"pending": "extra keys not allowed"}
    assert pickle.loads(pickle.dumps(fields)).fields == fields.fields


class _ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that counts its tunnels."""

    def __init__(self) -> None:
        import socket
        import socketserver

        proxy = self
        self.tunnels: list[str] = []

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode()
                method, target, _ = line.split(" ", 2)
                if method != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                proxy.tunnels.append(target)
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

                def pump(src, dst) -> None:
                    try:
                        while data := src.recv(65536):
                            dst.sendall(data)
                    except OSError:
                        pass
                    finally:
                        try:
                            dst.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass

                back = threading.Thread(target=pump, args=(upstream, self.request))
                back.start()
                pump(self.request, upstream)
                back.join()
                upstream.close()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_https_through_a_connect_proxy_from_the_environment(monkeypatch):
    proxy = _ConnectProxy()
    try:
        with FakeBitbucket(tls=True) as tls:
            demo = seed_demo(tls)
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            c = Client(email=demo.admin.email, token=demo.token.token, base_url=tls.base_url, ca_file=tls.ca_file)
            assert c.current_user()["uuid"] == demo.admin.uuid
            assert proxy.tunnels == [f"127.0.0.1:{tls.port}"]
            monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
            direct = Client(email=demo.admin.email, token=demo.token.token, base_url=tls.base_url,
                            ca_file=tls.ca_file)
            assert direct.current_user()["uuid"] == demo.admin.uuid
            assert len(proxy.tunnels) == 1
    finally:
        proxy.close()
