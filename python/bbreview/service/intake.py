"""The webhook intake: a native HTTP server that verifies Bitbucket deliveries
and stores them durably in the ``inbox`` table before answering.

    from bbreview.service.intake import IntakeServer
    with IntakeServer("bbreview.db", port=8080, default_secret=secret) as intake:
        while intake.wait_for_delivery(timeout=1.0):
            ...  # take the new rows from the inbox table

Every ``200`` is sent after the row's transaction committed (WAL,
``synchronous=FULL``), so an acknowledged delivery survives a crash; a store
failure answers ``503`` so that Bitbucket retries. Deliveries that repeat an
``X-Request-UUID`` or an event already queued are answered
``{"status": "duplicate"}`` and stored once.

Signatures: a hook's own secret (``set_hook_secret``) wins over the default
secret. With any secret configured, a delivery without a valid
``X-Hub-Signature`` is refused (401) and nothing is stored. With none, deliveries
are accepted unsigned unless ``require_signature=True``.

The server's log lines are forwarded to the ``bbreview.service.intake`` logger;
they never contain a secret, a signature or a body.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from bbreview._native import core
from bbreview.errors import StoreError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PATH",
    "IntakeServer",
    "decode_event",
    "sign",
    "verify",
]

_webhook = core.webhook
log = logging.getLogger(__name__)

#: Bitbucket may not send payloads over 256 KB (reference §7.3); the default cap
#: adds a margin (320 KiB). Larger bodies are answered 413.
DEFAULT_MAX_BODY_BYTES: int = _webhook.DEFAULT_MAX_BODY_BYTES
DEFAULT_PATH: str = _webhook.DEFAULT_PATH

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def sign(secret: str, body: str | bytes) -> str:
    """The ``X-Hub-Signature`` value Bitbucket sends: ``"sha256=<hex>"`` of HMAC-SHA256(secret, body)."""
    return _webhook.sign(secret, _bytes(body))


def verify(secret: str, body: str | bytes, header: str | None) -> bool:
    """True when ``header`` is a valid signature of ``body`` under ``secret``.

    The comparison takes constant time; a missing or malformed header is False.
    """
    if header is None:
        return False
    return _webhook.verify(secret, _bytes(body), header)


def decode_event(event_key: str, body: str | bytes) -> dict[str, Any]:
    """The routing fields of a delivery and its dedup key.

    Returns a dict with ``event_key``, ``repository``, ``pr_id``,
    ``source_commit``, ``comment_id``, ``actor_uuid``, ``actor_account_id``
    (None when absent) and ``dedup_key``. Raises ValueError naming what was
    wrong when the body is not a JSON object or a field has the wrong type.
    """
    return _webhook.decode_event(event_key, _bytes(body))


class IntakeServer:
    """The webhook endpoint (``POST <path>``, ``GET /healthz``, ``GET /metrics``).

    Args:
        db_path: an existing SQLite database whose ``inbox`` table the store's
            migrations created. Raises :class:`bbreview.StoreError` when it is
            missing, read-only or lacks the table.
        host, port: where to listen; port 0 picks a free port (see ``port``).
        path: the webhook route.
        threads: io threads.
        max_connections: open connections; more get a 503.
        max_body_bytes: larger bodies get a 413.
        header_timeout, body_timeout, idle_timeout: seconds allowed for a
            request's headers, for its body, and for an idle kept-alive
            connection.
        require_signature: refuse deliveries for which no secret is configured.
        accepted_events: the event keys to queue; any other gets 400 (empty: all).
        default_secret, hook_secrets: initial secrets (hook uuid → secret).
        queue_capacity: deliveries waiting for the database; more get a 503.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = DEFAULT_PATH,
        threads: int = 2,
        max_connections: int = 1024,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_header_bytes: int = _webhook.DEFAULT_MAX_HEADER_BYTES,
        header_timeout: float = 5.0,
        body_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        handler_timeout: float = 9.0,
        require_signature: bool = False,
        default_secret: str | None = None,
        hook_secrets: Mapping[str, str] | None = None,
        queue_capacity: int = 8192,
        max_batch: int = 512,
        busy_timeout: float = 3.0,
        accepted_events: Sequence[str] = (),
    ) -> None:
        self.db_path = os.fspath(db_path)
        self.host = host
        self.path = path
        try:
            self._native = _webhook.IntakeServer(
                self.db_path, host=host, port=port, path=path, threads=threads,
                max_connections=max_connections, max_body_bytes=max_body_bytes,
                max_header_bytes=max_header_bytes, header_timeout=header_timeout,
                body_timeout=body_timeout, idle_timeout=idle_timeout, handler_timeout=handler_timeout,
                require_signature=require_signature, queue_capacity=queue_capacity, max_batch=max_batch,
                busy_timeout=busy_timeout, accepted_events=list(accepted_events),
            )
        except _webhook.InboxError as exc:
            raise StoreError(str(exc)) from None
        self.require_signature = require_signature
        self._log_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        if default_secret is not None:
            self.set_default_secret(default_secret)
        for hook_uuid, secret in (hook_secrets or {}).items():
            self.set_hook_secret(hook_uuid, secret)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> int:
        """Starts listening and returns the bound port. Raises OSError when it cannot bind."""
        port = self._native.start()
        self._log_thread = threading.Thread(target=self._forward_log, name="bbreview-intake-log", daemon=True)
        self._log_thread.start()
        return port

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Stops accepting, lets deliveries in progress commit and be answered
        (up to ``drain_timeout`` seconds), then closes. Idempotent."""
        self._native.stop(drain_timeout)
        self._stopped.set()
        if self._log_thread is not None:
            self._log_thread.join()
            self._log_thread = None
        self._flush_log(0.0)

    def __enter__(self) -> IntakeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._native.port

    @property
    def url(self) -> str:
        """The webhook URL on this machine, e.g. ``http://127.0.0.1:8080/bitbucketHandler``."""
        return f"http://{self.host}:{self.port}{self.path}"

    # -- secrets -----------------------------------------------------------------------
    def set_default_secret(self, secret: str | None) -> None:
        """The secret for deliveries whose hook has none of its own; None removes it."""
        self._native.set_default_secret(secret)

    def set_hook_secret(self, hook_uuid: str, secret: str) -> None:
        """The secret of one webhook (uuid with or without braces, any case)."""
        self._native.set_hook_secret(hook_uuid, secret)

    def remove_hook_secret(self, hook_uuid: str) -> bool:
        """Forgets a hook's secret; False when it had none."""
        return self._native.remove_hook_secret(hook_uuid)

    # -- service integration -----------------------------------------------------------
    def set_metrics_text(self, text: str) -> None:
        """Prometheus text appended to ``/metrics`` (queue depth, jobs, budgets...)."""
        self._native.set_metrics_text(text)

    def set_healthy(self, healthy: bool) -> None:
        """``/healthz`` answers 503 while False."""
        self._native.set_healthy(healthy)

    def wait_for_delivery(self, timeout: float) -> bool:
        """Blocks until a new row is committed (True) or ``timeout`` seconds pass (False).

        A commit since the previous call returned counts at once, so a
        dispatcher that reads the table and then waits misses nothing. True may
        be spurious: re-read the table. Returns False at once after ``stop()``.
        """
        return self._native.wait_for_delivery(timeout)

    def stats(self) -> dict[str, Any]:
        """Counters: deliveries by outcome, plus ``server`` and ``inbox`` sub-dicts."""
        return self._native.stats()

    def metrics_text(self) -> str:
        """The ``/metrics`` body."""
        return self._native.metrics_text()

    def __repr__(self) -> str:
        # Secrets are write-only: only whether they are set is shown.
        return (
            f"IntakeServer(db_path={self.db_path!r}, url={self.url!r}, "
            f"default_secret={'set' if self._native.has_default_secret else 'unset'}, "
            f"hook_secrets={self._native.hook_secret_count}, require_signature={self.require_signature})"
        )

    # -- logging -----------------------------------------------------------------------
    def _forward_log(self) -> None:
        while not self._stopped.is_set():
            self._flush_log(0.5)

    def _flush_log(self, timeout: float) -> None:
        for level, message in self._native.take_log(timeout):
            log.log(_LEVELS.get(level, logging.INFO), "%s", message)
