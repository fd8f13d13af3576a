"""Routing and endpoint handlers of the emulated REST API 2.0 (reference §2-§6).

``Api.dispatch`` is a function from a request to a response, run under the
emulator's lock. Endpoints that need git on a cache miss return a callable
instead; the emulator runs it on a worker thread, outside the lock, so that a
slow git command never blocks the event loop.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from bbreview.testing._bbql import QueryError, apply_fields, compile_query, sort_objects
from bbreview.testing._errors import (
    BAD_LOGIN_BODY,
    BAD_TOKEN_MESSAGE,
    RATE_LIMIT_BODY,
    SCOPE_MESSAGE,
    EmulatorError,
    error_body,
    json_response,
)
from bbreview.testing._http import HttpRequest, HttpResponse
from bbreview.testing._model import (
    PERMISSION_RANK,
    Annotation,
    BuildStatus,
    Comment,
    Hook,
    PullRequest,
    Report,
    Repository,
    User,
    Workspace,
)

if TYPE_CHECKING:
    from bbreview.testing.fake import FakeBitbucket, RecordedRequest, _Identity

__all__ = ["Api"]

#: Default and maximum ``pagelen`` (§4.1).
DEFAULT_PAGELEN = 10
MAX_PAGELEN = 100
#: The PR list refuses ``pagelen`` above 50 with "Invalid pagelen" (§4.1).
PR_LIST_MAX_PAGELEN = 50
#: Diffstat pages (§4.1).
DIFFSTAT_DEFAULT_PAGELEN = 500
DIFFSTAT_MAX_PAGELEN = 5000
#: Code Insights limits (§6.9).
MAX_ANNOTATIONS_PER_REQUEST = 100
MAX_ANNOTATIONS_PER_REPORT = 1000
MAX_REPORT_DATA = 10

_WRITE_METHODS = ("POST", "PUT", "PATCH")
_CLASSIC_IMPLIES = {
    "pullrequest:write": ("pullrequest", "repository"),
    "pullrequest": ("repository",),
    "repository:admin": ("repository:write", "repository"),
    "repository:write": ("repository",),
    "repository:delete": ("repository",),
    "project:admin": ("project",),
    "pipeline:write": ("pipeline",),
    "runner:write": ("runner",),
}


@dataclass(frozen=True)
class Scopes:
    """What an endpoint requires (§2.8): fine-grained names for API tokens, classic for access tokens."""

    api: tuple[str, ...] = ()
    classic: tuple[str, ...] = ()
    #: Credential kinds allowed; the others get 403 (the endpoint is "declared for api-token only").
    api_token_only: bool = False
    #: False for public endpoints (``/hook_events``).
    auth: bool = True


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Any]
    scopes: Scopes | Callable[[], Scopes]  # a callable when a Quirks flag decides
    group: str | None  # rate-limit group: "api", "webhook" or None


@dataclass
class Ctx:
    req: HttpRequest
    args: dict[str, str]
    params: list[tuple[str, str]]
    identity: _Identity
    route: Route

    def param(self, name: str, default: str | None = None) -> str | None:
        for k, v in reversed(self.params):
            if k == name:
                return v
        return default

    def params_all(self, name: str) -> list[str]:
        return [v for k, v in self.params if k == name]

    def flag(self, name: str, default: bool) -> bool:
        value = self.param(name)
        if value is None:
            return default
        return value.lower() in ("true", "1", "yes", "")

    @property
    def user(self) -> User | None:
        return self.identity.user

    def json(self) -> Any:
        if not self.req.body:
            return {}
        try:
            return json.loads(self.req.body)
        except ValueError:
            raise EmulatorError(400, "Bad request", "The request body is not valid JSON.") from None


def _seg(name: str) -> str:
    return f"(?P<{name}>[^/]+)"


R = "/2.0/repositories/" + _seg("ws") + "/" + _seg("repo")
PR = R + "/pullrequests/" + r"(?P<pr>\d+)"
COMMIT = R + "/commit/" + _seg("commit")

READ_PR = Scopes(("read:pullrequest",), ("pullrequest",))
WRITE_PR = Scopes(("read:pullrequest", "write:pullrequest"), ("pullrequest:write",))
READ_REPO = Scopes(("read:repository",), ("repository",))


class Api:
    """The emulated endpoints. Every handler takes a Ctx and returns a response or a deferred callable."""

    def __init__(self, em: FakeBitbucket) -> None:
        self.em = em
        self.routes: list[Route] = []
        a = self._add
        # identity and workspaces (§2.5, §6.1)
        a("GET", "/2.0/user", self.get_user, Scopes(("read:user",), ("account",), api_token_only=True))
        a("GET", "/2.0/user/emails", self.get_user_emails, Scopes(("read:user",), ("email",), api_token_only=True))
        a("GET", "/2.0/user/workspaces", self.list_user_workspaces,
          Scopes(("read:workspace",), ("account",), api_token_only=True))
        a("GET", "/2.0/user/workspaces/" + _seg("ws") + "/permission", self.get_workspace_permission,
          Scopes(("read:workspace",), ("account",), api_token_only=True))
        a("GET", "/2.0/user/workspaces/" + _seg("ws") + "/permissions/repositories", self.list_repo_permissions,
          Scopes(("read:repository",), ("account", "repository"), api_token_only=True))
        a("GET", "/2.0/workspaces", self.deprecated(self.list_workspaces_deprecated),
          Scopes(("read:workspace",), ("account",)))
        a("GET", "/2.0/user/permissions/workspaces", self.deprecated(self.list_workspace_memberships_deprecated),
          Scopes(("read:workspace",), ("account",), api_token_only=True))
        a("GET", "/2.0/user/permissions/repositories", self.deprecated(self.list_repo_permissions_deprecated),
          Scopes(("read:repository",), ("account", "repository"), api_token_only=True))
        a("GET", "/2.0/repositories", self.deprecated(self.list_public_repositories), READ_REPO, "api")
        a("GET", "/2.0/workspaces/" + _seg("ws"), self.get_workspace, Scopes(("read:workspace",), ("account",)))
        a("GET", "/2.0/workspaces/" + _seg("ws") + "/members", self.list_members,
          Scopes(("read:workspace",), ("account",)))
        # repositories (§6.2)
        a("GET", "/2.0/repositories/" + _seg("ws"), self.list_repositories, READ_REPO, "api")
        a("GET", R, self.get_repository, READ_REPO, "api")
        # pull requests (§6.3)
        a("GET", R + "/pullrequests", self.list_prs, READ_PR, "api")
        a("POST", R + "/pullrequests", self.create_pr, WRITE_PR, "api")
        a("GET", R + "/pullrequests/activity", self.repo_activity, READ_PR, "api")
        a("GET", PR, self.get_pr, READ_PR, "api")
        a("PUT", PR, self.update_pr, WRITE_PR, "api")
        a("POST", PR + "/merge", self.merge_pr, WRITE_PR, "api")
        a("POST", PR + "/decline", self.decline_pr, WRITE_PR, "api")
        a("GET", PR + "/diff", self.pr_redirect("diff"), READ_PR, "api")
        a("GET", PR + "/diffstat", self.pr_redirect("diffstat"), READ_PR, "api")
        a("GET", PR + "/patch", self.pr_redirect("patch"), READ_PR, "api")
        a("GET", PR + "/commits", self.pr_commits, READ_PR, "api")
        a("GET", PR + "/activity", self.pr_activity, READ_PR, "api")
        a("GET", PR + "/statuses", self.pr_statuses, READ_PR, "api")
        # approvals (§6.7)
        a("POST", PR + "/approve", self.approve, WRITE_PR, "api")
        a("DELETE", PR + "/approve", self.unapprove, Scopes(("write:pullrequest",), ("pullrequest:write",)), "api")
        a("POST", PR + "/request-changes", self.request_changes, WRITE_PR, "api")
        a("DELETE", PR + "/request-changes", self.remove_change_request,
          Scopes(("write:pullrequest",), ("pullrequest:write",)), "api")
        # comments (§6.5): read:pullrequest even for writes, as §2.8 declares
        a("GET", PR + "/comments", self.list_comments, READ_PR, "api")
        a("POST", PR + "/comments", self.create_comment, READ_PR, "api")
        a("GET", PR + r"/comments/(?P<cid>\d+)", self.get_comment, READ_PR, "api")
        a("PUT", PR + r"/comments/(?P<cid>\d+)", self.update_comment, READ_PR, "api")
        a("DELETE", PR + r"/comments/(?P<cid>\d+)", self.delete_comment, READ_PR, "api")
        a("POST", PR + r"/comments/(?P<cid>\d+)/resolve", self.resolve_comment, READ_PR, "api")
        a("DELETE", PR + r"/comments/(?P<cid>\d+)/resolve", self.reopen_comment, READ_PR, "api")
        # tasks (§6.6)
        a("GET", PR + "/tasks", self.list_tasks, READ_PR, "api")
        a("POST", PR + "/tasks", self.create_task, READ_PR, "api")
        a("GET", PR + r"/tasks/(?P<tid>\d+)", self.get_task, READ_PR, "api")
        a("PUT", PR + r"/tasks/(?P<tid>\d+)", self.update_task, READ_PR, "api")
        a("DELETE", PR + r"/tasks/(?P<tid>\d+)", self.delete_task, READ_PR, "api")
        # diffs, files, commits (§6.4)
        a("GET", R + "/diff/(?P<spec>.+)", self.diff, READ_REPO, "api")
        a("GET", R + "/diffstat/(?P<spec>.+)", self.diffstat, READ_REPO, "api")
        a("GET", R + "/patch/(?P<spec>.+)", self.patch, READ_REPO, "api")
        a("GET", R + "/commits", self.list_commits, READ_REPO, "api")
        a("GET", R + "/commits/(?P<rev>.+)", self.list_commits, READ_REPO, "api")
        a("GET", COMMIT, self.get_commit, READ_REPO, "api")
        a("GET", R + "/src/" + _seg("commit") + "/(?P<path>.*)", self.src, READ_REPO, "api")
        a("GET", R + "/refs/branches", self.list_branches, READ_REPO, "api")
        # statuses and Code Insights (§6.8, §6.9)
        a("GET", COMMIT + "/statuses", self.list_statuses, READ_REPO, "api")
        a("POST", COMMIT + "/statuses/build", self.create_status, self._write_repo_scopes, "api")
        a("GET", COMMIT + "/statuses/build/" + _seg("key"), self.get_status, READ_REPO, "api")
        a("PUT", COMMIT + "/statuses/build/" + _seg("key"), self.update_status, self._write_repo_scopes, "api")
        a("GET", COMMIT + "/reports", self.list_reports, READ_REPO, "api")
        a("GET", COMMIT + "/reports/" + _seg("rid"), self.get_report, READ_REPO, "api")
        a("PUT", COMMIT + "/reports/" + _seg("rid"), self.put_report, self._write_repo_scopes, "api")
        a("DELETE", COMMIT + "/reports/" + _seg("rid"), self.delete_report, self._write_repo_scopes, "api")
        a("GET", COMMIT + "/reports/" + _seg("rid") + "/annotations", self.list_annotations, READ_REPO, "api")
        a("POST", COMMIT + "/reports/" + _seg("rid") + "/annotations", self.bulk_annotations,
          self._write_repo_scopes, "api")
        a("GET", COMMIT + "/reports/" + _seg("rid") + "/annotations/" + _seg("aid"), self.get_annotation,
          READ_REPO, "api")
        a("PUT", COMMIT + "/reports/" + _seg("rid") + "/annotations/" + _seg("aid"), self.put_annotation,
          self._write_repo_scopes, "api")
        a("DELETE", COMMIT + "/reports/" + _seg("rid") + "/annotations/" + _seg("aid"), self.delete_annotation,
          self._write_repo_scopes, "api")
        # webhooks (§6.10)
        read_hooks = Scopes(("read:webhook",), ("webhook",))
        write_hooks = Scopes(("read:webhook", "write:webhook"), ("webhook",))
        delete_hooks = Scopes(("delete:webhook",), ("webhook",))
        a("GET", R + "/hooks", self.list_hooks, read_hooks, "webhook")
        a("POST", R + "/hooks", self.create_hook, write_hooks, "webhook")
        a("GET", R + "/hooks/" + _seg("uid"), self.get_hook, read_hooks, "webhook")
        a("PUT", R + "/hooks/" + _seg("uid"), self.update_hook, write_hooks, "webhook")
        a("DELETE", R + "/hooks/" + _seg("uid"), self.delete_hook, delete_hooks, "webhook")
        W = "/2.0/workspaces/" + _seg("ws")
        a("GET", W + "/hooks", self.list_hooks, read_hooks, "webhook")
        a("POST", W + "/hooks", self.create_hook, write_hooks, "webhook")
        a("GET", W + "/hooks/" + _seg("uid"), self.get_hook, read_hooks, "webhook")
        a("PUT", W + "/hooks/" + _seg("uid"), self.update_hook, write_hooks, "webhook")
        a("DELETE", W + "/hooks/" + _seg("uid"), self.delete_hook, delete_hooks, "webhook")
        a("GET", "/2.0/hook_events", self.hook_event_subjects, Scopes(auth=False))
        a("GET", "/2.0/hook_events/" + _seg("subject"), self.hook_events, Scopes(auth=False))

    def _add(self, method: str, pattern: str, handler: Callable[..., Any],
             scopes: Scopes | Callable[[], Scopes], group: str | None = None) -> None:
        self.routes.append(Route(method, re.compile(pattern + "/?$"), handler, scopes, group))

    def _write_repo_scopes(self) -> Scopes:
        if self.em.quirks.enforce_write_scope_for_statuses:
            return Scopes(("read:repository", "write:repository"), ("repository", "repository:write"))
        return READ_REPO

    # -- dispatch --------------------------------------------------------------------------

    def dispatch(self, req: HttpRequest, rec: RecordedRequest) -> HttpResponse | Callable[[], HttpResponse]:
        """Answers ``req``. Must be called with the emulator's lock held."""
        if req.method == "OPTIONS":
            return HttpResponse(200, headers=_CORS + [
                ("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
                ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
            ])
        route, args, allowed = self._match(req)
        if route is None:
            if allowed:
                resp = json_response(405, error_body("Method not allowed"))
                resp.headers.append(("Allow", ", ".join(sorted(set(allowed)))))
                return resp
            return json_response(404, error_body(
                "Resource not found", "There is no API hosted at this URL."))
        identity = self._authenticate(req)
        if isinstance(identity, HttpResponse):
            return identity
        rec.identity = identity.key if identity.kind != "anonymous" else None
        scopes = route.scopes() if callable(route.scopes) else route.scopes
        headers = self._scope_headers(identity, scopes)
        if scopes.auth:
            if route.group is not None and not self.em._charge(identity, route.group):
                return HttpResponse(429, RATE_LIMIT_BODY, headers=headers, content_type="text/plain")
            denied = self._check_scopes(identity, scopes)
            if denied is not None:
                denied.headers.extend(headers)
                return denied
        if identity.kind == "access_token" and route.group == "api":
            headers.extend(self._scaled_headers(identity))
        if (req.method in _WRITE_METHODS and "content-length" not in req.headers
                and "chunked" not in req.headers.get("transfer-encoding", "").lower()
                and self.em.quirks.require_content_length):
            resp = json_response(411, error_body("Length Required"))
            resp.headers.extend(headers)
            return resp
        ctx = Ctx(req, args, parse_qsl(req.query, keep_blank_values=True), identity, route)
        try:
            result = route.handler(ctx)
        except EmulatorError as exc:
            result = exc.response()
        except QueryError as exc:
            result = json_response(400, error_body(str(exc)))
        if isinstance(result, HttpResponse):
            result.headers.extend(headers)
            result.headers.extend(_CORS)
            return result
        return functools.partial(self._finish_deferred, result, headers)

    @staticmethod
    def _finish_deferred(work: Callable[[], HttpResponse], headers: list[tuple[str, str]]) -> HttpResponse:
        try:
            resp = work()
        except EmulatorError as exc:
            resp = exc.response()
        resp.headers.extend(headers)
        resp.headers.extend(_CORS)
        return resp

    def _match(self, req: HttpRequest) -> tuple[Route | None, dict[str, str], list[str]]:
        allowed: list[str] = []
        method = "GET" if req.method == "HEAD" else req.method
        for route in self.routes:
            m = route.pattern.match(req.path)
            if m is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            args = {k: v for k, v in m.groupdict().items() if v is not None}
            return route, args, allowed
        return None, {}, allowed

    def fault_response(self, status: int) -> HttpResponse:
        """An injected server error; 555 carries the error JSON of §3."""
        if status == 555:
            return json_response(555, error_body("Service Timeout", "Timed out while generating the response."))
        if status == 429:
            return HttpResponse(429, RATE_LIMIT_BODY, content_type="text/plain")
        if status >= 500:
            return json_response(status, error_body("Something went wrong", "An internal error occurred."))
        return json_response(status, error_body("Injected error"))

    # -- authentication and scopes (§2) -----------------------------------------------------

    def _authenticate(self, req: HttpRequest) -> _Identity | HttpResponse:
        from bbreview.testing.fake import _Identity

        header = req.headers.get("authorization")
        if not header:
            return _Identity("anonymous", None, frozenset(), None, f"ip:{req.peer}")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                email, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sep, email, secret = "", "", ""
            tok = self.em.api_tokens.get(secret) if sep else None
            if tok is None or tok.user.email.lower() != email.lower():
                return HttpResponse(401, BAD_LOGIN_BODY, content_type="text/plain",
                                    headers=[("WWW-Authenticate", 'Basic realm="Bitbucket.org HTTP"')])
            if tok.expired or tok.revoked or not tok.scopes:
                return json_response(401, error_body(BAD_TOKEN_MESSAGE))
            return _Identity("api_token", tok.user, tok.scopes, "api_token", f"user:{tok.user.uuid}", tok)
        if scheme == "bearer":
            secret = value.strip()
            atok = self.em.access_tokens.get(secret)
            if atok is not None and not atok.revoked:
                return _Identity("access_token", atok.user, atok.scopes, atok.credential_type,
                                 f"token:{atok.user.uuid}", atok)
            api_tok = self.em.api_tokens.get(secret)
            if (api_tok is not None and self.em.quirks.accept_api_token_as_bearer
                    and not api_tok.expired and not api_tok.revoked and api_tok.scopes):
                return _Identity("api_token", api_tok.user, api_tok.scopes, "api_token",
                                 f"user:{api_tok.user.uuid}", api_tok)
            return json_response(401, error_body(BAD_TOKEN_MESSAGE))
        return HttpResponse(401, BAD_LOGIN_BODY, content_type="text/plain")

    def _granted(self, identity: _Identity) -> frozenset[str]:
        if identity.kind != "access_token" or not self.em.quirks.classic_scopes_imply:
            return identity.scopes
        out = set(identity.scopes)
        for scope in identity.scopes:
            out.update(_CLASSIC_IMPLIES.get(scope, ()))
        return frozenset(out)

    @staticmethod
    def _required(identity: _Identity, scopes: Scopes) -> list[str]:
        if identity.kind == "access_token":
            return list(scopes.classic)
        return [f"{s}:bitbucket" for s in scopes.api]

    def _scope_headers(self, identity: _Identity, scopes: Scopes) -> list[tuple[str, str]]:
        """The introspection headers of §2.6, on every authenticated response."""
        if identity.kind == "anonymous":
            return []
        granted = ", ".join(sorted(identity.scopes))  # comma-space: clients must trim (§2.6)
        return [
            ("x-oauth-scopes", granted),
            ("x-accepted-oauth-scopes", ", ".join(self._required(identity, scopes))),
            ("x-credential-type", identity.credential_type or ""),
        ]

    def _check_scopes(self, identity: _Identity, scopes: Scopes) -> HttpResponse | None:
        if identity.kind == "anonymous":
            return None
        required = self._required(identity, scopes)
        granted = self._granted(identity)
        if identity.kind == "access_token" and scopes.api_token_only:
            missing = True  # declared for api-token auth only: access tokens observe 403 (§2.2)
        else:
            missing = any(s not in granted for s in required)
        if not missing:
            return None
        detail: dict[str, Any] = {"required": required}
        if self.em.quirks.scope_error_includes_granted:
            detail["granted"] = sorted(identity.scopes)
        return json_response(403, error_body(SCOPE_MESSAGE, detail))

    def _scaled_headers(self, identity: _Identity) -> list[tuple[str, str]]:
        """Scaled rate-limit headers, sent for access tokens only (§5)."""
        limit = self.em.rate_limit
        if limit is None:
            return []
        used = self.em.rate_limit_used(identity.key, "api")
        near = (limit - used) < 0.2 * limit  # "below ~20 % remaining" [U]
        return [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Resource", "api"),
            ("X-RateLimit-NearLimit", "true" if near else "false"),
        ]

    # -- lookups -------------------------------------------------------------------------------

    def _workspace(self, ctx: Ctx, visible: bool = True) -> Workspace:
        key = unquote(ctx.args["ws"])
        ws = self.em.workspaces.get(key)
        if ws is None and key.startswith("{"):
            ws = next((w for w in self.em.workspaces.values() if w.uuid == key), None)
        if ws is None or (visible and not self._can_see_workspace(ctx.identity, ws)):
            raise EmulatorError(404, f"No workspace with identifier '{key}'.")
        return ws

    def _can_see_workspace(self, identity: _Identity, ws: Workspace) -> bool:
        user = identity.user
        if user is not None and user.uuid in ws.members:
            return True
        return any(self.em.permission(user, r) != "none" for r in ws.repositories.values())

    def _repo(self, ctx: Ctx, need: str = "read") -> Repository:
        """The repository named in the path, if the caller has ``need`` permission on it."""
        ws_key, repo_key = unquote(ctx.args["ws"]), unquote(ctx.args["repo"])
        ws = self.em.workspaces.get(ws_key)
        if ws is None and ws_key.startswith("{"):
            ws = next((w for w in self.em.workspaces.values() if w.uuid == ws_key), None)
        repo = None
        if ws is not None:
            repo = ws.repositories.get(repo_key)
            if repo is None and repo_key.startswith("{"):
                repo = next((r for r in ws.repositories.values() if r.uuid == repo_key), None)
        if repo is None:
            raise EmulatorError(404, f"Repository {ws_key}/{repo_key} not found")
        perm = self.em.permission(ctx.user, repo)
        if PERMISSION_RANK[perm] >= PERMISSION_RANK[need]:
            return repo
        if ctx.identity.kind == "anonymous":
            raise EmulatorError(401, "Access denied. You must be authenticated to access this repository.")
        if perm == "none":
            status = self.em.quirks.hidden_repository_status
            if status == 404:
                raise EmulatorError(404, f"Repository {ws_key}/{repo_key} not found")
            raise EmulatorError(403, "Access denied. You do not have permission to access this repository.")
        raise EmulatorError(403, f"Access denied. You must have {need} access to this repository.")

    def _pr(self, ctx: Ctx, need: str = "read") -> PullRequest:
        repo = self._repo(ctx, need)
        pr = repo.pull_requests.get(int(ctx.args["pr"]))
        if pr is None:
            raise EmulatorError(404, f"Pull request #{ctx.args['pr']} not found.")
        return pr

    def _comment(self, ctx: Ctx, pr: PullRequest) -> Comment:
        c = pr.comments.get(int(ctx.args["cid"]))
        if c is None or (c.pending and (ctx.user is None or c.user.uuid != ctx.user.uuid)):
            raise EmulatorError(404, "Comment not found.")
        return c

    def _actor(self, ctx: Ctx) -> User:
        if ctx.user is None:
            raise EmulatorError(401, "Access denied. You must be authenticated.")
        return ctx.user

    def _commit(self, ctx: Ctx, repo: Repository) -> str:
        rev = unquote(ctx.args["commit"])
        found = self._find_commit(repo, rev)
        if found is None:
            raise EmulatorError(404, f"Commit not found: {rev}")
        return found[0]

    def _find_commit(self, repo: Repository, rev: str) -> tuple[str, Repository] | None:
        """(full hash, repository holding it) of ``rev`` in ``repo``; in the rest of its fork
        network too with ``Quirks.fork_commits_visible_in_parent`` (else a fork's commit must be
        named with the fork's prefix, §6.4)."""
        members = [repo]
        if self.em.quirks.fork_commits_visible_in_parent:
            members += [m for m in repo.network if m is not repo]
        for member in members:
            assert member.git is not None
            full = member.git.resolve(rev)
            if full is not None:
                return full, member
        return None

    # -- responses ---------------------------------------------------------------------------

    def ok(self, obj: Any, status: int = 200) -> HttpResponse:
        return json_response(status, obj)

    def page(
        self,
        ctx: Ctx,
        items: Sequence[Any],
        render: Callable[[Any], dict[str, Any]],
        *,
        full: Callable[[Any], dict[str, Any]] | None = None,
        default: int = DEFAULT_PAGELEN,
        maximum: int = MAX_PAGELEN,
        strict_max: bool = False,
        ranks: Mapping[str, Mapping[str, int]] | None = None,
        with_size: bool = True,
        apply_query: bool = True,
    ) -> HttpResponse:
        """The paginated envelope of §4.1 with ``q``, ``sort`` and ``fields``."""
        pagelen = default
        raw = ctx.param("pagelen")
        if raw is not None:
            try:
                pagelen = int(raw)
            except ValueError:
                raise EmulatorError(400, "Invalid pagelen") from None
            if pagelen < 1 or (strict_max and pagelen > maximum):
                raise EmulatorError(400, "Invalid pagelen")
            pagelen = min(pagelen, maximum)
        try:
            page = int(ctx.param("page", "1") or "1")
        except ValueError:
            raise EmulatorError(400, "Invalid page") from None
        if page < 1:
            raise EmulatorError(400, "Invalid page")
        full = full or render
        q, sort, fields = ctx.param("q"), ctx.param("sort"), ctx.param("fields")
        if not apply_query:
            q = sort = None
        if q or sort:
            pairs = [(item, full(item)) for item in items]
            if q:
                pred = compile_query(q, ranks)
                pairs = [p for p in pairs if pred(p[1])]
            if sort:
                order = {id(obj): i for i, (_, obj) in enumerate(pairs)}
                sorted_objs = sort_objects([obj for _, obj in pairs], sort)
                pairs = [pairs[order[id(obj)]] for obj in sorted_objs]
            selected = [item for item, _ in pairs]
        else:
            selected = list(items)
        start = (page - 1) * pagelen
        chunk = selected[start : start + pagelen]
        values = [render(item) for item in chunk]
        env: dict[str, Any] = {"pagelen": pagelen}
        if with_size:
            env["size"] = len(selected)
        env["values"] = values
        env["page"] = page
        if start + pagelen < len(selected):
            env["next"] = self._page_link(ctx, page + 1)
        if page > 1:
            env["previous"] = self._page_link(ctx, page - 1)
        if fields:
            full_env = dict(env, values=[full(item) for item in chunk])
            env = apply_fields(env, full_env, fields)
        return self.ok(env)

    def _page_link(self, ctx: Ctx, page: int) -> str:
        """``next``/``previous``: the same URL and query with another page (§4.1)."""
        pairs = [(k, v) for k, v in ctx.params if k != "page"] + [("page", str(page))]
        return f"{self.em.root_url}{ctx.req.path}?{urlencode(pairs, quote_via=quote)}"

    def deprecated(self, handler: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
        def wrapped(ctx: Ctx) -> Any:
            if self.em.quirks.deprecated_endpoints == "gone":
                raise EmulatorError(410, "Gone", "This API has been removed; see CHANGE-2770.")
            return handler(ctx)

        return wrapped

    # -- identity, workspaces, permissions ------------------------------------------------------

    def get_user(self, ctx: Ctx) -> HttpResponse:
        return self.ok(self.em.renderer.user(self._actor(ctx), full=True))

    def get_user_emails(self, ctx: Ctx) -> HttpResponse:
        user = self._actor(ctx)
        emails = [{"type": "email", "email": user.email, "is_primary": True, "is_confirmed": True,
                   "links": {"self": {"href": f"{self.em.base_url}/user/emails/{quote(user.email)}"}}}]
        return self.page(ctx, emails, lambda e: e)

    def _my_workspaces(self, ctx: Ctx) -> list[Workspace]:
        return [ws for ws in self.em.workspaces.values() if self._can_see_workspace(ctx.identity, ws)]

    def list_user_workspaces(self, ctx: Ctx) -> HttpResponse:
        user = self._actor(ctx)
        items = self._my_workspaces(ctx)
        admin = ctx.param("administrator")
        if admin is not None:
            want = admin.lower() == "true"
            items = [ws for ws in items if (ws.members.get(user.uuid, (None, ""))[1] == "owner") == want]
        sort = ctx.param("sort")
        if sort and sort.lstrip("-") != "slug":
            raise EmulatorError(400, f"Invalid sort field: {sort}")

        def render(ws: Workspace) -> dict[str, Any]:
            return {
                "type": "workspace_access",
                "administrator": ws.members.get(user.uuid, (None, ""))[1] == "owner",
                "workspace": self.em.renderer.workspace(ws, base=True),
                "links": {"self": {"href": f"{self.em.base_url}/user/workspaces/{ws.slug}"}},
            }

        # §6.1: q filters on slug (the objects carry it as workspace.slug)
        q = ctx.param("q")
        if q:
            pred = compile_query(q)
            items = [ws for ws in items if pred({"slug": ws.slug, "workspace": {"slug": ws.slug}})]
        if sort:
            items.sort(key=lambda ws: ws.slug, reverse=sort.startswith("-"))
        return self.page(ctx, items, render, apply_query=False)

    def _membership(self, ws: Workspace, user: User) -> str | None:
        member = ws.members.get(user.uuid)
        if member is not None:
            return member[1]
        if any(self.em.permission(user, r) != "none" and user.uuid in r.permissions for r in ws.repositories.values()):
            return "collaborator"
        return None

    def get_workspace_permission(self, ctx: Ctx) -> HttpResponse:
        user = self._actor(ctx)
        ws = self._workspace(ctx, visible=False)
        role = self._membership(ws, user)
        if role is None:
            raise EmulatorError(403, "You do not have access to this workspace.")
        r = self.em.renderer
        return self.ok({
            "type": "workspace_membership",
            "permission": role,
            "user": r.user(user),
            "workspace": r.workspace(ws, full=False),
            "links": {"self": {"href": f"{self.em.base_url}/workspaces/{ws.slug}/members/{quote(user.uuid)}"}},
        })

    def list_repo_permissions(self, ctx: Ctx) -> HttpResponse:
        """Explicit grants only; public repositories without a grant are not listed (§6.1)."""
        user = self._actor(ctx)
        ws = self._workspace(ctx, visible=False)
        r = self.em.renderer
        items = []
        for repo in ws.repositories.values():
            explicit = repo.permissions.get(user.uuid)
            owner = ws.members.get(user.uuid, (None, ""))[1] == "owner"
            if explicit is None and not owner:
                continue
            items.append((repo, "admin" if owner else explicit[1]))  # type: ignore[index]

        def render(item: tuple[Repository, str]) -> dict[str, Any]:
            repo, perm = item
            return {
                "type": "repository_permission",
                "permission": perm,
                "user": r.user(user),
                "repository": {"type": "repository", "name": repo.name, "full_name": repo.full_name,
                               "uuid": repo.uuid, "links": r.repository(repo, full=False)["links"]},
            }

        return self.page(ctx, items, render, ranks={"permission": PERMISSION_RANK})

    def list_workspaces_deprecated(self, ctx: Ctx) -> HttpResponse:
        return self.page(ctx, self._my_workspaces(ctx), lambda ws: self.em.renderer.workspace(ws))

    def list_workspace_memberships_deprecated(self, ctx: Ctx) -> HttpResponse:
        user = self._actor(ctx)
        r = self.em.renderer
        items = [(ws, self._membership(ws, user)) for ws in self.em.workspaces.values()]
        return self.page(ctx, [i for i in items if i[1]], lambda i: {
            "type": "workspace_membership", "permission": i[1], "user": r.user(user),
            "workspace": r.workspace(i[0], full=False)})

    def list_repo_permissions_deprecated(self, ctx: Ctx) -> HttpResponse:
        user = self._actor(ctx)
        r = self.em.renderer
        items = [(repo, repo.permissions[user.uuid][1]) for ws in self.em.workspaces.values()
                 for repo in ws.repositories.values() if user.uuid in repo.permissions]
        return self.page(ctx, items, lambda i: {
            "type": "repository_permission", "permission": i[1], "user": r.user(user),
            "repository": r.repository(i[0], full=False)}, ranks={"permission": PERMISSION_RANK})

    def list_public_repositories(self, ctx: Ctx) -> HttpResponse:
        repos = [repo for ws in self.em.workspaces.values() for repo in ws.repositories.values()
                 if not repo.is_private]
        return self.page(ctx, repos, self.em.renderer.repository)

    def get_workspace(self, ctx: Ctx) -> HttpResponse:
        return self.ok(self.em.renderer.workspace(self._workspace(ctx)))

    def list_members(self, ctx: Ctx) -> HttpResponse:
        ws = self._workspace(ctx)
        r = self.em.renderer
        return self.page(ctx, list(ws.members.values()), lambda m: {
            "type": "workspace_membership", "user": r.user(m[0]), "workspace": r.workspace(ws, full=False),
            "links": {"self": {"href": f"{self.em.base_url}/workspaces/{ws.slug}/members/{quote(m[0].uuid)}"}}})

    # -- repositories -------------------------------------------------------------------------

    def list_repositories(self, ctx: Ctx) -> HttpResponse:
        ws = self._workspace(ctx, visible=False)
        role = ctx.param("role")
        need = {"member": "read", "contributor": "write", "admin": "admin", "owner": "admin", None: "read"}
        if role not in need:
            raise EmulatorError(400, f"Invalid role: {role}")
        user = ctx.user
        repos = []
        for repo in ws.repositories.values():
            if role == "owner":
                if user is None or ws.members.get(user.uuid, (None, ""))[1] != "owner":
                    continue
            elif role is not None:
                explicit = repo.permissions.get(user.uuid, (None, "none"))[1] if user else "none"
                effective = self.em.permission(user, repo) if explicit != "none" or (
                    user and ws.members.get(user.uuid, (None, ""))[1] == "owner") else "none"
                if PERMISSION_RANK[effective] < PERMISSION_RANK[need[role]]:
                    continue
            elif self.em.permission(user, repo) == "none":
                continue
            repos.append(repo)
        return self.page(ctx, repos, self.em.renderer.repository)

    def get_repository(self, ctx: Ctx) -> HttpResponse:
        return self.ok(self.em.renderer.repository(self._repo(ctx)))

    def list_branches(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx)
        assert repo.git is not None
        r = self.em.renderer
        items = sorted(repo.git.branches.items())
        return self.page(ctx, items, lambda b: {
            "type": "branch", "name": b[0],
            "target": {"type": "commit", "hash": b[1], "links": r.commit_ref(repo, b[1], 40)["links"]},  # type: ignore[index]
            "links": {"self": {"href": f"{self.em.base_url}/repositories/{repo.full_name}/refs/branches/{b[0]}"}}})

    # -- pull requests ----------------------------------------------------------------------

    def list_prs(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx)
        states = [s.upper() for s in ctx.params_all("state")] or ["OPEN"]
        valid = {"OPEN", "MERGED", "DECLINED", "SUPERSEDED"}
        if any(s not in valid for s in states):
            raise EmulatorError(400, f"Invalid state: {','.join(s for s in states if s not in valid)}")
        prs = [pr for pr in sorted(repo.pull_requests.values(), key=lambda p: -p.id) if pr.state in states]
        r = self.em.renderer
        return self.page(ctx, prs, lambda pr: r.pullrequest(pr, full=False), full=r.pullrequest,
                         maximum=PR_LIST_MAX_PAGELEN, strict_max=True)

    def get_pr(self, ctx: Ctx) -> HttpResponse:
        return self.ok(self.em.renderer.pullrequest(self._pr(ctx)))

    def _users_from(self, items: Any, field: str) -> list[User]:
        if not isinstance(items, list):
            raise EmulatorError(400, "Bad request", fields={field: ["Expected a list."]})
        users = []
        for item in items:
            key = item.get("uuid") if isinstance(item, dict) else None
            acc = item.get("account_id") if isinstance(item, dict) else None
            found = next((u for u in self.em.users.values() if (key and u.uuid == key) or (acc and u.account_id == acc)),
                         None)
            if found is None:
                raise EmulatorError(400, "Bad request", fields={field: [f"Unknown user: {key or acc}"]})
            users.append(found)
        return users

    def create_pr(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx, "write")
        body = ctx.json()
        if not isinstance(body, dict):
            raise EmulatorError(400, "Bad request", "Expected a JSON object.")
        fields: dict[str, list[str]] = {}
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            fields["title"] = ["This field is required."]
        source = (body.get("source") or {}).get("branch", {}).get("name") if isinstance(body.get("source"), dict) else None
        if not source:
            raise EmulatorError(400, "Bad request",
                                "You must specify a valid source branch when creating a pull request.",
                                {"src": ["This field is required."], **fields})
        if fields:
            raise EmulatorError(400, "Bad request", fields=fields)
        dest = body.get("destination")
        dest_name = dest.get("branch", {}).get("name") if isinstance(dest, dict) else None
        pr = self.em.create_pull_request(
            repo, source, source_repo=self._source_repo(ctx, repo, body["source"]),
            title=title, author=self._actor(ctx), destination=dest_name,
            description=body.get("description") or "",
            reviewers=self._users_from(body.get("reviewers", []), "reviewers"),
            draft=bool(body.get("draft", False)),
            close_source_branch=bool(body.get("close_source_branch", False)),
        )
        return self.ok(self.em.renderer.pullrequest(pr), 201)

    def _source_repo(self, ctx: Ctx, repo: Repository, source: dict[str, Any]) -> Repository | None:
        """The fork named by ``source.repository.full_name`` of a create body (the PR object's
        shape, §6.3), or None for a branch of ``repo``. The caller must be able to read it."""
        named = source.get("repository")
        full_name = named.get("full_name") if isinstance(named, dict) else None
        if not full_name or full_name == repo.full_name:
            return None
        fork = next((m for m in repo.network if m.full_name == full_name), None)
        if fork is None or self.em.permission(ctx.user, fork) == "none":
            raise EmulatorError(400, "Bad request", f"Repository not found: {full_name}",
                                {"source": [f"repository not in the fork network: {full_name}"]})
        return fork

    def update_pr(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx, "read")
        actor = self._actor(ctx)
        if actor.uuid != pr.author.uuid and PERMISSION_RANK[self.em.permission(actor, pr.repo)] < PERMISSION_RANK["write"]:
            raise EmulatorError(403, "Access denied. You must have write access to update this pull request.")
        body = ctx.json()
        if not isinstance(body, dict):
            raise EmulatorError(400, "Bad request", "Expected a JSON object.")
        dest = body.get("destination")
        reviewers: list[User] | None = None
        if "reviewers" in body:
            reviewers = self._users_from(body["reviewers"], "reviewers")
        elif self.em.quirks.put_without_reviewers_clears:
            reviewers = []
        self.em.update_pull_request(
            pr, actor,
            title=body.get("title"),
            description=body.get("description"),
            destination=dest.get("branch", {}).get("name") if isinstance(dest, dict) else None,
            reviewers=reviewers,
            draft=body.get("draft"),
            close_source_branch=body.get("close_source_branch"),
        )
        return self.ok(self.em.renderer.pullrequest(pr))

    def merge_pr(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx, "write")
        body = ctx.json() or {}
        self.em.merge_pull_request(pr, self._actor(ctx), message=body.get("message"),
                                   strategy=body.get("merge_strategy") or "merge_commit",
                                   close_source_branch=body.get("close_source_branch"))
        return self.ok(self.em.renderer.pullrequest(pr))

    def decline_pr(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx, "write")
        self.em.decline_pull_request(pr, self._actor(ctx))
        return self.ok(self.em.renderer.pullrequest(pr))

    def pr_redirect(self, kind: str) -> Callable[[Ctx], HttpResponse]:
        """``/diff``, ``/diffstat``, ``/patch`` on a PR: 302 to the repository endpoint (§6.4)."""

        def handler(ctx: Ctx) -> HttpResponse:
            pr = self._pr(ctx)
            repo = pr.repo
            # The source side names the source repository: the fork, for fork PRs (§6.4).
            spec = f"{pr.source_repository.full_name}:{pr.source_commit[:12]}%0D{pr.destination_commit[:12]}"
            pairs = [("from_pullrequest_id", str(pr.id)), ("topic", "true")]
            if self.em.quirks.forward_diff_params_on_redirect:
                pairs += [(k, v) for k, v in ctx.params if k not in ("from_pullrequest_id", "topic")]
            location = (f"{self.em.base_url}/repositories/{repo.full_name}/{kind}/{spec}?"
                        f"{urlencode(pairs, quote_via=quote)}")
            return HttpResponse(302, b"", headers=[("Location", location)])

        return handler

    def _pr_commits_list(self, pr: PullRequest) -> list[Any]:
        git = pr.repo.git
        assert git is not None
        source_git = pr.source_repository.git
        assert source_git is not None
        if pr.source_branch not in source_git.branches and pr.state == "OPEN":
            return []  # empty when the source branch is gone (§6.4)
        key = ("pr-commits", pr.repo.uuid, pr.source_commit, pr.destination_commit)
        infos = self.em.cache_get(key)
        if infos is None:
            infos = git.log([pr.source_commit], [pr.destination_commit])
            self.em.cache_put(key, infos)
        return list(reversed(infos)) if self.em.quirks.pr_commits_oldest_first else list(infos)

    def pr_commits(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        r = self.em.renderer
        return self.page(ctx, self._pr_commits_list(pr),
                         lambda info: r.commit(pr.repo, info, self.em._user_by_email(info.author_email)),
                         with_size=False)

    def _activity_entries(self, pr: PullRequest, viewer: User | None) -> list[dict[str, Any]]:
        r = self.em.renderer
        out = []
        for kind, data, date in reversed(pr.activity):  # newest first (§4.1, §6.4)
            entry: dict[str, Any] = {"pull_request": r.pr_condensed(pr)}
            if kind == "update":
                entry["update"] = data
            elif kind == "comment":
                if data.pending and (viewer is None or viewer.uuid != data.user.uuid):
                    continue
                entry["comment"] = r.comment(data)
            elif kind == "approval":
                entry["approval"] = {"date": date, "pullrequest": r.pr_condensed(pr), "user": r.user(data)}
            elif kind == "changes_request":
                entry["changes_request"] = {"date": date, "pullrequest": r.pr_condensed(pr), "user": r.user(data)}
            out.append(entry)
        return out

    def _cursor_page(self, ctx: Ctx, entries: list[Any]) -> HttpResponse:
        """Iterator-style pages with an opaque ``ctx`` cursor (PR activity, §4.1)."""
        pagelen = DEFAULT_PAGELEN
        raw = ctx.param("pagelen")
        if raw is not None:
            try:
                pagelen = int(raw)
            except ValueError:
                raise EmulatorError(400, "Invalid pagelen") from None
            if pagelen < 1:
                raise EmulatorError(400, "Invalid pagelen")
            pagelen = min(pagelen, MAX_PAGELEN)
        cursor = ctx.param("ctx")
        start = 0
        if cursor:
            try:
                start = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
            except (ValueError, binascii.Error):
                raise EmulatorError(400, "Invalid ctx") from None
        env: dict[str, Any] = {"pagelen": pagelen, "values": entries[start : start + pagelen]}
        if start + pagelen < len(entries):
            token = base64.urlsafe_b64encode(str(start + pagelen).encode()).decode().rstrip("=")
            pairs = [(k, v) for k, v in ctx.params if k != "ctx"] + [("ctx", token)]
            env["next"] = f"{self.em.root_url}{ctx.req.path}?{urlencode(pairs, quote_via=quote)}"
        return self.ok(env)

    def pr_activity(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        return self._cursor_page(ctx, self._activity_entries(pr, ctx.user))

    def repo_activity(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx)
        entries = []
        for pr in repo.pull_requests.values():
            for (kind, data, date), entry in zip(reversed(pr.activity), self._activity_entries(pr, ctx.user),
                                                 strict=False):
                entries.append((date, entry))
        entries.sort(key=lambda e: e[0], reverse=True)
        return self._cursor_page(ctx, [e for _, e in entries])

    def pr_statuses(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        repo = pr.repo
        statuses = [s for (commit, _), s in repo.statuses.items() if commit == pr.source_commit]
        return self.page(ctx, statuses, lambda s: self.em.renderer.build_status(repo, s))

    # -- approvals ------------------------------------------------------------------------------

    def approve(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        return self.ok(self.em.renderer.participant(self.em.approve(pr, self._actor(ctx))))

    def unapprove(self, ctx: Ctx) -> HttpResponse:
        self.em.unapprove(self._pr(ctx), self._actor(ctx))
        return HttpResponse(204)

    def request_changes(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        return self.ok(self.em.renderer.participant(self.em.request_changes(pr, self._actor(ctx))))

    def remove_change_request(self, ctx: Ctx) -> HttpResponse:
        self.em.remove_change_request(self._pr(ctx), self._actor(ctx))
        return HttpResponse(204)

    # -- comments ---------------------------------------------------------------------------------

    def list_comments(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        comments = list(pr.visible_comments(ctx.user))  # deleted ones stay listed (§6.5)
        return self.page(ctx, comments, self.em.renderer.comment)

    def _check_comment_body(self, body: Any, *, allow: set[str]) -> None:
        if not isinstance(body, dict):
            raise EmulatorError(400, "Bad request", "Expected a JSON object.")
        extra = set(body) - allow
        if self.em.quirks.strict_comment_body and extra:
            raise EmulatorError(400, "Bad request", fields={k: "extra keys not allowed" for k in sorted(extra)})
        if self.em.quirks.strict_comment_body:
            nulls = [k for k, v in body.items() if v is None]
            if isinstance(body.get("inline"), dict):
                nulls += [f"inline.{k}" for k, v in body["inline"].items() if v is None]
            if nulls:
                raise EmulatorError(400, "Bad request", fields={k: ["This field may not be null."] for k in nulls})
        content = body.get("content")
        if not isinstance(content, dict) or not isinstance(content.get("raw"), str):
            raise EmulatorError(400, "Bad request", fields={"content": ["This field is required."]})

    def create_comment(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        body = ctx.json()
        self._check_comment_body(body, allow={"content", "inline", "parent", "pending"})
        parent = body.get("parent")
        parent_id = parent.get("id") if isinstance(parent, dict) else None
        if parent is not None and not isinstance(parent_id, int):
            raise EmulatorError(400, "Bad request", fields={"parent.id": ["This field is required."]})
        comment = self.em.add_comment(pr, self._actor(ctx), body["content"]["raw"], inline=body.get("inline"),
                                      parent=parent_id, pending=bool(body.get("pending", False)))
        return self.ok(self.em.renderer.comment(comment), 201)

    def get_comment(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        return self.ok(self.em.renderer.comment(self._comment(ctx, pr)))

    def update_comment(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        comment = self._comment(ctx, pr)
        body = ctx.json()
        if isinstance(body, dict) and "pending" in body:
            # §6.5 [T]: the observed variant with a string, not a list
            raise EmulatorError(400, "Bad request", fields={"pending": "extra keys not allowed"})
        self._check_comment_body(body, allow={"content", "inline", "parent"})
        self.em.update_comment(comment, self._actor(ctx), body["content"]["raw"])
        return self.ok(self.em.renderer.comment(comment))

    def delete_comment(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        self.em.delete_comment(self._comment(ctx, pr), self._actor(ctx))
        return HttpResponse(204)

    def resolve_comment(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        comment = self.em.resolve_comment(self._comment(ctx, pr), self._actor(ctx))
        return self.ok(self.em.renderer.resolution(comment))

    def reopen_comment(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        self.em.reopen_comment(self._comment(ctx, pr), self._actor(ctx))
        return HttpResponse(204)

    # -- tasks ------------------------------------------------------------------------------------

    def list_tasks(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        tasks = [t for t in pr.tasks.values()
                 if not t.pending or (ctx.user is not None and t.creator.uuid == ctx.user.uuid)]
        return self.page(ctx, tasks, self.em.renderer.task)

    def _task(self, ctx: Ctx, pr: PullRequest):
        task = pr.tasks.get(int(ctx.args["tid"]))
        if task is None:
            raise EmulatorError(404, "Task not found.")
        return task

    def create_task(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        body = ctx.json()
        if not isinstance(body, dict) or not isinstance(body.get("content"), dict):
            raise EmulatorError(400, "Bad request", fields={"content": ["This field is required."]})
        comment = None
        if isinstance(body.get("comment"), dict):
            comment = pr.comments.get(body["comment"].get("id"))
            if comment is None:
                raise EmulatorError(400, "Bad request", fields={"comment": ["Comment not found."]})
        task = self.em.add_task(pr, self._actor(ctx), str(body["content"].get("raw", "")), comment=comment,
                                pending=bool(body.get("pending", False)))
        return self.ok(self.em.renderer.task(task), 201)

    def get_task(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        return self.ok(self.em.renderer.task(self._task(ctx, pr)))

    def update_task(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        task = self._task(ctx, pr)
        body = ctx.json()
        if not isinstance(body, dict):
            raise EmulatorError(400, "Bad request", "Expected a JSON object.")
        if "content" in body:
            raw = body["content"].get("raw") if isinstance(body["content"], dict) else None
            if not isinstance(raw, str) or not raw.strip():
                raise EmulatorError(400, "Bad request", fields={"content": ["This field may not be blank."]})
            task.raw = raw
        if "state" in body:
            if body["state"] not in ("RESOLVED", "UNRESOLVED"):
                raise EmulatorError(400, "Bad request", fields={"state": [f"Invalid state: {body['state']}"]})
            task.state = body["state"]
            if task.state == "RESOLVED":
                task.resolved_on, task.resolved_by = self.em._now(), self._actor(ctx)
            else:
                task.resolved_on = task.resolved_by = None
        task.updated_on = self.em._now()
        return self.ok(self.em.renderer.task(task))

    def delete_task(self, ctx: Ctx) -> HttpResponse:
        pr = self._pr(ctx)
        task = self._task(ctx, pr)
        del pr.tasks[task.id]
        return HttpResponse(204)

    # -- diffs ------------------------------------------------------------------------------------

    def _resolve_side(self, repo: Repository, text: str, *, base: bool = False) -> tuple[str, Repository]:
        """(full hash, repository it was found in) of one side of a spec.

        A side may be prefixed with a repository's full name (``ws/repo:hash``):
        ``repo`` itself or, for fork PRs, a fork in its network (§6.4: the source
        side points at the fork). The diff is served by ``repo`` whatever the
        caller may read of the fork, as for the PR's own ``/diff``. A prefix on the
        base side naming another repository needs ``Quirks.fork_prefix_on_base_side``.
        """
        rev = text
        owner = None
        if ":" in text:
            prefix, rev = text.rsplit(":", 1)
            if prefix == repo.full_name:
                owner = repo
            else:
                owner = next((m for m in repo.network if m.full_name == prefix), None)
                if owner is None or (base and not self.em.quirks.fork_prefix_on_base_side):
                    raise EmulatorError(404, f"Repository not found: {prefix}")
        if owner is not None:
            assert owner.git is not None
            full = owner.git.resolve(rev)
            found = (full, owner) if full is not None else None
        else:
            found = self._find_commit(repo, rev)
        if found is None:
            raise EmulatorError(404, f"Commit not found: {rev}")
        return found

    def _spec_sides(self, ctx: Ctx, repo: Repository) -> tuple[str, str | None, bool, Repository]:
        """Like :meth:`_spec`, plus the repository the change side was found in."""
        spec = unquote(ctx.args["spec"])
        for sep in ("\r", ".."):
            if sep in spec:
                a, b = spec.split(sep, 1)
                change, owner = self._resolve_side(repo, a)
                return change, self._resolve_side(repo, b, base=True)[0], True, owner
        change, owner = self._resolve_side(repo, spec)
        return change, None, False, owner

    def _spec(self, ctx: Ctx, repo: Repository) -> tuple[str, str | None, bool]:
        """(change, base or None, two-sided) for a spec: one commit, or ``A..B`` / ``A%0DB``
        where A is the change and B the base (§6.4)."""
        return self._spec_sides(ctx, repo)[:3]

    def _base_for(self, repo: Repository, change: str, base: str | None, two: bool, topic: bool) -> str | None:
        """The "from" side of the diff: the merge base for topic (three-dot) diffs, else ``base``;
        a single commit is compared with its first parent."""
        assert repo.git is not None
        if not two:
            return repo.git.first_parent(change)
        if topic:
            assert base is not None
            return self.em.merge_base(repo, change, base)
        return base

    def _too_large(self, size: int) -> HttpResponse | None:
        limit = self.em.diff_size_limit
        if limit is not None and size > limit:
            return json_response(555, error_body("Service Timeout",
                                                 "Timed out while generating the diff; it is too large."))
        return None

    def _diff_bytes(self, repo: Repository, change: str, base: str | None, two: bool, *, topic: bool,
                    context: int, paths: tuple[str, ...], ignore_ws: bool, renames: bool, binary: bool) -> bytes:
        assert repo.git is not None
        key = ("diff", repo.uuid, change, base, two, topic, context, paths, ignore_ws, renames, binary)
        data = self.em.cache_get(key)
        if data is None:
            frm = self._base_for(repo, change, base, two, topic)
            data = repo.git.diff(frm, change, context=context, paths=paths, ignore_whitespace=ignore_ws,
                                 renames=renames, binary=binary)
            self.em.cache_put(key, data)
        return data

    def diff(self, ctx: Ctx) -> HttpResponse | Callable[[], HttpResponse]:
        repo = self._repo(ctx)
        change, base, two = self._spec(ctx, repo)
        try:
            context = int(ctx.param("context", "3") or "3")
        except ValueError:
            raise EmulatorError(400, "Invalid context") from None
        opts = dict(
            topic=ctx.flag("topic", True),
            context=max(0, context),
            paths=tuple(ctx.params_all("path")),
            ignore_ws=ctx.flag("ignore_whitespace", False),
            renames=ctx.flag("renames", True),
            binary=ctx.flag("binary", True),
        )
        key = ("diff", repo.uuid, change, base, two, opts["topic"], opts["context"], opts["paths"],
               opts["ignore_ws"], opts["renames"], opts["binary"])

        def respond(data: bytes) -> HttpResponse:
            return self._too_large(len(data)) or HttpResponse(200, data, content_type="text/plain", cache_key=key)

        hit = self.em.cache_get(key)
        if hit is not None:
            return respond(hit)
        return lambda: respond(self._diff_bytes(repo, change, base, two, **opts))  # type: ignore[arg-type]

    def diffstat(self, ctx: Ctx) -> HttpResponse | Callable[[], HttpResponse]:
        repo = self._repo(ctx)
        change, base, two, change_repo = self._spec_sides(ctx, repo)
        topic = ctx.flag("topic", True)
        paths = tuple(ctx.params_all("path"))
        ignore_ws = ctx.flag("ignore_whitespace", False)
        renames = ctx.flag("renames", True)
        r = self.em.renderer
        # Build a Ctx snapshot: the deferred part runs after the lock is released.
        snapshot = Ctx(ctx.req, dict(ctx.args), list(ctx.params), ctx.identity, ctx.route)

        def work() -> HttpResponse:
            assert repo.git is not None
            size = len(self._diff_bytes(repo, change, base, two, topic=topic, context=3, paths=paths,
                                        ignore_ws=ignore_ws, renames=renames, binary=True))
            too_large = self._too_large(size)
            if too_large is not None:
                return too_large
            key = ("diffstat", repo.uuid, change, base, two, topic, paths, ignore_ws, renames)
            entries = self.em.cache_get(key)
            frm = self._base_for(repo, change, base, two, topic)
            if entries is None:
                entries = repo.git.diffstat(frm, change, paths=paths, ignore_whitespace=ignore_ws, renames=renames)
                self.em.cache_put(key, entries)

            def file_obj(path: str | None, commit: str | None, binary: bool,
                         where: Repository = repo) -> dict[str, Any] | None:
                if path is None or commit is None:
                    return None
                out: dict[str, Any] = {
                    "type": "commit_file",
                    "path": path,
                    "escaped_path": path,
                    "links": {"self": {"href": f"{r.urls.api}/repositories/{where.full_name}/src/{commit}/{quote(path)}"}},
                }
                if binary:
                    out["attributes"] = ["binary"]
                return out

            def render(e: Any) -> dict[str, Any]:
                return {
                    "type": "diffstat",
                    "status": e.status,
                    "lines_added": e.lines_added,
                    "lines_removed": e.lines_removed,
                    "old": file_obj(e.old_path, frm, e.binary),
                    "new": file_obj(e.new_path, change, e.binary, change_repo),
                }

            with self.em._lock:
                return self.page(snapshot, entries, render, default=DIFFSTAT_DEFAULT_PAGELEN,
                                 maximum=DIFFSTAT_MAX_PAGELEN)

        return work

    def patch(self, ctx: Ctx) -> Callable[[], HttpResponse]:
        repo = self._repo(ctx)
        change, base, two = self._spec(ctx, repo)
        topic = ctx.flag("topic", True)

        def work() -> HttpResponse:
            assert repo.git is not None
            key = ("patch", repo.uuid, change, base, two, topic)
            data = self.em.cache_get(key)
            if data is None:
                frm = self._base_for(repo, change, base, two, topic)
                data = repo.git.format_patch(frm, change)
                self.em.cache_put(key, data)
            return self._too_large(len(data)) or HttpResponse(200, data, content_type="text/plain", cache_key=key)

        return work

    def list_commits(self, ctx: Ctx) -> Callable[[], HttpResponse]:
        repo = self._repo(ctx)
        assert repo.git is not None
        git = repo.git
        includes = ctx.params_all("include")
        excludes = ctx.params_all("exclude")
        rev = unquote(ctx.args["rev"]) if "rev" in ctx.args else None
        heads = [rev] if rev else (includes or list(git.branches.values()))
        resolved = []
        for h in heads:
            full = git.resolve(h)
            if full is None:
                raise EmulatorError(404, f"Commit not found: {h}")
            resolved.append(full)
        excl = [git.resolve(x) for x in excludes]
        if any(x is None for x in excl):
            raise EmulatorError(404, "Commit not found")
        snapshot = Ctx(ctx.req, dict(ctx.args), list(ctx.params), ctx.identity, ctx.route)
        r = self.em.renderer

        def work() -> HttpResponse:
            key = ("log", repo.uuid, tuple(resolved), tuple(excl))
            infos = self.em.cache_get(key)
            if infos is None:
                infos = git.log(resolved, excl) if resolved else []  # type: ignore[arg-type]
                self.em.cache_put(key, infos)
            with self.em._lock:
                return self.page(snapshot, infos,
                                 lambda i: r.commit(repo, i, self.em._user_by_email(i.author_email)),
                                 with_size=False)

        return work

    def get_commit(self, ctx: Ctx) -> Callable[[], HttpResponse]:
        repo = self._repo(ctx)
        full = self._commit(ctx, repo)
        r = self.em.renderer

        def work() -> HttpResponse:
            assert repo.git is not None
            info = repo.git.commit_info(full)
            with self.em._lock:
                return self.ok(r.commit(repo, info, self.em._user_by_email(info.author_email)))

        return work

    def src(self, ctx: Ctx) -> Callable[[], HttpResponse]:
        repo = self._repo(ctx)
        full = self._commit(ctx, repo)
        path = unquote(ctx.args.get("path", "")).strip("/")
        fmt = ctx.param("format")
        snapshot = Ctx(ctx.req, dict(ctx.args), list(ctx.params), ctx.identity, ctx.route)
        r = self.em.renderer
        base = f"{r.urls.api}/repositories/{repo.full_name}/src/{full}"

        def work() -> HttpResponse:
            assert repo.git is not None
            obj = repo.git.object_type(full, path)
            if obj is None:
                raise EmulatorError(404, f"No such file or directory: {path}")
            kind, oid, size = obj
            if kind == "blob":
                if fmt == "meta":
                    return self.ok({"type": "commit_file", "path": path, "escaped_path": path, "size": size,
                                    "commit": r.commit_ref(repo, full, 40), "attributes": [],
                                    "links": {"self": {"href": f"{base}/{quote(path)}"}}})
                key = ("blob", repo.uuid, oid)
                data = self.em.cache_get(key)
                if data is None:
                    data = repo.git.read_blob(oid)
                    self.em.cache_put(key, data)
                ctype = "application/octet-stream" if b"\0" in data[:8000] else "text/plain"
                return HttpResponse(200, data, content_type=ctype, cache_key=key)
            entries = repo.git.list_tree(full, path)

            def render(e: Any) -> dict[str, Any]:
                mode, etype, epath, esize, _ = e
                out: dict[str, Any] = {
                    "type": "commit_directory" if etype == "tree" else "commit_file",
                    "path": epath,
                    "commit": r.commit_ref(repo, full, 40),
                    "links": {"self": {"href": f"{base}/{quote(epath)}" + ("/" if etype == "tree" else "")}},
                }
                if etype != "tree":
                    out.update(escaped_path=epath, size=esize,
                               attributes=["executable"] if mode == "100755" else [])
                return out

            with self.em._lock:
                return self.page(snapshot, entries, render)

        return work

    # -- statuses ------------------------------------------------------------------------------------

    def list_statuses(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx)
        full = self._commit(ctx, repo)
        refname = ctx.param("refname")
        items = [s for (c, _), s in repo.statuses.items() if c == full and (refname is None or s.refname in (None, refname))]
        return self.page(ctx, items, lambda s: self.em.renderer.build_status(repo, s))

    def _status_fields(self, body: Any, partial: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise EmulatorError(400, "Bad request", "Expected a JSON object.")
        fields: dict[str, list[str]] = {}
        if not partial:
            for key in ("key", "state"):
                if not body.get(key):
                    fields[key] = ["This field is required."]
        if "state" in body and body["state"] not in ("INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"):
            fields["state"] = [f"Invalid state: {body['state']}"]
        if fields:
            raise EmulatorError(400, "Bad request", fields=fields)
        return body

    def create_status(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx, "write")
        full = self._commit(ctx, repo)
        body = self._status_fields(ctx.json(), partial=False)
        now = self.em._now()
        old = repo.statuses.get((full, body["key"]))  # the same key overwrites (§6.8)
        status = BuildStatus(
            key=body["key"], state=body["state"], name=body.get("name") or body["key"],
            description=body.get("description") or "", url=body.get("url") or "",
            refname=body.get("refname"), commit=full, created_on=old.created_on if old else now, updated_on=now,
            uuid=old.uuid if old else self.em._uuid(),
        )
        repo.statuses[(full, status.key)] = status
        return self.ok(self.em.renderer.build_status(repo, status), 201)

    def get_status(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx)
        full = self._commit(ctx, repo)
        status = repo.statuses.get((full, unquote(ctx.args["key"])))
        if status is None:
            raise EmulatorError(404, "Build status not found.")
        return self.ok(self.em.renderer.build_status(repo, status))

    def update_status(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx, "write")
        full = self._commit(ctx, repo)
        status = repo.statuses.get((full, unquote(ctx.args["key"])))
        if status is None:
            raise EmulatorError(404, "Build status not found.")
        body = self._status_fields(ctx.json(), partial=True)
        for key in ("state", "name", "description", "url", "refname"):
            if key in body:
                setattr(status, key, body[key])
        status.updated_on = self.em._now()
        return self.ok(self.em.renderer.build_status(repo, status))

    # -- Code Insights ---------------------------------------------------------------------------------

    def _report(self, ctx: Ctx, repo: Repository, full: str) -> Report:
        rid = unquote(ctx.args["rid"])
        for (commit, _), rep in repo.reports.items():
            if commit == full and (rep.uuid == rid or rep.external_id == rid):
                return rep
        raise EmulatorError(404, "Report not found.")

    def list_reports(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx)
        full = self._commit(ctx, repo)
        items = [rep for (c, _), rep in repo.reports.items() if c == full]
        return self.page(ctx, items, self.em.renderer.report)

    def get_report(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx)
        return self.ok(self.em.renderer.report(self._report(ctx, repo, self._commit(ctx, repo))))

    def put_report(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx, "write")
        full = self._commit(ctx, repo)
        body = ctx.json()
        if not isinstance(body, dict):
            raise EmulatorError(400, "Bad request", "Expected a JSON object.")
        fields: dict[str, list[str]] = {}
        for key in ("title", "details", "report_type"):
            if not body.get(key):
                fields[key] = ["This field is required."]
        if body.get("report_type") and body["report_type"] not in ("SECURITY", "COVERAGE", "TEST", "BUG"):
            fields["report_type"] = [f"Invalid report type: {body['report_type']}"]
        if "result" in body and body["result"] not in ("PASSED", "FAILED", "PENDING"):
            fields["result"] = [f"Invalid result: {body['result']}"]
        data = body.get("data", [])
        if not isinstance(data, list):
            fields["data"] = ["Expected a list."]
        elif len(data) > MAX_REPORT_DATA:
            fields["data"] = [f"Ensure this field has no more than {MAX_REPORT_DATA} elements."]
        else:
            kinds = ("BOOLEAN", "DATE", "DURATION", "LINK", "NUMBER", "PERCENTAGE", "TEXT")
            for i, item in enumerate(data):
                if not isinstance(item, dict) or "title" not in item or "value" not in item:
                    fields[f"data.{i}"] = ["title and value are required."]
                elif item.get("type", "TEXT") not in kinds:
                    fields[f"data.{i}.type"] = [f"Invalid type: {item.get('type')}"]
        if fields:
            raise EmulatorError(400, "Bad request", fields=fields)
        rid = unquote(ctx.args["rid"])
        try:
            existing = self._report(ctx, repo, full)
        except EmulatorError:
            existing = None
        now = self.em._now()
        kept = {k: v for k, v in body.items() if k not in ("uuid", "external_id", "type", "created_on", "updated_on")}
        if existing is not None:  # PUT replaces the report and its annotations (§6.9)
            del repo.reports[(full, existing.uuid)]
        uuid = existing.uuid if existing else (rid if rid.startswith("{") else self.em._uuid())
        external = existing.external_id if existing else (body.get("external_id") or rid)
        rep = Report(uuid, external, full, kept, existing.created_on if existing else now, now)
        repo.reports[(full, uuid)] = rep
        return self.ok(self.em.renderer.report(rep))

    def delete_report(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx, "write")
        full = self._commit(ctx, repo)
        rep = self._report(ctx, repo, full)
        del repo.reports[(full, rep.uuid)]  # its annotations go with it
        return HttpResponse(204)

    def list_annotations(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx)
        rep = self._report(ctx, repo, self._commit(ctx, repo))
        return self.page(ctx, list(rep.annotations.values()), self.em.renderer.annotation)

    def _annotation_fields(self, item: Any, index: str) -> dict[str, list[str]]:
        fields: dict[str, list[str]] = {}
        if not isinstance(item, dict):
            return {index: ["Expected an object."]}
        prefix = f"{index}." if index else ""
        for key in ("annotation_type", "summary"):
            if not item.get(key):
                fields[f"{prefix}{key}"] = ["This field is required."]
        enums = {
            "annotation_type": ("VULNERABILITY", "CODE_SMELL", "BUG"),
            "result": ("PASSED", "FAILED", "SKIPPED", "IGNORED"),
            "severity": ("CRITICAL", "HIGH", "MEDIUM", "LOW"),
        }
        for key, allowed in enums.items():
            if item.get(key) is not None and item[key] not in allowed:
                fields[f"{prefix}{key}"] = [f"Invalid value: {item[key]}"]
        line = item.get("line")
        if line is not None and (isinstance(line, bool) or not isinstance(line, int) or line < 1):
            fields[f"{prefix}line"] = ["Ensure this value is greater than or equal to 1."]
        return fields

    def _store_annotation(self, rep: Report, item: dict[str, Any], aid: str | None = None) -> Annotation:
        now = self.em._now()
        external = item.get("external_id") or aid
        existing = None
        for a in rep.annotations.values():
            if (external and a.external_id == external) or (aid and a.uuid == aid):
                existing = a
                break
        kept = {k: v for k, v in item.items() if k not in ("uuid", "external_id", "type", "created_on", "updated_on")}
        if existing is not None:
            existing.fields, existing.updated_on = kept, now
            return existing
        ann = Annotation(self.em._uuid(), external, kept, now, now)
        rep.annotations[ann.uuid] = ann
        return ann

    def bulk_annotations(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx, "write")
        rep = self._report(ctx, repo, self._commit(ctx, repo))
        body = ctx.json()
        if not isinstance(body, list) or not body:
            raise EmulatorError(400, "Bad request", "Expected a JSON array of 1 to 100 annotations.")
        if len(body) > MAX_ANNOTATIONS_PER_REQUEST:
            raise EmulatorError(400, "Bad request",
                                f"Too many annotations in one request: {len(body)} (maximum {MAX_ANNOTATIONS_PER_REQUEST}).")
        fields: dict[str, list[str]] = {}
        for i, item in enumerate(body):
            fields.update(self._annotation_fields(item, str(i)))
        externals = [item.get("external_id") for item in body if isinstance(item, dict) and item.get("external_id")]
        if len(externals) != len(set(externals)):
            fields["external_id"] = ["Duplicate external_id in the request."]
        if fields:
            raise EmulatorError(400, "Bad request", fields=fields)
        known = {a.external_id for a in rep.annotations.values()}
        new = sum(1 for e in body if not e.get("external_id") or e["external_id"] not in known)
        if len(rep.annotations) + new > MAX_ANNOTATIONS_PER_REPORT:
            raise EmulatorError(400, "Bad request",
                                f"A report can hold at most {MAX_ANNOTATIONS_PER_REPORT} annotations.")
        stored = [self._store_annotation(rep, item) for item in body]
        return self.ok([self.em.renderer.annotation(a) for a in stored])

    def _annotation(self, ctx: Ctx, rep: Report) -> Annotation:
        aid = unquote(ctx.args["aid"])
        for a in rep.annotations.values():
            if a.uuid == aid or a.external_id == aid:
                return a
        raise EmulatorError(404, "Annotation not found.")

    def get_annotation(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx)
        rep = self._report(ctx, repo, self._commit(ctx, repo))
        return self.ok(self.em.renderer.annotation(self._annotation(ctx, rep)))

    def put_annotation(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx, "write")
        rep = self._report(ctx, repo, self._commit(ctx, repo))
        body = ctx.json()
        fields = self._annotation_fields(body, "")
        if fields:
            raise EmulatorError(400, "Bad request", fields=fields)
        aid = unquote(ctx.args["aid"])
        if not any(a.uuid == aid or a.external_id == aid for a in rep.annotations.values()):
            if len(rep.annotations) >= MAX_ANNOTATIONS_PER_REPORT:
                raise EmulatorError(400, "Bad request",
                                    f"A report can hold at most {MAX_ANNOTATIONS_PER_REPORT} annotations.")
        item = dict(body)
        if not aid.startswith("{"):
            item["external_id"] = aid
        return self.ok(self.em.renderer.annotation(self._store_annotation(rep, item, aid)))

    def delete_annotation(self, ctx: Ctx) -> HttpResponse:
        repo = self._repo(ctx, "write")
        rep = self._report(ctx, repo, self._commit(ctx, repo))
        del rep.annotations[self._annotation(ctx, rep).uuid]
        return HttpResponse(204)

    # -- webhooks ------------------------------------------------------------------------------------

    def _hook_subject(self, ctx: Ctx) -> Repository | Workspace:
        """The repository (needs admin) or workspace (needs owner) that hooks live on (§6.10)."""
        if "repo" in ctx.args:
            repo = self._repo(ctx, "read")
            if self.em.permission(ctx.user, repo) != "admin":
                raise EmulatorError(403, "You must be an administrator of this repository to manage its webhooks.")
            return repo
        ws = self._workspace(ctx)
        user = self._actor(ctx)
        if ws.members.get(user.uuid, (None, ""))[1] != "owner":
            raise EmulatorError(403, "Only workspace owners can manage workspace webhooks.")
        return ws

    def _hook(self, ctx: Ctx, subject: Repository | Workspace) -> Hook:
        uid = unquote(ctx.args["uid"])
        hook = subject.hooks.get(uid) or subject.hooks.get("{" + uid.strip("{}") + "}")
        if hook is None:
            raise EmulatorError(404, "Webhook not found.")
        return hook

    def list_hooks(self, ctx: Ctx) -> HttpResponse:
        subject = self._hook_subject(ctx)
        return self.page(ctx, list(subject.hooks.values()), self.em.renderer.hook)

    def create_hook(self, ctx: Ctx) -> HttpResponse:
        subject = self._hook_subject(ctx)
        body = ctx.json()
        if not isinstance(body, dict):
            raise EmulatorError(400, "Bad request", "Expected a JSON object.")
        secret = body.get("secret")
        hook = self.em.add_hook(
            subject, body.get("url"), body.get("events"), secret=secret or None,
            description=body.get("description") or "", active=bool(body.get("active", True)),
            skip_cert_verification=bool(body.get("skip_cert_verification", False)),
        ) if isinstance(body.get("events"), list) else self._invalid_hook(body)
        return self.ok(self.em.renderer.hook(hook), 201)

    def _invalid_hook(self, body: dict[str, Any]) -> Hook:
        self.em.validate_hook(body.get("url"), body.get("events"), body.get("secret"))
        raise EmulatorError(400, "Bad request", fields={"events": ["This field is required."]})

    def get_hook(self, ctx: Ctx) -> HttpResponse:
        subject = self._hook_subject(ctx)
        return self.ok(self.em.renderer.hook(self._hook(ctx, subject)))

    def update_hook(self, ctx: Ctx) -> HttpResponse:
        subject = self._hook_subject(ctx)
        hook = self._hook(ctx, subject)
        body = ctx.json()
        if not isinstance(body, dict):
            raise EmulatorError(400, "Bad request", "Expected a JSON object.")
        url = body.get("url", hook.url)
        events = body.get("events", hook.events)
        secret = body["secret"] if "secret" in body else hook.secret  # omitted: unchanged; null: removed
        self.em.validate_hook(url, events, secret)
        hook.url, hook.events, hook.secret = url, list(events), secret or None
        if "description" in body:
            hook.description = body["description"] or ""
        if "active" in body:
            hook.active = bool(body["active"])
        if "skip_cert_verification" in body:
            hook.skip_cert_verification = bool(body["skip_cert_verification"])
        return self.ok(self.em.renderer.hook(hook))

    def delete_hook(self, ctx: Ctx) -> HttpResponse:
        subject = self._hook_subject(ctx)
        hook = self._hook(ctx, subject)
        del subject.hooks[hook.uuid]
        return HttpResponse(204)

    def hook_event_subjects(self, ctx: Ctx) -> HttpResponse:
        base = self.em.base_url
        return self.ok({
            "repository": {"links": {"events": {"href": f"{base}/hook_events/repository"}}},
            "workspace": {"links": {"events": {"href": f"{base}/hook_events/workspace"}}},
        })

    def hook_events(self, ctx: Ctx) -> HttpResponse:
        from bbreview.testing.fake import HOOK_EVENTS

        subject = ctx.args["subject"]
        if subject not in ("repository", "workspace"):
            raise EmulatorError(404, f"Unknown subject type: {subject}")
        categories = {"pullrequest": "Pull Request", "repo": "Repository", "issue": "Issue",
                      "pipeline": "Pipeline", "project": "Project"}
        events = [e for e in HOOK_EVENTS if subject == "workspace" or not e.startswith("project:")]

        def render(e: str) -> dict[str, Any]:
            family, action = e.split(":")
            label = action.replace("_", " ").capitalize()
            return {"type": "hook_event", "event": e, "category": categories[family], "label": label,
                    "description": f"{categories[family]} {action.replace('_', ' ')}"}

        return self.page(ctx, events, render, default=50)


_CORS = [("Access-Control-Allow-Origin", "*")]
