"""Setting bbreview up on Bitbucket Cloud: the token, the webhooks, and what is wrong.

:class:`Admin` is what the web console and ``bbreview token|repos|user|doctor``
call. Every method returns plain dataclasses whose ``to_dict()`` is JSON-ready
and never carries a secret (no token, no webhook secret, no key).

    admin = Admin(store, config)
    check = admin.save_token("bot@example.com", token)   # GET /2.0/user, scopes, saved encrypted
    admin.install(["acme/webapp"])                        # one signed webhook per repository
    for p in admin.doctor():
        print(p.severity, p.what, p.fix)

A webhook is "ours" when its URL is ``config.hook_url`` (``<public_url>/bitbucketHandler``).
Each one gets a fresh random secret, stored encrypted with its installation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from bbreview._native import core
from bbreview.errors import (
    AuthError,
    BitbucketError,
    Error,
    NetworkError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ScopeError,
)
from bbreview.service import credentials
from bbreview.service.config import ServiceConfig
from bbreview.service.credentials import CredentialsError, SecretBox
from bbreview.service.events import HANDLED_EVENTS

__all__ = [
    "REQUIRED_SCOPES",
    "HOOK_DESCRIPTION",
    "WEB_URL",
    "Admin",
    "TokenCheck",
    "HookState",
    "RepoRow",
    "RepoPage",
    "RepoName",
    "Installed",
    "InstallResult",
    "ChangeUserResult",
    "RepoHealth",
    "TestEventResult",
    "Problem",
]

log = logging.getLogger(__name__)

#: What fails without each API-token scope (reference §2.8; scopes do not imply
#: each other, §2.1). ``delete:webhook`` is needed to remove webhooks;
#: ``write:repository`` because the reference leaves open whether statuses and
#: Code Insights reports need it, and the safer default is to ask for it.
REQUIRED_SCOPES: dict[str, str] = {
    "read:user:bitbucket": "validating the token and recognising the bot's own comments (GET /2.0/user)",
    "read:workspace:bitbucket": "listing the account's workspaces",
    "read:repository:bitbucket": "listing repositories and permissions, reading diffs and files, "
                                 "posting Code Insights reports",
    "write:repository:bitbucket": "posting commit statuses and Code Insights reports "
                                  "(Bitbucket may enforce it)",
    "read:pullrequest:bitbucket": "reading pull requests, their diffs and comments, and posting review comments",
    "write:pullrequest:bitbucket": "approving pull requests and requesting changes",
    "read:webhook:bitbucket": "checking the webhooks bbreview installed",
    "write:webhook:bitbucket": "installing and repairing webhooks",
    "delete:webhook:bitbucket": "removing webhooks (uninstall, reinstall, changing the review user)",
}

#: The description bbreview gives its webhooks in Bitbucket's settings.
HOOK_DESCRIPTION = "bbreview code review"
#: Bitbucket's web UI, for links to repository settings.
WEB_URL = "https://bitbucket.org"
#: The secret of a webhook: 32 random bytes, base64url (43 characters; Bitbucket allows 128, §6.10).
HOOK_SECRET_BYTES = 32
#: The repository list is cached this long, so paging and searching do not spend
#: the hourly request budget (§5) again and again.
REPO_CACHE_SECONDS = 60.0
#: How long send_test_event follows a delivery through the queue.
TEST_EVENT_FOLLOW_SECONDS = 5.0
#: Bitbucket answers within 10 s or treats a delivery as failed (§7.3); the test event waits as long.
TEST_EVENT_TIMEOUT_SECONDS = 10.0
#: Events-log entries younger than this count as recent failures in doctor().
RECENT_FAILURE_SECONDS = 24 * 3600.0
#: How long doctor() waits for ``<public_url>/healthz``: the listener answers at once, and a
#: firewall that drops packets must not make doctor hang.
PUBLIC_URL_PROBE_SECONDS = 3.0

_TOKEN_REMEDY = (
    "API tokens authenticate with the Atlassian account email (not the Bitbucket username or nickname). "
    "Check the email, and that the token was created with 'Create API token with scopes' for the Bitbucket "
    "app, has not expired and was not revoked"
)
_ADMIN_REMEDY = "the account needs admin permission on this repository"
_PUBLIC_URL_REMEDY = "set public_url (BBREVIEW_PUBLIC_URL) to the address Bitbucket can reach"


def _scope_remedy(exc: ScopeError, fallback: str) -> str:
    missing = [s for s in (exc.missing or exc.required) if s] or ([fallback] if fallback else [])
    names = ", ".join(missing) or "a required scope"
    return (f"the token lacks {names}: create an API token that has it and save it "
            "(`bbreview token set`, or `bbreview user change` for another account)")


def _settings_url(full_name: str) -> str:
    ws, _, slug = full_name.partition("/")
    return f"{WEB_URL}/{quote(ws, safe='')}/{quote(slug, safe='')}/admin/webhooks"


def _split(full_name: str) -> tuple[str, str]:
    ws, sep, slug = full_name.partition("/")
    if not sep or not ws or not slug or "/" in slug:
        raise ValueError(f"{full_name!r} is not a repository name: use WORKSPACE/REPO")
    return ws, slug


def _bare(uuid: str | None) -> str:
    return (uuid or "").strip("{}").lower()


def _why(exc: BaseException, step: str, who: str) -> str:
    """Why ``who`` ("old" or "new") could not remove a webhook, in a few words."""
    if isinstance(exc, ScopeError):
        names = ", ".join(s for s in (exc.missing or exc.required) if s) or step
        return f"the {who} token lacks {names}"
    if isinstance(exc, PermissionDenied):
        return f"the {who} account has no admin permission on the repository"
    if isinstance(exc, NotFound):
        return f"the {who} account cannot see the repository"
    if isinstance(exc, AuthError):
        return f"the {who} token no longer works ({exc.message})"
    return f"the {who} token could not remove it ({_error_text(exc)})"


def _address_kind(address: str) -> str | None:
    """Why Bitbucket Cloud cannot reach ``address`` (an IP literal): "loopback", "unspecified",
    "link-local", "private" or "non-public"; None for a public address or something that is not an IP."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to here. Raises OSError (socket.gaierror) when it does not,
    and TimeoutError when the resolver does not answer within PUBLIC_URL_PROBE_SECONDS (a lookup
    has no timeout of its own, and doctor must not hang on a dead DNS server)."""
    outcome: dict[str, Any] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name="bbreview-resolve", daemon=True)
    worker.start()
    worker.join(PUBLIC_URL_PROBE_SECONDS)
    if worker.is_alive():
        raise TimeoutError(f"the DNS lookup of {host} did not answer within {PUBLIC_URL_PROBE_SECONDS:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return sorted({str(info[4][0]) for info in outcome["infos"]})


def _probe_healthz(url: str, timeout: float, direct: bool) -> tuple[int, str | None]:
    """GETs ``url``; returns (HTTP status, None), or (0, why) when nothing answered in ``timeout``
    seconds. ``direct`` bypasses any proxy (the host is this machine or its network)."""
    handlers: list[Any] = [urllib.request.ProxyHandler({})] if direct else []
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, headers={"User-Agent": "bbreview-doctor/1"})
    try:
        with opener.open(req, timeout=timeout) as resp:
            return int(resp.status), None
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code), None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return 0, f"timed out after {timeout:g} s"
        return 0, str(reason) or type(reason).__name__


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenCheck:
    """What ``GET /2.0/user`` said about a token.

    ``ok`` is True when the token authenticates; ``missing`` lists the scopes of
    :data:`REQUIRED_SCOPES` it lacks as ``(scope, what fails without it)``.
    """

    ok: bool
    user: dict[str, Any] | None = None
    scopes: tuple[str, ...] = ()
    missing: list[tuple[str, str]] = field(default_factory=list)
    credential_type: str | None = None
    error: str | None = None
    remedy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "user": dict(self.user) if self.user else None,
            "scopes": list(self.scopes),
            "missing": [[scope, why] for scope, why in self.missing],
            "credential_type": self.credential_type,
            "error": self.error,
            "remedy": self.remedy,
        }


@dataclass(frozen=True)
class HookState:
    """bbreview's webhook on one repository as Bitbucket reports it.

    ``present`` is False when the repository has no webhook to our URL.
    ``ours`` is True when its URL is ``config.hook_url`` (a hook found only by
    the uuid bbreview remembers points elsewhere, e.g. after public_url changed).
    """

    present: bool
    uuid: str | None = None
    url: str | None = None
    active: bool = False
    events_ok: bool = False
    missing_events: list[str] = field(default_factory=list)
    secret_set: bool = False
    ours: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RepoRow:
    full_name: str
    workspace: str
    slug: str
    name: str
    permission: str | None = None
    hook: HookState | None = None
    last_delivery: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "full_name": self.full_name,
            "workspace": self.workspace,
            "slug": self.slug,
            "name": self.name,
            "permission": self.permission,
            "hook": self.hook.to_dict() if self.hook else None,
            "last_delivery": dict(self.last_delivery) if self.last_delivery else None,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class RepoPage:
    items: list[RepoRow]
    total: int
    page: int
    per_page: int

    def to_dict(self) -> dict[str, Any]:
        return {"items": [r.to_dict() for r in self.items], "total": self.total, "page": self.page,
                "per_page": self.per_page}


@dataclass(frozen=True)
class RepoName:
    """A repository the account can see and the account's permission on it (None: unknown);
    listed without reading its webhooks."""

    full_name: str
    permission: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Installed:
    """A repository bbreview installed its webhook on, as the store remembers it (no secret)."""

    full_name: str
    hook_uuid: str | None = None
    hook_url: str | None = None
    installed_by: str | None = None
    installed_at: float | None = None
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InstallResult:
    """The outcome on one repository: ``action`` is created, repaired, unchanged,
    removed, absent or failed; a failure carries ``error`` and ``remedy``.

    ``ok`` is also False when the webhook was repaired (``action`` "repaired", its new
    secret saved) but a duplicate webhook to our URL could not be removed."""

    full_name: str
    ok: bool
    action: str
    error: str | None = None
    remedy: str | None = None
    hook_uuid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChangeUserResult:
    check: TokenCheck
    removed: list[InstallResult] = field(default_factory=list)
    #: Webhooks neither the old nor the new token could remove: ``{full_name, hook_uuid,
    #: settings_url, reason}``; ``reason`` says why for each one.
    manual: list[dict[str, Any]] = field(default_factory=list)
    installed: list[InstallResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check.to_dict(),
            "removed": [r.to_dict() for r in self.removed],
            "manual": [dict(m) for m in self.manual],
            "installed": [r.to_dict() for r in self.installed],
        }


@dataclass(frozen=True)
class RepoHealth:
    full_name: str
    hook: HookState | None = None
    #: Newest first: ``{seq, received_at, event_key, state, outcome, pr_id, jobs}``.
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    #: Newest first: ``{at, level, what, status, message}`` from the events log.
    errors: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "full_name": self.full_name,
            "hook": self.hook.to_dict() if self.hook else None,
            "deliveries": [dict(d) for d in self.deliveries],
            "errors": [dict(e) for e in self.errors],
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class TestEventResult:
    """``status`` is the listener's HTTP status (0: no answer); ``outcome`` what the
    dispatcher made of the delivery (None while it is still queued)."""

    __test__ = False  # not a pytest test class

    ok: bool
    status: int
    delivery_seq: int | None = None
    outcome: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "delivery_seq": self.delivery_seq, "outcome": self.outcome,
                "error": self.error}


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" | "warning"
    what: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _user_fields(user: Mapping[str, Any]) -> dict[str, Any]:
    avatar = ((user.get("links") or {}).get("avatar") or {}).get("href")
    return {
        "display_name": user.get("display_name"),
        "nickname": user.get("nickname"),
        "uuid": user.get("uuid"),
        "account_id": user.get("account_id"),
        "avatar_url": avatar,
    }


def _error_text(exc: BaseException) -> str:
    """A BitbucketError's status and Bitbucket's message, without the hint (remedies say what to do)."""
    if isinstance(exc, BitbucketError):
        what = f"HTTP {exc.status}: {exc.message}" if exc.status else exc.message
        return f"{exc.method} {exc.path}: {what}" if exc.path else what
    return str(exc)


@dataclass
class _Listing:
    """Every visible repository with the account's permission; cached for REPO_CACHE_SECONDS."""

    at: float
    repos: list[dict[str, Any]]
    permissions: dict[str, str | None]


class Admin:
    """Token, installation and troubleshooting operations on one store and configuration.

    Args:
        store: the service's Store (settings, installations, inbox, events log).
        config: the ServiceConfig (public_url, the listener, the Bitbucket API URL).
        env: the environment (``BBREVIEW_SECRET_KEY``); default ``os.environ``.
        on_change: called after the token, webhooks or their secrets changed, so
            that a running service reloads its credentials and webhook secrets.

    Methods are safe to call from several threads; installs run one at a time.
    """

    def __init__(
        self,
        store: Any,
        config: ServiceConfig,
        *,
        env: Mapping[str, str] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.env: Mapping[str, str] = dict(os.environ if env is None else env)
        self.on_change = on_change
        self._lock = threading.RLock()
        self._install_lock = threading.Lock()
        self._client: tuple[bytes, Any] | None = None
        self._listing: _Listing | None = None

    def __repr__(self) -> str:
        return f"Admin(data_dir={self.config.data_dir!r}, hook_url={self.config.hook_url!r})"

    # -- plumbing ----------------------------------------------------------------------------------
    def _box(self, create: bool = True) -> SecretBox:
        return SecretBox.load(self.config.data_dir, self.env, create=create)

    def _new_client(self, email: str, token: str) -> Any:
        from bbreview.bitbucket import Client

        return Client(email=email, token=token, base_url=self.config.api_url, ca_file=self.config.ca_file or None)

    def _changed(self) -> None:
        with self._lock:
            self._listing = None
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception as exc:  # noqa: BLE001 - a reload failure must not undo an installation
                log.warning("reloading the credentials and webhook secrets failed: %s", exc)

    def client(self) -> Any:
        """A Bitbucket Client with the saved token. Raises :class:`CredentialsError` when
        none is saved (run ``bbreview token set`` or use the console)."""
        sealed = credentials.saved_token_marker(self.store)
        if sealed is None:
            raise CredentialsError("no Bitbucket token is saved: run `bbreview token set` or use the console")
        with self._lock:
            if self._client is not None and hmac.compare_digest(self._client[0], sealed):
                return self._client[1]
        saved = credentials.load_token(self.store, self._box(create=False))
        if saved is None:  # pragma: no cover - deleted meanwhile
            raise CredentialsError("no Bitbucket token is saved: run `bbreview token set` or use the console")
        client = self._new_client(*saved)
        with self._lock:
            self._client = (sealed, client)
        return client

    # -- the token -------------------------------------------------------------------------------
    def validate_token(self, email: str, token: str) -> TokenCheck:
        """Calls ``GET /2.0/user`` with the token (§2.5) and compares the granted scopes
        (``x-oauth-scopes``, §2.6) with :data:`REQUIRED_SCOPES`. Never raises for a bad token."""
        email = (email or "").strip()
        token = (token or "").strip()
        if not email or not token:
            return TokenCheck(False, error="both the account email and the API token are needed",
                              remedy=_TOKEN_REMEDY)
        return self._check(self._new_client(email, token), email)

    def _check(self, client: Any, email: str | None = None) -> TokenCheck:
        try:
            user = client.current_user()
        except AuthError as exc:
            remedy = _TOKEN_REMEDY
            if email is not None and "@" not in email:
                remedy = f"{email!r} is not an email address. " + remedy
            return TokenCheck(False, error=f"Bitbucket refused the token: {exc.message}", remedy=remedy)
        except ScopeError as exc:
            granted = tuple(sorted(exc.granted))
            missing = [(s, why) for s, why in REQUIRED_SCOPES.items() if granted and s not in granted] or [
                (s, REQUIRED_SCOPES.get(s, "")) for s in exc.missing]
            return TokenCheck(False, scopes=granted, missing=missing,
                              error=f"the token cannot read its own account: {exc.message}",
                              remedy=_scope_remedy(exc, "read:user:bitbucket"))
        except NetworkError as exc:
            return TokenCheck(False, error=f"cannot reach Bitbucket at {self.config.api_url}: {exc.message}",
                              remedy="check the network, the proxy settings and bitbucket.api_url")
        except BitbucketError as exc:
            return TokenCheck(False, error=_error_text(exc), remedy=exc.hint or None)
        scopes = tuple(sorted(client.scopes or ()))
        missing = [(s, why) for s, why in REQUIRED_SCOPES.items() if s not in scopes] if client.scopes is not None \
            else []
        remedy = None
        if client.scopes is None:
            remedy = "Bitbucket did not report the token's scopes (no x-oauth-scopes header); they cannot be checked"
        elif missing:
            remedy = ("API token scopes cannot be changed after creation: create a new token with "
                      + ", ".join(s for s, _ in missing) + " and save it")
        if client.credential_type and client.credential_type not in ("api_token",):
            note = (f"the credential is a {client.credential_type}, not an API token; app passwords stop working "
                    "on 2026-07-28: create an API token with scopes")
            remedy = f"{remedy}. {note}" if remedy else note
        return TokenCheck(True, user=_user_fields(user), scopes=scopes, missing=missing,
                          credential_type=client.credential_type, remedy=remedy)

    def save_token(self, email: str, token: str) -> TokenCheck:
        """Validates the token and, when it authenticates, saves it encrypted (missing
        scopes are reported, not fatal). Returns the check either way."""
        check = self.validate_token(email, token)
        if check.ok:
            credentials.save_token(self.store, self._box(), email.strip(), token.strip(), check)
            with self._lock:
                self._client = None
                self._listing = None
            log.info("saved the Bitbucket token of %s", (check.user or {}).get("display_name") or email)
            self._changed()
        return check

    def token_info(self) -> dict[str, Any] | None:
        """The saved token's summary (email, last4, user, scopes, saved_at), never the token."""
        return credentials.token_info(self.store)

    def verify_token(self) -> TokenCheck:
        """Checks the saved token again (``GET /2.0/user``)."""
        try:
            client = self.client()
        except CredentialsError as exc:
            return TokenCheck(False, error=str(exc), remedy="run `bbreview token set` or use the console")
        return self._check(client)

    # -- repositories -------------------------------------------------------------------------
    def _list_all(self, client: Any) -> _Listing:
        with self._lock:
            cached = self._listing
            if cached is not None and time.monotonic() - cached.at < REPO_CACHE_SECONDS:
                return cached
        repos: list[dict[str, Any]] = []
        permissions: dict[str, str | None] = {}
        for access in client.workspaces():
            ws = (access.get("workspace") or {}).get("slug")
            if not ws:
                continue
            owner = bool(access.get("administrator"))
            try:
                explicit = {
                    (v.get("repository") or {}).get("full_name"): v.get("permission")
                    for v in client.paginate(f"/user/workspaces/{quote(ws, safe='')}/permissions/repositories",
                                             pagelen=100)
                }
                known = True
            except (ScopeError, PermissionDenied, NotFound):
                explicit, known = {}, False
            for repo in client.repositories(ws):
                full = repo.get("full_name") or f"{ws}/{repo.get('slug')}"
                repos.append(repo)
                if owner:
                    permissions[full] = "admin"
                elif full in explicit:
                    permissions[full] = explicit[full]
                else:
                    permissions[full] = ("read" if not repo.get("is_private") else None) if known else None
        repos.sort(key=lambda r: str(r.get("full_name", "")).lower())
        listing = _Listing(time.monotonic(), repos, permissions)
        with self._lock:
            self._listing = listing
        return listing

    @staticmethod
    def _matching(listing: _Listing, query: str | None) -> list[dict[str, Any]]:
        needle = (query or "").strip().lower()
        return [r for r in listing.repos
                if not needle or needle in str(r.get("full_name", "")).lower() or needle in str(r.get("name", "")).lower()]

    def repository_names(self, query: str | None = None) -> list[RepoName]:
        """Every repository the account can see that matches ``query`` (as in :meth:`repositories`),
        with the account's permission, sorted by name. No webhook is read: this costs the
        workspace listings only, and nothing while the listing is cached (REPO_CACHE_SECONDS).
        Raises CredentialsError when no token is saved, BitbucketError when listing fails."""
        listing = self._list_all(self.client())
        return [RepoName(str(r.get("full_name")), listing.permissions.get(str(r.get("full_name"))))
                for r in self._matching(listing, query)]

    def installations(self) -> list[Installed]:
        """The repositories bbreview installed, from the store, sorted by name. Makes no Bitbucket
        request, so it answers when the saved token no longer works."""
        rows = [Installed(i.full_name, i.hook_uuid, i.hook_url, i.installed_by, i.installed_at, i.last_error)
                for i in self.store.installations()]
        return sorted(rows, key=lambda r: r.full_name.lower())

    def repositories(self, query: str | None = None, page: int = 1, per_page: int = 25) -> RepoPage:
        """Every repository of every workspace the account can see, sorted by name, filtered
        by a case-insensitive substring of its full name or name, one page at a time.

        Each row has the account's permission, our webhook's state (read for the rows of
        this page only) and the last delivery the service stored for it. Lists of names
        (suggestions, select-all, ``--all``) use :meth:`repository_names`, which reads no webhook."""
        page = max(1, int(page))
        per_page = max(1, min(100, int(per_page)))
        client = self.client()
        listing = self._list_all(client)
        rows = self._matching(listing, query)
        chosen = rows[(page - 1) * per_page: page * per_page]
        names = [str(r.get("full_name")) for r in chosen]
        hooks = self._hooks_of(client, names, listing.permissions)
        items = []
        for repo, name in zip(chosen, names):
            ws, slug = _split(name)
            permission = listing.permissions.get(name)
            inst = self.store.installation(name)
            hook, problems = self._hook_state(name, hooks.get(name), inst, permission)
            items.append(RepoRow(name, ws, slug, str(repo.get("name") or slug), permission, hook,
                                 self._last_delivery(name), problems))
        return RepoPage(items, len(rows), page, per_page)

    def _hooks_of(self, client: Any, names: Sequence[str],
                  permissions: Mapping[str, str | None]) -> dict[str, list[dict[str, Any]] | BaseException]:
        """The webhooks of each repository (one concurrent batch); a failure is kept as its exception."""
        from bbreview.bitbucket import Call

        todo = [n for n in names if permissions.get(n) in ("admin", None)]
        calls = []
        for n in todo:
            ws, slug = _split(n)
            calls.append(Call("GET", f"/repositories/{quote(ws, safe='')}/{quote(slug, safe='')}/hooks",
                              [("pagelen", "100")]))
        out: dict[str, list[dict[str, Any]] | BaseException] = {}
        for n, result in zip(todo, client.map(calls, concurrency=8) if calls else []):
            out[n] = result if isinstance(result, BaseException) else list(result.get("values") or [])
        for n in names:
            if n not in out:
                out[n] = PermissionDenied(_ADMIN_REMEDY, status=403)
        return out

    def _ours(self, hooks: Iterable[dict[str, Any]], inst: Any, exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Our webhooks among ``hooks``: those to ``config.hook_url``, then the one we remember."""
        excluded = {_bare(u) for u in exclude}
        hooks = [h for h in hooks if _bare(h.get("uuid")) not in excluded]
        url = self.config.hook_url
        found = [h for h in hooks if url and h.get("url") == url]
        remembered = _bare(getattr(inst, "hook_uuid", None))
        if remembered:
            found += [h for h in hooks if _bare(h.get("uuid")) == remembered and h not in found]
        return found

    def _hook_state(self, full_name: str, hooks: list[dict[str, Any]] | BaseException | None, inst: Any,
                    permission: str | None) -> tuple[HookState | None, list[str]]:
        problems: list[str] = []
        if permission is not None and permission != "admin":
            problems.append(f"the account has {permission} permission; installing a webhook needs admin")
        if isinstance(hooks, BaseException) or hooks is None:
            # The webhook state is unknown: say why (a non-admin row already said so above).
            if isinstance(hooks, ScopeError):
                problems.append(f"cannot read the webhooks: {_scope_remedy(hooks, 'read:webhook:bitbucket')}")
            elif permission in (None, "admin"):
                if isinstance(hooks, PermissionDenied):
                    problems.append(f"cannot read the webhooks: {_ADMIN_REMEDY} ({_error_text(hooks)})")
                elif isinstance(hooks, BaseException):
                    problems.append(f"cannot read the webhooks: {_error_text(hooks)}")
                else:
                    problems.append("the webhooks were not read")
            return None, problems
        ours = self._ours(hooks, inst)
        if not ours:
            if inst is not None:
                problems.append("bbreview's webhook is gone from Bitbucket: reinstall it")
            return HookState(False), problems
        h = ours[0]
        events = set(h.get("events") or ())
        missing = [e for e in HANDLED_EVENTS if e not in events]
        state = HookState(
            present=True, uuid=h.get("uuid"), url=h.get("url"), active=bool(h.get("active")),
            events_ok=not missing, missing_events=missing, secret_set=bool(h.get("secret_set")),
            ours=bool(self.config.hook_url) and h.get("url") == self.config.hook_url,
        )
        if not state.active:
            problems.append("the webhook is inactive: reinstall it")
        if missing:
            problems.append("the webhook misses events " + ", ".join(missing) + ": reinstall it")
        if not state.secret_set:
            problems.append("the webhook has no secret, so its deliveries are refused: reinstall it")
        if not state.ours:
            problems.append(f"the webhook points at {state.url}, not at {self.config.hook_url or '(no public_url)'}")
        if len(ours) > 1:
            problems.append(f"{len(ours)} webhooks point at bbreview: reinstall to keep one")
        if inst is None:
            problems.append("the store does not know this webhook's secret: reinstall it")
        elif _bare(inst.hook_uuid) != _bare(state.uuid):
            problems.append("the store remembers another webhook: reinstall it")
        elif inst.secret:
            try:
                credentials.open_hook_secret(self._box(create=False), full_name, inst.secret)
            except (CredentialsError, Error) as exc:
                problems.append(f"the stored webhook secret cannot be used ({exc}): reinstall it")
        return state, problems

    def _last_delivery(self, full_name: str) -> dict[str, Any] | None:
        outcomes = self.store.delivery_outcomes(full_name, limit=1)
        if not outcomes:
            return None
        o = outcomes[0]
        return {"at": o.received_at, "received_at": o.received_at, "event": o.event_key, "event_key": o.event_key,
                "state": o.state, "outcome": o.outcome, "seq": o.seq}

    # -- installing --------------------------------------------------------------------------
    def install(self, full_names: Sequence[str],
                progress: Callable[[str, InstallResult], None] | None = None) -> list[InstallResult]:
        """Installs (or repairs) bbreview's webhook on each repository, in order.

        A fresh random secret per hook. Idempotent: an existing webhook to our URL
        is updated (events, active, secret), never duplicated; a healthy one whose
        secret the store knows is left ``unchanged``. ``progress(full_name, result)``
        is called after each repository."""
        with self._install_lock:
            client = self._client_or_none()
            return self._each(full_names, progress, lambda name: self._install_one(client, name))

    def uninstall(self, full_names: Sequence[str],
                  progress: Callable[[str, InstallResult], None] | None = None) -> list[InstallResult]:
        """Removes bbreview's webhooks from each repository and forgets the installation."""
        with self._install_lock:
            client = self._client_or_none()
            return self._each(full_names, progress, lambda name: self._uninstall_one(client, name))

    def reinstall(self, full_names: Sequence[str],
                  progress: Callable[[str, InstallResult], None] | None = None) -> list[InstallResult]:
        """Deletes bbreview's webhook, then creates a new one with a new secret."""
        with self._install_lock:
            client = self._client_or_none()

            def one(name: str) -> InstallResult:
                removed = self._uninstall_one(client, name)
                return removed if not removed.ok else self._install_one(client, name)

            return self._each(full_names, progress, one)

    def _client_or_none(self) -> Any:
        try:
            return self.client()
        except CredentialsError:
            return None

    def _each(self, full_names: Sequence[str], progress: Callable[[str, InstallResult], None] | None,
              one: Callable[[str], InstallResult]) -> list[InstallResult]:
        results = []
        for name in dict.fromkeys(full_names):  # once each, in order
            try:
                _split(name)
            except ValueError as exc:
                result = InstallResult(name, False, "failed", str(exc), "name repositories as WORKSPACE/REPO")
            else:
                result = one(name)
            results.append(result)
            if not result.ok:
                self._record_failure(result)
            if progress is not None:
                progress(name, result)
        return results

    def _record_failure(self, result: InstallResult) -> None:
        message = f"{result.action}: {result.error}" + (f" ({result.remedy})" if result.remedy else "")
        try:
            self.store.log_event("install", message, repository=result.full_name, level="error")
            if self.store.installation(result.full_name) is not None:
                self.store.save_installation(result.full_name, last_error=message)
        except Error as exc:  # the result is what matters; the log is a convenience
            log.warning("cannot record the failure on %s: %s", result.full_name, exc)

    def _failure(self, full_name: str, exc: BaseException, needed_scope: str) -> InstallResult:
        if isinstance(exc, ScopeError):
            remedy = _scope_remedy(exc, needed_scope)
        elif isinstance(exc, PermissionDenied):
            remedy = _ADMIN_REMEDY
        elif isinstance(exc, NotFound):
            remedy = "the repository does not exist or the account cannot see it: grant it access"
        elif isinstance(exc, AuthError):
            remedy = "the saved token no longer works: " + _TOKEN_REMEDY
        elif isinstance(exc, RateLimited):
            remedy = "the account's hourly request budget is spent: try again later"
        elif isinstance(exc, NetworkError):
            remedy = "check the network and bitbucket.api_url"
        elif isinstance(exc, CredentialsError):
            remedy = "run `bbreview token set` or use the console"
        else:
            remedy = getattr(exc, "hint", None) or None
        return InstallResult(full_name, False, "failed", _error_text(exc), remedy)

    def _install_one(self, client: Any, full_name: str, exclude: Iterable[str] = ()) -> InstallResult:
        url = self.config.hook_url
        if not url:
            return InstallResult(full_name, False, "failed", "public_url is not set", _PUBLIC_URL_REMEDY)
        if client is None:
            return self._failure(full_name, CredentialsError("no Bitbucket token is saved"), "")
        ws, slug = _split(full_name)
        inst = self.store.installation(full_name)
        events = list(HANDLED_EVENTS)
        step = "read:webhook:bitbucket"
        try:
            hooks = list(client.hooks(ws, slug))
            ours = self._ours(hooks, inst, exclude)
            step = "write:webhook:bitbucket"
            box = self._box()
            secret = base64.urlsafe_b64encode(core.crypto.random_bytes(HOOK_SECRET_BYTES)).rstrip(b"=").decode()
            extra: list[dict[str, Any]] = []
            if ours:
                keep, extra = ours[0], ours[1:]
                if not extra and self._healthy(keep, inst, full_name, box):
                    return InstallResult(full_name, True, "unchanged", hook_uuid=keep.get("uuid"))
                hook = client.update_hook(ws, slug, keep["uuid"], url=url, events=events, active=True,
                                          secret=secret, description=HOOK_DESCRIPTION)
                action = "repaired"
            else:
                hook = client.create_hook(ws, slug, url, events, secret=secret, description=HOOK_DESCRIPTION,
                                          active=True)
                action = "created"
        except (BitbucketError, CredentialsError) as exc:
            return self._failure(full_name, exc, step)
        # Bitbucket now signs with the new secret: store it before anything else can fail, or the
        # service would refuse every delivery of this hook.
        bot = (credentials.token_info(self.store) or {}).get("user") or {}
        self.store.save_installation(
            full_name, workspace=ws, repo_uuid=((hook.get("subject") or {}).get("uuid")), hook_uuid=hook.get("uuid"),
            hook_url=url, events=events, secret=credentials.seal_hook_secret(box, full_name, secret), active=True,
            installed_by=bot.get("uuid"), last_error=None,
        )
        log.info("%s: webhook %s (%s)", full_name, action, hook.get("uuid"))
        self._changed()
        left: list[str] = []
        error: BaseException | None = None
        for h in extra:  # a second webhook to us would deliver every event twice
            try:
                client.delete_hook(ws, slug, h["uuid"])
            except NotFound:
                pass  # deleted meanwhile
            except (BitbucketError, CredentialsError) as exc:
                left.append(str(h.get("uuid")))
                error = error or exc
        if error is not None:
            failed = self._failure(full_name, error, "delete:webhook:bitbucket")
            return InstallResult(
                full_name, False, action,
                f"the webhook was {action}, but {len(left)} more webhook(s) to bbreview's URL ({', '.join(left)}) "
                f"could not be removed, so events arrive more than once: {failed.error}",
                f"{failed.remedy or 'remove them'}; or delete them by hand at {_settings_url(full_name)}",
                hook_uuid=hook.get("uuid"))
        return InstallResult(full_name, True, action, hook_uuid=hook.get("uuid"))

    def _healthy(self, hook: Mapping[str, Any], inst: Any, full_name: str, box: SecretBox) -> bool:
        if not (hook.get("active") and hook.get("secret_set") and hook.get("url") == self.config.hook_url):
            return False
        if not set(HANDLED_EVENTS) <= set(hook.get("events") or ()):
            return False
        if inst is None or not inst.secret or _bare(inst.hook_uuid) != _bare(hook.get("uuid")):
            return False
        try:
            credentials.open_hook_secret(box, full_name, inst.secret)
        except CredentialsError:
            return False
        return True

    def _delete_ours(self, client: Any, full_name: str, *,
                     gone_ok: bool = True) -> tuple[list[dict[str, Any]], BaseException | None, str]:
        """Deletes our webhooks on ``full_name`` with ``client``. Returns (the webhooks deleted,
        None, "") or ([], the error, the scope the failing step needs). With ``gone_ok`` a 404 on
        the listing means the repository is gone (and its webhooks with it); without it (another
        account asking) the 404 is an error: that account may just not see the repository."""
        ws, slug = _split(full_name)
        inst = self.store.installation(full_name)
        step = "read:webhook:bitbucket"
        try:
            ours = self._ours(client.hooks(ws, slug), inst)
            step = "delete:webhook:bitbucket"
            for h in ours:
                try:
                    client.delete_hook(ws, slug, h["uuid"])
                except NotFound:
                    pass  # deleted meanwhile: the goal is reached
        except NotFound as exc:
            if not gone_ok:
                return [], exc, step
            ours = []
        except (BitbucketError, CredentialsError) as exc:
            return [], exc, step
        return ours, None, ""

    def _removed(self, full_name: str, ours: list[dict[str, Any]]) -> InstallResult:
        """Forgets the installation after its webhooks were deleted."""
        inst = self.store.installation(full_name)
        had = self.store.delete_installation(full_name)
        if ours or had:
            self._changed()
        uuid = ours[0].get("uuid") if ours else (inst.hook_uuid if inst else None)
        return InstallResult(full_name, True, "removed" if ours else "absent", hook_uuid=uuid)

    def _uninstall_one(self, client: Any, full_name: str) -> InstallResult:
        if client is None:
            return self._failure(full_name, CredentialsError("no Bitbucket token is saved"), "")
        ours, exc, step = self._delete_ours(client, full_name)
        if exc is not None:
            return self._failure(full_name, exc, step)
        return self._removed(full_name, ours)

    # -- changing the review user -----------------------------------------------------------------
    def change_user(self, email: str, token: str, full_names: Sequence[str] | None = None) -> ChangeUserResult:
        """Makes another account the review user.

        1. Validates the new token; nothing changes when it does not authenticate.
        2. Removes our webhooks with the old token while it still works. Those it cannot
           remove are tried with the new token when it has ``delete:webhook`` (webhooks belong
           to the repository, so any admin may delete them); what is left is listed in
           ``manual`` with the reason for each and a link to the repository's settings.
        3. Saves the new token, then installs ``full_names`` (default: the repositories
           installed before) with it. Webhooks listed in ``manual`` are left alone.
        """
        email, token = (email or "").strip(), (token or "").strip()
        if not email or not token:
            return ChangeUserResult(self.validate_token(email, token))
        new_client = self._new_client(email, token)
        check = self._check(new_client, email)
        if not check.ok:
            return ChangeUserResult(check)
        with self._install_lock:
            before = self.store.installations()
            targets = list(full_names) if full_names is not None else [i.full_name for i in before]
            old = self._client_or_none()
            old_problem = "no token was saved before"
            if old is not None:
                try:
                    old.current_user()
                except (BitbucketError, CredentialsError) as exc:
                    old_problem = (f"the old token no longer works ({exc.message})" if isinstance(exc, AuthError)
                                   else f"the old token could not be checked ({_error_text(exc)})")
                    log.info("%s; trying the new token on the old webhooks", old_problem)
                    old = None
            removed: list[InstallResult] = []
            pending: list[tuple[Any, str]] = []
            for inst in before:
                if old is None:
                    pending.append((inst, old_problem))
                    continue
                ours, exc, step = self._delete_ours(old, inst.full_name)
                if exc is None:
                    removed.append(self._removed(inst.full_name, ours))
                else:
                    pending.append((inst, _why(exc, step, "old")))
            new_can_delete = new_client.scopes is None or "delete:webhook:bitbucket" in new_client.scopes
            manual: list[dict[str, Any]] = []
            for inst, reason in pending:
                if new_can_delete:
                    ours, exc, step = self._delete_ours(new_client, inst.full_name, gone_ok=False)
                    if exc is None:
                        log.info("%s: %s; the new account removed the old webhook", inst.full_name, reason)
                        removed.append(self._removed(inst.full_name, ours))
                        continue
                    reason += f"; {_why(exc, step, 'new')}"
                else:
                    reason += "; the new token lacks delete:webhook:bitbucket"
                if inst.hook_uuid:
                    manual.append({"full_name": inst.full_name, "hook_uuid": inst.hook_uuid,
                                   "settings_url": _settings_url(inst.full_name), "reason": reason})
                self.store.delete_installation(inst.full_name)
            credentials.save_token(self.store, self._box(), email.strip(), token.strip(), check)
            with self._lock:
                self._client = None
                self._listing = None
            new = self.client()
            left = [m["hook_uuid"] for m in manual]
            installed = self._each(targets, None, lambda name: self._install_one(new, name, exclude=left))
        self._changed()
        return ChangeUserResult(check, removed, manual, installed)

    # -- troubleshooting -----------------------------------------------------------------------------
    def health(self, full_name: str) -> RepoHealth:
        """One repository's webhook (as Bitbucket reports it), its last deliveries and the
        recent Bitbucket errors the service logged for it."""
        _split(full_name)
        inst = self.store.installation(full_name)
        problems: list[str] = []
        hook: HookState | None = None
        try:
            client = self.client()
        except CredentialsError as exc:
            problems.append(str(exc))
        else:
            ws, slug = _split(full_name)
            permission: str | None
            try:
                permission = client.repo_permission(ws, slug)
            except BitbucketError:
                permission = None
            try:
                hooks: list[dict[str, Any]] | BaseException = list(client.hooks(ws, slug))
            except BitbucketError as exc:
                hooks = exc
            hook, more = self._hook_state(full_name, hooks, inst, permission)
            problems += more
            if isinstance(hooks, NotFound):
                problems.append("the repository does not exist or the account cannot see it")
        if inst is not None and inst.last_error:
            problems.append(f"the last installation attempt failed: {inst.last_error}")
        deliveries = [
            {"seq": o.seq, "received_at": o.received_at, "event_key": o.event_key, "state": o.state,
             "outcome": o.outcome, "pr_id": o.pr_id,
             "jobs": [{"id": j.id, "kind": j.kind, "state": j.state, "attempts": j.attempts,
                       "last_error": j.last_error} for j in o.jobs]}
            for o in self.store.delivery_outcomes(full_name, limit=10)
        ]
        errors = [
            {"at": e.at, "level": e.level, "what": e.kind, "status": e.status, "message": e.message,
             "pr_id": e.pr_id}
            for e in self.store.recent_events(full_name, limit=50) if e.level in ("warning", "error")
        ][:20]
        if deliveries and deliveries[0]["state"] == "rejected":
            problems.append(f"the last delivery was rejected: {deliveries[0]['outcome']}")
        return RepoHealth(full_name, hook, deliveries, errors, problems)

    def send_test_event(self, full_name: str) -> TestEventResult:
        """Posts a signed, harmless ``pullrequest:comment_created`` delivery (the bot's own
        comment, which the dispatcher ignores) to the webhook listener on this machine,
        with the repository's hook uuid and secret, then follows it through the store
        until the dispatcher decided on it (or TEST_EVENT_FOLLOW_SECONDS passed)."""
        _split(full_name)
        inst = self.store.installation(full_name)
        if inst is None or not inst.hook_uuid or not inst.secret:
            return TestEventResult(False, 0, error=f"{full_name} is not installed: run `bbreview repos install "
                                                    f"{full_name}` first")
        try:
            secret = credentials.open_hook_secret(self._box(create=False), full_name, inst.secret)
        except (CredentialsError, Error) as exc:
            return TestEventResult(False, 0, error=str(exc))
        body = self._test_body(full_name)
        request_uuid = str(uuidlib.uuid4())
        host = self.config.host if self.config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        url = f"http://{host}:{self.config.port}{self.config.path}"
        signature = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            "User-Agent": "bbreview-test-event/1",
            "X-Event-Key": "pullrequest:comment_created",
            "X-Hook-UUID": _bare(inst.hook_uuid),
            "X-Request-UUID": request_uuid,
            "X-Attempt-Number": "1",
            "X-Hub-Signature": signature,
        })
        # The listener is on this machine: never send the delivery through a proxy.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=TEST_EVENT_TIMEOUT_SECONDS) as resp:
                status, answer = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", errors="replace").strip()[:200]
            exc.close()
            return TestEventResult(False, exc.code, error=f"the listener answered HTTP {exc.code}: {text}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return TestEventResult(False, 0, error=f"cannot reach the webhook listener at {url}: {reason}; "
                                                   "is `bbreview serve` running?")
        try:
            seq = json.loads(answer).get("seq")
        except (ValueError, AttributeError):
            seq = None
        if not isinstance(seq, int):
            return TestEventResult(True, status, None, None, None)
        deadline = time.monotonic() + TEST_EVENT_FOLLOW_SECONDS
        outcome: str | None = None
        while True:
            row = next((o for o in self.store.delivery_outcomes(full_name, limit=20) if o.seq == seq), None)
            if row is not None and row.state != "new":
                outcome = row.outcome or row.state
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return TestEventResult(True, status, seq, outcome, None)

    def _test_body(self, full_name: str) -> bytes:
        ws, slug = _split(full_name)
        bot = (credentials.token_info(self.store) or {}).get("user") or {}
        actor = {"type": "user", "uuid": bot.get("uuid") or "{00000000-0000-4000-8000-000000000000}",
                 "account_id": bot.get("account_id"), "nickname": bot.get("nickname") or "bbreview",
                 "display_name": bot.get("display_name") or "bbreview test event"}
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        return json.dumps({
            "actor": actor,
            "repository": {"type": "repository", "full_name": full_name, "name": slug,
                           "workspace": {"type": "workspace", "slug": ws}},
            "pullrequest": {"type": "pullrequest", "id": 0, "title": "bbreview test event", "state": "OPEN"},
            "comment": {"type": "pullrequest_comment", "id": int.from_bytes(core.crypto.random_bytes(4), "big"),
                        "content": {"raw": "bbreview test event: nothing to do", "markup": "markdown"},
                        "user": actor, "created_on": now, "updated_on": now},
            "bbreview_test": {"request": str(uuidlib.uuid4()), "sent_at": now},
        }).encode("utf-8")

    def doctor(self) -> list[Problem]:
        """Everything that keeps reviews from arriving, each with its fix: the token, its
        scopes, public_url, every installed webhook, recent failures and dead jobs.

        public_url is resolved here and ``<public_url>/healthz`` is requested (at most
        PUBLIC_URL_PROBE_SECONDS): a loopback, private or link-local address, and a health
        check that does not answer, are warnings. Never raises for an unreachable URL."""
        problems: list[Problem] = []
        problems += self._doctor_public_url()
        client = None
        if credentials.token_info(self.store) is None:
            problems.append(Problem("error", "no Bitbucket token is saved",
                                    "run `bbreview token set` or use the console's Bitbucket user page"))
        else:
            check = self.verify_token()
            if not check.ok:
                problems.append(Problem("error", f"the saved token does not work: {check.error}",
                                        check.remedy or "save a working token with `bbreview token set`"))
            else:
                client = self.client()
                for scope, why in check.missing:
                    problems.append(Problem("error", f"the token lacks {scope}: {why} fails",
                                            "create an API token with every scope `bbreview token verify` lists "
                                            "and save it with `bbreview token set`"))
        problems += self._doctor_hooks(client)
        problems += self._doctor_failures()
        return problems

    def _doctor_public_url(self) -> list[Problem]:
        url = self.config.public_url
        if not url:
            return [Problem("error", "public_url is not set, so webhooks cannot be installed", _PUBLIC_URL_REMEDY)]
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:  # never echoed: it may be a password
            return [Problem("error", "public_url contains a user name or password",
                            "remove it: Bitbucket authenticates deliveries with each webhook's secret")]
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return [Problem("error", f"public_url {url!r} is not an http(s) URL with a host",
                            "set public_url to e.g. https://review.example.com")]
        if parts.query or parts.fragment:
            return [Problem("error", f"public_url {url!r} has a query or fragment",
                            "set public_url to the bare base URL; bbreview appends the webhook path")]
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return [Problem("error", f"public_url {url!r} has an invalid port", "set public_url to e.g. "
                                                                               "https://review.example.com")]
        problems: list[Problem] = []
        if host == "localhost" or host.endswith(".localhost"):
            addresses = ["127.0.0.1"]
        elif _is_ip(host):
            addresses = [host]
        else:
            try:
                addresses = _resolve(host, port)
            except OSError as exc:
                return [Problem("warning", f"public_url's host {host} does not resolve on this machine "
                                           f"({getattr(exc, 'strerror', None) or exc})",
                                "check the name in public_url and its DNS record; Bitbucket Cloud must be able "
                                "to resolve it too")]
        kinds = [_address_kind(a) for a in addresses]
        direct = bool(kinds) and all(kinds)
        if parts.scheme == "http" and not all(k == "loopback" for k in kinds):
            problems.append(Problem("warning", f"public_url {url} is plain http: deliveries and their signatures "
                                               "travel unencrypted",
                                    "serve bbreview behind https (a reverse proxy with TLS)"))
        healthz = url.rstrip("/") + "/healthz"
        status, error = _probe_healthz(healthz, PUBLIC_URL_PROBE_SECONDS, direct)
        if direct:
            kind = sorted({k for k in kinds if k})
            answered = (f"; bbreview answered at {healthz} from this machine only" if status == 200 else "")
            problems.append(Problem(
                "warning",
                f"public_url {url} points at a {' and '.join(kind)} address ({', '.join(addresses)}): Bitbucket "
                f"Cloud cannot reach it{answered}",
                "set public_url to an address reachable from the Internet (a reverse proxy, load balancer or "
                "tunnel in front of the webhook listener); such addresses work only with the emulator"))
        listener = f"the webhook listener ({self.config.host}:{self.config.port})"
        if status == 0:
            tls = "; with https, its certificate must be valid for the host" if parts.scheme == "https" else ""
            problems.append(Problem(
                "warning", f"the health check {healthz} did not answer: {error}",
                f"start `bbreview serve`, and check that public_url leads to {listener} through the reverse proxy "
                f"and the firewall{tls}"))
        elif status == 503:
            problems.append(Problem("warning", f"{healthz} answered HTTP 503: the service is unhealthy",
                                    "see the log of `bbreview serve` for what stopped, and restart it"))
        elif status != 200:
            problems.append(Problem(
                "warning", f"{healthz} answered HTTP {status}, not bbreview's health check",
                f"route {url.rstrip('/')}/bitbucketHandler and /healthz to {listener} in the reverse proxy"))
        return problems

    def _doctor_hooks(self, client: Any) -> list[Problem]:
        out: list[Problem] = []
        installs = self.store.installations()
        box: SecretBox | None = None
        for inst in installs:
            name = inst.full_name
            fix = f"run `bbreview repos reinstall {name}`"
            if inst.secret:
                try:
                    box = box or self._box(create=False)
                    credentials.open_hook_secret(box, name, inst.secret)
                except (CredentialsError, Error) as exc:
                    out.append(Problem("error", f"{name}: the stored webhook secret cannot be decrypted ({exc})", fix))
            else:
                out.append(Problem("error", f"{name}: no webhook secret is stored", fix))
            if client is None:
                continue
            ws, slug = _split(name)
            try:
                hooks = list(client.hooks(ws, slug))
            except ScopeError as exc:
                out.append(Problem("error", f"{name}: cannot read its webhooks",
                                   _scope_remedy(exc, "read:webhook:bitbucket")))
                continue
            except PermissionDenied:
                out.append(Problem("error", f"{name}: cannot read its webhooks", _ADMIN_REMEDY))
                continue
            except NotFound:
                out.append(Problem("error", f"{name}: the repository is gone or not visible to the account",
                                   f"grant the account access, or run `bbreview repos uninstall {name}`"))
                continue
            except BitbucketError as exc:
                out.append(Problem("error", f"{name}: cannot read its webhooks: {_error_text(exc)}",
                                   "run `bbreview doctor` again later"))
                continue
            ours = self._ours(hooks, inst)
            if not ours:
                out.append(Problem("error", f"{name}: bbreview's webhook is gone from Bitbucket", fix))
                continue
            h = ours[0]
            missing = [e for e in HANDLED_EVENTS if e not in set(h.get("events") or ())]
            if not h.get("active"):
                out.append(Problem("error", f"{name}: the webhook is inactive", fix))
            if missing:
                out.append(Problem("error", f"{name}: the webhook misses events {', '.join(missing)}", fix))
            if not h.get("secret_set"):
                out.append(Problem("error", f"{name}: the webhook has no secret", fix))
            if h.get("url") != self.config.hook_url:
                out.append(Problem("error", f"{name}: the webhook points at {h.get('url')}, not "
                                            f"{self.config.hook_url or '(public_url is not set)'}", fix))
            if _bare(h.get("uuid")) != _bare(inst.hook_uuid):
                out.append(Problem("error", f"{name}: the store remembers another webhook than Bitbucket has", fix))
            if len(ours) > 1:
                out.append(Problem("warning", f"{name}: {len(ours)} webhooks point at bbreview, so events arrive "
                                              "more than once", fix))
        return out

    def _doctor_failures(self) -> list[Problem]:
        out: list[Problem] = []
        since = time.time() - RECENT_FAILURE_SECONDS
        groups: dict[tuple[str | None, str, int | None], list[Any]] = {}
        for e in self.store.recent_events(limit=200):
            if e.level == "error" and e.at >= since:
                groups.setdefault((e.repository, e.kind, e.status), []).append(e)
        for (repo, kind, status), events in groups.items():
            latest = events[0]
            where = repo or "the service"
            what = f"{where}: {len(events)} {kind} error(s) in the last day, latest: " \
                   f"{'HTTP ' + str(status) + ': ' if status else ''}{latest.message}"
            out.append(Problem("warning", what, _failure_fix(status, repo)))
        dead = self.store.jobs(state="dead", limit=100)
        if dead:
            latest = dead[0]
            out.append(Problem(
                "warning", f"{len(dead)} job(s) failed for good (dead); latest: {latest.kind} {latest.pr_key}: "
                           f"{latest.last_error or 'no error recorded'}",
                "fix the cause (see the Troubleshooting page), then retry them or comment `@bot review` on the "
                "pull request"))
        rejected = [o for o in self.store.delivery_outcomes(limit=50) if o.state == "rejected"
                    and o.received_at >= since]
        if rejected:
            o = rejected[0]
            out.append(Problem("warning", f"{len(rejected)} delivery(ies) rejected in the last day; latest "
                                          f"#{o.seq} ({o.event_key}): {o.outcome}",
                               "check that the webhooks send the expected events (`bbreview repos reinstall`)"))
        return out


def _failure_fix(status: int | None, repo: str | None) -> str:
    if status == 401:
        return "the token stopped working: save a new one with `bbreview token set`"
    if status == 403:
        return "check the account's permission on the repository and the token's scopes (`bbreview token verify`)"
    if status == 404:
        return f"check that {repo or 'the repository'} still exists and the account can see it"
    if status == 429:
        return "the hourly request budget was spent; reviews resume when it refills"
    return "see the Troubleshooting page for this repository"
