"""FakeBitbucket's REST API against shared/reference/bitbucket-cloud-api.md (cited as §n).

Every request goes over real HTTP on 127.0.0.1 through ``FakeBitbucket.request``
(plain ``http.client``, redirects not followed).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from bbreview.testing import BOT_SCOPES, Demo, FakeBitbucket, Quirks, seed_demo

HEX12 = re.compile(r"^[0-9a-f]{12}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
UUID = re.compile(r"^\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$")
REPO = "/repositories/acme/webapp"


@pytest.fixture
def bb(fake_bitbucket: FakeBitbucket) -> FakeBitbucket:
    return fake_bitbucket


@pytest.fixture
def demo(fake_bitbucket_demo: Demo) -> Demo:
    return fake_bitbucket_demo


def git_oracle(bb: FakeBitbucket, demo: Demo, *args: str) -> bytes:
    """``git`` itself on the backing repository, with no user or system configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, HOME=bb.workdir)
    assert demo.repository.git is not None
    return subprocess.run(["git", "--git-dir", demo.repository.git.path, *args], env=env, check=True,
                          capture_output=True).stdout


def check_user(obj: dict) -> None:
    assert obj["type"] in ("user", "app_user")
    assert UUID.match(obj["uuid"])
    assert {"uuid", "account_id", "nickname", "display_name", "links"} <= set(obj)
    assert "username" not in obj  # removed for GDPR (§1, §7.4)


# -- identity and introspection (§2.5, §2.6) -----------------------------------------------------


def test_current_user_shape_and_scope_headers(bb: FakeBitbucket, demo: Demo) -> None:
    r = bb.request("GET", "/user", auth=demo.token)
    assert r.status == 200
    body = r.json()
    check_user(body)
    assert body["account_id"] == demo.admin.account_id
    assert {"account_status", "created_on", "is_staff", "has_2fa_enabled"} <= set(body)
    assert body["links"]["self"]["href"].endswith(quote(demo.admin.uuid, safe=""))
    granted = [s.strip() for s in r.headers["x-oauth-scopes"].split(",")]
    assert set(granted) == set(BOT_SCOPES)
    assert "delete:webhook:bitbucket" in granted
    assert r.headers["x-accepted-oauth-scopes"] == "read:user:bitbucket"
    assert r.headers["x-credential-type"] == "api_token"


def test_user_workspaces_and_permission(bb: FakeBitbucket, demo: Demo) -> None:
    body = bb.request("GET", "/user/workspaces", auth=demo.token).json()
    assert body["values"] == [{
        "type": "workspace_access",
        "administrator": True,
        "workspace": {"type": "workspace_base", "uuid": demo.workspace.uuid, "slug": "acme",
                      "links": body["values"][0]["workspace"]["links"]},
        "links": body["values"][0]["links"],
    }]
    assert bb.request("GET", "/user/workspaces?q=slug%3D%22nope%22", auth=demo.token).json()["values"] == []
    perm = bb.request("GET", "/user/workspaces/acme/permission", auth=demo.token).json()
    assert perm["type"] == "workspace_membership" and perm["permission"] == "owner"
    outsider = bb.add_user("outsider")
    tok = bb.add_api_token(outsider)
    assert bb.request("GET", "/user/workspaces/acme/permission", auth=tok).status == 403


def test_repository_permissions_with_bbql(bb: FakeBitbucket, demo: Demo) -> None:
    author_tok = bb.add_api_token(demo.author)
    other = bb.add_repository(demo.workspace, "docs", readers=[demo.author])
    assert other
    q = quote('repository.full_name="acme/webapp"')
    body = bb.request("GET", f"/user/workspaces/acme/permissions/repositories?q={q}", auth=author_tok).json()
    (value,) = body["values"]
    assert value["type"] == "repository_permission" and value["permission"] == "write"
    assert value["repository"]["full_name"] == "acme/webapp" and UUID.match(value["repository"]["uuid"])
    q = quote('permission>"read"')
    body = bb.request("GET", f"/user/workspaces/acme/permissions/repositories?q={q}", auth=author_tok).json()
    assert [v["repository"]["name"] for v in body["values"]] == ["webapp"]


def test_access_token_on_user_endpoint_is_403_with_headers(bb: FakeBitbucket, demo: Demo) -> None:
    tok = bb.add_access_token(demo.repository, {"repository", "pullrequest"}, name="ci")
    r = bb.request("GET", "/user", auth=tok)
    assert r.status == 403
    assert r.headers["x-credential-type"] == "repo_access_token"
    assert r.headers["x-oauth-scopes"]
    ok = bb.request("GET", f"{REPO}/pullrequests/1", auth=tok)
    assert ok.status == 200
    assert ok.headers["x-accepted-oauth-scopes"] == "pullrequest"


# -- authentication errors (§2.1, §2.5, §3) --------------------------------------------------------


def test_bad_basic_credentials_get_plain_text_401(bb: FakeBitbucket, demo: Demo) -> None:
    import base64

    for creds in (f"{demo.admin.email}:wrong", f"someone@example.com:{demo.token.token}", "garbage"):
        auth = "Basic " + base64.b64encode(creds.encode()).decode()
        r = bb.request("GET", "/user", auth=auth)
        assert r.status == 401
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text.startswith("Login failed due to incorrect login credentials or method.")
        assert "x-oauth-scopes" not in r.headers


def test_invalid_expired_or_scopeless_tokens_get_json_401(bb: FakeBitbucket, demo: Demo) -> None:
    expired = bb.add_api_token(demo.admin, expired=True)
    scopeless = bb.add_api_token(demo.admin, scopes=())
    revoked = bb.add_api_token(demo.admin)
    bb.revoke(revoked)
    expected = {"type": "error", "error": {"message": "Token is invalid, expired, or not supported for this endpoint."}}
    for auth in (expired, scopeless, revoked, "Bearer not-a-token"):
        r = bb.request("GET", "/user", auth=auth)
        assert r.status == 401 and r.json() == expected, auth


def test_api_token_as_bearer_is_rejected_by_default(bb: FakeBitbucket, demo: Demo) -> None:
    r = bb.request("GET", "/user", auth=f"Bearer {demo.token.token}")
    assert r.status == 401 and r.json()["error"]["message"].startswith("Token is invalid")
    bb.quirks.accept_api_token_as_bearer = True
    assert bb.request("GET", "/user", auth=f"Bearer {demo.token.token}").status == 200


def test_anonymous_access(bb: FakeBitbucket, demo: Demo) -> None:
    assert bb.request("GET", REPO).status == 401  # private repository + anonymous (§3)
    public = bb.add_repository(demo.workspace, "oss", private=False, files={"a.txt": "a\n"}, author=demo.admin)
    r = bb.request("GET", f"/repositories/acme/{public.slug}")
    assert r.status == 200 and r.json()["is_private"] is False
    assert "x-oauth-scopes" not in r.headers


# -- scopes (§2.7, §2.8) -----------------------------------------------------------------------------


def test_missing_scope_gives_403_with_required_and_granted(bb: FakeBitbucket, demo: Demo) -> None:
    tok = bb.add_api_token(demo.admin, scopes={"read:repository"})
    r = bb.request("GET", f"{REPO}/pullrequests", auth=tok)
    assert r.status == 403
    assert r.json() == {"type": "error", "error": {
        "message": "Your credentials lack one or more required privilege scopes.",
        "detail": {"required": ["read:pullrequest:bitbucket"], "granted": ["read:repository:bitbucket"]}}}
    assert r.headers["x-accepted-oauth-scopes"] == "read:pullrequest:bitbucket"
    assert r.headers["x-oauth-scopes"] == "read:repository:bitbucket"
    bb.quirks.scope_error_includes_granted = False
    assert "granted" not in bb.request("GET", f"{REPO}/pullrequests", auth=tok).json()["error"]["detail"]


def test_write_scopes_do_not_imply_read(bb: FakeBitbucket, demo: Demo) -> None:
    tok = bb.add_api_token(demo.admin, scopes={"write:pullrequest", "read:repository"})
    r = bb.request("POST", f"{REPO}/pullrequests/1/approve", auth=tok)
    assert r.status == 403
    assert r.json()["error"]["detail"]["required"] == ["read:pullrequest:bitbucket", "write:pullrequest:bitbucket"]


def test_pr_diff_needs_read_pullrequest_then_read_repository(bb: FakeBitbucket, demo: Demo) -> None:
    tok = bb.add_api_token(demo.admin, scopes={"read:pullrequest"})
    r = bb.request("GET", f"{REPO}/pullrequests/1/diff", auth=tok)
    assert r.status == 302
    follow = bb.request("GET", r.headers["location"], auth=tok)
    assert follow.status == 403
    assert follow.json()["error"]["detail"]["required"] == ["read:repository:bitbucket"]


def test_hooks_need_webhook_scopes(bb: FakeBitbucket, demo: Demo) -> None:
    no_delete = bb.add_api_token(demo.admin, scopes=BOT_SCOPES - {"delete:webhook:bitbucket"})
    hook = bb.add_hook(demo.repository, "http://127.0.0.1:9/hook", ["repo:push"])
    path = f"{REPO}/hooks/{quote(hook.uuid, safe='')}"
    r = bb.request("DELETE", path, auth=no_delete)
    assert r.status == 403 and r.json()["error"]["detail"]["required"] == ["delete:webhook:bitbucket"]
    assert bb.request("DELETE", path, auth=demo.token).status == 204


# -- permissions ---------------------------------------------------------------------------------------


def test_repository_permissions_are_enforced(bb: FakeBitbucket, demo: Demo) -> None:
    reader = bb.add_user("reader")
    bb.grant(demo.repository, reader, "read")
    tok = bb.add_api_token(reader)
    assert bb.request("GET", f"{REPO}/pullrequests/1", auth=tok).status == 200
    r = bb.request("GET", f"{REPO}/hooks", auth=tok)
    assert r.status == 403 and r.json()["type"] == "error"
    r = bb.request("POST", f"{REPO}/hooks", auth=tok, json_body={"url": "http://127.0.0.1:9/", "events": ["repo:push"]})
    assert r.status == 403
    stranger = bb.add_api_token(bb.add_user("stranger"))
    assert bb.request("GET", REPO, auth=stranger).status == 403  # §6.2: private, no access
    bb.quirks.hidden_repository_status = 404
    assert bb.request("GET", REPO, auth=stranger).status == 404
    assert bb.request("GET", "/repositories/acme/missing", auth=demo.token).status == 404


def test_repository_list_and_role_filter(bb: FakeBitbucket, demo: Demo) -> None:
    bb.add_repository(demo.workspace, "readonly", readers=[demo.author])
    author_tok = bb.add_api_token(demo.author)
    names = lambda role: [v["slug"] for v in bb.request(  # noqa: E731
        "GET", f"/repositories/acme{'?role=' + role if role else ''}", auth=author_tok).json()["values"]]
    assert sorted(names("")) == ["readonly", "webapp"]
    assert sorted(names("member")) == ["readonly", "webapp"]
    assert names("contributor") == ["webapp"]
    assert names("admin") == []
    admin_names = [v["slug"] for v in bb.request("GET", "/repositories/acme?role=admin", auth=demo.token).json()["values"]]
    assert sorted(admin_names) == ["readonly", "webapp"]


def test_repository_shape(bb: FakeBitbucket, demo: Demo) -> None:
    repo = bb.request("GET", REPO, auth=demo.token).json()
    assert repo["type"] == "repository" and repo["full_name"] == "acme/webapp" and UUID.match(repo["uuid"])
    assert repo["scm"] == "git" and repo["is_private"] is True and repo["mainbranch"] == {"type": "branch", "name": "main"}
    assert repo["workspace"]["slug"] == "acme" and repo["project"]["type"] == "project"
    assert {c["name"] for c in repo["links"]["clone"]} == {"https", "ssh"}
    by_uuid = bb.request("GET", f"/repositories/{quote(demo.workspace.uuid, safe='')}/{quote(repo['uuid'], safe='')}",
                         auth=demo.token)
    assert by_uuid.status == 200 and by_uuid.json()["uuid"] == repo["uuid"]


def test_deprecated_endpoints_are_gone_by_default(bb: FakeBitbucket, demo: Demo) -> None:
    assert bb.request("GET", "/workspaces", auth=demo.token).status == 410
    bb.quirks.deprecated_endpoints = "serve"
    body = bb.request("GET", "/workspaces", auth=demo.token).json()
    assert [w["slug"] for w in body["values"]] == ["acme"]


# -- pull requests, pagination, BBQL (§4, §6.3) ----------------------------------------------------------


def make_prs(bb: FakeBitbucket, demo: Demo, n: int) -> None:
    for i in range(n):
        branch = f"topic/{i}"
        bb.commit(demo.repository, branch, {f"f{i}.txt": f"{i}\n"}, author=demo.author, notify=False)
        bb.create_pull_request(demo.repository, branch, title=f"Topic {i}", author=demo.author, draft=i % 2 == 1)


def test_pr_object_shape(bb: FakeBitbucket, demo: Demo) -> None:
    pr = bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).json()
    assert pr["type"] == "pullrequest" and pr["id"] == 1 and pr["state"] == "OPEN" and pr["draft"] is False
    for side in ("source", "destination"):
        assert HEX12.match(pr[side]["commit"]["hash"])  # §1: PR objects carry 12-char hashes
        assert pr[side]["repository"]["full_name"] == "acme/webapp"
    assert pr["source"]["branch"]["name"] == "feature/greeting"
    assert pr["destination"]["branch"]["name"] == "main"
    assert pr["links"]["html"]["href"] == "https://bitbucket.org/acme/webapp/pull-requests/1"
    assert {"self", "html", "commits", "approve", "request-changes", "diff", "diffstat", "comments",
            "activity", "merge", "decline", "statuses"} <= set(pr["links"])
    assert "%0D" in pr["links"]["diff"]["href"]
    check_user(pr["author"])
    assert [r["uuid"] for r in pr["reviewers"]] == [demo.admin.uuid]
    (p,) = pr["participants"]
    assert p == {"type": "participant", "user": p["user"], "role": "REVIEWER", "approved": False,
                 "state": None, "participated_on": None}
    assert pr["rendered"]["title"]["type"] == "rendered" and pr["summary"]["markup"] == "markdown"
    assert pr["comment_count"] == 0 and pr["task_count"] == 0


def test_pr_list_pagination_and_invalid_pagelen(bb: FakeBitbucket, demo: Demo) -> None:
    make_prs(bb, demo, 4)
    r = bb.request("GET", f"{REPO}/pullrequests?pagelen=51", auth=demo.token)
    assert r.status == 400 and r.json() == {"type": "error", "error": {"message": "Invalid pagelen"}}
    assert bb.request("GET", f"{REPO}/pullrequests?pagelen=-1", auth=demo.token).json()["error"]["message"] == "Invalid pagelen"
    assert bb.request("GET", f"{REPO}/pullrequests?pagelen=50", auth=demo.token).status == 200
    q = quote('destination.branch.name="main"')
    page = bb.request("GET", f"{REPO}/pullrequests?pagelen=2&q={q}&state=OPEN", auth=demo.token).json()
    assert page["size"] == 5 and page["page"] == 1 and page["pagelen"] == 2 and len(page["values"]) == 2
    assert "reviewers" not in page["values"][0] and "participants" not in page["values"][0]  # §4.2
    seen = [v["id"] for v in page["values"]]
    while "next" in page:
        nxt = page["next"]
        query = parse_qs(urlsplit(nxt).query)
        assert query["q"] == ['destination.branch.name="main"'] and query["state"] == ["OPEN"]
        assert nxt.count("page=") == 1
        page = bb.request("GET", nxt, auth=demo.token).json()  # followed verbatim (§4.1)
        seen += [v["id"] for v in page["values"]]
    assert sorted(seen) == [1, 2, 3, 4, 5]
    assert "previous" in page


def test_pr_list_state_filter_and_fields(bb: FakeBitbucket, demo: Demo) -> None:
    make_prs(bb, demo, 2)
    bb.decline_pull_request(bb.pull_request(demo.repository, 2), demo.author)
    ids = lambda url: [v["id"] for v in bb.request("GET", url, auth=demo.token).json()["values"]]  # noqa: E731
    assert sorted(ids(f"{REPO}/pullrequests")) == [1, 3]  # OPEN by default
    assert ids(f"{REPO}/pullrequests?state=DECLINED") == [2]
    assert sorted(ids(f"{REPO}/pullrequests?state=DECLINED&state=OPEN")) == [1, 2, 3]
    body = bb.request("GET", f"{REPO}/pullrequests?fields=%2Bvalues.participants,-values.links", auth=demo.token).json()
    assert all("participants" in v and "links" not in v for v in body["values"])
    body = bb.request("GET", f"{REPO}/pullrequests?fields=values.id,values.title,size", auth=demo.token).json()
    assert set(body) == {"values", "size"} and all(set(v) == {"id", "title"} for v in body["values"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('state="OPEN" AND draft=true', [3]),
        ("draft = false", [1, 2]),
        ('title ~ "TOPIC"', [2, 3]),
        ('title !~ "topic"', [1]),
        ("id > 1 AND id <= 2", [2]),
        ('source.branch.name IN ("topic/0", "feature/greeting")', [1, 2]),
        ('source.branch.name NOT IN ("topic/0")', [1, 3]),
        ('(id = 1 OR id = 3) AND author.nickname = "emma"', [1, 3]),
        ("created_on > 2000-01-01T00:00:00", [1, 2, 3]),
        ("merge_commit = null", [1, 2, 3]),
    ],
)
def test_bbql_subset(bb: FakeBitbucket, demo: Demo, query: str, expected: list[int]) -> None:
    make_prs(bb, demo, 2)
    body = bb.request("GET", f"{REPO}/pullrequests?q={quote(query)}", auth=demo.token).json()
    assert sorted(v["id"] for v in body["values"]) == expected


def test_bbql_errors_and_sort(bb: FakeBitbucket, demo: Demo) -> None:
    make_prs(bb, demo, 2)
    for bad in ('state="OPEN" AND', "title ~", 'values.id = 1', '"x" = state'):
        r = bb.request("GET", f"{REPO}/pullrequests?q={quote(bad)}", auth=demo.token)
        assert r.status == 400 and r.json()["type"] == "error", bad
    ids = [v["id"] for v in bb.request("GET", f"{REPO}/pullrequests?sort=id", auth=demo.token).json()["values"]]
    assert ids == [1, 2, 3]
    ids = [v["id"] for v in bb.request("GET", f"{REPO}/pullrequests?sort=-id", auth=demo.token).json()["values"]]
    assert ids == [3, 2, 1]


def test_create_and_update_pr(bb: FakeBitbucket, demo: Demo) -> None:
    bb.commit(demo.repository, "fix", {"app.py": "x = 1\n"}, author=demo.author, notify=False)
    author_tok = bb.add_api_token(demo.author)
    r = bb.request("POST", f"{REPO}/pullrequests", auth=author_tok, json_body={
        "title": "Fix", "source": {"branch": {"name": "fix"}}, "reviewers": [{"uuid": demo.admin.uuid}]})
    assert r.status == 201
    pr = r.json()
    assert pr["id"] == 2 and pr["destination"]["branch"]["name"] == "main" and len(pr["reviewers"]) == 1
    r = bb.request("POST", f"{REPO}/pullrequests", auth=author_tok, json_body={"title": "No source"})
    assert r.status == 400
    err = r.json()["error"]
    assert err["detail"] == "You must specify a valid source branch when creating a pull request."
    assert "src" in err["fields"]
    r = bb.request("PUT", f"{REPO}/pullrequests/2", auth=author_tok,
                   json_body={"title": "Fix it", "reviewers": pr["reviewers"]})
    assert r.status == 200 and r.json()["title"] == "Fix it" and len(r.json()["reviewers"]) == 1
    r = bb.request("PUT", f"{REPO}/pullrequests/2", auth=author_tok, json_body={"draft": True})
    assert r.json()["draft"] is True and r.json()["reviewers"] == []  # §6.3: omitted reviewers are dropped
    merged = bb.request("POST", f"{REPO}/pullrequests/2/merge", auth=demo.token, json_body={})
    assert merged.status == 200 and merged.json()["state"] == "MERGED" and HEX12.match(merged.json()["merge_commit"]["hash"])
    assert bb.request("PUT", f"{REPO}/pullrequests/2", auth=author_tok, json_body={"title": "x"}).status == 400


def test_approve_and_request_changes(bb: FakeBitbucket, demo: Demo) -> None:
    r = bb.request("POST", f"{REPO}/pullrequests/1/approve", auth=demo.token)
    assert r.status == 200
    p = r.json()
    assert p["type"] == "participant" and p["approved"] is True and p["state"] == "approved" and p["role"] == "REVIEWER"
    assert p["participated_on"]
    pr = bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).json()
    assert pr["participants"][0]["approved"] is True
    assert bb.request("DELETE", f"{REPO}/pullrequests/1/approve", auth=demo.token).status == 204
    r = bb.request("POST", f"{REPO}/pullrequests/1/request-changes", auth=demo.token)
    assert r.status == 200 and r.json()["state"] == "changes_requested" and r.json()["approved"] is False
    assert bb.request("DELETE", f"{REPO}/pullrequests/1/request-changes", auth=demo.token).status == 204
    own = bb.request("POST", f"{REPO}/pullrequests/1/approve", auth=bb.add_api_token(demo.author))
    assert own.status == 400  # Quirks.allow_self_approval is False
    bb.merge_pull_request(demo.pull_request, demo.admin)
    assert bb.request("DELETE", f"{REPO}/pullrequests/1/approve", auth=demo.token).status == 400
    assert bb.request("POST", f"{REPO}/pullrequests/1/request-changes", auth=demo.token).status == 400


# -- diffs (§6.4) ---------------------------------------------------------------------------------


def test_pr_diff_redirect(bb: FakeBitbucket, demo: Demo) -> None:
    pr = demo.pull_request
    for kind in ("diff", "diffstat", "patch"):
        r = bb.request("GET", f"{REPO}/pullrequests/1/{kind}?context=1", auth=demo.token)
        assert r.status == 302
        src, dst = pr.source_commit[:12], pr.destination_commit[:12]
        assert r.headers["location"] == (
            f"{bb.base_url}/repositories/acme/webapp/{kind}/acme/webapp:{src}%0D{dst}"
            f"?from_pullrequest_id=1&topic=true")  # context not forwarded by default (§6.4 [U])
    bb.quirks.forward_diff_params_on_redirect = True
    r = bb.request("GET", f"{REPO}/pullrequests/1/diff?context=1", auth=demo.token)
    assert r.headers["location"].endswith("&context=1")


def test_diff_matches_git(bb: FakeBitbucket, demo: Demo) -> None:
    pr = demo.pull_request
    bb.commit(demo.repository, "main", {"README.md": "# webapp\n\nMoved on.\n"}, author=demo.admin, notify=False)
    pr = bb.pull_request(demo.repository, 1)
    src, dst = pr.source_commit, pr.destination_commit
    base = git_oracle(bb, demo, "merge-base", src, dst).decode().strip()
    location = bb.request("GET", f"{REPO}/pullrequests/1/diff", auth=demo.token).headers["location"]
    r = bb.request("GET", location, auth=demo.token)
    assert r.status == 200 and r.headers["content-type"] == "text/plain"
    assert r.body == git_oracle(bb, demo, "diff", base, src)  # topic: three-dot against the merge base
    assert b"README" not in r.body
    # A..B: A is the change, B the base (opposite of git diff)
    assert bb.request("GET", f"{REPO}/diff/{src}..{dst}", auth=demo.token).body == git_oracle(bb, demo, "diff", base, src)
    two_dot = bb.request("GET", f"{REPO}/diff/{src}..{dst}?topic=false", auth=demo.token).body
    assert two_dot == git_oracle(bb, demo, "diff", dst, src) and b"README" in two_dot
    assert bb.request("GET", f"{REPO}/diff/{src[:12]}..{dst[:12]}?context=0", auth=demo.token).body == \
        git_oracle(bb, demo, "diff", "-U0", base, src)
    assert bb.request("GET", f"{REPO}/diff/{src}..{dst}?path=docs/usage.md", auth=demo.token).body == \
        git_oracle(bb, demo, "diff", base, src, "--", "docs/usage.md")
    single = bb.request("GET", f"{REPO}/diff/{src}", auth=demo.token).body  # one commit: against its first parent
    assert single == git_oracle(bb, demo, "diff", f"{src}^", src)
    assert bb.request("GET", f"{REPO}/diff/feature%2Fgreeting..main", auth=demo.token).body == \
        git_oracle(bb, demo, "diff", base, src)
    assert bb.request("GET", f"{REPO}/diff/deadbeef0000..{dst}", auth=demo.token).status == 404
    # a double-encoded %0D is not a separator (§9.1)
    assert bb.request("GET", f"{REPO}/diff/acme/webapp:{src[:12]}%250D{dst[:12]}", auth=demo.token).status == 404


def test_diff_ignore_whitespace(bb: FakeBitbucket, demo: Demo) -> None:
    repo = demo.repository
    bb.commit(repo, "ws", {"app.py": repo.git.run("show", "main:app.py").decode().replace("    return", "      return")},
              author=demo.author, notify=False)
    tip = repo.git.branches["ws"]
    main = repo.git.branches["main"]
    assert bb.request("GET", f"{REPO}/diff/{tip}..{main}", auth=demo.token).body != b""
    assert bb.request("GET", f"{REPO}/diff/{tip}..{main}?ignore_whitespace=true", auth=demo.token).body == \
        git_oracle(bb, demo, "diff", "-w", main, tip)


def test_diffstat_patch_commits_and_src(bb: FakeBitbucket, demo: Demo) -> None:
    pr = demo.pull_request
    location = bb.request("GET", f"{REPO}/pullrequests/1/diffstat", auth=demo.token).headers["location"]
    stat = bb.request("GET", location, auth=demo.token).json()
    assert stat["pagelen"] == 500 and stat["size"] == 2
    by_status = {v["status"]: v for v in stat["values"]}
    modified, added = by_status["modified"], by_status["added"]
    assert modified["type"] == "diffstat" and modified["lines_added"] == 6 and modified["lines_removed"] == 2
    assert modified["old"]["type"] == "commit_file" and modified["old"]["path"] == "app.py"
    assert modified["new"]["escaped_path"] == "app.py" and "/src/" in modified["new"]["links"]["self"]["href"]
    assert added["old"] is None and added["new"]["path"] == "docs/usage.md"
    assert bb.request("GET", f"{location}&pagelen=5001", auth=demo.token).json()["pagelen"] == 5000

    patch = bb.request("GET", f"{REPO}/patch/{pr.source_commit}..{pr.destination_commit}", auth=demo.token).text
    assert patch.count("\nSubject: [PATCH") == 2 and "diff --git a/app.py b/app.py" in patch

    commits = bb.request("GET", f"{REPO}/pullrequests/1/commits", auth=demo.token).json()
    messages = [c["message"].strip() for c in commits["values"]]
    assert messages == ["Excited greetings", "Document greetings"]  # chronological (§6.4)
    assert all(HEX40.match(c["hash"]) for c in commits["values"])
    commit = bb.request("GET", f"{REPO}/commit/{pr.source_commit[:12]}", auth=demo.token).json()
    assert commit["type"] == "commit" and commit["hash"] == pr.source_commit  # full 40 chars (§1)
    assert commit["author"]["raw"] == "Emma Developer <emma@example.com>" and commit["author"]["user"]["nickname"] == "emma"
    assert HEX40.match(commit["parents"][0]["hash"])
    log = bb.request("GET", f"{REPO}/commits/main", auth=demo.token).json()
    assert [c["message"].strip() for c in log["values"]] == ["Add debug flag", "Initial commit"]

    src = bb.request("GET", f"{REPO}/src/{pr.source_commit}/docs/usage.md", auth=demo.token)
    assert src.status == 200 and src.body == b"Call greet(name, excited=True).\n"
    listing = bb.request("GET", f"{REPO}/src/{pr.source_commit[:12]}/", auth=demo.token).json()
    kinds = {v["path"]: v["type"] for v in listing["values"]}
    assert kinds == {"README.md": "commit_file", "app.py": "commit_file", "docs": "commit_directory"}
    assert bb.request("GET", f"{REPO}/src/{pr.source_commit}/nope.txt", auth=demo.token).status == 404


# -- comments (§6.5) --------------------------------------------------------------------------------


def post_comment(bb: FakeBitbucket, demo: Demo, body: dict, token=None):
    return bb.request("POST", f"{REPO}/pullrequests/1/comments", auth=token or demo.token, json_body=body)


def test_comment_shapes(bb: FakeBitbucket, demo: Demo) -> None:
    r = post_comment(bb, demo, {"content": {"raw": "Looks **good**"}})
    assert r.status == 201
    c = r.json()
    assert c["type"] == "pullrequest_comment" and isinstance(c["id"], int)
    assert c["content"] == {"type": "rendered", "raw": "Looks **good**", "markup": "markdown",
                            "html": "<p>Looks <strong>good</strong></p>"}
    assert c["deleted"] is False and c["pending"] is False and "inline" not in c and "parent" not in c
    assert c["pullrequest"]["id"] == 1 and c["links"]["self"]["href"].endswith(f"/pullrequests/1/comments/{c['id']}")
    assert c["links"]["html"]["href"] == f"https://bitbucket.org/acme/webapp/pull-requests/1/_/diff#comment-{c['id']}"
    inline = post_comment(bb, demo, {"content": {"raw": "Rename?"}, "inline": {"path": "app.py", "to": 6}}).json()
    assert inline["inline"] == {"path": "app.py", "from": None, "to": 6, "start_from": None, "start_to": None,
                                "outdated": False, "context_lines": ""}
    reply = post_comment(bb, demo, {"content": {"raw": "Sure"}, "parent": {"id": inline["id"]}}).json()
    assert reply["parent"]["id"] == inline["id"]
    ranged = post_comment(bb, demo, {"content": {"raw": "Block"}, "inline": {"path": "app.py", "start_to": 6, "to": 8}})
    assert ranged.status == 201 and ranged.json()["inline"]["start_to"] == 6  # stored and echoed (§6.5)
    got = bb.request("GET", f"{REPO}/pullrequests/1/comments/{inline['id']}", auth=demo.token).json()
    assert got == inline
    pr = bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).json()
    assert pr["comment_count"] == 4
    assert any(p["user"]["uuid"] == demo.admin.uuid for p in pr["participants"])


@pytest.mark.parametrize(
    ("inline", "message"),
    [
        ({"path": "app.py", "start_to": 9, "to": 6}, '"start_to" must be less than or equal to "to"'),
        ({"path": "app.py", "start_from": 5, "from": 4}, '"start_from" must be less than or equal to "from"'),
    ],
)
def test_inverted_inline_range_is_400(bb: FakeBitbucket, demo: Demo, inline: dict, message: str) -> None:
    r = post_comment(bb, demo, {"content": {"raw": "x"}, "inline": inline})
    assert r.status == 400 and r.json()["error"]["message"] == message


@pytest.mark.parametrize(
    "body",
    [
        {"content": {"raw": "x"}, "inline": {"to": 3}},  # path required
        {"content": {"raw": "x"}, "inline": {"path": "app.py", "to": 0}},  # >= 1
        {"content": {"raw": "x"}, "inline": {"path": "app.py", "to": None}},  # no nulls (§6.5 [T])
        {"content": {"raw": "x"}, "type": "pullrequest_comment"},  # no top-level type
        {"content": {"raw": ""}},
        {"inline": {"path": "app.py", "to": 3}},
        {"content": {"raw": "x"}, "parent": {"id": 999999}},
    ],
)
def test_comment_validation(bb: FakeBitbucket, demo: Demo, body: dict) -> None:
    r = post_comment(bb, demo, body)
    assert r.status == 400 and r.json()["type"] == "error"


def test_oversized_comment_gets_html_400(bb: FakeBitbucket, demo: Demo) -> None:
    r = post_comment(bb, demo, {"content": {"raw": "x" * 40_000}})
    assert r.status == 400 and r.headers["content-type"].startswith("text/html")
    assert b"Bad Request (400)" in r.body


def test_deleted_comments_stay_listed(bb: FakeBitbucket, demo: Demo) -> None:
    ids = [post_comment(bb, demo, {"content": {"raw": f"c{i}"}}).json()["id"] for i in range(12)]
    assert bb.request("DELETE", f"{REPO}/pullrequests/1/comments/{ids[0]}", auth=demo.token).status == 204
    page = bb.request("GET", f"{REPO}/pullrequests/1/comments", auth=demo.token).json()
    assert page["pagelen"] == 10 and len(page["values"]) == 10 and "next" in page  # default 10 (§4.1)
    first = page["values"][0]
    assert first["id"] == ids[0] and first["deleted"] is True and first["content"]["raw"] == ""
    assert [c["id"] for c in page["values"]] == ids[:10]  # oldest first
    rest = bb.request("GET", page["next"], auth=demo.token).json()
    assert [c["id"] for c in rest["values"]] == ids[10:]
    q = quote("deleted = false")
    assert bb.request("GET", f"{REPO}/pullrequests/1/comments?q={q}&pagelen=100", auth=demo.token).json()["size"] == 11
    assert bb.request("DELETE", f"{REPO}/pullrequests/1/comments/{ids[1]}",
                      auth=bb.add_api_token(demo.author)).status == 403


def test_comment_update_and_pending(bb: FakeBitbucket, demo: Demo) -> None:
    c = post_comment(bb, demo, {"content": {"raw": "v1"}}).json()
    path = f"{REPO}/pullrequests/1/comments/{c['id']}"
    r = bb.request("PUT", path, auth=demo.token, json_body={"content": {"raw": "v2"}})
    assert r.status == 200 and r.json()["content"]["raw"] == "v2"
    r = bb.request("PUT", path, auth=demo.token, json_body={"content": {"raw": "v3"}, "pending": False})
    assert r.status == 400
    assert r.json()["error"]["fields"] == {"pending": "extra keys not allowed"}  # a string, not a list (§3)
    draft = post_comment(bb, demo, {"content": {"raw": "draft"}, "pending": True}).json()
    author_tok = bb.add_api_token(demo.author)
    theirs = bb.request("GET", f"{REPO}/pullrequests/1/comments", auth=author_tok).json()
    assert draft["id"] not in [x["id"] for x in theirs["values"]]
    assert bb.request("GET", f"{REPO}/pullrequests/1/comments/{draft['id']}", auth=author_tok).status == 404
    mine = bb.request("GET", f"{REPO}/pullrequests/1/comments", auth=demo.token).json()
    assert draft["id"] in [x["id"] for x in mine["values"]]


def test_resolve_and_reopen_codes(bb: FakeBitbucket, demo: Demo) -> None:
    inline = post_comment(bb, demo, {"content": {"raw": "fix"}, "inline": {"path": "app.py", "to": 6}}).json()
    base = f"{REPO}/pullrequests/1/comments"
    assert bb.request("DELETE", f"{base}/{inline['id']}/resolve", auth=demo.token).status == 404  # not resolved
    r = bb.request("POST", f"{base}/{inline['id']}/resolve", auth=demo.token)
    assert r.status == 200
    assert r.json()["type"] == "comment_resolution" and r.json()["user"]["uuid"] == demo.admin.uuid and r.json()["created_on"]
    assert bb.request("GET", f"{base}/{inline['id']}", auth=demo.token).json()["resolution"]["type"] == "comment_resolution"
    assert bb.request("POST", f"{base}/{inline['id']}/resolve", auth=demo.token).status == 409
    assert bb.request("DELETE", f"{base}/{inline['id']}/resolve", auth=demo.token).status == 204
    assert "resolution" not in bb.request("GET", f"{base}/{inline['id']}", auth=demo.token).json()
    reply = post_comment(bb, demo, {"content": {"raw": "ok"}, "parent": {"id": inline["id"]}}).json()
    assert bb.request("POST", f"{base}/{reply['id']}/resolve", auth=demo.token).status == 403  # not top-level
    general = post_comment(bb, demo, {"content": {"raw": "general"}}).json()
    assert bb.request("POST", f"{base}/{general['id']}/resolve", auth=demo.token).status == 403
    off_diff = post_comment(bb, demo, {"content": {"raw": "old line"}, "inline": {"path": "app.py", "to": 1}})
    assert off_diff.status == 201  # accepted (§9.4) ...
    assert bb.request("POST", f"{base}/{off_diff.json()['id']}/resolve", auth=demo.token).status == 403  # ... not on the diff
    bb.quirks.reject_inline_outside_diff = True
    assert post_comment(bb, demo, {"content": {"raw": "x"}, "inline": {"path": "app.py", "to": 1}}).status == 400


def test_outdated_after_push(bb: FakeBitbucket, demo: Demo) -> None:
    c = post_comment(bb, demo, {"content": {"raw": "fix"}, "inline": {"path": "docs/usage.md", "to": 1}}).json()
    bb.commit(demo.repository, "feature/greeting", {"docs/usage.md": "Changed.\n"}, author=demo.author)
    got = bb.request("GET", f"{REPO}/pullrequests/1/comments/{c['id']}", auth=demo.token).json()
    assert got["inline"]["outdated"] is True
    pr = bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).json()
    assert pr["source"]["commit"]["hash"] == demo.repository.git.branches["feature/greeting"][:12]


def test_tasks(bb: FakeBitbucket, demo: Demo) -> None:
    base = f"{REPO}/pullrequests/1/tasks"
    r = bb.request("POST", base, auth=demo.token, json_body={"content": {"raw": "Add tests"}})
    assert r.status == 201
    t = r.json()
    assert t["state"] == "UNRESOLVED" and t["content"]["raw"] == "Add tests" and t["creator"]["uuid"] == demo.admin.uuid
    assert bb.request("POST", base, auth=demo.token, json_body={"content": {"raw": " "}}).status == 400
    assert bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).json()["task_count"] == 1
    r = bb.request("PUT", f"{base}/{t['id']}", auth=demo.token, json_body={"state": "RESOLVED"})
    assert r.json()["state"] == "RESOLVED" and r.json()["resolved_by"]["uuid"] == demo.admin.uuid
    assert bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).json()["task_count"] == 0
    assert [x["id"] for x in bb.request("GET", base, auth=demo.token).json()["values"]] == [t["id"]]
    assert bb.request("DELETE", f"{base}/{t['id']}", auth=demo.token).status == 204
    assert bb.request("GET", f"{base}/{t['id']}", auth=demo.token).status == 404


def test_activity(bb: FakeBitbucket, demo: Demo) -> None:
    post_comment(bb, demo, {"content": {"raw": "hi"}})
    bb.approve(demo.pull_request, demo.admin)
    body = bb.request("GET", f"{REPO}/pullrequests/1/activity?pagelen=2", auth=demo.token).json()
    assert "approval" in body["values"][0] and "comment" in body["values"][1]  # newest first
    assert "ctx=" in body["next"]
    rest = bb.request("GET", body["next"], auth=demo.token).json()
    assert "update" in rest["values"][0] and rest["values"][0]["update"]["state"] == "OPEN"


# -- statuses and Code Insights (§6.8, §6.9) ---------------------------------------------------------


def test_commit_statuses(bb: FakeBitbucket, demo: Demo) -> None:
    pr = demo.pull_request
    base = f"{REPO}/commit/{pr.source_commit}/statuses"
    body = {"key": "REVIEW-BOT", "state": "INPROGRESS", "name": "Review", "url": "https://bot/{repository.full_name}/{commit}",
            "refname": pr.source_branch}
    r = bb.request("POST", f"{base}/build", auth=demo.token, json_body=body)
    assert r.status == 201
    s = r.json()
    assert s["type"] == "build" and s["state"] == "INPROGRESS" and s["commit"]["hash"] == pr.source_commit
    assert s["url"] == f"https://bot/acme/webapp/{pr.source_commit}"
    r = bb.request("POST", f"{base}/build", auth=demo.token, json_body=dict(body, state="SUCCESSFUL"))
    assert r.status == 201  # same key overwrites
    listed = bb.request("GET", base, auth=demo.token).json()["values"]
    assert [x["state"] for x in listed] == ["SUCCESSFUL"]
    assert bb.request("GET", f"{REPO}/pullrequests/1/statuses", auth=demo.token).json()["values"][0]["key"] == "REVIEW-BOT"
    assert bb.request("PUT", f"{base}/build/REVIEW-BOT", auth=demo.token, json_body={"state": "FAILED"}).json()["state"] == "FAILED"
    assert bb.request("POST", f"{base}/build", auth=demo.token, json_body={"key": "x", "state": "MAYBE"}).status == 400
    read_only = bb.add_api_token(demo.admin, scopes={"read:repository", "read:pullrequest"})
    r = bb.request("POST", f"{base}/build", auth=read_only, json_body=body)
    assert r.status == 403  # Quirks.enforce_write_scope_for_statuses


def annotation(i: int) -> dict:
    return {"external_id": f"a-{i}", "annotation_type": "BUG", "summary": f"issue {i}", "path": "app.py",
            "line": 1 + i % 10, "severity": "LOW", "result": "FAILED"}


def test_code_insights_limits(bb: FakeBitbucket, demo: Demo) -> None:
    commit = demo.pull_request.source_commit
    base = f"{REPO}/commit/{commit}/reports/reviewbot-001"
    report = {"title": "Review", "details": "bbreview findings", "report_type": "BUG", "result": "FAILED",
              "data": [{"title": "Findings", "type": "NUMBER", "value": 3}]}
    r = bb.request("PUT", base, auth=demo.token, json_body=report)
    assert r.status == 200 and r.json()["type"] == "report" and r.json()["external_id"] == "reviewbot-001"
    assert UUID.match(r.json()["uuid"])
    too_much_data = dict(report, data=[{"title": str(i), "type": "NUMBER", "value": i} for i in range(11)])
    assert bb.request("PUT", base, auth=demo.token, json_body=too_much_data).status == 400
    r = bb.request("POST", f"{base}/annotations", auth=demo.token, json_body=[annotation(i) for i in range(101)])
    assert r.status == 400
    dup = [annotation(1), annotation(1)]
    assert bb.request("POST", f"{base}/annotations", auth=demo.token, json_body=dup).status == 400
    for chunk in range(10):
        batch = [annotation(chunk * 100 + i) for i in range(100)]
        r = bb.request("POST", f"{base}/annotations", auth=demo.token, json_body=batch)
        assert r.status == 200 and len(r.json()) == 100
    assert r.json()[0]["type"] == "report_annotation" and UUID.match(r.json()[0]["uuid"])
    r = bb.request("POST", f"{base}/annotations", auth=demo.token, json_body=[annotation(5000)])
    assert r.status == 400  # 1000 per report
    r = bb.request("POST", f"{base}/annotations", auth=demo.token, json_body=[dict(annotation(0), summary="updated")])
    assert r.status == 200  # an existing external id is updated, not added
    page = bb.request("GET", f"{base}/annotations?pagelen=100", auth=demo.token).json()
    assert page["size"] == 1000
    one = bb.request("GET", f"{base}/annotations/a-0", auth=demo.token).json()
    assert one["summary"] == "updated"
    assert bb.request("DELETE", f"{base}/annotations/a-0", auth=demo.token).status == 204
    assert bb.request("DELETE", base, auth=demo.token).status == 204
    assert bb.request("GET", f"{base}/annotations", auth=demo.token).status == 404
    assert bb.request("GET", f"{REPO}/commit/{commit}/reports", auth=demo.token).json()["values"] == []


# -- webhooks CRUD (§6.10) ----------------------------------------------------------------------------


def test_webhook_crud_with_secret_set(bb: FakeBitbucket, demo: Demo) -> None:
    body = {"description": "review bot", "url": "http://127.0.0.1:9/bitbucketHandler", "active": True,
            "secret": "It's a Secret to Everybody", "events": ["pullrequest:created", "pullrequest:comment_created"]}
    r = bb.request("POST", f"{REPO}/hooks", auth=demo.token, json_body=body)
    assert r.status == 201
    hook = r.json()
    assert hook["type"] == "webhook_subscription" and UUID.match(hook["uuid"])
    assert hook["secret_set"] is True and "secret" not in hook and "Secret" not in r.text
    assert hook["subject_type"] == "repository" and hook["subject"]["full_name"] == "acme/webapp"
    assert hook["skip_cert_verification"] is False and hook["events"] == body["events"]
    assert hook["links"]["self"]["href"].endswith(f"/hooks/{quote(hook['uuid'], safe='')}")
    path = f"{REPO}/hooks/{quote(hook['uuid'], safe='')}"
    assert bb.request("GET", path, auth=demo.token).json() == hook
    listed = bb.request("GET", f"{REPO}/hooks", auth=demo.token).json()
    assert [h["uuid"] for h in listed["values"]] == [hook["uuid"]]
    r = bb.request("PUT", path, auth=demo.token, json_body={"description": "renamed"})
    assert r.json()["secret_set"] is True and r.json()["description"] == "renamed"  # omitted secret: unchanged
    r = bb.request("PUT", path, auth=demo.token, json_body={"secret": None})
    assert r.json()["secret_set"] is False  # null: removed
    assert bb.request("DELETE", path, auth=demo.token).status == 204
    assert bb.request("GET", path, auth=demo.token).status == 404
    # the secret never reaches the request log
    assert all("Secret to Everybody" not in rec.body.decode() for rec in bb.requests)


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://127.0.0.1:9/", "events": []},
        {"url": "http://127.0.0.1:9/", "events": ["pullrequest:merged"]},  # not an event (§7.4)
        {"url": "http://127.0.0.1:9/", "events": ["repo:push", "repo:push"]},
        {"url": "not a url", "events": ["repo:push"]},
        {"url": "http://127.0.0.1:9/", "events": ["repo:push"], "secret": "s" * 129},
    ],
)
def test_webhook_validation(bb: FakeBitbucket, demo: Demo, body: dict) -> None:
    r = bb.request("POST", f"{REPO}/hooks", auth=demo.token, json_body=body)
    assert r.status == 400 and r.json()["error"]["fields"]


def test_workspace_hooks_are_owner_only(bb: FakeBitbucket, demo: Demo) -> None:
    body = {"url": "http://127.0.0.1:9/", "events": ["repo:push"]}
    r = bb.request("POST", "/workspaces/acme/hooks", auth=demo.token, json_body=body)
    assert r.status == 201 and r.json()["subject_type"] == "workspace"
    member = bb.add_api_token(demo.author)
    assert bb.request("POST", "/workspaces/acme/hooks", auth=member, json_body=body).status == 403


def test_private_hook_urls_can_be_refused(bb: FakeBitbucket, demo: Demo) -> None:
    bb.quirks.allow_private_hook_urls = False
    r = bb.request("POST", f"{REPO}/hooks", auth=demo.token, json_body={"url": "http://127.0.0.1:9/", "events": ["repo:push"]})
    assert r.status == 400


def test_hook_events_are_public(bb: FakeBitbucket) -> None:
    r = bb.request("GET", "/hook_events/repository?pagelen=100")
    assert r.status == 200
    events = {e["event"] for e in r.json()["values"]}
    assert {"pullrequest:created", "pullrequest:fulfilled", "repo:push", "pullrequest:comment_resolved"} <= events


# -- transport details ----------------------------------------------------------------------------------


def raw_http(bb: FakeBitbucket, data: bytes) -> bytes:
    with socket.create_connection((bb.host, bb.port), timeout=5) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_write_without_content_length_is_411(bb: FakeBitbucket, demo: Demo) -> None:
    auth = demo.token.basic_auth()
    out = raw_http(bb, f"POST /2.0{REPO}/pullrequests/1/approve HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: {auth}\r\nConnection: close\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 411 ")


def test_malformed_and_oversized_requests(bb: FakeBitbucket) -> None:
    assert raw_http(bb, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    huge = b"GET /2.0/user HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert raw_http(bb, huge).startswith(b"HTTP/1.1 431 ")
    assert bb.request("GET", "/nothing/here").status == 404
    assert bb.request("PATCH", "/user").status == 405


def test_keep_alive_pipelined_requests(bb: FakeBitbucket, demo: Demo) -> None:
    auth = demo.token.basic_auth()
    one = f"GET /2.0/user HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n".encode()
    last = f"GET /2.0/user HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n".encode()
    out = raw_http(bb, one + one + last)
    assert out.count(b"HTTP/1.1 200 OK") == 3


def test_recorded_requests_redact_credentials(bb: FakeBitbucket, demo: Demo) -> None:
    bb.request("GET", "/user", auth=demo.token)
    rec = bb.requests[-1]
    assert rec.method == "GET" and rec.path == "/2.0/user" and rec.status == 200
    assert rec.headers["authorization"] == "Basic <redacted>"
    assert rec.identity == f"user:{demo.admin.uuid}"
    assert demo.token.token not in repr(demo.token) and demo.token.token not in repr(rec)
    assert demo.token.token not in json.dumps(rec.headers)
    hook = bb.add_hook(demo.repository, "http://127.0.0.1:9/", ["repo:push"], secret="hunter2")
    assert "hunter2" not in repr(hook)


def test_seeded_emulators_are_reproducible() -> None:
    hashes = []
    for _ in range(2):
        with FakeBitbucket(seed=7) as bb:
            demo = seed_demo(bb)
            hashes.append((demo.pull_request.source_commit, demo.token.token, demo.admin.uuid))
    assert hashes[0] == hashes[1]


def test_quirks_defaults_are_the_strict_choices() -> None:
    q = Quirks()
    assert not q.accept_api_token_as_bearer and q.enforce_write_scope_for_statuses
    assert not q.forward_diff_params_on_redirect and q.deprecated_endpoints == "gone"
    assert not q.webhook_request_uuid_stable and q.put_without_reviewers_clears


def test_bulk_pull_requests_and_warm_cache(bb: FakeBitbucket, demo: Demo) -> None:
    prs = bb.add_pull_requests(demo.repository, 30, author=demo.author)
    assert [pr.id for pr in prs] == list(range(2, 32))
    assert bb.warm_cache(prs) == 30
    page = bb.request("GET", f"{REPO}/pullrequests?pagelen=50", auth=demo.token).json()
    assert page["size"] == 31
    location = bb.request("GET", f"{REPO}/pullrequests/17/diff", auth=demo.token).headers["location"]
    before = len(bb._cache)
    diff = bb.request("GET", location, auth=demo.token)
    assert diff.status == 200 and b"module_15.py" in diff.body
    assert len(bb._cache) == before  # served from the warmed cache


def test_quirks_can_change_while_running(bb: FakeBitbucket, demo: Demo) -> None:
    read_only = bb.add_api_token(demo.admin, scopes={"read:repository"})
    path = f"{REPO}/commit/{demo.pull_request.source_commit}/statuses/build"
    body = {"key": "K", "state": "SUCCESSFUL"}
    assert bb.request("POST", path, auth=read_only, json_body=body).status == 403
    bb.quirks.enforce_write_scope_for_statuses = False
    assert bb.request("POST", path, auth=read_only, json_body=body).status == 201
