"""The console's security primitives: server-side sessions, CSRF tokens and the login rate limit.

Nothing here touches the network; :mod:`bbreview.service.console.server` applies these to requests.

- A session id is 256 random bits (``secrets.token_urlsafe``) held only by the browser, in an
  ``HttpOnly; SameSite=Strict`` cookie. The server keeps the SHA-256 of it, so a memory dump or a
  debugger never shows a usable id.
- Each session has its own CSRF token. The browser reads it from a second, script-readable cookie
  and sends it back in the ``X-CSRF-Token`` header (double submit); the server compares it with the
  session's own token in constant time.
- Sessions end after ``idle`` seconds without a request, or ``max_age`` seconds after login,
  whichever comes first, and on logout.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "LOGIN_ATTEMPTS",
    "LOGIN_WINDOW_S",
    "MAX_SESSIONS",
    "SESSION_COOKIE",
    "SESSION_IDLE_S",
    "SESSION_MAX_AGE_S",
    "RateLimiter",
    "Session",
    "SessionStore",
]

SESSION_COOKIE = "bbreview_session"
CSRF_COOKIE = "bbreview_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: A session unused for this long is gone (seconds).
SESSION_IDLE_S = 30 * 60.0
#: A session older than this is gone however busy it is (seconds).
SESSION_MAX_AGE_S = 12 * 3600.0
#: Sessions held at once; logging in beyond this ends the least recently used one.
MAX_SESSIONS = 64
#: Login attempts allowed per client address within LOGIN_WINDOW_S; more answer 429.
LOGIN_ATTEMPTS = 5
LOGIN_WINDOW_S = 60.0
#: Client addresses the rate limiter remembers (the oldest is forgotten first).
MAX_TRACKED_CLIENTS = 10_000


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


@dataclass
class Session:
    """One logged-in browser. ``csrf`` is the token its state-changing requests must carry."""

    key: str = field(repr=False)
    csrf: str = field(repr=False)
    created: float
    last_seen: float
    #: Avatar URLs this session was shown, by the index the page asks the avatar proxy for.
    avatars: list[str] = field(default_factory=list, repr=False)

    def csrf_ok(self, presented: str | None) -> bool:
        """True when ``presented`` equals this session's CSRF token (constant-time)."""
        if not presented:
            return False
        return hmac.compare_digest(self.csrf.encode("utf-8"), presented.encode("utf-8", "replace"))


class SessionStore:
    """Thread-safe in-memory sessions. Restarting the console logs everyone out, by design."""

    def __init__(
        self,
        *,
        idle: float = SESSION_IDLE_S,
        max_age: float = SESSION_MAX_AGE_S,
        capacity: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle = idle
        self.max_age = max_age
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self) -> tuple[str, Session]:
        """Starts a session; returns its id (for the cookie, never stored here) and the session."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(key=_digest(session_id), csrf=secrets.token_urlsafe(32), created=now, last_seen=now)
        with self._lock:
            self._sessions[session.key] = session
            while len(self._sessions) > self.capacity:
                self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session for ``session_id``, refreshing its idle timer; None when unknown or expired."""
        if not session_id:
            return None
        key = _digest(session_id)
        now = self._clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now - session.last_seen > self.idle or now - session.created > self.max_age:
                del self._sessions[key]
                return None
            session.last_seen = now
            self._sessions.move_to_end(key)
            return session

    def drop(self, session_id: str | None) -> None:
        """Ends the session (logout). Unknown ids are ignored."""
        if session_id:
            with self._lock:
                self._sessions.pop(_digest(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


class RateLimiter:
    """At most ``attempts`` hits per key within a sliding ``window`` of seconds."""

    def __init__(
        self,
        attempts: int = LOGIN_ATTEMPTS,
        window: float = LOGIN_WINDOW_S,
        *,
        capacity: int = MAX_TRACKED_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if attempts < 1 or window <= 0:
            raise ValueError("a rate limit needs attempts >= 1 and a positive window")
        self.attempts = attempts
        self.window = window
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str) -> float:
        """Records an attempt by ``key``. Returns 0 when allowed, else the seconds until the next
        attempt will be (the refused attempt is not recorded)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
                while len(self._hits) > self.capacity:
                    self._hits.popitem(last=False)
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.attempts:
                return max(0.001, self.window - (now - hits[0]))
            hits.append(now)
            self._hits.move_to_end(key)
            return 0.0
