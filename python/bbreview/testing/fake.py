"""``FakeBitbucket``: a local emulator of Bitbucket Cloud's REST API 2.0 and webhooks.

It follows ``shared/reference/bitbucket-cloud-api.md`` (cited as §n): the same
paths, JSON shapes, status codes, error bodies and quirks. Where the reference
marks a behaviour unconfirmed, :class:`Quirks` makes it configurable and its
default is the stricter (safer) choice.

Typical use::

    with FakeBitbucket() as bb:
        ws = bb.add_workspace("acme")
        bot = bb.add_user("review-bot", email="bot@example.com")
        token = bb.add_api_token(bot, scopes=BOT_SCOPES)
        repo = bb.add_repository(ws, "app", admins=[bot])
        bb.commit(repo, "main", {"app.py": "print('hi')\\n"}, author=bot)
        ...
        urllib.request.urlopen(...)  # against bb.base_url with token.basic_auth()

The server runs on its own thread and event loop; every public method is safe to
call from any other thread.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import random
import re
import shutil
import ssl
import tempfile
import threading
import time
import uuid as uuidlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

from bbreview.testing._errors import EmulatorError
from bbreview.testing._git import GitRepo
from bbreview.testing._http import HttpRequest, HttpResponse, HttpServer, ServerLimits
from bbreview.testing._model import (
    AccessToken,
    ApiToken,
    Comment,
    Hook,
    Participant,
    Project,
    PullRequest,
    Repository,
    Task,
    User,
    Workspace,
)
from bbreview.testing._render import Renderer, Urls
from bbreview.testing._webhooks import Deliverer, Delivery, DeliveryOptions

__all__ = [
    "ALL_API_TOKEN_SCOPES",
    "BOT_SCOPES",
    "FakeBitbucket",
    "Quirks",
    "RecordedRequest",
    "HOOK_EVENTS",
]

#: Every fine-grained API-token scope (§2.1).
ALL_API_TOKEN_SCOPES = frozenset(
    f"{action}:{resource}:bitbucket"
    for resource, actions in {
        "repository": ("read", "write", "admin", "delete"),
        "pullrequest": ("read", "write"),
        "project": ("read", "admin"),
        "workspace": ("read", "admin"),
        "user": ("read", "write"),
        "pipeline": ("read", "write", "admin"),
        "runner": ("read", "write"),
        "issue": ("read", "write", "delete"),
        "webhook": ("read", "write", "delete"),
        "snippet": ("read", "write", "delete"),
        "ssh-key": ("read", "write", "delete"),
        "gpg-key": ("read", "write", "delete"),
        "permission": ("read", "write", "delete"),
    }.items()
    for action in actions
)

#: The scopes a review bot's API token needs (§2.8), including deleting hooks
#: and writing statuses/Code Insights (see Quirks.enforce_write_scope_for_statuses).
BOT_SCOPES = frozenset(
    {
        "read:user:bitbucket",
        "read:workspace:bitbucket",
        "read:repository:bitbucket",
        "write:repository:bitbucket",
        "read:pullrequest:bitbucket",
        "write:pullrequest:bitbucket",
        "read:webhook:bitbucket",
        "write:webhook:bitbucket",
        "delete:webhook:bitbucket",
    }
)

#: Classic scopes of access tokens (§2.2).
ALL_ACCESS_TOKEN_SCOPES = frozenset(
    {
        "repository", "repository:write", "repository:admin", "repository:delete",
        "pullrequest", "pullrequest:write", "webhook", "pipeline", "pipeline:write",
        "pipeline:variable", "runner", "runner:write", "project", "project:admin", "account",
    }
)

#: Subscribable events (§6.10).
HOOK_EVENTS = (
    "issue:comment_created", "issue:created", "issue:updated", "pipeline:span_created",
    "project:updated", "pullrequest:approved", "pullrequest:changes_request_created",
    "pullrequest:changes_request_removed", "pullrequest:comment_created",
    "pullrequest:comment_deleted", "pullrequest:comment_reopened", "pullrequest:comment_resolved",
    "pullrequest:comment_updated", "pullrequest:created", "pullrequest:fulfilled",
    "pullrequest:push", "pullrequest:rejected", "pullrequest:unapproved", "pullrequest:updated",
    "repo:commit_comment_created", "repo:commit_status_created", "repo:commit_status_updated",
    "repo:created", "repo:deleted", "repo:fork", "repo:imported", "repo:push", "repo:transfer",
    "repo:updated",
)

#: Rate-limit window (§5): rolling one hour.
RATE_WINDOW_S = 3600.0
#: Default hourly budget per identity for repository data and for webhook data (§5).
DEFAULT_RATE_LIMIT = 1000
#: Anonymous calls are limited per IP (§5).
DEFAULT_ANONYMOUS_RATE_LIMIT = 60


@dataclass
class Quirks:
    """Behaviours the reference leaves unconfirmed, or that tests need to bend.

    Each default is the stricter choice, so a client that passes against the
    emulator also copes with the real service.
    """

    #: §2.1 [U]: API tokens as ``Bearer``; third-party tools report 401.
    accept_api_token_as_bearer: bool = False
    #: §2.8 [U]: whether writing statuses/Code Insights also needs ``write:repository``.
    enforce_write_scope_for_statuses: bool = True
    #: Not stated: whether classic access-token scopes imply each other (``pullrequest:write`` ⇒ ``pullrequest``).
    classic_scopes_imply: bool = False
    #: §6.4 [U]: whether ``context``/``path``/``ignore_whitespace`` on the PR ``/diff`` survive the 302.
    forward_diff_params_on_redirect: bool = False
    #: §6.2 says 403 for a private repository the caller cannot see; §3 says it often looks like 404.
    hidden_repository_status: int = 403
    #: §6.1, §3 [U]: deprecated endpoints (``/workspaces``, ``/user/permissions/*``, ``/repositories``)
    #: answer ``410`` ("gone") or are still served ("serve").
    deprecated_endpoints: str = "gone"
    #: §2.7: ``granted`` "may be absent" in the 403 scope error.
    scope_error_includes_granted: bool = True
    #: §8 [U]: comment size limit (characters of ``content.raw``); above it a 400 HTML page.
    max_comment_chars: int | None = 32768
    #: §6.5 [T]: reject a top-level ``"type"`` and ``null`` values in comment bodies.
    strict_comment_body: bool = True
    #: §9.4 [U]: refuse inline comments on lines that are not in the PR diff (else accepted,
    #: but resolving them answers 403).
    reject_inline_outside_diff: bool = False
    #: §6.3 [T]: a PUT without ``reviewers`` drops the reviewers (send read-modify-write bodies).
    put_without_reviewers_clears: bool = True
    #: §6.7 [U]: approving or requesting changes on your own PR.
    allow_self_approval: bool = False
    #: §6.4 "chronological" PR commits: oldest first (else newest first, like git log).
    pr_commits_oldest_first: bool = True
    #: §7.4 [T]: a push to a PR's source branch fires ``pullrequest:updated``.
    pr_updated_on_push: bool = True
    #: §1: payload hashes are 12 characters; applies to ``repo:push`` targets too.
    push_hash_length: int = 12
    #: §1 [C]: writes without Content-Length get 411.
    require_content_length: bool = True
    #: §6.10 [C]: hook URLs must be public; loopback receivers need this True in tests.
    allow_private_hook_urls: bool = True
    #: §7.1 [U]: ``X-Request-UUID`` stays the same across retries.
    webhook_request_uuid_stable: bool = False
    #: §7.3 [T]: timeouts are retried like 5xx.
    webhook_retry_on_timeout: bool = True
    #: §6.4: a fork PR's spec names the fork on its source side (``{ws}/{fork}:{hash}``); not
    #: stated: whether a repository also finds its forks' commits without that prefix (in
    #: ``/src``, ``/commit``, statuses, reports and diff specs). Default: no, only its own.
    fork_commits_visible_in_parent: bool = False
    #: §6.4 shows the ``{ws}/{repo}:`` prefix on the source side of a spec only; not stated:
    #: whether the base side (after ``..``/``%0D``) may name a fork too. Default: no (404).
    fork_prefix_on_base_side: bool = False


@dataclass
class RecordedRequest:
    """One request the emulator received. ``Authorization`` and secrets are redacted."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    started_at: float
    status: int | None = None
    identity: str | None = None
    dropped: bool = False
    duration_s: float = 0.0

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class RawResponse:
    """An answer as received by :meth:`FakeBitbucket.request` (redirects are not followed)."""

    status: int
    headers: dict[str, str]  # lower-case names; the last value of a repeated header wins
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class _Fault:
    kind: str  # "status" | "drop"
    status: int
    remaining: int
    method: str | None
    path: str | None


@dataclass
class _Identity:
    kind: str  # api_token | access_token | anonymous
    user: User | None
    scopes: frozenset[str]
    credential_type: str | None
    key: str  # rate-limit key
    token: ApiToken | AccessToken | None = None


def _redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for k, v in headers.items():
        if k in ("authorization", "proxy-authorization", "cookie"):
            scheme = v.split(" ", 1)[0] if " " in v else ""
            out[k] = f"{scheme} <redacted>".strip()
        else:
            out[k] = v
    return out


def _redact_body(body: bytes) -> bytes:
    """Replaces a JSON body's ``secret`` (webhook secrets) so recordings never hold it."""
    if b'"secret"' not in body:
        return body
    try:
        obj = json.loads(body)
    except ValueError:
        return b"<redacted: unparsable body mentioning a secret>"
    if isinstance(obj, dict) and obj.get("secret") is not None:
        obj["secret"] = "<redacted>"
    return json.dumps(obj).encode()


class FakeBitbucket:
    """An emulated Bitbucket Cloud on 127.0.0.1, backed by real git repositories.

    Args:
        host, port: where to listen (port 0 picks a free port).
        tls: serve HTTPS with a generated CA (see ``ca_file``).
        gzip: compress responses when the client sends ``Accept-Encoding: gzip``.
        workdir: where git repositories live (default: a temporary directory,
            removed by ``stop``).
        seed: makes generated ids and tokens reproducible.
        quirks: see :class:`Quirks`.
        rate_limit: hourly budget per identity (``None``: unlimited), §5.
        anonymous_rate_limit: hourly budget per IP for anonymous calls.
        latency: seconds added to every request (or a callable from the request
            to seconds); awaited, so it never blocks other requests.
        diff_size_limit: diffs larger than this many bytes answer 555 (§3).
        webhook_timeout: seconds a receiver has to answer (§7.3: 10).
        webhook_backoff: delay before retry n (Bitbucket's is not configurable).
        web_url: the web UI base that ``links.html`` point at.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        gzip: bool = True,
        workdir: str | None = None,
        seed: int | None = None,
        quirks: Quirks | None = None,
        rate_limit: int | None = DEFAULT_RATE_LIMIT,
        anonymous_rate_limit: int | None = DEFAULT_ANONYMOUS_RATE_LIMIT,
        latency: float | Callable[[HttpRequest], float] = 0.0,
        diff_size_limit: int | None = None,
        webhook_timeout: float = 10.0,
        webhook_backoff: Callable[[int], float] | float = 0.05,
        webhook_ca_file: str | None = None,
        web_url: str = "https://bitbucket.org",
        limits: ServerLimits | None = None,
        max_recorded_requests: int = 100_000,
    ) -> None:
        self.host = host
        self.quirks = quirks or Quirks()
        self.gzip = gzip
        self.rate_limit = rate_limit
        self.anonymous_rate_limit = anonymous_rate_limit
        self.webhook_rate_limit: int | None = rate_limit
        self.latency = latency
        self.diff_size_limit = diff_size_limit
        self.error_rate = 0.0
        self.error_status = 500
        self.drop_rate = 0.0
        self._rng = random.Random(seed)
        self._fault_rng = random.Random(seed)
        self._lock = threading.RLock()
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="bbreview-fake-")
        os.makedirs(self.workdir, exist_ok=True)
        self._home = os.path.join(self.workdir, ".home")
        os.makedirs(self._home, exist_ok=True)
        self._tls = tls
        self._limits = limits
        self._port = port
        self._web_url = web_url
        self.ca_file: str | None = None
        self.cert_file: str | None = None
        self._server_ssl: ssl.SSLContext | None = None
        if tls:
            from bbreview.testing._tls import make_tls_files

            files = make_tls_files(os.path.join(self.workdir, ".tls"))
            self.ca_file, self.cert_file = files.ca_cert, files.cert
            self._server_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._server_ssl.load_cert_chain(files.cert, files.key)
        backoff = webhook_backoff if callable(webhook_backoff) else (lambda n, d=webhook_backoff: d * n)
        self._delivery_options = DeliveryOptions(
            timeout_s=webhook_timeout,
            backoff=backoff,
            retry_on_timeout=self.quirks.webhook_retry_on_timeout,
            request_uuid_stable=self.quirks.webhook_request_uuid_stable,
            ca_file=webhook_ca_file,
        )
        # state
        self.workspaces: dict[str, Workspace] = {}
        self.users: dict[str, User] = {}  # uuid -> user
        self.api_tokens: dict[str, ApiToken] = {}  # token string -> token
        self.access_tokens: dict[str, AccessToken] = {}
        self._token_users: dict[str, AccessToken] = {}  # pseudo-user uuid -> its token
        self.requests: deque[RecordedRequest] = deque(maxlen=max_recorded_requests)
        self.deliveries: list[Delivery] = []
        self._faults: list[_Fault] = []
        self._rate: dict[str, deque[float]] = {}
        self._clock_offset = 0.0
        self._next_comment_id = 1000
        self._next_task_id = 1
        self._commit_clock = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        self._cache: OrderedDict[object, Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_capacity = 20_000
        # runtime
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: HttpServer | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._deliverer: Deliverer | None = None
        self._pending_deliveries: list[tuple[Delivery, Hook]] = []
        self._delivery_futures: set[concurrent.futures.Future] = set()
        self.port: int | None = None
        from bbreview.testing._api import Api

        self._api = Api(self)
        self.renderer = Renderer(Urls(api="https://api.bitbucket.org/2.0", web=web_url))

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeBitbucket:
        """Starts serving on a background thread; returns self. Idempotent."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="fake-bitbucket-git")
        self._deliverer = Deliverer(self._delivery_options)
        self._server = HttpServer(
            self._handle, self.host, self._port, self._server_ssl, self._limits, gzip_enabled=lambda: self.gzip
        )
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-bitbucket", daemon=True)
        self._thread.start()
        ready.wait()
        asyncio.run_coroutine_threadsafe(self._server.start(), loop).result()
        self.port = self._server.port
        scheme = "https" if self._tls else "http"
        self.root_url = f"{scheme}://{self.host}:{self.port}"
        with self._lock:
            self.renderer = Renderer(Urls(api=f"{self.root_url}/2.0", web=self._web_url))
            pending, self._pending_deliveries = self._pending_deliveries, []
        for delivery, hook in pending:
            self._schedule(delivery, hook)
        return self

    def stop(self) -> None:
        """Stops the server, waits for in-flight deliveries, removes the temporary workdir."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            self._cleanup()
            return
        for fut in list(self._delivery_futures):
            try:
                fut.result(timeout=self._delivery_options.timeout_s * 3 + 5)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                fut.cancel()
        assert self._server is not None
        asyncio.run_coroutine_threadsafe(self._server.stop(), loop).result(timeout=30)

        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()

        asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        assert self._pool is not None
        self._pool.shutdown(wait=True)
        self._loop = self._thread = self._server = self._pool = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> FakeBitbucket:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:PORT/2.0`` (like ``https://api.bitbucket.org/2.0``)."""
        if self.port is None:
            raise RuntimeError("FakeBitbucket is not started; call start() or use it as a context manager")
        return f"{self.root_url}/2.0"

    def client_ssl_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this emulator's CA (TLS mode only)."""
        if self.ca_file is None:
            raise RuntimeError("FakeBitbucket(tls=True) is needed for an SSL context")
        return ssl.create_default_context(cafile=self.ca_file)

    def __repr__(self) -> str:
        where = self.root_url if self.port else "not started"
        return f"FakeBitbucket({where}, workspaces={sorted(self.workspaces)})"

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: ApiToken | AccessToken | str | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> RawResponse:
        """Sends one HTTP request to this emulator and returns the raw answer.

        ``path`` is relative to the API base (``/user``) or absolute (``/2.0/user``,
        or a full URL such as a ``next`` link). ``auth`` is a token object (Basic for
        API tokens, Bearer for access tokens) or a literal ``Authorization`` value.
        """
        import gzip as gzip_module
        import http.client
        from urllib.parse import urlsplit

        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        elif not path.startswith("/2.0"):
            path = "/2.0" + path
        hdrs = dict(headers or {})
        if isinstance(auth, ApiToken):
            hdrs["Authorization"] = auth.basic_auth()
        elif isinstance(auth, AccessToken):
            hdrs["Authorization"] = auth.bearer_auth()
        elif isinstance(auth, str):
            hdrs["Authorization"] = auth
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        assert self.port is not None, "start() the emulator first"
        if self._tls:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self.client_ssl_context())
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            out_headers = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        if out_headers.get("content-encoding") == "gzip":
            data = gzip_module.decompress(data)
        return RawResponse(resp.status, out_headers, data)

    # -- ids and time -----------------------------------------------------------------

    def _uuid(self) -> str:
        return "{" + str(uuidlib.UUID(int=self._rng.getrandbits(128), version=4)) + "}"

    def _now(self) -> str:
        return datetime.now(timezone.utc).isoformat(timespec="microseconds")

    def _token(self, prefix: str) -> str:
        return prefix + base64.urlsafe_b64encode(self._rng.randbytes(36)).decode().rstrip("=")

    def _tick_commit_clock(self) -> datetime:
        self._commit_clock += timedelta(minutes=7)
        return self._commit_clock

    def monotonic(self) -> float:
        """The clock of rate-limit windows; ``advance_time`` moves it forward."""
        return time.monotonic() + self._clock_offset

    def advance_time(self, seconds: float) -> None:
        """Moves the rate-limit clock forward (e.g. by 3600 to refill every budget)."""
        with self._lock:
            self._clock_offset += seconds

    # -- scripting: accounts ------------------------------------------------------------

    def add_user(
        self,
        nickname: str,
        display_name: str | None = None,
        *,
        email: str | None = None,
        account_id: str | None = None,
        uuid: str | None = None,
    ) -> User:
        """Creates an Atlassian account (email is the Basic-auth username of its API tokens)."""
        with self._lock:
            user = User(
                uuid=uuid or self._uuid(),
                account_id=account_id or f"557058:{uuidlib.UUID(int=self._rng.getrandbits(128), version=4)}",
                nickname=nickname,
                display_name=display_name or nickname,
                email=email or f"{nickname.lower().replace(' ', '.')}@example.com",
                created_on=self._now(),
            )
            self.users[user.uuid] = user
            return user

    def add_api_token(
        self,
        user: User,
        scopes: Iterable[str] = BOT_SCOPES,
        *,
        name: str = "api-token",
        expired: bool = False,
        token: str | None = None,
    ) -> ApiToken:
        """Gives ``user`` an API token with fine-grained ``scopes`` (§2.1).

        Scopes may be written without the ``:bitbucket`` suffix. A token with no
        Bitbucket scope answers 401 JSON, as the reference says.
        """
        full = frozenset(s if s.endswith(":bitbucket") else f"{s}:bitbucket" for s in scopes)
        unknown = full - ALL_API_TOKEN_SCOPES
        if unknown:
            raise ValueError(f"unknown API-token scopes: {sorted(unknown)}")
        with self._lock:
            tok = ApiToken(token or self._token("ATATT3x"), user, full, name, expired)
            self.api_tokens[tok.token] = tok
            return tok

    def add_access_token(
        self,
        subject: Repository | Project | Workspace,
        scopes: Iterable[str],
        *,
        name: str = "access-token",
        token: str | None = None,
    ) -> AccessToken:
        """Creates a repository, project or workspace access token with classic ``scopes`` (§2.2)."""
        scopes = frozenset(scopes)
        unknown = scopes - ALL_ACCESS_TOKEN_SCOPES
        if unknown:
            raise ValueError(f"unknown access-token scopes: {sorted(unknown)}")
        kind = {Repository: "repository", Project: "project", Workspace: "workspace"}[type(subject)]
        with self._lock:
            ident = self._uuid()
            bot = User(
                uuid=ident,
                account_id=f"712020:{ident.strip('{}')}",
                nickname=name,
                display_name=name,
                email=f"{ident.strip('{}')}@bots.bitbucket.org",
                created_on=self._now(),
                type="app_user",
                kind={"repository": "repo_access_token"}.get(kind, f"{kind}_access_token"),
            )
            self.users[bot.uuid] = bot
            tok = AccessToken(token or self._token("ATCTT3x"), name, scopes, kind, subject, bot)
            self.access_tokens[tok.token] = tok
            self._token_users[bot.uuid] = tok
            return tok

    def revoke(self, token: ApiToken | AccessToken) -> None:
        with self._lock:
            token.revoked = True

    def add_workspace(self, slug: str, name: str | None = None, *, owners: Iterable[User] = ()) -> Workspace:
        with self._lock:
            if slug in self.workspaces:
                raise ValueError(f"workspace {slug!r} exists")
            ws = Workspace(uuid=self._uuid(), slug=slug, name=name or slug, created_on=self._now())
            ws.projects["PROJ"] = Project(self._uuid(), "PROJ", "Default project", ws)
            self.workspaces[slug] = ws
            for user in owners:
                ws.members[user.uuid] = (user, "owner")
            return ws

    def add_member(self, workspace: Workspace, user: User, permission: str = "member") -> None:
        """Adds ``user`` to ``workspace`` as owner, create-project, collaborator or member (§6.1)."""
        if permission not in ("owner", "create-project", "collaborator", "member"):
            raise ValueError(f"invalid workspace permission {permission!r}")
        with self._lock:
            workspace.members[user.uuid] = (user, permission)

    def add_project(self, workspace: Workspace, key: str, name: str | None = None) -> Project:
        with self._lock:
            project = Project(self._uuid(), key, name or key, workspace)
            workspace.projects[key] = project
            return project

    # -- scripting: repositories and git ----------------------------------------------

    def add_repository(
        self,
        workspace: Workspace,
        slug: str,
        *,
        name: str | None = None,
        private: bool = True,
        mainbranch: str = "main",
        description: str = "",
        project: Project | None = None,
        admins: Iterable[User] = (),
        writers: Iterable[User] = (),
        readers: Iterable[User] = (),
        files: Mapping[str, str | bytes] | None = None,
        author: User | None = None,
    ) -> Repository:
        """Creates a repository (and its bare git repository). ``files`` makes an initial commit."""
        with self._lock:
            if slug in workspace.repositories:
                raise ValueError(f"repository {workspace.slug}/{slug} exists")
            git = GitRepo(os.path.join(self.workdir, workspace.slug, f"{slug}.git"), self._home)
            git.create(mainbranch)
            now = self._now()
            repo = Repository(
                uuid=self._uuid(),
                workspace=workspace,
                slug=slug,
                name=name or slug,
                description=description,
                is_private=private,
                mainbranch=mainbranch,
                project=project or workspace.projects["PROJ"],
                created_on=now,
                updated_on=now,
                git=git,
            )
            workspace.repositories[slug] = repo
            for users, perm in ((readers, "read"), (writers, "write"), (admins, "admin")):
                for user in users:
                    repo.permissions[user.uuid] = (user, perm)
            if files:
                self.commit(repo, mainbranch, files, message="Initial commit", author=author, notify=False)
            return repo

    def grant(self, repo: Repository, user: User, permission: str | None) -> None:
        """Sets ``user``'s explicit permission on ``repo``: admin, write, read or None (revoke)."""
        if permission not in (None, "admin", "write", "read"):
            raise ValueError(f"invalid repository permission {permission!r}")
        with self._lock:
            if permission is None:
                repo.permissions.pop(user.uuid, None)
            else:
                repo.permissions[user.uuid] = (user, permission)

    def fork_repository(
        self,
        repo: Repository,
        workspace: Workspace,
        *,
        slug: str | None = None,
        name: str | None = None,
        owner: User | None = None,
        private: bool | None = None,
        description: str | None = None,
        admins: Iterable[User] = (),
        writers: Iterable[User] = (),
        readers: Iterable[User] = (),
    ) -> Repository:
        """Forks ``repo`` into ``workspace`` (default slug: the parent's) and returns the fork.

        The fork starts with every branch of ``repo`` and shares its history: the
        network's git repositories read each other's objects, so the parent can diff
        the fork's commits (§6.4: fork PR specs point at the fork). Its JSON carries
        ``parent`` (§6.2, §7.4). ``owner`` (the user forking) becomes an admin of the
        fork; ``private`` defaults to the parent's, and a private parent's forks must
        be private (``fork_policy: no_public_forks``). Who else can read the fork is
        up to ``admins``/``writers``/``readers`` and the workspace, as for any
        repository: a private fork the bot cannot read answers 403 (or 404, see
        ``Quirks.hidden_repository_status``). No webhook fires (``repo:fork``'s
        payload is not in the reference).
        """
        assert repo.git is not None
        with self._lock:
            slug = slug or repo.slug
            if slug in workspace.repositories:
                raise ValueError(f"repository {workspace.slug}/{slug} exists")
            is_private = repo.is_private if private is None else private
            if repo.is_private and not is_private:
                raise EmulatorError(400, "Bad request", "Forks of a private repository must be private.",
                                    {"is_private": ["no_public_forks: this repository's forks must be private"]})
            git = repo.git.fork_to(os.path.join(self.workdir, workspace.slug, f"{slug}.git"), self._home)
            now = self._now()
            fork = Repository(
                uuid=self._uuid(),
                workspace=workspace,
                slug=slug,
                name=name or repo.name,
                description=repo.description if description is None else description,
                is_private=is_private,
                mainbranch=repo.mainbranch,
                project=workspace.projects["PROJ"],
                created_on=now,
                updated_on=now,
                git=git,
                language=repo.language,
                parent=repo,
            )
            workspace.repositories[slug] = fork
            repo.forks.append(fork)
            network = fork.network
            for member in network:
                assert member.git is not None
                member.git.set_alternates(
                    other.git.objects_dir for other in network if other is not member and other.git is not None)
            for users, perm in ((readers, "read"), (writers, "write"), (admins, "admin")):
                for user in users:
                    fork.permissions[user.uuid] = (user, perm)
            if owner is not None:
                fork.permissions[owner.uuid] = (owner, "admin")
            return fork

    def commit(
        self,
        repo: Repository,
        branch: str,
        files: Mapping[str, str | bytes | None],
        *,
        message: str = "Update files",
        author: User | None = None,
        parent: str | None = None,
        executable: Iterable[str] = (),
        notify: bool = True,
    ) -> str:
        """Commits ``files`` (content, or None to delete) on ``branch`` and returns the full hash.

        A new branch starts from ``parent`` (default: the main branch tip). Pull
        requests whose source or destination is ``branch`` follow it; with
        ``notify`` the push fires ``repo:push`` (and ``pullrequest:updated`` for a
        PR's source branch, §7.4).
        """
        assert repo.git is not None
        with self._lock:
            old = repo.git.branches.get(branch)
            base = parent or old or repo.git.branches.get(repo.mainbranch)
            who = author or self._default_author(repo)
            full = repo.git.commit(
                branch, files, message, who.display_name, who.email, self._tick_commit_clock(), base, executable
            )
            repo.updated_on = self._now()
            self._after_push(repo, branch, old, full, who, notify=notify)
            return full

    def create_branch(self, repo: Repository, name: str, start: str | None = None, *, author: User | None = None) -> str:
        """Creates ``name`` at ``start`` (a branch or hash; default the main branch). Returns its tip."""
        assert repo.git is not None
        with self._lock:
            target = repo.git.resolve(start or repo.mainbranch)
            if target is None:
                raise ValueError(f"cannot resolve {start!r} in {repo.full_name}")
            repo.git.set_branch(name, target)
            self._after_push(repo, name, None, target, author or self._default_author(repo))
            return target

    def delete_branch(self, repo: Repository, name: str, *, author: User | None = None) -> None:
        assert repo.git is not None
        with self._lock:
            old = repo.git.branches.get(name)
            repo.git.set_branch(name, None)
            if old:
                self._after_push(repo, name, old, None, author or self._default_author(repo))

    def _default_author(self, repo: Repository) -> User:
        for user, perm in repo.permissions.values():
            if perm == "admin":
                return user
        for user, perm in repo.workspace.members.values():
            if perm == "owner":
                return user
        existing = [u for u in self.users.values() if u.nickname == "emulator"]
        return existing[0] if existing else self.add_user("emulator", "Emulator", email="emulator@example.com")

    def _after_push(
        self, repo: Repository, branch: str, old: str | None, new: str | None, actor: User, notify: bool = True
    ) -> None:
        assert repo.git is not None
        if notify and self._hooks_for(repo, "repo:push"):
            commits = repo.git.log([new], [old] if old else [], limit=5) if new else []
            self._emit(repo, "repo:push", lambda: self._push_payload(repo, branch, old, new, commits, actor))
        prs = [pr for member in repo.network for pr in member.pull_requests.values()
               if pr.repo is repo or pr.source_repository is repo]
        for pr in prs:
            if pr.state != "OPEN":
                continue
            if pr.source_repository is repo and pr.source_branch == branch and new and new != pr.source_commit:
                previous = pr.source_commit
                pr.source_commit = new
                pr.updated_on = self._now()
                self._mark_outdated(pr, previous, new)
                if notify and self.quirks.pr_updated_on_push:
                    self._emit_pr(pr, "pullrequest:updated", actor)
            if pr.repo is repo and pr.destination_branch == branch and new:
                pr.destination_commit = new

    def _mark_outdated(self, pr: PullRequest, old: str, new: str) -> None:
        assert pr.repo.git is not None
        changed = pr.repo.git.changed_paths(old, new)
        for c in pr.comments.values():
            if c.inline is not None and c.inline["path"] in changed:
                c.outdated = True

    def _push_payload(
        self, repo: Repository, branch: str, old: str | None, new: str | None, commits: list, actor: User
    ) -> dict[str, Any]:
        assert repo.git is not None
        r = self.renderer
        n = self.quirks.push_hash_length

        def ref(commit: str | None) -> dict[str, Any] | None:
            if commit is None:
                return None
            info = repo.git.commit_info(commit)
            target = r.commit(repo, info, self._user_by_email(info.author_email), full=False)
            target["hash"] = commit[:n]
            target["parents"] = [r.commit_ref(repo, p, n) for p in info.parents]
            return {
                "type": "branch",
                "name": branch,
                "target": target,
                "links": {
                    "self": {"href": f"{r.urls.api}/repositories/{repo.full_name}/refs/branches/{branch}"},
                    "commits": {"href": f"{r.urls.api}/repositories/{repo.full_name}/commits/{branch}"},
                    "html": {"href": f"{r.urls.web}/{repo.full_name}/branch/{branch}"},
                },
            }

        listed = []
        for info in commits:
            c = r.commit(repo, info, self._user_by_email(info.author_email), full=False)
            c["hash"] = info.hash[:n]
            c["parents"] = [r.commit_ref(repo, p, n) for p in info.parents]
            listed.append(c)
        forced = bool(old and new and repo.git.merge_base(old, new) != old)
        change = {
            "new": ref(new),
            "old": ref(old),
            "created": old is None,
            "closed": new is None,
            "forced": forced,
            "truncated": len(commits) >= 5,
            "commits": listed,
            "links": {
                "html": {"href": f"{r.urls.web}/{repo.full_name}/branches/compare/{(new or '')[:n]}..{(old or '')[:n]}"},
                "diff": {"href": f"{r.urls.api}/repositories/{repo.full_name}/diff/{(new or '')[:n]}..{(old or '')[:n]}"},
                "commits": {"href": f"{r.urls.api}/repositories/{repo.full_name}/commits?include={(new or '')[:n]}"},
            },
        }
        return {
            "actor": r.user(actor),
            "repository": r.repository_payload(repo),
            "push": {"changes": [change]},
        }

    def _user_by_email(self, email: str) -> User | None:
        for user in self.users.values():
            if user.email.lower() == email.lower() and user.type == "user":
                return user
        return None

    # -- lookups ------------------------------------------------------------------------

    def workspace(self, slug: str) -> Workspace:
        return self.workspaces[slug]

    def repository(self, workspace: str, slug: str) -> Repository:
        return self.workspaces[workspace].repositories[slug]

    def pull_request(self, repo: Repository, pr_id: int) -> PullRequest:
        return repo.pull_requests[pr_id]

    def permission(self, user: User | None, repo: Repository) -> str:
        """``user``'s effective permission on ``repo``: admin, write, read or none."""
        if user is None:
            return "none" if repo.is_private else "read"
        tok = self._token_users.get(user.uuid)
        if tok is not None:
            return self._access_token_permission(tok, repo)
        explicit = repo.permissions.get(user.uuid, (None, "none"))[1]
        member = repo.workspace.members.get(user.uuid)
        if member and member[1] == "owner":
            return "admin"
        if explicit == "none" and not repo.is_private:
            return "read"
        return explicit

    def _access_token_permission(self, tok: AccessToken, repo: Repository) -> str:
        subject = tok.subject
        inside = (
            subject is repo
            or (tok.subject_type == "project" and repo.project is subject)
            or (tok.subject_type == "workspace" and repo.workspace is subject)
        )
        if tok.revoked or not inside:
            return "none" if repo.is_private else "read"
        if "repository:admin" in tok.scopes:
            return "admin"
        if {"repository:write", "pullrequest:write"} & tok.scopes:
            return "write"
        return "read"

    # -- scripting: pull requests -------------------------------------------------------

    def create_pull_request(
        self,
        repo: Repository,
        source: str,
        *,
        title: str,
        author: User,
        destination: str | None = None,
        description: str = "",
        reviewers: Sequence[User] = (),
        draft: bool = False,
        close_source_branch: bool = False,
        source_repo: Repository | None = None,
    ) -> PullRequest:
        """Opens a PR from branch ``source`` (fires ``pullrequest:created``).

        ``source_repo`` is where ``source`` lives when it is not ``repo``: a fork in
        ``repo``'s network (see :meth:`fork_repository`). The PR belongs to ``repo``
        (the destination); its ``source.repository`` is the fork, its diff spec
        names the fork (§6.4), and pushes to the fork's branch move it.
        """
        assert repo.git is not None
        origin = source_repo or repo
        if origin is not repo and origin not in repo.network:
            raise EmulatorError(400, "Bad request", f"{origin.full_name} is not a fork of {repo.full_name}.",
                                {"source": [f"repository not in the fork network: {origin.full_name}"]})
        assert origin.git is not None
        with self._lock:
            dest = destination or repo.mainbranch
            src_tip = origin.git.branches.get(source)
            if src_tip is None:
                raise EmulatorError(
                    400, "Bad request", "You must specify a valid source branch when creating a pull request.",
                    {"source": [f"branch not found: {source}"]},
                )
            dst_tip = repo.git.branches.get(dest)
            if dst_tip is None:
                raise EmulatorError(400, "Bad request", f"Destination branch not found: {dest}",
                                    {"destination": [f"branch not found: {dest}"]})
            if source == dest and origin is repo:
                raise EmulatorError(400, "Bad request", "Source and destination branches must differ.",
                                    {"destination": ["source and destination are the same"]})
            now = self._now()
            pr = PullRequest(
                repo=repo,
                id=repo.next_pr_id,
                title=title,
                description=description,
                author=author,
                source_branch=source,
                destination_branch=dest,
                source_commit=src_tip,
                destination_commit=dst_tip,
                created_on=now,
                updated_on=now,
                draft=draft,
                close_source_branch=close_source_branch,
                source_repo=origin if origin is not repo else None,
            )
            repo.next_pr_id += 1
            for user in reviewers:
                if user.uuid == author.uuid:
                    raise EmulatorError(400, "Bad request", "The author cannot be a reviewer.",
                                        {"reviewers": ["author cannot be a reviewer"]})
                pr.reviewers.append(user)
                pr.participants[user.uuid] = Participant(user, "REVIEWER")
            repo.pull_requests[pr.id] = pr
            pr.activity.append(("update", self._update_snapshot(pr, author), now))
            self._emit_pr(pr, "pullrequest:created", author)
            return pr

    def add_pull_requests(
        self,
        repo: Repository,
        count: int,
        *,
        author: User,
        files: Callable[[int], Mapping[str, str | bytes | None]] | None = None,
        title: str = "Change {i}",
        branch_prefix: str = "bulk/",
        reviewers: Sequence[User] = (),
    ) -> list[PullRequest]:
        """Opens ``count`` pull requests, each from a new branch with one commit on the main branch.

        All commits are written by one ``git fast-import`` (thousands per second),
        for benchmarks and notebooks. ``files(i)`` gives the i-th commit's files
        (default: one new module of ~40 lines). Fires ``pullrequest:created`` per PR.
        """
        assert repo.git is not None
        make = files or (lambda i: {f"src/bulk/module_{i}.py": "".join(
            f"def f{i}_{n}(x):\n    return x * {n} + {i}\n\n\n" for n in range(10))})
        with self._lock:
            base = repo.git.branches.get(repo.mainbranch)
            specs = [
                (f"{branch_prefix}{i}", make(i), title.format(i=i), author.display_name, author.email,
                 self._tick_commit_clock(), base)
                for i in range(count)
            ]
            repo.git.commit_many(specs)
            return [
                self.create_pull_request(repo, spec[0], title=spec[2], author=author, reviewers=reviewers)
                for spec in specs
            ]

    def update_pull_request(
        self,
        pr: PullRequest,
        actor: User,
        *,
        title: str | None = None,
        description: str | None = None,
        destination: str | None = None,
        reviewers: Sequence[User] | None = None,
        draft: bool | None = None,
        close_source_branch: bool | None = None,
    ) -> PullRequest:
        """Edits an OPEN PR (fires ``pullrequest:updated``)."""
        assert pr.repo.git is not None
        with self._lock:
            if pr.state != "OPEN":
                raise EmulatorError(400, "Bad request", "Only open pull requests can be updated.")
            if title is not None:
                pr.title = title
            if description is not None:
                pr.description = description
            if destination is not None:
                tip = pr.repo.git.branches.get(destination)
                if tip is None:
                    raise EmulatorError(400, "Bad request", f"Destination branch not found: {destination}",
                                        {"destination": [f"branch not found: {destination}"]})
                pr.destination_branch, pr.destination_commit = destination, tip
            if reviewers is not None:
                for p in [p for p in pr.participants.values() if p.role == "REVIEWER"]:
                    if not any(r.uuid == p.user.uuid for r in reviewers):
                        if p.state is None and not p.approved:
                            del pr.participants[p.user.uuid]
                        else:
                            p.role = "PARTICIPANT"
                pr.reviewers = list(reviewers)
                for user in reviewers:
                    p = pr.participants.get(user.uuid)
                    if p is None:
                        pr.participants[user.uuid] = Participant(user, "REVIEWER")
                    else:
                        p.role = "REVIEWER"
            if draft is not None:
                pr.draft = draft
            if close_source_branch is not None:
                pr.close_source_branch = close_source_branch
            now = self._now()
            pr.updated_on = now
            pr.activity.append(("update", self._update_snapshot(pr, actor), now))
            self._emit_pr(pr, "pullrequest:updated", actor)
            return pr

    def merge_pull_request(
        self, pr: PullRequest, actor: User, *, message: str | None = None, strategy: str = "merge_commit",
        close_source_branch: bool | None = None,
    ) -> PullRequest:
        """Merges an OPEN PR into its destination (fires ``repo:push`` and ``pullrequest:fulfilled``)."""
        git = pr.repo.git
        assert git is not None
        with self._lock:
            if pr.state != "OPEN":
                raise EmulatorError(400, "Bad request", "You can't merge a pull request that is not open.")
            dest_tip = git.branches[pr.destination_branch]
            msg = message or f"Merged in {pr.source_branch} (pull request #{pr.id})\n\n{pr.title}"
            when = self._tick_commit_clock()
            if strategy == "fast_forward":
                if git.merge_base(dest_tip, pr.source_commit) != dest_tip:
                    raise EmulatorError(400, "Bad request", "The pull request cannot be fast-forwarded.")
                merged = pr.source_commit
                git.set_branch(pr.destination_branch, merged)
            elif strategy in ("merge_commit", "squash"):
                try:
                    merged = git.merge(dest_tip, pr.source_commit, pr.destination_branch, msg,
                                       actor.display_name, actor.email, when)
                except Exception as exc:
                    raise EmulatorError(409, "Merge conflict", str(exc).splitlines()[0]) from None
                if strategy == "squash":
                    tree = git.run("rev-parse", f"{merged}^{{tree}}").decode().strip()
                    squashed = git.run("commit-tree", tree, "-p", dest_tip, "-m", msg).decode().strip()
                    git.set_branch(pr.destination_branch, squashed)
                    merged = squashed
            else:
                raise EmulatorError(400, "Bad request", f"Unknown merge strategy: {strategy}",
                                    {"merge_strategy": [f"invalid choice: {strategy}"]})
            if pr.from_fork:
                # The fork's commits are now part of the destination's history.
                git.remember(info.hash for info in git.log([merged], [dest_tip]))
            pr.state = "MERGED"
            pr.merge_commit = merged
            pr.destination_commit = dest_tip
            pr.closed_by = actor
            now = self._now()
            pr.updated_on = now
            pr.activity.append(("update", self._update_snapshot(pr, actor), now))
            self._after_push(pr.repo, pr.destination_branch, dest_tip, merged, actor)
            self._emit_pr(pr, "pullrequest:fulfilled", actor)
            if close_source_branch if close_source_branch is not None else pr.close_source_branch:
                self.delete_branch(pr.source_repository, pr.source_branch, author=actor)
            return pr

    def decline_pull_request(self, pr: PullRequest, actor: User, *, reason: str = "") -> PullRequest:
        """Declines an OPEN PR (fires ``pullrequest:rejected``)."""
        with self._lock:
            if pr.state != "OPEN":
                raise EmulatorError(400, "Bad request", "You can't decline a pull request that is not open.")
            pr.state = "DECLINED"
            pr.reason = reason
            pr.closed_by = actor
            now = self._now()
            pr.updated_on = now
            pr.activity.append(("update", self._update_snapshot(pr, actor), now))
            self._emit_pr(pr, "pullrequest:rejected", actor)
            return pr

    def _update_snapshot(self, pr: PullRequest, actor: User) -> dict[str, Any]:
        r = self.renderer
        return {
            "state": pr.state,
            "draft": pr.draft,
            "title": pr.title,
            "description": pr.description,
            "reason": pr.reason,
            "author": r.user(actor),
            "source": r.pr_endpoint(pr, "source"),
            "destination": r.pr_endpoint(pr, "destination"),
            "date": self._now(),
        }

    def _participant(self, pr: PullRequest, user: User) -> Participant:
        p = pr.participants.get(user.uuid)
        if p is None:
            p = Participant(user, "PARTICIPANT")
            pr.participants[user.uuid] = p
        return p

    def approve(self, pr: PullRequest, user: User) -> Participant:
        """Approves (§6.7): the participant is approved; fires ``pullrequest:approved``."""
        with self._lock:
            self._check_review_allowed(pr, user, "approve")
            p = self._participant(pr, user)
            p.approved, p.state, p.participated_on = True, "approved", self._now()
            pr.activity.append(("approval", user, p.participated_on))
            self._emit_pr(pr, "pullrequest:approved", user, approval={"date": p.participated_on, "user": self.renderer.user(user)})
            return p

    def unapprove(self, pr: PullRequest, user: User) -> None:
        with self._lock:
            if pr.state == "MERGED":
                raise EmulatorError(400, "Bad request", "You can't remove an approval from a merged pull request.")
            p = pr.participants.get(user.uuid)
            if p is None or not p.approved:
                raise EmulatorError(404, "You haven't approved this pull request.")
            p.approved, p.state = False, None
            self._emit_pr(pr, "pullrequest:unapproved", user, approval={"date": self._now(), "user": self.renderer.user(user)})

    def request_changes(self, pr: PullRequest, user: User) -> Participant:
        with self._lock:
            self._check_review_allowed(pr, user, "request changes on")
            p = self._participant(pr, user)
            p.approved, p.state, p.participated_on = False, "changes_requested", self._now()
            pr.activity.append(("changes_request", user, p.participated_on))
            self._emit_pr(pr, "pullrequest:changes_request_created", user,
                          changes_request={"date": p.participated_on, "user": self.renderer.user(user)})
            return p

    def remove_change_request(self, pr: PullRequest, user: User) -> None:
        with self._lock:
            if pr.state == "MERGED":
                raise EmulatorError(400, "Bad request", "You can't remove a change request from a merged pull request.")
            p = pr.participants.get(user.uuid)
            if p is None or p.state != "changes_requested":
                raise EmulatorError(404, "You haven't requested changes on this pull request.")
            p.state = None
            self._emit_pr(pr, "pullrequest:changes_request_removed", user,
                          changes_request={"date": self._now(), "user": self.renderer.user(user)})

    def _check_review_allowed(self, pr: PullRequest, user: User, verb: str) -> None:
        if pr.state == "MERGED":
            raise EmulatorError(400, "Bad request", f"You can't {verb} a merged pull request.")
        if user.uuid == pr.author.uuid and not self.quirks.allow_self_approval:
            raise EmulatorError(400, "Bad request", f"You can't {verb} your own pull request.")

    # -- scripting: comments and tasks ----------------------------------------------------

    def add_comment(
        self,
        pr: PullRequest,
        user: User,
        raw: str,
        *,
        inline: Mapping[str, Any] | None = None,
        parent: Comment | int | None = None,
        pending: bool = False,
    ) -> Comment:
        """Adds a comment as ``user`` with the API's validation (fires ``pullrequest:comment_created``).

        ``inline`` is the API's inline object (``path`` plus ``from``/``to``/
        ``start_from``/``start_to``).
        """
        with self._lock:
            parent_obj = pr.comments.get(parent) if isinstance(parent, int) else parent
            if parent is not None and (parent_obj is None or parent_obj.pr is not pr):
                raise EmulatorError(400, "Bad request", "Parent comment not found.", {"parent": ["not found"]})
            if self.quirks.max_comment_chars is not None and len(raw) > self.quirks.max_comment_chars:
                from bbreview.testing._errors import HTML_BAD_REQUEST

                raise EmulatorError(400, "Bad Request (400)", raw=HTML_BAD_REQUEST, content_type="text/html")
            if not raw.strip():
                raise EmulatorError(400, "Bad request", "Comment content cannot be empty.",
                                    {"content": ["This field is required."]})
            clean_inline = self._validate_inline(inline) if inline is not None else None
            on_diff = True
            if clean_inline is not None:
                on_diff = self._inline_on_diff(pr, clean_inline)
                if not on_diff and self.quirks.reject_inline_outside_diff:
                    raise EmulatorError(400, "Bad request", "The line is not part of the pull request diff.",
                                        {"inline": ["line not in diff"]})
            now = self._now()
            comment = Comment(
                id=self._next_comment_id, pr=pr, user=user, raw=raw, created_on=now, updated_on=now,
                inline=clean_inline, parent=parent_obj, pending=pending, on_diff=on_diff,
            )
            self._next_comment_id += 1
            pr.comments[comment.id] = comment
            if not pending:
                p = self._participant(pr, user)
                p.participated_on = p.participated_on or now
                pr.activity.append(("comment", comment, now))
                self._emit_comment(comment, "pullrequest:comment_created", user)
            return comment

    @staticmethod
    def _validate_inline(inline: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(inline, Mapping):
            raise EmulatorError(400, "Bad request", fields={"inline": ["expected an object"]})
        path = inline.get("path")
        if not isinstance(path, str) or not path:
            raise EmulatorError(400, "Bad request", fields={"inline.path": ["This field is required."]})
        out: dict[str, Any] = {"path": path}
        for key in ("from", "to", "start_from", "start_to"):
            value = inline.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmulatorError(400, "Bad request", fields={f"inline.{key}": ["must be an integer >= 1"]})
            out[key] = value
        for start, end in (("start_to", "to"), ("start_from", "from")):
            if start in out:
                if end not in out:
                    raise EmulatorError(400, f'"{start}" requires "{end}"', fields={f"inline.{end}": ["This field is required."]})
                if out[start] > out[end]:
                    raise EmulatorError(400, f'"{start}" must be less than or equal to "{end}"')
        extra = set(inline) - {"path", "from", "to", "start_from", "start_to", "outdated", "context_lines"}
        if extra:
            raise EmulatorError(400, "Bad request", fields={f"inline.{k}": "extra keys not allowed" for k in sorted(extra)})
        return out

    def _inline_on_diff(self, pr: PullRequest, inline: Mapping[str, Any]) -> bool:
        """Whether every line the comment names is a line of the PR's current diff (§9.3-9.4)."""
        if "to" not in inline and "from" not in inline:
            return True  # a file-level comment
        new_lines, old_lines = self.diff_lines(pr, inline["path"])
        if "to" in inline:
            lines = range(inline.get("start_to", inline["to"]), inline["to"] + 1)
            if not all(n in new_lines for n in lines):
                return False
        if "from" in inline:
            lines = range(inline.get("start_from", inline["from"]), inline["from"] + 1)
            if not all(n in old_lines for n in lines):
                return False
        return True

    def diff_lines(self, pr: PullRequest, path: str) -> tuple[set[int], set[int]]:
        """(new-side lines, old-side lines) of ``path`` that appear in the PR diff."""
        git = pr.repo.git
        assert git is not None
        base = self.merge_base(pr.repo, pr.source_commit, pr.destination_commit)
        text = git.diff(base, pr.source_commit, paths=[path]).decode("utf-8", "replace")
        new_lines: set[int] = set()
        old_lines: set[int] = set()
        old_no = new_no = 0
        for line in text.splitlines():
            m = re.match(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", line)
            if m:
                old_no, new_no = int(m.group(1)), int(m.group(2))
                continue
            if not old_no and not new_no:
                continue
            if line.startswith("+") and not line.startswith("+++"):
                new_lines.add(new_no)
                new_no += 1
            elif line.startswith("-") and not line.startswith("---"):
                old_lines.add(old_no)
                old_no += 1
            elif line.startswith(" "):
                new_lines.add(new_no)
                old_lines.add(old_no)
                new_no += 1
                old_no += 1
        return new_lines, old_lines

    def merge_base(self, repo: Repository, a: str, b: str) -> str | None:
        key = ("merge-base", repo.uuid, a, b)
        hit = self.cache_get(key)
        if hit is not None:
            return hit or None
        assert repo.git is not None
        base = repo.git.merge_base(a, b)
        self.cache_put(key, base or "")
        return base

    def update_comment(self, comment: Comment, user: User, raw: str) -> Comment:
        with self._lock:
            if comment.deleted:
                raise EmulatorError(404, "Comment not found.")
            if comment.user.uuid != user.uuid:
                raise EmulatorError(403, "You can only edit your own comments.")
            if self.quirks.max_comment_chars is not None and len(raw) > self.quirks.max_comment_chars:
                from bbreview.testing._errors import HTML_BAD_REQUEST

                raise EmulatorError(400, "Bad Request (400)", raw=HTML_BAD_REQUEST, content_type="text/html")
            if not raw.strip():
                raise EmulatorError(400, "Bad request", fields={"content": ["This field is required."]})
            comment.raw = raw
            comment.updated_on = self._now()
            self._emit_comment(comment, "pullrequest:comment_updated", user)
            return comment

    def delete_comment(self, comment: Comment, user: User) -> None:
        """Soft delete (§6.5, §9.6): the comment stays with ``deleted: true`` and blank content."""
        with self._lock:
            if comment.deleted:
                raise EmulatorError(404, "Comment not found.")
            if comment.user.uuid != user.uuid and self.permission(user, comment.pr.repo) != "admin":
                raise EmulatorError(403, "You can only delete your own comments.")
            comment.deleted = True
            comment.updated_on = self._now()
            self._emit_comment(comment, "pullrequest:comment_deleted", user)

    def resolve_comment(self, comment: Comment, user: User) -> Comment:
        """Resolves a thread (§6.5): 403 unless top-level and on the diff; 409 if already resolved."""
        with self._lock:
            if comment.deleted:
                raise EmulatorError(404, "Comment not found.")
            if comment.parent is not None:
                raise EmulatorError(403, "Only top-level comments can be resolved.")
            if comment.inline is None:
                raise EmulatorError(403, "General comments cannot be resolved.")
            if not comment.on_diff:
                raise EmulatorError(403, "Comments that are not on the diff cannot be resolved.")
            if comment.resolution is not None:
                raise EmulatorError(409, "This comment is already resolved.")
            comment.resolution = (user, self._now())
            self._emit_comment(comment, "pullrequest:comment_resolved", user)
            return comment

    def reopen_comment(self, comment: Comment, user: User) -> None:
        with self._lock:
            if comment.resolution is None or comment.deleted:
                raise EmulatorError(404, "This comment is not resolved.")
            comment.resolution = None
            self._emit_comment(comment, "pullrequest:comment_reopened", user)

    def add_task(self, pr: PullRequest, user: User, raw: str, *, comment: Comment | None = None,
                 pending: bool = False) -> Task:
        with self._lock:
            if not raw.strip():
                raise EmulatorError(400, "Bad request", fields={"content": ["This field is required."]})
            now = self._now()
            task = Task(self._next_task_id, pr, user, raw, "UNRESOLVED", now, now, comment, pending)
            self._next_task_id += 1
            pr.tasks[task.id] = task
            return task

    # -- scripting: hooks -----------------------------------------------------------------

    def add_hook(
        self,
        subject: Repository | Workspace,
        url: str,
        events: Iterable[str],
        *,
        secret: str | None = None,
        description: str = "",
        active: bool = True,
        skip_cert_verification: bool = False,
    ) -> Hook:
        """Installs a webhook on a repository or workspace (validated like the API)."""
        with self._lock:
            events = list(events)
            self.validate_hook(url, events, secret)
            kind = "repository" if isinstance(subject, Repository) else "workspace"
            hook = Hook(self._uuid(), kind, subject, url, description, active, secret or None, events,
                        skip_cert_verification, self._now())
            subject.hooks[hook.uuid] = hook
            return hook

    def validate_hook(self, url: Any, events: Any, secret: Any) -> None:
        fields: dict[str, list[str]] = {}
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            fields["url"] = ["Enter a valid URL."]
        elif not self.quirks.allow_private_hook_urls:
            from urllib.parse import urlsplit
            import ipaddress

            host = urlsplit(url).hostname or ""
            try:
                private = ipaddress.ip_address(host).is_private
            except ValueError:
                private = host in ("localhost",) or host.endswith(".local")
            if private:
                fields["url"] = ["The URL must resolve to a public, routable address."]
        if not isinstance(events, list) or not events:
            fields["events"] = ["This field is required and must contain at least one event."]
        elif len(set(events)) != len(events):
            fields["events"] = ["Events must be unique."]
        else:
            bad = [e for e in events if e not in HOOK_EVENTS]
            if bad:
                fields["events"] = [f"Invalid event: {e}" for e in bad]
        if secret is not None and (not isinstance(secret, str) or len(secret) > 128):
            fields["secret"] = ["Ensure this field has no more than 128 characters."]
        if fields:
            raise EmulatorError(400, "Bad request", fields=fields)

    # -- webhooks -----------------------------------------------------------------------

    def _hooks_for(self, repo: Repository, event: str) -> list[Hook]:
        hooks = list(repo.hooks.values()) + list(repo.workspace.hooks.values())
        return [h for h in hooks if h.active and event in h.events]

    def _emit(self, repo: Repository, event: str, build: Callable[[], dict[str, Any]]) -> None:
        hooks = self._hooks_for(repo, event)
        if not hooks:
            return
        body = json.dumps(build()).encode()
        for hook in hooks:
            delivery = Delivery(
                uuid=str(uuidlib.uuid4()),
                hook_uuid=hook.uuid,
                event_key=event,
                url=hook.url,
                body=body,
                created_at=time.time(),
            )
            self.deliveries.append(delivery)
            hook.history.append(delivery)
            if self._loop is None:
                self._pending_deliveries.append((delivery, hook))
            else:
                self._schedule(delivery, hook)

    def _schedule(self, delivery: Delivery, hook: Hook) -> None:
        assert self._loop is not None and self._deliverer is not None
        opts = self._delivery_options  # follow Quirks changed after construction
        opts.retry_on_timeout = self.quirks.webhook_retry_on_timeout
        opts.request_uuid_stable = self.quirks.webhook_request_uuid_stable
        fut = asyncio.run_coroutine_threadsafe(
            self._deliverer.deliver(delivery, hook.secret, hook.skip_cert_verification), self._loop
        )
        self._delivery_futures.add(fut)
        fut.add_done_callback(self._delivery_futures.discard)

    def _emit_pr(self, pr: PullRequest, event: str, actor: User, **extra: Any) -> None:
        r = self.renderer
        self._emit(pr.repo, event, lambda: {
            "actor": r.user(actor),
            "pullrequest": r.pullrequest(pr, full=True),
            "repository": r.repository_payload(pr.repo),
            **extra,
        })

    def _emit_comment(self, comment: Comment, event: str, actor: User) -> None:
        r = self.renderer
        self._emit(comment.pr.repo, event, lambda: {
            "actor": r.user(actor),
            "pullrequest": r.pullrequest(comment.pr, full=True),
            "repository": r.repository_payload(comment.pr.repo),
            "comment": r.comment(comment),
        })

    def wait_for_deliveries(self, count: int | None = None, timeout: float = 10.0) -> list[Delivery]:
        """Waits until ``count`` deliveries exist (default: those existing now) and all are done.

        Returns the deliveries; raises TimeoutError when they are not done in time.
        """
        deadline = time.monotonic() + timeout
        while count is not None and len(self.deliveries) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.deliveries)} of {count} webhook deliveries were made")
            time.sleep(0.005)
        deliveries = list(self.deliveries if count is None else self.deliveries[:count])
        for d in deliveries:
            if not d.done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"webhook delivery {d.event_key} to {d.url} did not finish in {timeout} s")
        return deliveries

    def webhook_history(self, hook: Hook) -> list[Delivery]:
        """The hook's request log (Repository settings → Webhooks → View requests, §7.3)."""
        return list(hook.history)

    def resend(self, delivery: Delivery) -> Delivery:
        """Sends an event again, like the UI's "Resend request" (§7.3)."""
        with self._lock:
            hook = self._find_hook(delivery.hook_uuid)
            copy = Delivery(str(uuidlib.uuid4()), delivery.hook_uuid, delivery.event_key, hook.url,
                            delivery.body, time.time())
            self.deliveries.append(copy)
            hook.history.append(copy)
            if self._loop is None:
                self._pending_deliveries.append((copy, hook))
            else:
                self._schedule(copy, hook)
            return copy

    def _find_hook(self, hook_uuid: str) -> Hook:
        for ws in self.workspaces.values():
            if hook_uuid in ws.hooks:
                return ws.hooks[hook_uuid]
            for repo in ws.repositories.values():
                if hook_uuid in repo.hooks:
                    return repo.hooks[hook_uuid]
        raise KeyError(hook_uuid)

    # -- faults ---------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests answer ``status`` (``path`` is a regex searched in the path)."""
        with self._lock:
            self._faults.append(_Fault("status", status, n, method, path))

    def drop_next(self, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests get their connection closed without an answer."""
        with self._lock:
            self._faults.append(_Fault("drop", 0, n, method, path))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self.error_rate = self.drop_rate = 0.0

    def _take_fault(self, req: HttpRequest) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining <= 0:
                continue
            if fault.method and fault.method.upper() != req.method:
                continue
            if fault.path and not re.search(fault.path, req.path):
                continue
            fault.remaining -= 1
            return fault
        if self.drop_rate and self._fault_rng.random() < self.drop_rate:
            return _Fault("drop", 0, 0, None, None)
        if self.error_rate and self._fault_rng.random() < self.error_rate:
            return _Fault("status", self.error_status, 0, None, None)
        return None

    # -- rate limits ----------------------------------------------------------------------

    def rate_limit_used(self, identity: str, group: str = "api") -> int:
        """Requests counted in the current window for ``identity`` (see RecordedRequest.identity)."""
        with self._lock:
            window = self._rate.get(f"{group}:{identity}")
            if not window:
                return 0
            cutoff = self.monotonic() - RATE_WINDOW_S
            while window and window[0] <= cutoff:
                window.popleft()
            return len(window)

    def reset_rate_limits(self) -> None:
        with self._lock:
            self._rate.clear()

    def _charge(self, identity: _Identity, group: str) -> bool:
        """Counts one request; False when the budget of the window is spent (answer 429)."""
        if identity.kind == "anonymous":
            limit = self.anonymous_rate_limit
            group = "anonymous"
        elif group == "webhook":
            limit = self.webhook_rate_limit
        else:
            limit = self.rate_limit
        if limit is None:
            return True
        key = f"{group}:{identity.key}"
        now = self.monotonic()
        window = self._rate.setdefault(key, deque())
        cutoff = now - RATE_WINDOW_S
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    def warm_cache(self, pull_requests: Iterable[PullRequest] | None = None, workers: int = 4) -> int:
        """Precomputes the diff each PR's ``/diff`` redirect leads to (default parameters).

        Diffs are keyed by commit hashes, so they stay valid until a PR moves.
        Returns how many diffs were computed; default: every OPEN PR.
        """
        with self._lock:
            prs = list(pull_requests) if pull_requests is not None else [
                pr for ws in self.workspaces.values() for repo in ws.repositories.values()
                for pr in repo.pull_requests.values() if pr.state == "OPEN"
            ]
            jobs = [(pr.repo, pr.source_commit, pr.destination_commit) for pr in prs]

        def one(job: tuple[Repository, str, str]) -> None:
            repo, src, dst = job
            self._api._diff_bytes(repo, src, dst, True, topic=True, context=3, paths=(), ignore_ws=False,
                                  renames=True, binary=True)

        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, jobs))
        return len(jobs)

    # -- caching ----------------------------------------------------------------------------

    def cache_get(self, key: object) -> Any:
        with self._cache_lock:
            return self._cache.get(key)

    def cache_put(self, key: object, value: Any) -> None:
        with self._cache_lock:
            self._cache[key] = value
            if len(self._cache) > self._cache_capacity:
                self._cache.popitem(last=False)

    # -- request pipeline -------------------------------------------------------------------

    async def _handle(self, req: HttpRequest) -> HttpResponse:
        started = time.time()
        rec = RecordedRequest(
            method=req.method,
            path=req.path,
            query=req.query,
            headers=_redact_headers(req.headers),
            body=_redact_body(req.body),
            started_at=started,
        )
        self.requests.append(rec)
        latency = self.latency(req) if callable(self.latency) else self.latency
        if latency and latency > 0:
            await asyncio.sleep(latency)
        with self._lock:
            fault = self._take_fault(req)
        if fault is not None and fault.kind == "drop":
            rec.dropped = True
            rec.duration_s = time.time() - started
            return HttpResponse(0, drop=True)
        if fault is not None:
            resp = self._api.fault_response(fault.status)
        else:
            try:
                with self._lock:
                    result = self._api.dispatch(req, rec)
                if not isinstance(result, HttpResponse):
                    assert self._loop is not None
                    result = await self._loop.run_in_executor(self._pool, result)
                resp = result
            except EmulatorError as exc:
                resp = exc.response()
        rec.status = resp.status
        rec.duration_s = time.time() - started
        return resp
