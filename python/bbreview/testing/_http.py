"""A small HTTP/1.1 server on asyncio, with explicit limits.

The transport only: it parses requests, hands each to an async handler and
writes the response. Routing and behaviour live in the emulator. Keep-alive,
pipelined requests, ``Content-Length`` and chunked request bodies,
``Expect: 100-continue`` and gzip responses are supported; anything else gets a
plain-text 4xx and the connection is closed.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

__all__ = ["HttpRequest", "HttpResponse", "HttpServer", "ServerLimits"]

log = logging.getLogger("bbreview.testing")


@dataclass(frozen=True)
class ServerLimits:
    """Bounds of the transport. Every read has a deadline and every buffer a cap."""

    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_body_bytes: int = 32 * 1024 * 1024
    #: Deadline for the first request line + headers of a new connection.
    header_timeout_s: float = 30.0
    #: Idle keep-alive connections are closed after this long.
    keepalive_timeout_s: float = 75.0
    #: Deadline for reading a request body once its headers arrived.
    body_timeout_s: float = 60.0
    #: Bodies smaller than this are never compressed.
    gzip_min_bytes: int = 512


@dataclass
class HttpRequest:
    """A parsed request. Header names are lower-case; the last value of a repeated header wins."""

    method: str
    target: str
    path: str  # raw (still percent-encoded) path, without the query
    query: str  # raw query string, without "?"
    version: str
    headers: dict[str, str]
    body: bytes
    peer: str
    tls: bool


@dataclass
class HttpResponse:
    """A response to write. ``drop`` aborts the connection without answering.

    ``cache_key``, when set, names an immutable body so that its gzip form is
    computed once.
    """

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = None
    drop: bool = False
    cache_key: object = None


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _GzipCache:
    """A small LRU of compressed bodies keyed by ``HttpResponse.cache_key``."""

    def __init__(self, capacity: int = 4096) -> None:
        self._items: OrderedDict[object, bytes] = OrderedDict()
        self._capacity = capacity

    def get(self, key: object, body: bytes) -> bytes:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        self._items[key] = packed
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return packed


def _accepts_gzip(value: str) -> bool:
    for item in value.split(","):
        token, *params = (p.strip() for p in item.split(";"))
        if token.lower() not in ("gzip", "x-gzip", "*"):
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


class HttpServer:
    """Serves ``handler`` on ``host:port`` (port 0 picks a free one).

    ``start`` and ``stop`` must be awaited on the loop that serves. ``stop``
    closes the listener and every open connection.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        limits: ServerLimits | None = None,
        gzip_enabled: Callable[[], bool] = lambda: True,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self.limits = limits or ServerLimits()
        self._gzip_enabled = gzip_enabled
        self._gzip_cache = _GzipCache()
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self._date = ("", 0.0)
        self.port = port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve,
            self._host,
            self._port,
            ssl=self._ssl,
            limit=self.limits.max_header_bytes,
            reuse_address=True,
            backlog=1024,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # Aborting the transports ends each connection's read loop; cancelling the
        # tasks instead makes asyncio's stream callback log a CancelledError.
        for writer in list(self._conns):
            writer.transport.abort()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=5.0)
            for task in pending:  # e.g. a handler still sleeping in injected latency
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)
        await self._server.wait_closed()
        self._server = None

    def _http_date(self) -> str:
        text, stamp = self._date
        now = time.time()
        if now - stamp >= 1.0:
            text = formatdate(now, usegmt=True)
            self._date = (text, now)
        return text

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._conns.add(writer)
        peername = writer.get_extra_info("peername")
        peer = peername[0] if isinstance(peername, tuple) else str(peername)
        try:
            first = True
            while True:
                timeout = self.limits.header_timeout_s if first else self.limits.keepalive_timeout_s
                first = False
                try:
                    async with asyncio.timeout(timeout):
                        head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self._write_error(writer, 431, "Request header fields too large")
                    return
                try:
                    request, keep_alive = await self._read_request(head, reader, writer, peer)
                except _BadRequest as exc:
                    await self._write_error(writer, exc.status, str(exc))
                    return
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                try:
                    response = await self._handler(request)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a handler bug must answer 500, not kill the connection silently
                    log.exception("emulator handler failed for %s %s", request.method, request.path)
                    response = HttpResponse(
                        500,
                        b'{"type": "error", "error": {"message": "Internal Server Error"}}',
                        content_type="application/json",
                    )
                if response.drop:
                    writer.transport.abort()
                    return
                keep_alive = keep_alive and not any(
                    k.lower() == "connection" and v.lower() == "close" for k, v in response.headers
                )
                writer.write(self._serialize(request, response, keep_alive))
                try:
                    await writer.drain()
                except ConnectionError:
                    return
                if not keep_alive:
                    return
        except asyncio.CancelledError:
            # Only stop() cancels, as a last resort: end quietly (asyncio's stream
            # callback would log a cancelled connection task as an error).
            return
        finally:
            self._conns.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _read_request(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> tuple[HttpRequest, bool]:
        lines = head[:-4].split(b"\r\n")
        try:
            method, target, version = lines[0].decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            raise _BadRequest(400, "Malformed request line") from None
        if not version.startswith("HTTP/1."):
            raise _BadRequest(505, "HTTP version not supported")
        if len(lines) - 1 > self.limits.max_headers:
            raise _BadRequest(431, "Too many header fields")
        headers: dict[str, str] = {}
        for raw in lines[1:]:
            name, sep, value = raw.partition(b":")
            if not sep or not name or name != name.strip() or raw[:1] in (b" ", b"\t"):
                raise _BadRequest(400, "Malformed header field")
            headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
        conn = headers.get("connection", "").lower()
        keep_alive = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        limit = self.limits.max_body_bytes
        async with asyncio.timeout(self.limits.body_timeout_s):
            if "chunked" in headers.get("transfer-encoding", "").lower():
                body = await self._read_chunked(reader, limit)
            elif "content-length" in headers:
                try:
                    length = int(headers["content-length"])
                except ValueError:
                    raise _BadRequest(400, "Invalid Content-Length") from None
                if length < 0:
                    raise _BadRequest(400, "Invalid Content-Length")
                if length > limit:
                    raise _BadRequest(413, "Request body too large")
                if length:
                    body = await reader.readexactly(length)
        path, _, query = target.partition("?")
        if target.startswith(("http://", "https://")):  # absolute-form (proxies)
            rest = target.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
            path, _, query = path.partition("?")
        request = HttpRequest(
            method=method,
            target=target,
            path=path,
            query=query,
            version=version,
            headers=headers,
            body=body,
            peer=peer,
            tls=self._ssl is not None,
        )
        return request, keep_alive

    async def _read_chunked(self, reader: asyncio.StreamReader, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "Invalid chunk size") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > limit:
                raise _BadRequest(413, "Request body too large")
            chunks.append(await reader.readexactly(size))
            if await reader.readexactly(2) != b"\r\n":
                raise _BadRequest(400, "Malformed chunk")

    def _serialize(self, request: HttpRequest, response: HttpResponse, keep_alive: bool) -> bytes:
        body = response.body
        status = response.status
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {self._http_date()}"]
        if response.content_type:
            lines.append(f"Content-Type: {response.content_type}")
        lines.extend(f"{k}: {v}" for k, v in response.headers)
        if (
            len(body) >= self.limits.gzip_min_bytes
            and self._gzip_enabled()
            and _accepts_gzip(request.headers.get("accept-encoding", ""))
        ):
            if response.cache_key is not None:
                body = self._gzip_cache.get(response.cache_key, body)
            else:
                body = gzip.compress(body, compresslevel=6, mtime=0)
            lines.append("Content-Encoding: gzip")
            lines.append("Vary: Accept-Encoding")
        if status != 204 and not 100 <= status < 200:
            lines.append(f"Content-Length: {len(body)}")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if request.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return head
        return head + body

    async def _write_error(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        body = message.encode()
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            writer.write(head + body)
            await writer.drain()
        except ConnectionError:
            pass
