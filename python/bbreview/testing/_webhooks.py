"""Webhook deliveries with Bitbucket Cloud's semantics (reference §7).

One POST per event and hook; headers of §7.1; ``X-Hub-Signature`` only when the
hook has a secret; a 10 s deadline per attempt; up to 2 more attempts, only
after a 5xx (and, configurably, after a timeout); then the event is dropped.
Every attempt is recorded, like the hook's request history in the UI.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ssl
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import urlsplit

__all__ = ["Attempt", "Delivery", "sign", "WEBHOOK_TIMEOUT_S", "WEBHOOK_MAX_ATTEMPTS"]

#: Bitbucket waits 10 s for the receiver's answer (§7.3).
WEBHOOK_TIMEOUT_S = 10.0
#: One attempt plus at most 2 retries (§7.3).
WEBHOOK_MAX_ATTEMPTS = 3
#: Payloads over 256 KB may silently not be sent (§7.3).
WEBHOOK_MAX_PAYLOAD_BYTES = 256 * 1024
#: The deliverer's User-Agent (§7.1).
USER_AGENT = "Bitbucket-Webhooks/2.0"
#: How much of a receiver's response body is kept in the history.
_KEEP_RESPONSE_BYTES = 4096


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the raw body (§7.2)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Attempt:
    """One POST of a delivery. ``outcome`` is the HTTP code as text, ``TIMEOUT`` or ``NETWORK ERROR``."""

    number: int
    request_uuid: str
    outcome: str
    status: int | None
    started_at: float
    duration_s: float
    headers: dict[str, str]
    response_body: bytes = b""


@dataclass
class Delivery:
    """An event sent (or to be sent) to one hook, with its attempts."""

    uuid: str
    hook_uuid: str  # with braces
    event_key: str
    url: str
    body: bytes
    created_at: float
    attempts: list[Attempt] = field(default_factory=list)
    #: False when the event was dropped before any attempt (payload too large).
    sent: bool = True
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def status(self) -> str | None:
        """The last attempt's outcome (``"200"``, ``"500"``, ``"TIMEOUT"``...), None before any."""
        return self.attempts[-1].outcome if self.attempts else None

    @property
    def succeeded(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].status is not None and 200 <= self.attempts[-1].status < 300

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


@dataclass
class DeliveryOptions:
    timeout_s: float = WEBHOOK_TIMEOUT_S
    max_attempts: int = WEBHOOK_MAX_ATTEMPTS
    #: Delay before retry n (1-based); Bitbucket's is not configurable, tests want it short.
    backoff: Callable[[int], float] = lambda n: 0.05 * n
    retry_on_timeout: bool = True
    request_uuid_stable: bool = False
    max_payload_bytes: int | None = WEBHOOK_MAX_PAYLOAD_BYTES
    ca_file: str | None = None
    ordered: bool = False


async def _post(url: str, headers: dict[str, str], body: bytes, ctx: ssl.SSLContext | None) -> tuple[int, bytes]:
    """POSTs ``body`` and returns (status, response body). Raises OSError on network errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    reader, writer = await asyncio.open_connection(
        host, port, ssl=ctx, server_hostname=host if ctx is not None else None, limit=1 << 20
    )
    try:
        lines = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"Content-Length: {len(body)}", "Connection: close"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        resp_headers = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                resp_headers[k.strip().lower()] = v.strip()
        if "content-length" in resp_headers:
            data = await reader.readexactly(int(resp_headers["content-length"]))
        else:
            data = await reader.read(_KEEP_RESPONSE_BYTES)
        return status, data[:_KEEP_RESPONSE_BYTES]
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


class Deliverer:
    """Runs deliveries on the emulator's event loop."""

    def __init__(self, options: DeliveryOptions) -> None:
        self.options = options
        self._locks: dict[str, asyncio.Lock] = {}

    def _ssl(self, url: str, skip_verify: bool) -> ssl.SSLContext | None:
        if not url.startswith("https://"):
            return None
        ctx = ssl.create_default_context(cafile=self.options.ca_file)
        if skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    async def deliver(self, delivery: Delivery, secret: str | None, skip_verify: bool) -> None:
        """Sends ``delivery`` with retries; sets ``delivery.done`` at the end, whatever happens."""
        try:
            opts = self.options
            if opts.max_payload_bytes is not None and len(delivery.body) > opts.max_payload_bytes:
                delivery.sent = False
                return
            if opts.ordered:
                lock = self._locks.setdefault(delivery.hook_uuid, asyncio.Lock())
                async with lock:
                    await self._attempts(delivery, secret, skip_verify)
            else:
                await self._attempts(delivery, secret, skip_verify)
        finally:
            delivery.done.set()

    async def _attempts(self, delivery: Delivery, secret: str | None, skip_verify: bool) -> None:
        opts = self.options
        ctx = self._ssl(delivery.url, skip_verify)
        request_uuid = delivery.uuid
        for number in range(1, opts.max_attempts + 1):
            if number > 1 and not opts.request_uuid_stable:
                request_uuid = str(uuidlib.uuid4())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Event-Key": delivery.event_key,
                "X-Hook-UUID": delivery.hook_uuid.strip("{}"),  # no braces in the header (§9.12)
                "X-Request-UUID": request_uuid,
                "X-Attempt-Number": str(number),
                "X-Event-Time": formatdate(time.time(), usegmt=True),
            }
            if secret:
                headers["X-Hub-Signature"] = sign(delivery.body, secret)
            started = time.time()
            t0 = time.monotonic()
            retry = False
            try:
                async with asyncio.timeout(opts.timeout_s):
                    status, data = await _post(delivery.url, headers, delivery.body, ctx)
                outcome = str(status)
                retry = 500 <= status < 600
            except TimeoutError:
                status, data, outcome = None, b"", "TIMEOUT"
                retry = opts.retry_on_timeout
            except (OSError, ssl.SSLError, ValueError, IndexError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError):
                status, data, outcome = None, b"", "NETWORK ERROR"
            delivery.attempts.append(
                Attempt(number, request_uuid, outcome, status, started, time.monotonic() - t0, headers, data)
            )
            if not retry or number == opts.max_attempts:
                return
            await asyncio.sleep(opts.backoff(number))
