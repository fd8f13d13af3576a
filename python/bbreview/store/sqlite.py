"""The SQLite store: one database file shared by the threads and processes of the service.

Each thread gets its own connection (SQLite connections must not be shared
while in use). The database runs in WAL mode, so readers never wait for the
writer; writers queue on SQLite's lock for up to ``busy_timeout`` seconds.
Every read-modify-write (leasing a job, claiming deliveries, failing a job)
runs in one ``BEGIN IMMEDIATE`` transaction, which takes the write lock before
it reads, so two workers can never both see the same job as free.

The schema is versioned: :data:`MIGRATIONS` is a list of SQL scripts applied
in order, each in its own transaction together with its row in
``schema_version``. Opening a database that a newer bbreview has migrated
raises :class:`~bbreview.StoreError` instead of guessing.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bbreview.errors import StoreError
from bbreview.store.base import (
    COMMENT_STATES,
    EVENT_LEVELS,
    JOB_STATES,
    Delivery,
    DeliveryOutcome,
    Event,
    Installation,
    Job,
    JobSpec,
    JobSummary,
    PostedComment,
    PRState,
    split_pr_key,
)

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "BUSY_TIMEOUT_SECONDS",
    "DEFAULT_MAX_ATTEMPTS",
    "EVENTS_LOG_LIMIT",
    "INBOX_DDL",
    "MAX_ERROR_CHARS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLiteStore",
]

#: How long a writer waits for another connection's write lock before giving up.
BUSY_TIMEOUT_SECONDS = 10.0
#: Attempts (leases) a job gets before it is dead-lettered.
DEFAULT_MAX_ATTEMPTS = 5
#: Retry delay after the first failed attempt; it doubles per attempt up to the cap.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
#: The events log keeps at most this many of the newest rows.
EVENTS_LOG_LIMIT = 10_000
#: Error texts and event messages are cut to this many characters.
MAX_ERROR_CHARS = 4_000

#: The webhook inbox, shared with the C++ intake, which inserts into it. Keep it
#: byte-for-byte as agreed with the intake: both sides depend on its columns.
INBOX_DDL = """\
CREATE TABLE inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  request_uuid TEXT UNIQUE,
  dedup_key TEXT NOT NULL UNIQUE,
  event_key TEXT NOT NULL,
  hook_uuid TEXT,
  repository TEXT,
  pr_id INTEGER,
  attempt INTEGER NOT NULL DEFAULT 1,
  received_at REAL NOT NULL,
  body BLOB NOT NULL,
  state TEXT NOT NULL DEFAULT 'new'
);
"""

_V1 = (
    INBOX_DDL
    + """
-- What claiming did with a delivery, kept apart so that inbox stays as the intake knows it.
CREATE TABLE inbox_outcomes (
  seq INTEGER PRIMARY KEY REFERENCES inbox(seq) ON DELETE CASCADE,
  outcome TEXT NOT NULL,
  decided_at REAL NOT NULL
);
CREATE INDEX inbox_by_state ON inbox(state, seq);
CREATE INDEX inbox_by_repository ON inbox(repository, seq);

CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  pr_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL DEFAULT 'null',
  state TEXT NOT NULL DEFAULT 'queued'
    CHECK (state IN ('queued', 'leased', 'done', 'failed', 'dead', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
  run_after REAL NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_expires REAL,
  last_error TEXT,
  delivery_seq INTEGER REFERENCES inbox(seq) ON DELETE SET NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  finished_at REAL
);
CREATE INDEX jobs_by_state ON jobs(state, id);
CREATE INDEX jobs_by_pr ON jobs(pr_key, id);
CREATE INDEX jobs_by_delivery ON jobs(delivery_seq);

CREATE TABLE pr_state (
  pr_key TEXT PRIMARY KEY,
  workspace TEXT,
  repo TEXT,
  pr_id INTEGER,
  last_reviewed_commit TEXT,
  summary_comment_id INTEGER,
  paused INTEGER NOT NULL DEFAULT 0,
  auto_review_disabled INTEGER NOT NULL DEFAULT 0,
  auto_review_disabled_reason TEXT,
  last_review_at REAL,
  updated_at REAL NOT NULL
);

CREATE TABLE posted_comments (
  pr_key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  comment_id INTEGER NOT NULL,
  path TEXT,
  line INTEGER,
  "commit" TEXT,
  state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved', 'deleted')),
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  UNIQUE (pr_key, fingerprint)
);

CREATE TABLE installations (
  full_name TEXT PRIMARY KEY,
  workspace TEXT,
  repo_uuid TEXT,
  hook_uuid TEXT,
  hook_url TEXT,
  events TEXT NOT NULL DEFAULT '[]',
  secret BLOB,
  active INTEGER NOT NULL DEFAULT 1,
  installed_by TEXT,
  installed_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  last_error TEXT
);
CREATE INDEX installations_by_hook ON installations(hook_uuid);

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  updated_at REAL NOT NULL
);

CREATE TABLE events_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at REAL NOT NULL,
  repository TEXT,
  pr_id INTEGER,
  level TEXT NOT NULL,
  kind TEXT NOT NULL,
  status INTEGER,
  message TEXT NOT NULL
);
CREATE INDEX events_log_by_repository ON events_log(repository, id);
"""
)

#: Schema migrations, applied in order; migration ``n`` (1-based) brings the
#: database to version ``n``. Append only: never edit a released script.
MIGRATIONS: tuple[str, ...] = (_V1,)
#: The schema version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)

_SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
)
_TABLES = ("inbox", "jobs", "pr_state", "posted_comments", "installations", "settings", "events_log")

_PR_STATE_FIELDS = (
    "workspace",
    "repo",
    "pr_id",
    "last_reviewed_commit",
    "summary_comment_id",
    "paused",
    "auto_review_disabled",
    "auto_review_disabled_reason",
    "last_review_at",
)
_INSTALLATION_FIELDS = (
    "workspace",
    "repo_uuid",
    "hook_uuid",
    "hook_url",
    "events",
    "secret",
    "active",
    "installed_by",
    "last_error",
)

# Runnable: queued and due, or leased by a worker whose lease ran out. The NOT
# EXISTS keeps the jobs of one pull request in order: a job waits while any
# earlier job of its PR is unfinished (queued, even if backing off, or leased).
_LEASE_SQL = """
SELECT * FROM jobs AS j
WHERE ((j.state = 'queued' AND j.run_after <= :now)
       OR (j.state = 'leased' AND j.lease_expires < :now))
  AND NOT EXISTS (
    SELECT 1 FROM jobs AS e
    WHERE e.pr_key = j.pr_key AND e.id < j.id AND e.state IN ('queued', 'leased'))
  {kinds}
ORDER BY j.id
LIMIT 1
"""


def _cut(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dumps(payload: Any, what: str) -> str:
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"the payload of {what} must be JSON-serialisable: {e}") from e


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        pr_key=row["pr_key"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        state=row["state"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_after=row["run_after"],
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        last_error=row["last_error"],
        delivery_seq=row["delivery_seq"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        seq=row["seq"],
        dedup_key=row["dedup_key"],
        event_key=row["event_key"],
        body=bytes(row["body"]),
        received_at=row["received_at"],
        request_uuid=row["request_uuid"],
        hook_uuid=row["hook_uuid"],
        repository=row["repository"],
        pr_id=row["pr_id"],
        attempt=row["attempt"],
        state=row["state"],
    )


def _pr_state(row: sqlite3.Row) -> PRState:
    return PRState(
        pr_key=row["pr_key"],
        workspace=row["workspace"],
        repo=row["repo"],
        pr_id=row["pr_id"],
        last_reviewed_commit=row["last_reviewed_commit"],
        summary_comment_id=row["summary_comment_id"],
        paused=bool(row["paused"]),
        auto_review_disabled=bool(row["auto_review_disabled"]),
        auto_review_disabled_reason=row["auto_review_disabled_reason"],
        last_review_at=row["last_review_at"],
        updated_at=row["updated_at"],
    )


def _posted(row: sqlite3.Row) -> PostedComment:
    return PostedComment(
        pr_key=row["pr_key"],
        fingerprint=row["fingerprint"],
        comment_id=row["comment_id"],
        path=row["path"],
        line=row["line"],
        commit=row["commit"],
        state=row["state"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _installation(row: sqlite3.Row) -> Installation:
    return Installation(
        full_name=row["full_name"],
        workspace=row["workspace"],
        repo_uuid=row["repo_uuid"],
        hook_uuid=row["hook_uuid"],
        hook_url=row["hook_url"],
        events=tuple(json.loads(row["events"])),
        secret=None if row["secret"] is None else bytes(row["secret"]),
        active=bool(row["active"]),
        installed_by=row["installed_by"],
        installed_at=row["installed_at"],
        updated_at=row["updated_at"],
        last_error=row["last_error"],
    )


def _event(row: sqlite3.Row) -> Event:
    return Event(
        id=row["id"],
        at=row["at"],
        repository=row["repository"],
        pr_id=row["pr_id"],
        level=row["level"],
        kind=row["kind"],
        status=row["status"],
        message=row["message"],
    )


def _first(conn: sqlite3.Connection, sql: str, params: Any = ()) -> sqlite3.Row | None:
    # fetchall, not fetchone: it runs the statement to completion, so no statement
    # is left half-stepped when the transaction commits.
    rows = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _kinds_clause(kinds: tuple[str, ...] | None, column: str) -> tuple[str, tuple[str, ...]]:
    if kinds is None:
        return "", ()
    return f"AND {column} IN ({', '.join('?' * len(kinds))})", kinds


class _ThreadState(threading.local):
    conn: sqlite3.Connection | None = None
    pid: int = 0
    depth: int = 0  # nesting of write transactions on this thread's connection


class SQLiteStore:
    """The :class:`~bbreview.store.Store` on one SQLite file.

    Opening migrates the schema (safe when several processes open the file at
    once). Safe to use from many threads; several processes may open the same
    file. Raises :class:`~bbreview.StoreError` when the file cannot be opened,
    is not a bbreview store, or was migrated by a newer bbreview.

    Args:
        path: the database file; its folder must exist. ``":memory:"`` is not
            supported (each thread would see its own empty database).
        clock: returns the current unix time; inject a fake one in tests.
        busy_timeout: seconds a writer waits for another's write lock.
        backoff_base, backoff_cap: retry delays of failed jobs, in seconds:
            ``min(cap, base * 2**(attempts-1))``, of which the upper half is jitter.
        events_limit: the events log keeps at most this many newest rows.
        rng: the jitter's random source.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        backoff_cap: float = BACKOFF_CAP_SECONDS,
        events_limit: int = EVENTS_LOG_LIMIT,
        rng: random.Random | None = None,
    ) -> None:
        text = os.fspath(path)
        if text in ("", ":memory:") or text.startswith("file::memory:"):
            raise StoreError(
                f"{text or '(empty path)'}: SQLiteStore needs a database file shared by all threads; "
                "pass a file path (a temporary file in tests)"
            )
        if backoff_base <= 0 or backoff_cap < backoff_base:
            raise ValueError("backoff_base must be > 0 and backoff_cap >= backoff_base")
        if events_limit < 1:
            raise ValueError("events_limit must be at least 1")
        self.path = str(Path(text).absolute())
        self._clock = clock
        self._busy_timeout = float(busy_timeout)
        self._backoff_base = float(backoff_base)
        self._backoff_cap = float(backoff_cap)
        self._events_limit = int(events_limit)
        self._rng = rng or random.Random()
        self._local = _ThreadState()
        self._lock = threading.Lock()
        self._conns: list[tuple[weakref.ref[threading.Thread], int, sqlite3.Connection]] = []
        self._closed = False
        try:
            self.schema_version = self._migrate(self._conn())
        except BaseException:
            self.close()
            raise

    # -- connections, transactions, errors ----------------------------------------

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection this process opened. Further calls raise StoreError."""
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        pid = os.getpid()
        for _, owner_pid, conn in conns:
            # A connection inherited through fork belongs to the parent: closing it
            # here could release the parent's locks, so it is dropped instead.
            if owner_pid == pid:
                conn.close()

    def _error(self, action: str, err: BaseException) -> StoreError:
        text = str(err)
        low = text.lower()
        if "locked" in low or "busy" in low:
            hint = (
                f"another connection held the write lock for over {self._busy_timeout:g} s; look for a "
                "stuck bbreview process or an open sqlite3 shell on this file"
            )
        elif "readonly" in low or "read-only" in low:
            hint = "make the file and its folder writable by this user (SQLite writes -wal and -shm files beside it)"
        elif "unable to open" in low:
            hint = "check that the folder exists and is writable by this user, or choose another path"
        elif "not a database" in low or "malformed" in low:
            hint = "the file is not a bbreview store or is damaged: restore it from a backup or use a new file"
        elif "constraint failed" in low:
            hint = (
                "a value broke a rule of the schema (e.g. delivery_seq names no stored delivery); "
                "check the arguments"
            )
        elif "disk" in low or "full" in low:
            hint = "free space on the volume that holds the database"
        else:
            hint = "check the database file and its folder; `sqlite3 FILE 'PRAGMA integrity_check'` tests the file"
        return StoreError(f"{self.path}: cannot {action}: {text}\nhint: {hint}")

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE),
            # never implicitly by the sqlite3 module.
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise self._error("open the database", e) from e
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            mode = self._enable_wal(conn)
            if mode != "wal":
                raise StoreError(
                    f"{self.path}: cannot switch the database to WAL mode (it stays in {mode!r} mode)\n"
                    "hint: keep the database on a local file system; network file systems cannot share WAL"
                )
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            conn.close()
            raise self._error("open the database", e) from e
        except BaseException:
            conn.close()
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> str:
        """Switch the file to WAL (a lasting property of the file); the mode it is in."""
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.001
        while True:
            try:
                mode = str(conn.execute("PRAGMA journal_mode").fetchall()[0][0]).lower()
                if mode == "wal":
                    return mode
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]).lower()
            except sqlite3.OperationalError as e:
                # The switch needs an exclusive lock, and SQLite answers BUSY at once,
                # without its busy handler, when connections opening a new file at the
                # same moment each hold a shared lock; one of them wins if we retry.
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and anew after a fork)."""
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed\nhint: open a new SQLiteStore")
        local = self._local
        pid = os.getpid()
        if local.conn is not None and local.pid == pid:
            return local.conn
        conn = self._connect()
        local.conn, local.pid, local.depth = conn, pid, 0
        with self._lock:
            if self._closed:
                conn.close()
                raise StoreError(f"{self.path}: the store is closed\nhint: open a new SQLiteStore")
            keep = []
            for ref, owner_pid, other in self._conns:
                thread = ref()
                if owner_pid == pid and (thread is None or not thread.is_alive()):
                    other.close()  # its thread is gone, and with it the only user
                else:
                    keep.append((ref, owner_pid, other))
            keep.append((weakref.ref(threading.current_thread()), pid, conn))
            self._conns = keep
        return conn

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds SQLite's write lock from its first read.

        Nested use on one thread (a delivery handler calling the store from inside
        :meth:`claim_deliveries`) joins the outer transaction, so the handler's
        writes commit or roll back with the claim.
        """
        conn = self._conn()
        local = self._local
        if local.depth > 0:
            local.depth += 1
            try:
                yield conn
            except sqlite3.Error as e:
                raise self._error(action, e) from e
            finally:
                local.depth -= 1
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise self._error(action, e) from e
        local.depth = 1
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as e:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the original error says more; SQLite may already have rolled back
            if isinstance(e, sqlite3.Error):
                raise self._error(action, e) from e
            raise
        finally:
            local.depth = 0

    @contextmanager
    def _read(self, action: str, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection for reads; ``snapshot`` makes several reads see one state."""
        conn = self._conn()
        own = snapshot and not conn.in_transaction
        try:
            if own:
                conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if own and conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise self._error(action, e) from e

    def _migrate(self, conn: sqlite3.Connection) -> int:
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            foreign = sorted(tables - {"schema_version", "sqlite_sequence"})
            if "schema_version" not in tables and foreign:
                raise StoreError(
                    f"{self.path}: not a bbreview store: it has tables ({', '.join(foreign[:5])}) "
                    "but no schema_version\nhint: point bbreview at a new file; it creates its own schema "
                    "(the webhook intake must open the store, not create the inbox itself)"
                )
            conn.execute(_SCHEMA_VERSION_DDL)
            while True:
                current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]
                if current > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path}: the database has schema version {current}, newer than version "
                        f"{SCHEMA_VERSION} that this bbreview knows\nhint: upgrade bbreview, or restore a "
                        "backup taken before the upgrade that migrated it"
                    )
                if current == SCHEMA_VERSION:
                    return current
                version = current + 1
                # The version row goes in first: if another process applied this
                # migration since we looked, the insert fails and nothing else runs.
                script = (
                    "BEGIN IMMEDIATE;\n"
                    f"INSERT INTO schema_version (version, applied_at) VALUES ({version}, {float(self._clock())!r});\n"
                    f"{MIGRATIONS[version - 1]}\n"
                    "COMMIT;"
                )
                try:
                    conn.executescript(script)
                except sqlite3.IntegrityError:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    continue
                except sqlite3.Error:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as e:
            raise self._error("migrate the schema", e) from e

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** max(0, min(attempts - 1, 60)))
        # Equal jitter: at least half the delay, so retries back off, and a random
        # rest, so workers that failed together do not retry together.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    # -- inbox -------------------------------------------------------------------

    def insert_delivery(
        self,
        *,
        dedup_key: str,
        event_key: str,
        body: bytes | str,
        request_uuid: str | None = None,
        hook_uuid: str | None = None,
        repository: str | None = None,
        pr_id: int | None = None,
        attempt: int = 1,
        received_at: float | None = None,
    ) -> int | None:
        """Store one webhook delivery; its ``seq``, or None when ``dedup_key`` or
        ``request_uuid`` was stored before (a duplicate is not an error)."""
        _check_text("dedup_key", dedup_key)
        _check_text("event_key", event_key)
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        at = self._clock() if received_at is None else float(received_at)
        with self._write("store a webhook delivery") as conn:
            row = _first(
                conn,
                "INSERT INTO inbox (request_uuid, dedup_key, event_key, hook_uuid, repository, pr_id,"
                " attempt, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING seq",
                (request_uuid, dedup_key, event_key, hook_uuid, repository, pr_id, attempt, at, raw),
            )
        return None if row is None else row[0]

    def delivery(self, seq: int) -> Delivery | None:
        """The delivery ``seq``, or None."""
        with self._read("read a delivery") as conn:
            row = _first(conn, "SELECT * FROM inbox WHERE seq = ?", (seq,))
        return None if row is None else _delivery(row)

    def claim_deliveries(self, handler: Callable[[Delivery], Iterable[JobSpec]], limit: int = 100) -> int:
        """Turn up to ``limit`` new deliveries, oldest first, into jobs; the number handled.

        Everything happens in one transaction: if the process dies, no delivery is
        marked taken without its jobs, and none is taken twice. ``handler`` gets a
        :class:`Delivery` and returns the :class:`JobSpec` s to enqueue (none to
        ignore it). It runs under the database's write lock, so it must be quick
        (no network calls); it may call this store on the same thread, and those
        writes belong to its delivery. If it raises, that delivery alone is marked
        ``rejected`` with the error as its outcome, and its writes are undone.
        """
        if limit < 1:
            return 0
        with self._write("claim webhook deliveries") as conn:
            rows = conn.execute("SELECT * FROM inbox WHERE state = 'new' ORDER BY seq LIMIT ?", (limit,)).fetchall()
            for row in rows:
                delivery = _delivery(row)
                conn.execute("SAVEPOINT claim_delivery")
                try:
                    specs = list(handler(delivery))
                    now = self._clock()
                    for spec in specs:
                        if not isinstance(spec, JobSpec):
                            raise TypeError(f"the handler returned {type(spec).__name__}, not JobSpec")
                        self._insert_job(conn, spec.pr_key, spec.kind, spec.payload, delivery.seq,
                                         spec.run_after, spec.max_attempts, now)
                except sqlite3.Error:
                    raise  # the database failed, not the delivery: roll everything back
                except Exception as e:  # noqa: BLE001 - one bad delivery must never block the rest
                    conn.execute("ROLLBACK TO claim_delivery")
                    conn.execute("RELEASE claim_delivery")
                    state, outcome = "rejected", _cut(f"{type(e).__name__}: {e}")
                else:
                    conn.execute("RELEASE claim_delivery")
                    kinds = ", ".join(spec.kind for spec in specs)
                    state, outcome = "taken", (f"{len(specs)} job(s): {kinds}" if specs else "ignored: no jobs")
                conn.execute("UPDATE inbox SET state = ? WHERE seq = ?", (state, delivery.seq))
                conn.execute(
                    "INSERT INTO inbox_outcomes (seq, outcome, decided_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (seq) DO UPDATE SET outcome = excluded.outcome, decided_at = excluded.decided_at",
                    (delivery.seq, outcome, self._clock()),
                )
        return len(rows)

    def delivery_outcomes(self, repository: str | None = None, limit: int = 20) -> list[DeliveryOutcome]:
        """The newest deliveries (of ``repository``, if given) with their outcome and jobs."""
        where, params = ("WHERE i.repository = ?", (repository,)) if repository is not None else ("", ())
        with self._read("read delivery outcomes", snapshot=True) as conn:
            rows = conn.execute(
                "SELECT i.seq, i.event_key, i.repository, i.pr_id, i.received_at, i.state, o.outcome"
                f" FROM inbox AS i LEFT JOIN inbox_outcomes AS o ON o.seq = i.seq {where}"
                " ORDER BY i.seq DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
            jobs: dict[int, list[JobSummary]] = {}
            if rows:
                seqs = [r["seq"] for r in rows]
                for j in conn.execute(
                    "SELECT id, kind, state, attempts, last_error, delivery_seq FROM jobs"
                    f" WHERE delivery_seq IN ({', '.join('?' * len(seqs))}) ORDER BY id",
                    seqs,
                ):
                    jobs.setdefault(j["delivery_seq"], []).append(
                        JobSummary(j["id"], j["kind"], j["state"], j["attempts"], j["last_error"])
                    )
        return [
            DeliveryOutcome(
                seq=r["seq"],
                event_key=r["event_key"],
                repository=r["repository"],
                pr_id=r["pr_id"],
                received_at=r["received_at"],
                state=r["state"],
                outcome=r["outcome"],
                jobs=tuple(jobs.get(r["seq"], ())),
            )
            for r in rows
        ]

    # -- jobs ----------------------------------------------------------------------

    def _insert_job(
        self,
        conn: sqlite3.Connection,
        pr_key: str,
        kind: str,
        payload: Any,
        delivery_seq: int | None,
        run_after: float,
        max_attempts: int,
        now: float,
    ) -> int:
        _check_text("pr_key", pr_key)
        _check_text("kind", kind)
        if int(max_attempts) < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts!r}")
        if isinstance(payload, Mapping) and not isinstance(payload, dict):
            payload = dict(payload)  # json cannot encode other mappings (MappingProxyType...)
        text = _dumps(payload, f"a {kind!r} job of {pr_key}")
        return conn.execute(
            "INSERT INTO jobs (pr_key, kind, payload, max_attempts, run_after, delivery_seq, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (pr_key, kind, text, int(max_attempts), float(run_after), delivery_seq, now, now),
        ).fetchall()[0][0]

    def enqueue(
        self,
        pr_key: str,
        kind: str,
        payload: Any = None,
        *,
        delivery_seq: int | None = None,
        run_after: float = 0.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> int:
        """Queue a job for ``pr_key``; its id. It runs after every earlier job of
        the same pull request, and not before ``run_after`` (unix seconds)."""
        with self._write("enqueue a job") as conn:
            return self._insert_job(conn, pr_key, kind, payload, delivery_seq, run_after, max_attempts, self._clock())

    def lease(self, owner: str, lease_seconds: float = 60.0, kinds: Iterable[str] | None = None) -> Job | None:
        """Take the oldest runnable job (of ``kinds``, if given) for ``owner``; None if none.

        A job is runnable when it is queued and due, or leased with an expired
        lease (its worker died: the job runs again, so jobs run at least once),
        and no earlier job of its pull request is unfinished. ``owner`` must be
        unique per worker; renew the lease with :meth:`heartbeat` before
        ``lease_seconds`` pass. A job whose lease expires on its last attempt is
        dead-lettered instead of leased again.
        """
        _check_text("owner", owner)
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds!r}")
        wanted = None if kinds is None else tuple(kinds)
        if wanted is not None and not wanted:
            return None
        named: dict[str, Any] = {}
        kinds_sql = ""
        if wanted:
            names = [f"kind{i}" for i in range(len(wanted))]
            kinds_sql = f"AND j.kind IN ({', '.join(':' + n for n in names)})"
            named.update(zip(names, wanted))
        sql = _LEASE_SQL.format(kinds=kinds_sql)
        with self._write("lease a job") as conn:
            now = self._clock()
            named["now"] = now
            while True:
                row = _first(conn, sql, named)
                if row is None:
                    return None
                if row["state"] == "leased" and row["attempts"] >= row["max_attempts"]:
                    conn.execute(
                        "UPDATE jobs SET state = 'dead', last_error = ?, lease_expires = NULL,"
                        " finished_at = ?, updated_at = ? WHERE id = ?",
                        (
                            _cut(
                                f"lease of {row['lease_owner']} expired on attempt {row['attempts']} of "
                                f"{row['max_attempts']} (the worker stopped or hung)"
                                + (f"; earlier error: {row['last_error']}" if row["last_error"] else "")
                            ),
                            now,
                            now,
                            row["id"],
                        ),
                    )
                    continue
                leased = _first(
                    conn,
                    "UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_owner = ?,"
                    " lease_expires = ?, updated_at = ? WHERE id = ? RETURNING *",
                    (owner, now + float(lease_seconds), now, row["id"]),
                )
                assert leased is not None  # the row was read under the same write lock
                return _job(leased)

    def heartbeat(self, job_id: int, owner: str, lease_seconds: float = 60.0) -> bool:
        """Extend ``owner``'s lease on the job; False if the lease was lost (the
        job was leased by another worker, or finished): stop working on it."""
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds!r}")
        with self._write("renew a job lease") as conn:
            now = self._clock()
            cur = conn.execute(
                "UPDATE jobs SET lease_expires = ?, updated_at = ?"
                " WHERE id = ? AND state = 'leased' AND lease_owner = ?",
                (now + float(lease_seconds), now, job_id, owner),
            )
            return cur.rowcount == 1

    def complete(self, job_id: int, owner: str) -> bool:
        """Mark the job done; False if ``owner`` no longer holds its lease."""
        with self._write("complete a job") as conn:
            now = self._clock()
            cur = conn.execute(
                "UPDATE jobs SET state = 'done', lease_expires = NULL, finished_at = ?, updated_at = ?"
                " WHERE id = ? AND state = 'leased' AND lease_owner = ?",
                (now, now, job_id, owner),
            )
            return cur.rowcount == 1

    def release(self, job_id: int, owner: str, reason: str = "the service stopped") -> bool:
        """Give a leased job back, to run again now, without counting the interrupted
        attempt (the service is stopping); False if ``owner`` no longer holds its lease."""
        with self._write("release a job") as conn:
            now = self._clock()
            cur = conn.execute(
                "UPDATE jobs SET state = 'queued', run_after = ?, attempts = max(attempts - 1, 0),"
                " lease_owner = NULL, lease_expires = NULL, last_error = ?, updated_at = ?"
                " WHERE id = ? AND state = 'leased' AND lease_owner = ?",
                (now, _cut(f"interrupted: {reason}"), now, job_id, owner),
            )
            return cur.rowcount == 1

    def fail(
        self, job_id: int, owner: str, error: str, *, retry: bool = True, retry_after: float | None = None
    ) -> Job | None:
        """Record a failed attempt; the job as it now is, or None if ``owner`` lost the lease.

        With ``retry`` and attempts left, the job is queued again after an
        exponential backoff with jitter (or after ``retry_after`` seconds, when
        given). Otherwise it moves to ``dead``, where :meth:`retry_dead` can revive
        it. ``error`` is kept in ``last_error`` either way.
        """
        message = _cut(str(error))
        with self._write("record a failed job") as conn:
            now = self._clock()
            row = _first(
                conn, "SELECT * FROM jobs WHERE id = ? AND state = 'leased' AND lease_owner = ?", (job_id, owner)
            )
            if row is None:
                return None
            if retry and row["attempts"] < row["max_attempts"]:
                delay = self._backoff(row["attempts"]) if retry_after is None else max(0.0, float(retry_after))
                updated = _first(
                    conn,
                    "UPDATE jobs SET state = 'queued', run_after = ?, lease_owner = NULL, lease_expires = NULL,"
                    " last_error = ?, updated_at = ? WHERE id = ? RETURNING *",
                    (now + delay, message, now, job_id),
                )
            else:
                updated = _first(
                    conn,
                    "UPDATE jobs SET state = 'dead', lease_expires = NULL, last_error = ?, finished_at = ?,"
                    " updated_at = ? WHERE id = ? RETURNING *",
                    (message, now, now, job_id),
                )
        return None if updated is None else _job(updated)

    def cancel_pending(self, pr_key: str, kinds: Iterable[str] | None = None) -> int:
        """Cancel the queued (not yet leased) jobs of ``pr_key``, of ``kinds`` if given; how many."""
        wanted = None if kinds is None else tuple(kinds)
        if wanted is not None and not wanted:
            return 0
        clause, params = _kinds_clause(wanted, "kind")
        with self._write("cancel queued jobs") as conn:
            now = self._clock()
            cur = conn.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ?"
                f" WHERE pr_key = ? AND state = 'queued' {clause}",
                (now, now, pr_key, *params),
            )
            return cur.rowcount

    def retry_dead(self, job_id: int) -> bool:
        """Queue a dead job again with a fresh set of attempts; False if it is not dead.
        Its last error is kept until the next attempt replaces it."""
        with self._write("requeue a dead job") as conn:
            cur = conn.execute(
                "UPDATE jobs SET state = 'queued', attempts = 0, run_after = 0, lease_owner = NULL,"
                " lease_expires = NULL, finished_at = NULL, updated_at = ? WHERE id = ? AND state = 'dead'",
                (self._clock(), job_id),
            )
            return cur.rowcount == 1

    def job(self, job_id: int) -> Job | None:
        """The job ``job_id``, or None."""
        with self._read("read a job") as conn:
            row = _first(conn, "SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else _job(row)

    def jobs(self, state: str | None = None, pr_key: str | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first, filtered by ``state`` and ``pr_key`` when given."""
        if state is not None and state not in JOB_STATES:
            raise ValueError(f"unknown job state {state!r}; use one of {', '.join(JOB_STATES)}")
        conditions, params = [], []
        if state is not None:
            conditions.append("state = ?")
            params.append(state)
        if pr_key is not None:
            conditions.append("pr_key = ?")
            params.append(pr_key)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._read("list jobs") as conn:
            rows = conn.execute(f"SELECT * FROM jobs {where} ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
        return [_job(r) for r in rows]

    def counts_by_state(self) -> dict[str, int]:
        """The number of jobs in each state, every state present."""
        counts = dict.fromkeys(JOB_STATES, 0)
        with self._read("count jobs") as conn:
            for state, n in conn.execute("SELECT state, count(*) FROM jobs GROUP BY state"):
                counts[state] = n
        return counts

    def queue_depth(self) -> int:
        """The number of queued jobs (due or backing off), leased ones not counted."""
        with self._read("count queued jobs") as conn:
            return conn.execute("SELECT count(*) FROM jobs WHERE state = 'queued'").fetchall()[0][0]

    def oldest_queued_age(self) -> float:
        """Seconds the longest-waiting queued job has been due (since it was
        queued, or since its backoff ended); 0.0 when none is due."""
        with self._read("read the queue's age") as conn:
            since = conn.execute(
                "SELECT min(max(created_at, run_after)) FROM jobs WHERE state = 'queued'"
            ).fetchall()[0][0]
        return 0.0 if since is None else max(0.0, self._clock() - since)

    def prune(self, before: float) -> dict[str, int]:
        """Delete jobs that finished (done or cancelled) before ``before``, and
        handled deliveries received before it that no job refers to any more.
        Dead jobs are kept for the operator. The number deleted per table."""
        with self._write("prune old jobs and deliveries") as conn:
            jobs = conn.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND finished_at < ?", (before,)
            ).rowcount
            inbox = conn.execute(
                "DELETE FROM inbox WHERE state != 'new' AND received_at < ?"
                " AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.delivery_seq = inbox.seq)",
                (before,),
            ).rowcount
        return {"jobs": jobs, "inbox": inbox}

    # -- pull request state ------------------------------------------------------

    def pr_state(self, pr_key: str) -> PRState:
        """The review state of ``pr_key``; defaults (never reviewed) when unknown."""
        with self._read("read pull request state") as conn:
            row = _first(conn, "SELECT * FROM pr_state WHERE pr_key = ?", (pr_key,))
        if row is None:
            workspace, repo, pr_id = split_pr_key(pr_key)
            return PRState(pr_key=pr_key, workspace=workspace, repo=repo, pr_id=pr_id)
        return _pr_state(row)

    def update_pr_state(self, pr_key: str, **fields: Any) -> PRState:
        """Set some of ``pr_key``'s state fields (those of :class:`PRState` except
        ``pr_key`` and ``updated_at``); the state as it now is."""
        unknown = sorted(set(fields) - set(_PR_STATE_FIELDS))
        if unknown:
            raise TypeError(f"unknown pull request state field(s) {unknown}; use {', '.join(_PR_STATE_FIELDS)}")
        _check_text("pr_key", pr_key)
        workspace, repo, pr_id = split_pr_key(pr_key)
        values = {"workspace": workspace, "repo": repo, "pr_id": pr_id, **fields}
        for flag in ("paused", "auto_review_disabled"):
            if flag in values:
                values[flag] = int(bool(values[flag]))
        columns = list(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in fields) or "pr_key = pr_key"
        with self._write("update pull request state") as conn:
            now = self._clock()
            row = _first(
                conn,
                f"INSERT INTO pr_state (pr_key, {', '.join(columns)}, updated_at)"
                f" VALUES (?, {', '.join('?' * len(columns))}, ?)"
                f" ON CONFLICT (pr_key) DO UPDATE SET {updates}, updated_at = excluded.updated_at RETURNING *",
                (pr_key, *values.values(), now),
            )
        assert row is not None
        return _pr_state(row)

    # -- posted comments --------------------------------------------------------

    def posted(self, pr_key: str) -> dict[str, PostedComment]:
        """The bot's inline comments on ``pr_key`` in every state, by fingerprint."""
        with self._read("read posted comments") as conn:
            rows = conn.execute(
                "SELECT * FROM posted_comments WHERE pr_key = ? ORDER BY created_at, rowid", (pr_key,)
            ).fetchall()
        return {r["fingerprint"]: _posted(r) for r in rows}

    def record_posted(
        self, pr_key: str, fingerprint: str, comment_id: int, path: str | None, line: int | None, commit: str | None
    ) -> PostedComment:
        """Remember a posted comment (state ``open``); posting the same fingerprint
        again replaces the comment id and anchor."""
        _check_text("pr_key", pr_key)
        _check_text("fingerprint", fingerprint)
        with self._write("record a posted comment") as conn:
            now = self._clock()
            row = _first(
                conn,
                'INSERT INTO posted_comments (pr_key, fingerprint, comment_id, path, line, "commit", state,'
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)"
                " ON CONFLICT (pr_key, fingerprint) DO UPDATE SET comment_id = excluded.comment_id,"
                ' path = excluded.path, line = excluded.line, "commit" = excluded."commit",'
                " state = 'open', updated_at = excluded.updated_at RETURNING *",
                (pr_key, fingerprint, int(comment_id), path, line, commit, now, now),
            )
        assert row is not None
        return _posted(row)

    def mark_comment(self, pr_key: str, fingerprint: str, state: str) -> bool:
        """Set a posted comment's state (open, resolved or deleted); False if unknown."""
        if state not in COMMENT_STATES:
            raise ValueError(f"unknown comment state {state!r}; use one of {', '.join(COMMENT_STATES)}")
        with self._write("update a posted comment") as conn:
            cur = conn.execute(
                "UPDATE posted_comments SET state = ?, updated_at = ? WHERE pr_key = ? AND fingerprint = ?",
                (state, self._clock(), pr_key, fingerprint),
            )
            return cur.rowcount == 1

    def forget_posted(self, pr_key: str) -> int:
        """Forget every posted comment of ``pr_key``; how many."""
        with self._write("forget posted comments") as conn:
            return conn.execute("DELETE FROM posted_comments WHERE pr_key = ?", (pr_key,)).rowcount

    # -- installations ------------------------------------------------------------

    def installation(self, full_name: str) -> Installation | None:
        """The installation on repository ``full_name`` (``workspace/slug``), or None."""
        with self._read("read an installation") as conn:
            row = _first(conn, "SELECT * FROM installations WHERE full_name = ?", (full_name,))
        return None if row is None else _installation(row)

    def installations(self) -> list[Installation]:
        """Every installation, by repository name."""
        with self._read("list installations") as conn:
            rows = conn.execute("SELECT * FROM installations ORDER BY full_name").fetchall()
        return [_installation(r) for r in rows]

    def save_installation(self, full_name: str, **fields: Any) -> Installation:
        """Create or update the installation on ``full_name``; fields not given keep
        their stored value (or the default of :class:`Installation` when new).

        ``secret`` must be bytes (already encrypted) or None; ``events`` an
        iterable of event keys. ``installed_at`` is set on creation only.
        """
        unknown = sorted(set(fields) - set(_INSTALLATION_FIELDS))
        if unknown:
            raise TypeError(f"unknown installation field(s) {unknown}; use {', '.join(_INSTALLATION_FIELDS)}")
        _check_text("full_name", full_name)
        if "secret" in fields and fields["secret"] is not None:
            if not isinstance(fields["secret"], (bytes, bytearray, memoryview)):
                raise TypeError("secret must be bytes: encrypt it before saving, the store keeps it as given")
            fields["secret"] = bytes(fields["secret"])
        if "events" in fields:
            events = fields["events"]
            if isinstance(events, str):
                raise TypeError("events must be a list of event keys, not one string")
            fields["events"] = json.dumps(list(events))
        if "active" in fields:
            fields["active"] = int(bool(fields["active"]))
        with self._write("save an installation") as conn:
            now = self._clock()
            existing = _first(conn, "SELECT * FROM installations WHERE full_name = ?", (full_name,))
            if existing is None:
                values: dict[str, Any] = {
                    "workspace": full_name.split("/", 1)[0] if "/" in full_name else None,
                    "repo_uuid": None,
                    "hook_uuid": None,
                    "hook_url": None,
                    "events": "[]",
                    "secret": None,
                    "active": 1,
                    "installed_by": None,
                    "last_error": None,
                }
                installed_at = now
            else:
                values = {k: existing[k] for k in _INSTALLATION_FIELDS}
                installed_at = existing["installed_at"]
            values.update(fields)
            columns = list(values)
            row = _first(
                conn,
                f"INSERT INTO installations (full_name, {', '.join(columns)}, installed_at, updated_at)"
                f" VALUES (?, {', '.join('?' * len(columns))}, ?, ?) ON CONFLICT (full_name) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in columns)
                + ", updated_at = excluded.updated_at RETURNING *",
                (full_name, *values.values(), installed_at, now),
            )
        assert row is not None
        return _installation(row)

    def delete_installation(self, full_name: str) -> bool:
        """Forget the installation on ``full_name``; False if there was none."""
        with self._write("delete an installation") as conn:
            return conn.execute("DELETE FROM installations WHERE full_name = ?", (full_name,)).rowcount == 1

    def hook_secrets(self) -> dict[str, bytes]:
        """The stored (still encrypted) secret of every active webhook, by hook uuid."""
        with self._read("read webhook secrets") as conn:
            rows = conn.execute(
                "SELECT hook_uuid, secret FROM installations"
                " WHERE active = 1 AND hook_uuid IS NOT NULL AND secret IS NOT NULL"
            ).fetchall()
        return {r["hook_uuid"]: bytes(r["secret"]) for r in rows}

    # -- settings -----------------------------------------------------------------

    def get_setting(self, key: str, default: bytes | None = None) -> bytes | None:
        """The value stored under ``key``, or ``default``."""
        with self._read("read a setting") as conn:
            row = _first(conn, "SELECT value FROM settings WHERE key = ?", (key,))
        return default if row is None else bytes(row[0])

    def set_setting(self, key: str, value: bytes | str) -> None:
        """Store ``value`` under ``key`` (a str is stored as UTF-8). Encrypt secrets first."""
        _check_text("key", key)
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        with self._write("write a setting") as conn:
            conn.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, raw, self._clock()),
            )

    def delete_setting(self, key: str) -> bool:
        """Remove ``key``; False if it was not set."""
        with self._write("delete a setting") as conn:
            return conn.execute("DELETE FROM settings WHERE key = ?", (key,)).rowcount == 1

    # -- events log and figures -----------------------------------------------------

    def log_event(
        self,
        kind: str,
        message: str,
        *,
        repository: str | None = None,
        pr_id: int | None = None,
        level: str = "info",
        status: int | None = None,
        at: float | None = None,
    ) -> int:
        """Append to the events log (e.g. ``kind="bitbucket"``, ``status=403``); its id.
        The log keeps at most the newest ``events_limit`` rows."""
        _check_text("kind", kind)
        if level not in EVENT_LEVELS:
            raise ValueError(f"unknown event level {level!r}; use one of {', '.join(EVENT_LEVELS)}")
        with self._write("write the events log") as conn:
            when = self._clock() if at is None else float(at)
            event_id = conn.execute(
                "INSERT INTO events_log (at, repository, pr_id, level, kind, status, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (when, repository, pr_id, level, kind, status, _cut(str(message))),
            ).fetchall()[0][0]
            # Ids only grow (AUTOINCREMENT), so this keeps at most the newest
            # events_limit rows with one indexed range delete.
            conn.execute("DELETE FROM events_log WHERE id <= ?", (event_id - self._events_limit,))
        return event_id

    def recent_events(self, repository: str | None = None, limit: int = 50) -> list[Event]:
        """The newest events (of ``repository``, if given), newest first."""
        where, params = ("WHERE repository = ?", (repository,)) if repository is not None else ("", ())
        with self._read("read the events log") as conn:
            rows = conn.execute(
                f"SELECT * FROM events_log {where} ORDER BY id DESC LIMIT ?", (*params, limit)
            ).fetchall()
        return [_event(r) for r in rows]

    def stats(self) -> dict[str, Any]:
        """Row counts per table, jobs and deliveries by state, and the schema version."""
        with self._read("read store statistics", snapshot=True) as conn:
            tables = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in _TABLES}
            jobs = dict.fromkeys(JOB_STATES, 0)
            jobs.update(dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()))
            inbox = dict(conn.execute("SELECT state, count(*) FROM inbox GROUP BY state").fetchall())
        return {
            "path": self.path,
            "schema_version": self.schema_version,
            "tables": tables,
            "jobs_by_state": jobs,
            "inbox_by_state": inbox,
        }
