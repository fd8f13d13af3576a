"""A loopback HTTP receiver for webhook deliveries, for tests.

It records every POST (headers and raw body) and answers with the status the
test chooses, optionally after a delay.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["ReceivedWebhook", "WebhookReceiver"]


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    received_at: float

    @property
    def event_key(self) -> str | None:
        return self.headers.get("x-event-key")

    def signature_valid(self, secret: str) -> bool:
        """Checks ``X-Hub-Signature`` over the raw body in constant time (§7.2)."""
        header = self.headers.get("x-hub-signature", "")
        if not header.startswith("sha256="):
            return False
        expected = hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(header[len("sha256="):], expected)


class WebhookReceiver:
    """Listens on 127.0.0.1; ``url`` is where hooks should point.

    ``respond`` maps each request to (status, delay seconds); the default answers 200 at once.
    """

    def __init__(self, respond: Callable[[ReceivedWebhook], tuple[int, float]] | None = None) -> None:
        self.received: list[ReceivedWebhook] = []
        self.respond = respond or (lambda _req: (200, 0.0))
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                req = ReceivedWebhook(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                with receiver._cond:
                    receiver.received.append(req)
                    receiver._cond.notify_all()
                status, delay = receiver.respond(req)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up (timeout)
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/bitbucketHandler"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedWebhook]:
        """Waits until ``count`` requests arrived; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"received {len(self.received)} of {count} webhook requests")
                self._cond.wait(left)
            return list(self.received)
