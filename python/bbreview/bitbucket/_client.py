"""The Bitbucket Cloud client: endpoint methods over the native C++ client.

Every request goes through ``bbreview._core.bitbucket.Client``, which owns the
HTTP connections, the credentials, the rate-limit budget, the 429 back-off, the
commit-hash cache and the concurrent batches. This module knows the endpoints:
paths, query parameters, JSON bodies and how to decode each answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bbreview._native import core
from bbreview.diff import PatchSet, parse_diff
from bbreview.errors import (
    AuthError,
    BitbucketError,
    NetworkError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ScopeError,
    ServerError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_ANNOTATIONS_PER_REPORT",
    "MAX_ANNOTATIONS_PER_REQUEST",
    "Budget",
    "Call",
    "Calls",
    "Client",
]

_native = core.bitbucket

DEFAULT_BASE_URL = "https://api.bitbucket.org/2.0"
#: Reference §4.1: most collections cap pagelen at 100; the PR list at 50
#: (more answers 400 "Invalid pagelen"); diffstat at 5000 (default 500).
MAX_PAGELEN: int = _native.MAX_PAGELEN
MAX_PULL_REQUEST_PAGELEN: int = _native.MAX_PULL_REQUEST_PAGELEN
MAX_DIFFSTAT_PAGELEN: int = _native.MAX_DIFFSTAT_PAGELEN
#: Reference §6.9: at most 100 annotations per POST and 1,000 per report.
MAX_ANNOTATIONS_PER_REQUEST: int = _native.MAX_ANNOTATIONS_PER_REQUEST
MAX_ANNOTATIONS_PER_REPORT: int = _native.MAX_ANNOTATIONS_PER_REPORT

_HEX = re.compile(r"[0-9a-fA-F]{12,40}")

_ERRORS: dict[str, type[BitbucketError]] = {
    "auth": AuthError,
    "scope": ScopeError,
    "permission_denied": PermissionDenied,
    "not_found": NotFound,
    "rate_limited": RateLimited,
    "server": ServerError,
    "network": NetworkError,
    "client": BitbucketError,
}


def _seg(value: object) -> str:
    """One path segment, percent-encoded (UUID braces become %7B…%7D, §1)."""
    return quote(str(value), safe="")


def _repo(ws: str, repo: str) -> str:
    return f"/repositories/{_seg(ws)}/{_seg(repo)}"


def _is_hash(value: str) -> bool:
    return bool(_HEX.fullmatch(value))


def error_from(result: Any) -> BitbucketError:
    """The exception for a failed native result (never contains credentials)."""
    cls = _ERRORS.get(result.error_kind, BitbucketError)
    fields = None
    if result.fields:
        try:
            fields = json.loads(result.fields)
        except ValueError:
            fields = {"_": result.fields}
    return cls(
        result.message,
        status=result.status,
        method=result.method,
        path=result.path,
        detail=result.detail,
        fields=fields,
        error_id=result.error_id,
        required=tuple(result.required),
        granted=tuple(result.granted),
    )


def _pr_spec_endpoint(pr: dict, kind: str) -> tuple[str, list[tuple[str, str]]]:
    """The repository ``diff``/``diffstat`` path and query for a PR's revspec
    ``source.repository:source.hash%0Ddestination.hash`` (§6.4: what the PR's
    own endpoint redirects to), built from the PR JSON."""
    dst_repo = pr["destination"]["repository"]["full_name"]
    src_repo = pr["source"]["repository"]["full_name"]
    src = pr["source"]["commit"]["hash"]
    dst = pr["destination"]["commit"]["hash"]
    ws, repo = dst_repo.split("/", 1)
    # %0D (an encoded carriage return) separates the sides; it must not be encoded twice.
    spec = f"{quote(src_repo, safe='/')}:{_seg(src)}%0D{_seg(dst)}"
    return f"{_repo(ws, repo)}/{kind}/{spec}", [("from_pullrequest_id", str(pr["id"])), ("topic", "true")]


def _json(result: Any) -> Any:
    body = result.body
    return json.loads(body) if body else None


def _text(result: Any) -> str:
    return result.body.decode("utf-8", errors="replace")


def _none(result: Any) -> None:
    return None


def _patchset(result: Any) -> PatchSet:
    # The API sends bytes in the repository's own encoding (§6.4); parse_diff takes bytes.
    return parse_diff(result.body, strict=False)


@dataclass(frozen=True)
class Budget:
    """The client's rate-limit budget at one moment (see ``Client.budget``)."""

    per_hour: float
    capacity: float
    remaining: float
    waiting: int
    spent: int
    rate_limited: int
    cooldown_seconds: float


@dataclass
class Call:
    """One request, ready to run with ``Client.map`` (build it with ``client.calls``)."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    decode: Callable[[Any], Any] = _json
    accept: str = "application/json"
    immutable: bool = False
    caller: str = ""
    retry: bool = False

    def native(self) -> Any:
        if self.body is None:
            raw = b""
        elif isinstance(self.body, bytes):
            raw = self.body
        else:
            raw = json.dumps(self.body).encode()
        return _native.Call(
            self.method,
            self.path,
            [(str(k), str(v)) for k, v in self.query],
            raw,
            "application/json",
            self.accept,
            self.immutable,
            self.caller,
            self.retry,
        )


class Calls:
    """Builders of single-request ``Call`` objects, one per endpoint.

    ``Client`` runs them one at a time; ``Client.map`` runs many at once.
    """

    # -- identity and repositories ---------------------------------------------------

    def current_user(self) -> Call:
        return Call("GET", "/user")

    def repository(self, ws: str, repo: str) -> Call:
        return Call("GET", _repo(ws, repo))

    # -- pull requests -----------------------------------------------------------------

    def pull_request(self, ws: str, repo: str, pr_id: int) -> Call:
        return Call("GET", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}", caller=f"pr:{ws}/{repo}/{pr_id}")

    def diff(
        self,
        ws: str,
        repo: str,
        pr_id: int | None = None,
        *,
        spec: str | None = None,
        context: int | None = None,
        paths: Sequence[str] = (),
        ignore_whitespace: bool = False,
        text: bool = False,
    ) -> Call:
        """A PR's diff (the 302 to the repository diff is followed with the
        Authorization header kept, §9.1) or a repository diff by ``spec``
        (``"A..B"``: A is the change, B the base, §6.4; or one commit)."""
        query: list[tuple[str, str]] = []
        if context is not None:
            query.append(("context", str(context)))
        query += [("path", p) for p in paths]
        if ignore_whitespace:
            query.append(("ignore_whitespace", "true"))
        decode = _text if text else _patchset
        if spec is not None:
            sides = spec.split("..")
            immutable = all(_is_hash(s) for s in sides)
            return Call(
                "GET", f"{_repo(ws, repo)}/diff/{quote(spec, safe='.:/')}", query, decode=decode,
                accept="text/plain", immutable=immutable,
            )
        if pr_id is None:
            raise ValueError("diff() needs a pull request id or a spec")
        return Call(
            "GET", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/diff", query, decode=decode,
            accept="text/plain", caller=f"pr:{ws}/{repo}/{pr_id}",
        )

    def pr_diff(self, pr: dict, *, text: bool = False, paths: Sequence[str] = ()) -> Call:
        """A PR's diff built from its JSON (no redirect): the repository diff of
        ``source.repository:source.hash%0Ddestination.hash`` (§6.4). Both hashes
        name immutable commits, so the answer is cached. ``paths`` limits it to
        those files (the repeatable ``path`` parameter, §6.4)."""
        path, query = _pr_spec_endpoint(pr, "diff")
        query += [("path", p) for p in paths]
        return Call(
            "GET", path, query, decode=_text if text else _patchset, accept="text/plain", immutable=True,
            caller=f"pr:{pr['destination']['repository']['full_name']}/{pr['id']}",
        )

    def commit(self, ws: str, repo: str, commit: str) -> Call:
        """One commit; its ``hash`` is the full 40-hex form of an abbreviated one (§1)."""
        return Call("GET", f"{_repo(ws, repo)}/commit/{_seg(commit)}", immutable=_is_hash(commit))

    def file(self, ws: str, repo: str, commit: str, path: str) -> Call:
        return Call(
            "GET", f"{_repo(ws, repo)}/src/{_seg(commit)}/{quote(path, safe='/')}",
            decode=lambda r: r.body, accept="*/*", immutable=_is_hash(commit),
        )

    # -- comments ------------------------------------------------------------------------

    def comment(self, ws: str, repo: str, pr_id: int, comment_id: int) -> Call:
        return Call("GET", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/comments/{int(comment_id)}")

    def create_comment(
        self,
        ws: str,
        repo: str,
        pr_id: int,
        raw: str,
        *,
        path: str | None = None,
        to: int | None = None,
        from_: int | None = None,
        start_to: int | None = None,
        start_from: int | None = None,
        parent: int | None = None,
    ) -> Call:
        """A general comment, an inline one (``path`` with ``to``/``from_``, and
        ``start_to``/``start_from`` for a range, §6.5) or a reply (``parent``).
        Keys that are not set are omitted, never sent as null (§6.5)."""
        body: dict[str, Any] = {"content": {"raw": raw}}
        if path is not None:
            inline: dict[str, Any] = {"path": path}
            for key, value in (("to", to), ("from", from_), ("start_to", start_to), ("start_from", start_from)):
                if value is not None:
                    inline[key] = int(value)
            body["inline"] = inline
        elif any(v is not None for v in (to, from_, start_to, start_from)):
            raise ValueError("inline line numbers need a path")
        if parent is not None:
            body["parent"] = {"id": int(parent)}
        return Call("POST", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/comments", body=body)

    def update_comment(self, ws: str, repo: str, pr_id: int, comment_id: int, raw: str) -> Call:
        return Call(
            "PUT", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/comments/{int(comment_id)}",
            body={"content": {"raw": raw}},
        )

    def delete_comment(self, ws: str, repo: str, pr_id: int, comment_id: int) -> Call:
        return Call("DELETE", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/comments/{int(comment_id)}",
                    decode=_none)

    def resolve_comment(self, ws: str, repo: str, pr_id: int, comment_id: int) -> Call:
        return Call("POST", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/comments/{int(comment_id)}/resolve")

    def reopen_comment(self, ws: str, repo: str, pr_id: int, comment_id: int) -> Call:
        return Call("DELETE", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/comments/{int(comment_id)}/resolve",
                    decode=_none)

    # -- tasks ---------------------------------------------------------------------------

    def create_task(self, ws: str, repo: str, pr_id: int, raw: str, *, comment: int | None = None) -> Call:
        body: dict[str, Any] = {"content": {"raw": raw}}
        if comment is not None:
            body["comment"] = {"id": int(comment)}
        return Call("POST", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/tasks", body=body)

    def update_task(
        self, ws: str, repo: str, pr_id: int, task_id: int, *, raw: str | None = None, resolved: bool | None = None
    ) -> Call:
        body: dict[str, Any] = {}
        if raw is not None:
            body["content"] = {"raw": raw}
        if resolved is not None:
            body["state"] = "RESOLVED" if resolved else "UNRESOLVED"
        return Call("PUT", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/tasks/{int(task_id)}", body=body)

    def delete_task(self, ws: str, repo: str, pr_id: int, task_id: int) -> Call:
        return Call("DELETE", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/tasks/{int(task_id)}", decode=_none)

    # -- approvals -------------------------------------------------------------------------

    def approve(self, ws: str, repo: str, pr_id: int) -> Call:
        return Call("POST", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/approve")

    def unapprove(self, ws: str, repo: str, pr_id: int) -> Call:
        return Call("DELETE", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/approve", decode=_none)

    def request_changes(self, ws: str, repo: str, pr_id: int) -> Call:
        return Call("POST", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/request-changes")

    def remove_change_request(self, ws: str, repo: str, pr_id: int) -> Call:
        return Call("DELETE", f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/request-changes", decode=_none)

    # -- commit statuses -------------------------------------------------------------------

    def set_status(
        self,
        ws: str,
        repo: str,
        commit: str,
        key: str,
        state: str,
        *,
        name: str | None = None,
        url: str | None = None,
        description: str | None = None,
        refname: str | None = None,
    ) -> Call:
        """Creates or overwrites the build status ``key`` (§6.8). ``state`` is
        INPROGRESS, SUCCESSFUL, FAILED or STOPPED. Repeating it is harmless: the
        same key overwrites, so the POST may be retried."""
        body: dict[str, Any] = {"key": key, "state": state}
        for k, v in (("name", name), ("url", url), ("description", description), ("refname", refname)):
            if v is not None:
                body[k] = v
        return Call("POST", f"{_repo(ws, repo)}/commit/{_seg(commit)}/statuses/build", body=body, retry=True)

    # -- Code Insights -----------------------------------------------------------------------

    def put_report(self, ws: str, repo: str, commit: str, report_id: str, report: dict) -> Call:
        return Call("PUT", f"{_repo(ws, repo)}/commit/{_seg(commit)}/reports/{_seg(report_id)}", body=report)

    def report(self, ws: str, repo: str, commit: str, report_id: str) -> Call:
        return Call("GET", f"{_repo(ws, repo)}/commit/{_seg(commit)}/reports/{_seg(report_id)}")

    def delete_report(self, ws: str, repo: str, commit: str, report_id: str) -> Call:
        return Call("DELETE", f"{_repo(ws, repo)}/commit/{_seg(commit)}/reports/{_seg(report_id)}", decode=_none)

    def post_annotations(self, ws: str, repo: str, commit: str, report_id: str, annotations: list[dict]) -> Call:
        if not 1 <= len(annotations) <= MAX_ANNOTATIONS_PER_REQUEST:
            raise ValueError(f"a request carries 1 to {MAX_ANNOTATIONS_PER_REQUEST} annotations, not {len(annotations)}")
        # Annotations are upserted by external_id, so repeating the POST is safe.
        return Call(
            "POST", f"{_repo(ws, repo)}/commit/{_seg(commit)}/reports/{_seg(report_id)}/annotations",
            body=list(annotations), retry=True,
        )

    # -- webhooks ----------------------------------------------------------------------------

    def hook(self, ws: str, repo: str, uid: str) -> Call:
        return Call("GET", f"{_repo(ws, repo)}/hooks/{_seg(uid)}")

    def create_hook(
        self,
        ws: str,
        repo: str,
        url: str,
        events: Iterable[str],
        *,
        description: str = "bbreview",
        secret: str | None = None,
        active: bool = True,
    ) -> Call:
        body: dict[str, Any] = {"description": description, "url": url, "active": active, "events": list(events)}
        if secret:
            body["secret"] = secret
        return Call("POST", f"{_repo(ws, repo)}/hooks", body=body)

    def update_hook(self, ws: str, repo: str, uid: str, **fields: Any) -> Call:
        """PUT with only the given fields; ``secret`` omitted keeps it, ``None`` removes it (§6.10)."""
        return Call("PUT", f"{_repo(ws, repo)}/hooks/{_seg(uid)}", body=fields)

    def delete_hook(self, ws: str, repo: str, uid: str) -> Call:
        return Call("DELETE", f"{_repo(ws, repo)}/hooks/{_seg(uid)}", decode=_none)


class Client:
    """A Bitbucket Cloud REST 2.0 client.

    Authenticate with an API token (``email`` + ``token``: HTTP Basic with the
    Atlassian account email, §2.1) or an access token (``access_token``: Bearer,
    §2.2). The secret is handed to the native client and kept nowhere else: it
    never appears in reprs, logs or exceptions.

    Calls block the calling thread with the GIL released, so threads run in
    parallel; ``map`` and ``diffs`` run many calls concurrently in C++.
    """

    def __init__(
        self,
        *,
        email: str | None = None,
        token: str | None = None,
        access_token: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        budget_per_hour: float = 1000.0,
        budget_burst: float | None = None,
        connections: int = 16,
        threads: int = 2,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.25,
        backoff_max: float = 20.0,
        max_rate_limit_retries: int = 4,
        rate_limit_backoff: float = 2.0,
        rate_limit_backoff_max: float = 120.0,
        ca_file: str | None = None,
        verify_tls: bool = True,
        cache_bytes: int = 64 << 20,
        use_environment_proxy: bool = True,
        https_proxy: str = "",
        http_proxy: str = "",
        no_proxy: str = "",
    ) -> None:
        if access_token is not None and token is not None:
            raise ValueError("pass either an API token (email + token) or an access_token, not both")
        if token is not None and not email:
            raise ValueError("an API token needs the Atlassian account email (Basic auth user name, §2.1)")
        if access_token is not None:
            auth, secret = "access_token", access_token
        elif token is not None:
            auth, secret = "api_token", token
        else:
            auth, secret = "none", ""
        self._native = _native.Client(
            base_url=base_url, auth=auth, email=email or "", secret=secret,
            budget_per_hour=float(budget_per_hour), budget_burst=float(budget_burst or 0.0),
            threads=threads, max_connections_per_host=connections, connect_timeout=connect_timeout,
            read_timeout=read_timeout, total_timeout=timeout, max_retries=max_retries, backoff_base=backoff,
            backoff_max=backoff_max, max_rate_limit_retries=max_rate_limit_retries,
            rate_limit_backoff=rate_limit_backoff, rate_limit_backoff_max=rate_limit_backoff_max,
            ca_file=ca_file or "", verify_tls=verify_tls, cache_bytes=cache_bytes,
            use_environment_proxy=use_environment_proxy, https_proxy=https_proxy, http_proxy=http_proxy,
            no_proxy=no_proxy,
        )
        del secret, token, access_token  # nothing on this object refers to the secret
        self.calls = Calls()
        #: Scopes granted to the credential, from the last ``x-oauth-scopes`` header (§2.6).
        self.scopes: frozenset[str] | None = None
        #: The ``x-credential-type`` of the last response, e.g. ``api_token``.
        self.credential_type: str | None = None

    def __repr__(self) -> str:
        return f"bbreview.bitbucket.Client({self._native.base_url!r}, {self._native.describe()})"

    # -- plumbing ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._native.base_url

    @property
    def budget(self) -> Budget:
        """The rate-limit budget now: tokens left, calls waiting, 429s seen."""
        b = self._native.budget
        return Budget(b.per_hour, b.capacity, b.remaining, b.waiting, b.spent, b.rate_limited, b.cooldown_seconds)

    @property
    def stats(self) -> dict[str, int]:
        """HTTP counters: requests, exchanges, connections opened, retries, in flight."""
        return dict(self._native.stats)

    @property
    def cache_entries(self) -> int:
        return self._native.cache_entries

    def _note(self, result: Any) -> None:
        for name, value in result.headers:
            low = name.lower()
            if low == "x-oauth-scopes":
                self.scopes = frozenset(s.strip() for s in value.split(",") if s.strip())
            elif low == "x-credential-type":
                self.credential_type = value.strip()

    def _finish(self, call: Call, result: Any) -> Any:
        if not result.ok:
            raise error_from(result)
        self._note(result)
        return call.decode(result)

    def run(self, call: Call) -> Any:
        """Runs one call; returns its decoded answer or raises a BitbucketError."""
        return self._finish(call, self._native.call(call.native()))

    def map(
        self,
        calls: Iterable[Call],
        *,
        concurrency: int = 8,
        progress: Callable[[int, int], Any] | None = None,
    ) -> list[Any]:
        """Runs ``calls`` concurrently (at most ``concurrency`` in flight) and
        returns their answers in input order. A failed call yields its
        BitbucketError in its slot instead of raising, so no result is lost.
        ``progress(done, total)`` is called on this thread after each completion."""
        calls = list(calls)
        results = self._native.map([c.native() for c in calls], max(1, int(concurrency)), progress)
        out: list[Any] = []
        for call, result in zip(calls, results):
            try:
                out.append(self._finish(call, result))
            except BitbucketError as exc:
                out.append(exc)
            except Exception as exc:  # a decoder failure (e.g. malformed JSON) is a value too
                out.append(exc)
        return out

    def diffs(
        self,
        prs: Iterable[dict | tuple[str, str, int]],
        *,
        concurrency: int = 8,
        progress: Callable[[int, int], Any] | None = None,
    ) -> list[PatchSet | BaseException]:
        """The diffs of many pull requests, concurrently, as PatchSets in input
        order. Each item is a PR JSON object (its commit hashes make the diff
        cacheable) or a ``(workspace, repo, id)`` tuple."""
        calls = [
            self.calls.pr_diff(pr) if isinstance(pr, dict) else self.calls.diff(pr[0], pr[1], pr[2]) for pr in prs
        ]
        return self.map(calls, concurrency=concurrency, progress=progress)

    def paginate(
        self, path: str, query: Sequence[tuple[str, str]] = (), *, pagelen: int | None = None, caller: str = ""
    ) -> Iterator[Any]:
        """Yields every value of a paginated collection. The ``next`` link is
        followed as is: it already carries the query (§4.1)."""
        q = list(query)
        if pagelen is not None:
            q.append(("pagelen", str(pagelen)))
        call: Call | None = Call("GET", path, q, caller=caller)
        while call is not None:
            page = self.run(call)
            yield from page.get("values", [])
            nxt = page.get("next")
            call = Call("GET", nxt, caller=caller) if nxt else None

    # -- identity, workspaces, repositories ---------------------------------------------------

    def current_user(self) -> dict:
        """The account behind the credential (``GET /user``, §2.5). Afterwards
        ``client.scopes`` holds the scopes the token was granted."""
        return self.run(self.calls.current_user())

    def workspaces(self, *, administrator: bool | None = None) -> Iterator[dict]:
        """The caller's workspaces (``/user/workspaces``, §6.1): ``workspace_access`` values."""
        q = [] if administrator is None else [("administrator", "true" if administrator else "false")]
        return self.paginate("/user/workspaces", q, pagelen=MAX_PAGELEN)

    def repositories(
        self, ws: str, *, role: str | None = None, q: str | None = None, sort: str | None = None
    ) -> Iterator[dict]:
        """The workspace's repositories; ``role`` is member, contributor, admin or owner (§6.2)."""
        query = [(k, v) for k, v in (("role", role), ("q", q), ("sort", sort)) if v is not None]
        return self.paginate(f"/repositories/{_seg(ws)}", query, pagelen=MAX_PAGELEN)

    def repository(self, ws: str, repo: str) -> dict:
        return self.run(self.calls.repository(ws, repo))

    def repo_permission(self, ws: str, repo: str) -> str:
        """The caller's permission on ``ws/repo``: ``admin``, ``write``, ``read`` or
        ``none`` (§6.1, the preferred check)."""
        full = f"{ws}/{repo}".replace('"', '\\"')
        values = list(
            self.paginate(
                f"/user/workspaces/{_seg(ws)}/permissions/repositories",
                [("q", f'repository.full_name="{full}"')],
            )
        )
        return values[0].get("permission", "none") if values else "none"

    # -- pull requests ----------------------------------------------------------------------

    def pull_requests(
        self,
        ws: str,
        repo: str,
        *,
        state: str | Sequence[str] | None = None,
        q: str | None = None,
        sort: str | None = None,
        pagelen: int = MAX_PULL_REQUEST_PAGELEN,
    ) -> Iterator[dict]:
        """Pull requests, lazily, page by page. Bitbucket lists only OPEN ones
        unless ``state`` says otherwise (§6.3); ``q`` is a BBQL filter."""
        if not 1 <= pagelen <= MAX_PULL_REQUEST_PAGELEN:
            raise ValueError(f"pagelen must be 1..{MAX_PULL_REQUEST_PAGELEN} on the pull request list (§4.1)")
        states = [state] if isinstance(state, str) else list(state or [])
        query = [("state", s) for s in states]
        query += [(k, v) for k, v in (("q", q), ("sort", sort)) if v is not None]
        return self.paginate(f"{_repo(ws, repo)}/pullrequests", query, pagelen=pagelen)

    def pull_request(self, ws: str, repo: str, pr_id: int) -> dict:
        return self.run(self.calls.pull_request(ws, repo, pr_id))

    def diff(self, ws: str, repo: str, pr_id: int | None = None, **kw: Any) -> PatchSet:
        """A PR's diff, or a repository diff with ``spec="A..B"`` (A the change,
        B the base), as a PatchSet. See ``Calls.diff`` for the options."""
        return self.run(self.calls.diff(ws, repo, pr_id, **kw))

    def diff_text(self, ws: str, repo: str, pr_id: int | None = None, **kw: Any) -> str:
        return self.run(self.calls.diff(ws, repo, pr_id, text=True, **kw))

    def diffstat(
        self, ws: str, repo: str, pr_id: int | None = None, *, spec: str | None = None, paths: Sequence[str] = ()
    ) -> list[dict]:
        """Diffstat entries of a PR (302 followed) or of ``spec`` (§6.4), every
        page; ``paths`` limits them to those files or directories."""
        if spec is not None:
            path = f"{_repo(ws, repo)}/diffstat/{quote(spec, safe='.:/')}"
        elif pr_id is not None:
            path = f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/diffstat"
        else:
            raise ValueError("diffstat() needs a pull request id or a spec")
        return list(self.paginate(path, [("path", p) for p in paths], pagelen=MAX_DIFFSTAT_PAGELEN))

    def pr_diffstat(self, pr: dict, *, paths: Sequence[str] = ()) -> list[dict]:
        """A PR's diffstat entries (every page) by its revspec, built from its
        JSON like :meth:`Calls.pr_diff` (no redirect); ``paths`` limits them."""
        path, query = _pr_spec_endpoint(pr, "diffstat")
        query += [("path", p) for p in paths]
        caller = f"pr:{pr['destination']['repository']['full_name']}/{pr['id']}"
        return list(self.paginate(path, query, pagelen=MAX_DIFFSTAT_PAGELEN, caller=caller))

    def tree(self, ws: str, repo: str, commit: str, path: str = "") -> Iterator[dict]:
        """The entries of directory ``path`` (``""``: the root) at ``commit``:
        ``commit_directory`` and ``commit_file`` objects, every page (§6.4 src)."""
        where = f"{_repo(ws, repo)}/src/{_seg(commit)}/"
        if path.strip("/"):
            where += quote(path.strip("/"), safe="/") + "/"
        return self.paginate(where, pagelen=MAX_PAGELEN)

    def commits(self, ws: str, repo: str, pr_id: int) -> Iterator[dict]:
        """The commits a pull request would merge (§6.4)."""
        return self.paginate(f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/commits")

    def commit(self, ws: str, repo: str, commit: str) -> dict:
        return self.run(self.calls.commit(ws, repo, commit))

    def full_hash(self, ws: str, repo: str, commit: str) -> str:
        """``commit`` as 40 hex digits (PR JSON and webhooks carry 12, §9.8); cached."""
        if len(commit) == 40 and _is_hash(commit):
            return commit.lower()
        return str(self.commit(ws, repo, commit)["hash"])

    def file(self, ws: str, repo: str, commit: str, path: str) -> bytes:
        """A file's bytes at ``commit``; cached when ``commit`` is a hash."""
        return self.run(self.calls.file(ws, repo, commit, path))

    # -- comments ---------------------------------------------------------------------------

    def comments(self, ws: str, repo: str, pr_id: int, *, q: str | None = None) -> Iterator[dict]:
        """Every comment, oldest first, deleted ones included (``deleted: true``, §6.5)."""
        query = [("q", q)] if q else []
        return self.paginate(f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/comments", query, pagelen=MAX_PAGELEN)

    def comment(self, ws: str, repo: str, pr_id: int, comment_id: int) -> dict:
        return self.run(self.calls.comment(ws, repo, pr_id, comment_id))

    def create_comment(self, ws: str, repo: str, pr_id: int, raw: str, **kw: Any) -> dict:
        return self.run(self.calls.create_comment(ws, repo, pr_id, raw, **kw))

    def reply(self, ws: str, repo: str, pr_id: int, parent: int, raw: str) -> dict:
        return self.run(self.calls.create_comment(ws, repo, pr_id, raw, parent=parent))

    def update_comment(self, ws: str, repo: str, pr_id: int, comment_id: int, raw: str) -> dict:
        return self.run(self.calls.update_comment(ws, repo, pr_id, comment_id, raw))

    def delete_comment(self, ws: str, repo: str, pr_id: int, comment_id: int) -> None:
        self.run(self.calls.delete_comment(ws, repo, pr_id, comment_id))

    def resolve_comment(self, ws: str, repo: str, pr_id: int, comment_id: int) -> dict:
        return self.run(self.calls.resolve_comment(ws, repo, pr_id, comment_id))

    def reopen_comment(self, ws: str, repo: str, pr_id: int, comment_id: int) -> None:
        self.run(self.calls.reopen_comment(ws, repo, pr_id, comment_id))

    # -- tasks ----------------------------------------------------------------------------------

    def tasks(self, ws: str, repo: str, pr_id: int) -> Iterator[dict]:
        return self.paginate(f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/tasks", pagelen=MAX_PAGELEN)

    def create_task(self, ws: str, repo: str, pr_id: int, raw: str, *, comment: int | None = None) -> dict:
        return self.run(self.calls.create_task(ws, repo, pr_id, raw, comment=comment))

    def update_task(self, ws: str, repo: str, pr_id: int, task_id: int, **kw: Any) -> dict:
        return self.run(self.calls.update_task(ws, repo, pr_id, task_id, **kw))

    def delete_task(self, ws: str, repo: str, pr_id: int, task_id: int) -> None:
        self.run(self.calls.delete_task(ws, repo, pr_id, task_id))

    # -- approvals ------------------------------------------------------------------------------

    def approve(self, ws: str, repo: str, pr_id: int) -> dict:
        return self.run(self.calls.approve(ws, repo, pr_id))

    def unapprove(self, ws: str, repo: str, pr_id: int) -> None:
        self.run(self.calls.unapprove(ws, repo, pr_id))

    def request_changes(self, ws: str, repo: str, pr_id: int) -> dict:
        return self.run(self.calls.request_changes(ws, repo, pr_id))

    def remove_change_request(self, ws: str, repo: str, pr_id: int) -> None:
        self.run(self.calls.remove_change_request(ws, repo, pr_id))

    # -- commit statuses --------------------------------------------------------------------------

    def set_status(self, ws: str, repo: str, commit: str, key: str, state: str, **kw: Any) -> dict:
        return self.run(self.calls.set_status(ws, repo, commit, key, state, **kw))

    def statuses(self, ws: str, repo: str, commit: str) -> Iterator[dict]:
        return self.paginate(f"{_repo(ws, repo)}/commit/{_seg(commit)}/statuses", pagelen=MAX_PAGELEN)

    def pr_statuses(self, ws: str, repo: str, pr_id: int) -> Iterator[dict]:
        return self.paginate(f"{_repo(ws, repo)}/pullrequests/{int(pr_id)}/statuses", pagelen=MAX_PAGELEN)

    # -- Code Insights --------------------------------------------------------------------------

    def put_report(self, ws: str, repo: str, commit: str, report_id: str, report: dict) -> dict:
        return self.run(self.calls.put_report(ws, repo, commit, report_id, report))

    def report(self, ws: str, repo: str, commit: str, report_id: str) -> dict:
        return self.run(self.calls.report(ws, repo, commit, report_id))

    def reports(self, ws: str, repo: str, commit: str) -> Iterator[dict]:
        return self.paginate(f"{_repo(ws, repo)}/commit/{_seg(commit)}/reports", pagelen=MAX_PAGELEN)

    def delete_report(self, ws: str, repo: str, commit: str, report_id: str) -> None:
        self.run(self.calls.delete_report(ws, repo, commit, report_id))

    def annotations(self, ws: str, repo: str, commit: str, report_id: str) -> Iterator[dict]:
        return self.paginate(
            f"{_repo(ws, repo)}/commit/{_seg(commit)}/reports/{_seg(report_id)}/annotations", pagelen=MAX_PAGELEN
        )

    def add_annotations(
        self, ws: str, repo: str, commit: str, report_id: str, annotations: Sequence[dict], *, concurrency: int = 4
    ) -> list[dict]:
        """Posts annotations in batches of 100 (concurrently) and returns what
        Bitbucket stored, in order. More than 1,000 per report is refused up
        front (§6.9). The first failed batch is raised after all have run."""
        annotations = list(annotations)
        if len(annotations) > MAX_ANNOTATIONS_PER_REPORT:
            raise ValueError(
                f"{len(annotations)} annotations: a report holds at most {MAX_ANNOTATIONS_PER_REPORT} (§6.9); "
                "keep the most severe ones"
            )
        step = MAX_ANNOTATIONS_PER_REQUEST
        batches = [annotations[i : i + step] for i in range(0, len(annotations), step)]
        results = self.map(
            [self.calls.post_annotations(ws, repo, commit, report_id, b) for b in batches], concurrency=concurrency
        )
        stored: list[dict] = []
        for r in results:
            if isinstance(r, BaseException):
                raise r
            stored.extend(r)
        return stored

    # -- webhooks ---------------------------------------------------------------------------------

    def hooks(self, ws: str, repo: str) -> Iterator[dict]:
        return self.paginate(f"{_repo(ws, repo)}/hooks", pagelen=MAX_PAGELEN)

    def hook(self, ws: str, repo: str, uid: str) -> dict:
        return self.run(self.calls.hook(ws, repo, uid))

    def create_hook(self, ws: str, repo: str, url: str, events: Iterable[str], **kw: Any) -> dict:
        return self.run(self.calls.create_hook(ws, repo, url, events, **kw))

    def update_hook(self, ws: str, repo: str, uid: str, **fields: Any) -> dict:
        return self.run(self.calls.update_hook(ws, repo, uid, **fields))

    def delete_hook(self, ws: str, repo: str, uid: str) -> None:
        self.run(self.calls.delete_hook(ws, repo, uid))
