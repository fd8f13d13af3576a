"""The web console: a small threaded HTTP server on loopback, its pages and its JSON API.

```
browser ──HTTP──▶ _Handler (transport: limits, timeouts) ──Request──▶ Console.handle ──Response──▶
                                                   sessions, CSRF, rate limit ─┘   │
                                                                       Admin (bbreview.service.admin)
```

``Console.handle`` is the routing: a function from a parsed :class:`Request` to a :class:`Response`
that never touches a socket, so the security rules can be read (and tested) in one place:

- every page and every ``/api/`` route needs a session; only ``/login`` and ``/static/`` do not;
- every POST/PUT/PATCH/DELETE after login carries the session's CSRF token in ``X-CSRF-Token``;
- login attempts are limited per client address (429 with ``Retry-After``);
- a cross-site request (``Origin`` or ``Sec-Fetch-Site``) and, on loopback, a foreign ``Host``
  (DNS rebinding) are refused;
- responses carry a self-only Content-Security-Policy, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``;
- request bodies are capped, and whatever secret a request carried (token, password) is scrubbed
  from any error message before it is answered or logged.

API (JSON in and out; ``{"error": ...}`` on failure):

| method, path | does |
|---|---|
| GET  /api/token                 | the saved token's email, last 4 characters, user, scopes (never the token) |
| POST /api/token/validate        | ``{email, token}`` → ``{check}`` (nothing saved) |
| POST /api/token                 | ``{email, token}`` → ``{check, token}``: validates and saves |
| GET  /api/repositories          | ``?q=&page=&per_page=`` → a page of repositories with their hook state |
| GET  /api/repositories/names    | ``?q=`` → ``{items: [{full_name, permission}], total}``: every match, no webhook read |
| GET  /api/installations         | ``{items: [{full_name, hook_uuid, ...}]}``: what is installed, read from the store |
| POST /api/jobs                  | ``{action: install|uninstall|reinstall, full_names}`` → a job to poll |
| POST /api/change-user           | ``{email, token, full_names}`` → a job; no or empty ``full_names``: those installed |
| GET  /api/jobs/<id>             | the job, with each repository's result as it arrives |
| GET  /api/health                | ``?repo=ws/slug`` → the repository's hook, deliveries and errors |
| POST /api/test-event            | ``{full_name}`` → a signed synthetic delivery, followed through the queue |
| GET  /api/doctor                | every problem found, each with its fix |
| GET  /api/avatar/<n>            | the n-th avatar this session was shown, fetched server-side (CSP: self only) |
| POST /api/logout                | ends the session |
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import logging
import math
import os
import re
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from typing import Any

from bbreview.errors import BitbucketError, Error
from bbreview.service.console.jobs import JobBusy, Jobs, jsonable
from bbreview.service.console.security import (
    CSRF_COOKIE,
    CSRF_HEADER,
    LOGIN_ATTEMPTS,
    LOGIN_WINDOW_S,
    SESSION_COOKIE,
    SESSION_IDLE_S,
    RateLimiter,
    Session,
    SessionStore,
)

__all__ = ["Console", "ConsoleServer", "Request", "Response", "MAX_BODY_BYTES", "REQUEST_TIMEOUT_S"]

log = logging.getLogger("bbreview.console")

#: The largest request body accepted (a token form or a list of repositories is far smaller).
MAX_BODY_BYTES = 64 * 1024
#: Seconds a client may take to send a request (and idle between keep-alive requests).
REQUEST_TIMEOUT_S = 30.0
#: Avatars fetched for the user card: size cap, deadline, and the types accepted (no SVG: it can script).
MAX_AVATAR_BYTES = 256 * 1024
AVATAR_TIMEOUT_S = 3.0
AVATAR_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: Repositories accepted in one install/uninstall/reinstall request.
MAX_TARGETS = 1000
#: Per-page bounds of the repository list.
MAX_PER_PAGE = 100

SECURITY_HEADERS = (
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)

#: path → (template, title). Every page but login needs a session.
PAGES = {
    "/user": ("user", "Bitbucket user"),
    "/repositories": ("repositories", "Repositories"),
    "/change-user": ("change-user", "Change review user"),
    "/troubleshooting": ("troubleshooting", "Troubleshooting"),
}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".png": "image/png", ".svg": "image/svg+xml"}
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(css|js|png|svg)$")
_JOB_PATH = re.compile(r"^/api/jobs/([0-9a-f]{16})$")
_AVATAR_PATH = re.compile(r"^/api/avatar/([0-9]{1,3})$")
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}/[A-Za-z0-9_.-]{1,128}$")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REDACTED = "[redacted]"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    secure: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def cookie(self, name: str) -> str | None:
        # Parsed by hand: cookies are shared by every port of 127.0.0.1, and a malformed cookie of
        # another local application must not hide ours (SimpleCookie stops at the first bad one).
        for part in (self.header("cookie") or "").split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip().strip('"')
        return None

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    cache: str = "no-store"


class _Refused(Exception):
    """Turns into an error response; the message must be safe to show (no secrets)."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or []


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, _REDACTED)
    return text


def _json(status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, "application/json; charset=utf-8", headers or [])


def _redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(HTTPStatus.SEE_OTHER, b"", headers=[("Location", location), *(headers or [])])


def _html_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


def _read_static(name: str) -> bytes:
    return resources.files("bbreview.service.console").joinpath("static", name).read_bytes()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


class Console:
    """The console's routing and security, independent of the transport.

    Args:
        admin: a ``bbreview.service.admin.Admin`` (or an object with the same methods).
        store: the service's store (the admin password lives there).
        config: the ServiceConfig.
        secure_cookies: add ``Secure`` to cookies (always on when the request came over TLS).
        allowed_hosts: ``Host`` header values accepted; None accepts any (behind a reverse proxy).
    """

    def __init__(
        self,
        admin: Any,
        store: Any,
        config: Any,
        *,
        secure_cookies: bool = False,
        allowed_hosts: set[str] | None = None,
        sessions: SessionStore | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.admin = admin
        self.store = store
        self.config = config
        self.secure_cookies = secure_cookies
        self.allowed_hosts = allowed_hosts
        self.sessions = sessions if sessions is not None else SessionStore(idle=SESSION_IDLE_S)
        self.limiter = limiter if limiter is not None else RateLimiter(LOGIN_ATTEMPTS, LOGIN_WINDOW_S)
        self.jobs = Jobs()

    # -- entry point ---------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """Answers one request. Never raises: unexpected failures become a 500 without details."""
        secrets_in_request = self._request_secrets(req)
        try:
            return self._route(req)
        except _Refused as exc:
            return self._error(req, exc.status, _scrub(str(exc), secrets_in_request), exc.headers)
        except Exception as exc:  # noqa: BLE001 - the console must answer; the log says what failed
            log.error("console: %s %s failed: %s: %s", req.method, req.path, type(exc).__name__,
                      _scrub(str(exc), secrets_in_request))
            return self._error(req, HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the service log")

    @staticmethod
    def _request_secrets(req: Request) -> list[str]:
        """Values in the request body that must never be echoed: tokens and passwords."""
        found: list[str] = []
        if not req.body:
            return found
        try:
            data = json.loads(req.body)
        except ValueError:
            data = {k: v[0] for k, v in urllib.parse.parse_qs(req.body.decode("utf-8", "replace")).items()}
        if isinstance(data, dict):
            for key in ("token", "password", "secret"):
                value = data.get(key)
                if isinstance(value, str):
                    found.append(value)
        return found

    def _error(self, req: Request, status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
        if req.path.startswith("/api/"):
            return _json(status, {"error": message}, headers)
        body = f"<!doctype html><title>{status}</title><p>{_html_escape(message)}</p>".encode()
        return Response(status, body, "text/html; charset=utf-8", headers or [])

    def _route(self, req: Request) -> Response:
        self._check_host(req)
        if req.method not in ("GET", "HEAD", *_UNSAFE_METHODS):
            raise _Refused(HTTPStatus.METHOD_NOT_ALLOWED, f"method {req.method} is not allowed")
        if req.method in _UNSAFE_METHODS:
            self._check_same_origin(req)
        path = req.path
        # Public: the login page and the static assets (no data in either).
        if path == "/login":
            if req.method in ("GET", "HEAD"):
                return self._login_page(req)
            if req.method == "POST":
                return self._login(req)
            raise _Refused(HTTPStatus.METHOD_NOT_ALLOWED, "use GET or POST")
        if path.startswith("/static/"):
            return self._static(req, path[len("/static/"):])
        if path == "/favicon.ico":
            return Response(HTTPStatus.NOT_FOUND, b"")
        # Everything else needs a session.
        session = self.sessions.get(req.cookie(SESSION_COOKIE))
        if session is None:
            if path.startswith("/api/"):
                raise _Refused(HTTPStatus.UNAUTHORIZED, "log in first")
            target = path if path in PAGES else "/"
            return _redirect("/login" + ("" if target == "/" else "?next=" + urllib.parse.quote(target)))
        if req.method in _UNSAFE_METHODS and not session.csrf_ok(req.header(CSRF_HEADER)):
            log.warning("console: %s %s refused: missing or wrong CSRF token", req.method, path)
            raise _Refused(HTTPStatus.FORBIDDEN, "missing or wrong CSRF token; reload the page")
        if path.startswith("/api/"):
            return self._api(req, session)
        if req.method not in ("GET", "HEAD"):
            raise _Refused(HTTPStatus.METHOD_NOT_ALLOWED, "pages answer GET only")
        if path == "/":
            return _redirect("/repositories")
        if path in PAGES:
            name, title = PAGES[path]
            return self._page(name, title)
        raise _Refused(HTTPStatus.NOT_FOUND, "no such page")

    # -- request checks --------------------------------------------------------------------------
    def _check_host(self, req: Request) -> None:
        if self.allowed_hosts is None:
            return
        host = (req.header("host") or "").lower()
        if host not in self.allowed_hosts:
            raise _Refused(HTTPStatus.BAD_REQUEST, "unexpected Host header; open the console at its own address")

    def _check_same_origin(self, req: Request) -> None:
        # Sec-Fetch-Site is set by the browser itself; page scripts cannot forge it.
        site = (req.header("sec-fetch-site") or "").lower()
        if site and site not in ("same-origin", "none"):
            raise _Refused(HTTPStatus.FORBIDDEN, "cross-site request refused")
        origin = req.header("origin")
        if origin is None:  # not a browser, or one that predates Origin on same-origin requests
            return
        if origin == "null" and site == "same-origin":
            return  # a same-origin form post under Referrer-Policy: no-referrer carries Origin: null
        scheme = "https" if req.secure else "http"
        if origin.lower() != f"{scheme}://{(req.header('host') or '').lower()}":
            raise _Refused(HTTPStatus.FORBIDDEN, "cross-origin request refused")

    # -- cookies ----------------------------------------------------------------------------------
    def _cookie(self, req: Request, name: str, value: str, *, http_only: bool, clear: bool = False) -> tuple[str, str]:
        parts = [f"{name}={value}", "Path=/", "SameSite=Strict"]
        if http_only:
            parts.append("HttpOnly")
        if self.secure_cookies or req.secure:
            parts.append("Secure")
        if clear:
            parts.append("Max-Age=0")
        return ("Set-Cookie", "; ".join(parts))

    # -- login and logout ---------------------------------------------------------------------------
    def _password_set(self) -> bool:
        from bbreview.service import credentials

        return bool(credentials.has_admin_password(self.store))

    def _login_page(self, req: Request, *, status: int = HTTPStatus.OK, message: str = "",
                    headers: list[tuple[str, str]] | None = None) -> Response:
        password_set = self._password_set()
        if not password_set:
            notice = ('<p class="notice" role="alert">No administrator password is set. On the server, run '
                      "<code>bbreview admin set-password</code>, then reload this page.</p>")
        elif message:
            notice = f'<p class="error" role="alert">{_html_escape(message)}</p>'
        else:
            notice = ""
        nxt = req.arg("next")
        nxt = nxt if nxt in PAGES else ""
        body = _read_static("login.html").decode("utf-8")
        body = (body.replace("{{notice}}", notice).replace("{{next}}", _html_escape(nxt))
                .replace("{{disabled}}", "" if password_set else " disabled"))
        return Response(status, body.encode("utf-8"), "text/html; charset=utf-8", headers or [])

    def _login(self, req: Request) -> Response:
        wait = self.limiter.hit(req.client_ip)
        if wait:
            retry = str(math.ceil(wait))
            log.warning("console: login rate limit reached for %s", req.client_ip)
            return self._login_page(req, status=HTTPStatus.TOO_MANY_REQUESTS, headers=[("Retry-After", retry)],
                                    message=f"Too many login attempts. Try again in {retry} seconds.")
        if not self._password_set():
            return self._login_page(req, status=HTTPStatus.FORBIDDEN)
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise _Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the login form")
        form = urllib.parse.parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        password = (form.get("password") or [""])[0]
        nxt = (form.get("next") or [""])[0]
        from bbreview.service import credentials

        if not password or not credentials.verify_admin_password(self.store, password):
            log.warning("console: failed login from %s", req.client_ip)
            return self._login_page(req, status=HTTPStatus.UNAUTHORIZED, message="Wrong password.")
        self.sessions.drop(req.cookie(SESSION_COOKIE))  # a fresh id at every login: no fixation
        session_id, session = self.sessions.create()
        log.info("console: administrator logged in from %s", req.client_ip)
        return _redirect(nxt if nxt in PAGES else "/", [
            self._cookie(req, SESSION_COOKIE, session_id, http_only=True),
            self._cookie(req, CSRF_COOKIE, session.csrf, http_only=False),
        ])

    def _logout(self, req: Request) -> Response:
        self.sessions.drop(req.cookie(SESSION_COOKIE))
        log.info("console: administrator logged out")
        return _json(HTTPStatus.OK, {"ok": True}, [
            self._cookie(req, SESSION_COOKIE, "", http_only=True, clear=True),
            self._cookie(req, CSRF_COOKIE, "", http_only=False, clear=True),
        ])

    # -- pages ---------------------------------------------------------------------------------------
    def _page(self, name: str, title: str) -> Response:
        layout = _read_static("layout.html").decode("utf-8")
        main = _read_static(f"{name}.html").decode("utf-8")
        nav = []
        for path, (page, label) in PAGES.items():
            current = ' aria-current="page"' if page == name else ""
            nav.append(f'<li><a href="{path}"{current}>{_html_escape(label)}</a></li>')
        body = (layout.replace("{{title}}", _html_escape(title)).replace("{{page}}", name)
                .replace("{{nav}}", "\n".join(nav)).replace("{{main}}", main))
        return Response(HTTPStatus.OK, body.encode("utf-8"), "text/html; charset=utf-8")

    def _static(self, req: Request, name: str) -> Response:
        if req.method not in ("GET", "HEAD"):
            raise _Refused(HTTPStatus.METHOD_NOT_ALLOWED, "static files answer GET only")
        if not _STATIC_NAME.match(name) or name.endswith(".html"):
            raise _Refused(HTTPStatus.NOT_FOUND, "no such file")
        try:
            data = _read_static(name)
        except (FileNotFoundError, IsADirectoryError):
            raise _Refused(HTTPStatus.NOT_FOUND, "no such file") from None
        ctype = STATIC_TYPES[os.path.splitext(name)[1]]
        return Response(HTTPStatus.OK, data, ctype, cache="no-cache")

    # -- API -------------------------------------------------------------------------------------------
    def _api(self, req: Request, session: Session) -> Response:
        path, method = req.path, req.method
        get = method in ("GET", "HEAD")
        if path == "/api/logout" and method == "POST":
            return self._logout(req)
        if path == "/api/session" and get:
            return _json(HTTPStatus.OK, {"authenticated": True})
        if path == "/api/token" and get:
            info = self._call(self.admin.token_info)
            return _json(HTTPStatus.OK, {"token": self._with_avatars(session, _safe_token_info(info))})
        if path == "/api/token/validate" and method == "POST":
            email, token = self._email_and_token(req)
            check = self._call(self.admin.validate_token, email, token, secrets=[token])
            return _json(HTTPStatus.OK, {"check": self._with_avatars(session, jsonable(check))})
        if path == "/api/token" and method == "POST":
            email, token = self._email_and_token(req)
            check = self._call(self.admin.save_token, email, token, secrets=[token])
            info = self._call(self.admin.token_info)
            log.info("console: token %s for %s", "saved" if info else "not saved", email)
            return _json(HTTPStatus.OK, {"check": self._with_avatars(session, jsonable(check)),
                                         "token": self._with_avatars(session, _safe_token_info(info))})
        if path == "/api/repositories" and get:
            query = req.arg("q").strip()[:200] or None
            page = _int_arg(req.arg("page"), 1, 1, 100_000)
            per_page = _int_arg(req.arg("per_page"), 25, 1, MAX_PER_PAGE)
            return _json(HTTPStatus.OK, jsonable(self._call(self.admin.repositories, query, page, per_page)))
        if path == "/api/repositories/names" and get:
            query = req.arg("q").strip()[:200] or None
            names = jsonable(self._call(self.admin.repository_names, query))
            return _json(HTTPStatus.OK, {"items": names, "total": len(names)})
        if path == "/api/installations" and get:
            return _json(HTTPStatus.OK, {"items": jsonable(self._call(self.admin.installations))})
        if path == "/api/jobs" and method == "POST":
            return self._start_repo_job(req)
        if path == "/api/change-user" and method == "POST":
            return self._start_change_user(req)
        m = _JOB_PATH.match(path)
        if m and get:
            job = self.jobs.get(m.group(1))
            if job is None:
                raise _Refused(HTTPStatus.NOT_FOUND, "no such job")
            return _json(HTTPStatus.OK, job)
        if path == "/api/health" and get:
            full_name = req.arg("repo").strip()
            _check_full_name(full_name)
            return _json(HTTPStatus.OK, jsonable(self._call(self.admin.health, full_name)))
        if path == "/api/test-event" and method == "POST":
            full_name = str(self._json_body(req).get("full_name", "")).strip()
            _check_full_name(full_name)
            log.info("console: test event for %s", full_name)
            return _json(HTTPStatus.OK, jsonable(self._call(self.admin.send_test_event, full_name)))
        if path == "/api/doctor" and get:
            return _json(HTTPStatus.OK, {"problems": jsonable(self._call(self.admin.doctor))})
        m = _AVATAR_PATH.match(path)
        if m and get:
            return self._avatar(session, int(m.group(1)))
        raise _Refused(HTTPStatus.NOT_FOUND, f"no API route {method} {path}")

    def _json_body(self, req: Request) -> dict[str, Any]:
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON (Content-Type: application/json)")
        try:
            data = json.loads(req.body or b"{}")
        except ValueError:
            raise _Refused(HTTPStatus.BAD_REQUEST, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _Refused(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return data

    def _email_and_token(self, req: Request) -> tuple[str, str]:
        data = self._json_body(req)
        email, token = data.get("email"), data.get("token")
        if not isinstance(email, str) or not email.strip() or "@" not in email:
            raise _Refused(HTTPStatus.BAD_REQUEST, "enter the Atlassian account email of the token's owner")
        if not isinstance(token, str) or not token.strip():
            raise _Refused(HTTPStatus.BAD_REQUEST, "enter the API token")
        if len(token) > 4096:
            raise _Refused(HTTPStatus.BAD_REQUEST, "the API token is too long")
        return email.strip(), token.strip()

    def _targets(self, data: dict[str, Any], *, required: bool = True) -> list[str]:
        """The ``full_names`` of a request, checked. When not ``required``, a missing or empty
        list is returned as []."""
        names = data.get("full_names")
        if not required and (names is None or names == []):
            return []
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise _Refused(HTTPStatus.BAD_REQUEST, "select at least one repository")
        if len(names) > MAX_TARGETS:
            raise _Refused(HTTPStatus.BAD_REQUEST, f"at most {MAX_TARGETS} repositories at a time")
        out: list[str] = []
        for name in names:
            _check_full_name(name)
            if name not in out:
                out.append(name)
        return out

    def _start_repo_job(self, req: Request) -> Response:
        data = self._json_body(req)
        action = data.get("action")
        methods = {"install": self.admin.install, "uninstall": self.admin.uninstall, "reinstall": self.admin.reinstall}
        if action not in methods:
            raise _Refused(HTTPStatus.BAD_REQUEST, "action must be install, uninstall or reinstall")
        targets = self._targets(data)
        method = methods[action]
        log.info("console: %s %d repositories", action, len(targets))
        try:
            job = self.jobs.start(action, targets, lambda progress: method(targets, progress=progress),
                                  _describe_error)
        except JobBusy as exc:
            raise _Refused(HTTPStatus.CONFLICT, str(exc)) from None
        return _json(HTTPStatus.ACCEPTED, job.to_dict())

    def _start_change_user(self, req: Request) -> Response:
        email, token = self._email_and_token(req)
        # No list, or an empty one, means the repositories installed now: the page reads them from
        # the store, and so does change_user, because the old token may no longer list them.
        targets = self._targets(self._json_body(req), required=False)
        log.info("console: changing the review user to %s (%s)", email,
                 f"{len(targets)} repositories" if targets else "the repositories installed now")

        def work(progress: Any) -> Any:
            return self.admin.change_user(email, token, targets or None)

        try:
            job = self.jobs.start("change-user", targets, work, lambda exc: _describe_error(exc, [token]))
        except JobBusy as exc:
            raise _Refused(HTTPStatus.CONFLICT, str(exc)) from None
        return _json(HTTPStatus.ACCEPTED, job.to_dict())

    def _call(self, fn: Any, *args: Any, secrets: list[str] | None = None) -> Any:
        """Calls an Admin method; a bbreview error becomes a 4xx/5xx with its (scrubbed) message."""
        try:
            return fn(*args)
        except Error as exc:
            status = HTTPStatus.BAD_GATEWAY if isinstance(exc, BitbucketError) else HTTPStatus.BAD_REQUEST
            raise _Refused(status, _describe_error(exc, secrets or [])) from None

    # -- avatars ------------------------------------------------------------------------------------
    def _with_avatars(self, session: Session, data: Any) -> Any:
        """Adds ``avatar_src`` (a console URL) beside each ``avatar_url`` so the page never loads an
        external image; the session remembers which URLs it may fetch."""
        if isinstance(data, dict):
            out = {k: self._with_avatars(session, v) for k, v in data.items()}
            url = data.get("avatar_url")
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                if url not in session.avatars:
                    session.avatars.append(url)
                    del session.avatars[:-16]
                out["avatar_src"] = f"/api/avatar/{session.avatars.index(url)}"
            return out
        if isinstance(data, list):
            return [self._with_avatars(session, v) for v in data]
        return data

    def _avatar(self, session: Session, index: int) -> Response:
        if index >= len(session.avatars):
            raise _Refused(HTTPStatus.NOT_FOUND, "no such avatar")
        url = session.avatars[index]
        context = ssl.create_default_context(cafile=getattr(self.config, "ca_file", None) or None)
        request = urllib.request.Request(url, headers={"Accept": ", ".join(AVATAR_TYPES)})
        try:
            with urllib.request.urlopen(request, timeout=AVATAR_TIMEOUT_S, context=context) as resp:  # noqa: S310
                ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                data = resp.read(MAX_AVATAR_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError):
            raise _Refused(HTTPStatus.NOT_FOUND, "the avatar could not be fetched") from None
        if ctype not in AVATAR_TYPES or len(data) > MAX_AVATAR_BYTES:
            raise _Refused(HTTPStatus.NOT_FOUND, "the avatar is not a small image")
        return Response(HTTPStatus.OK, data, ctype, cache="private, max-age=300")


def _safe_token_info(info: Any) -> dict[str, Any] | None:
    """The token summary with only known-safe fields: never the token itself."""
    if info is None:
        return None
    data = jsonable(info)
    if not isinstance(data, dict):
        return None
    return {k: data.get(k) for k in ("email", "last4", "user", "scopes", "saved_at", "credential_type") if k in data}


def _describe_error(exc: BaseException, secrets: list[str] | None = None) -> str:
    message = str(exc) or type(exc).__name__
    if not isinstance(exc, Error):
        message = f"{type(exc).__name__}: {message}"
    return _scrub(message, secrets or [])


def _check_full_name(name: str) -> None:
    if not _FULL_NAME.match(name):
        raise _Refused(HTTPStatus.BAD_REQUEST, "a repository is named workspace/slug")


def _int_arg(raw: str, default: int, low: int, high: int) -> int:
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise _Refused(HTTPStatus.BAD_REQUEST, f"not a number: {raw[:20]!r}") from None
    return min(max(value, low), high)


# -- transport ------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "bbreview-console"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT_S
    console: Console  # set on the subclass ConsoleServer makes
    secure = False

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_PUT(self) -> None:  # noqa: N802
        self._serve()

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve()

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = b""
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            self._send(Response(HTTPStatus.LENGTH_REQUIRED, b"send a Content-Length, not a chunked body\n"), close=True)
            return
        if length_header is not None:
            try:
                length = int(length_header)
            except ValueError:
                length = -1
            if length < 0:
                self._send(Response(HTTPStatus.BAD_REQUEST, b"bad Content-Length\n"), close=True)
                return
            if length > MAX_BODY_BYTES:
                self._send(Response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"request body too large\n"), close=True)
                return
            body = self.rfile.read(length)
        elif self.command in _UNSAFE_METHODS:
            self._send(Response(HTTPStatus.LENGTH_REQUIRED, b"send a Content-Length\n"), close=True)
            return
        request = Request(
            method=self.command,
            path=urllib.parse.unquote(url.path) or "/",
            query=urllib.parse.parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_ip=self.client_address[0],
            secure=self.secure,
        )
        self._send(self.console.handle(request))

    def _send(self, response: Response, *, close: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", response.cache)
        if response.cache == "no-store":
            self.send_header("Pragma", "no-cache")
        for name, value in SECURITY_HEADERS:
            self.send_header(name, value)
        for name, value in response.headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        # Only the method, the path (without the query) and the status: nothing a secret could be in.
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(self.path).path
        log.debug("console: %s %s %s %s", self.client_address[0], self.command, path[:200], code)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        log.info("console: %s: request error %s", self.client_address[0], args[0] if args else "")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[_Handler], ssl_context: ssl.SSLContext | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._ssl_context = ssl_context
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        sock.settimeout(REQUEST_TIMEOUT_S)
        if self._ssl_context is not None:
            sock = self._ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that vanished or timed out is not the console's error; anything else is logged
        # by type only (the traceback's messages could quote request data).
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError, socket.timeout)):
            log.error("console: error while serving %s: %s", client_address[0], type(exc).__name__)


class ConsoleServer:
    """The console's HTTP listener. ``start()`` returns once it listens; ``stop()`` closes it.

    Args:
        admin: the ``Admin`` the API maps to.
        store: the service's store (holds the administrator password's hash).
        config: the ServiceConfig (``console_host``/``console_port`` are the defaults).
        host, port: where to listen; port 0 picks a free port. Loopback by default.
        secure_cookies: mark cookies ``Secure`` (default: ``BBREVIEW_CONSOLE_SECURE_COOKIES=1``, or
            on when ``ssl_context`` is given). Set it when a TLS reverse proxy fronts the console.
        ssl_context: serve HTTPS with this server-side context.
    """

    def __init__(
        self,
        admin: Any,
        store: Any,
        config: Any,
        *,
        host: str | None = None,
        port: int | None = None,
        secure_cookies: bool | None = None,
        ssl_context: ssl.SSLContext | None = None,
        login_attempts: int = LOGIN_ATTEMPTS,
        login_window: float = LOGIN_WINDOW_S,
        session_idle: float = SESSION_IDLE_S,
        env: dict[str, str] | None = None,
    ) -> None:
        self.host = host if host is not None else getattr(config, "console_host", "127.0.0.1")
        self._requested_port = port if port is not None else getattr(config, "console_port", 0)
        env = dict(os.environ if env is None else env)
        if secure_cookies is None:
            secure_cookies = env.get("BBREVIEW_CONSOLE_SECURE_COOKIES", "").lower() in ("1", "true", "yes")
        self.ssl_context = ssl_context
        self.console = Console(
            admin, store, config,
            secure_cookies=bool(secure_cookies) or ssl_context is not None,
            sessions=SessionStore(idle=session_idle),
            limiter=RateLimiter(login_attempts, login_window),
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1]) if self._server is not None else 0

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> ConsoleServer:
        """Binds and serves on a background thread; returns self. Idempotent."""
        if self._server is not None:
            return self
        handler = type("ConsoleHandler", (_Handler,), {"console": self.console, "secure": self.ssl_context is not None})
        self._server = _Server((self.host, self._requested_port), handler, self.ssl_context)
        if _loopback(self.host):
            # A loopback console only answers to its own address: a web page that rebinds a
            # hostname of its own to 127.0.0.1 (DNS rebinding) sends a foreign Host and is refused.
            port = self.port
            self.console.allowed_hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
        else:
            log.warning("console: listening on %s, not loopback: put it behind TLS and an allow-list", self.host)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="bbreview-console", daemon=True)
        self._thread.start()
        log.info("console: listening on %s", self.url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops accepting requests, closes the socket, and waits briefly for running jobs."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self.console.jobs.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
