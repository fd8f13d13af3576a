"""Webhook intake throughput: bbreview's native intake against FastAPI + uvicorn.

Both servers do the same work for every delivery:
  check the Content-Type and X-Event-Key, verify X-Hub-Signature
  (HMAC-SHA256, constant-time compare), parse the JSON, build the dedup key
  (event|repo|pr|commit), INSERT ... ON CONFLICT DO NOTHING into the same
  ``inbox`` table of a fresh SQLite file (WAL, synchronous=FULL), commit, then
  answer {"status": "queued", "seq": N}.

  (a) bbreview  ``bbreview.service.intake.IntakeServer`` (C++ Beast server, 2 io
                threads, one writer thread with group commit: a 200 is sent
                after its row's transaction has committed).
  (b) FastAPI   an ``async def`` route on uvicorn (uvloop and httptools when
                installed), one transaction per request as a typical app does,
                run inline on the event loop (no threadpool hop, the fastest
                way for this app).

The load generator is the same for both: P processes, each with C kept-alive
connections (asyncio protocols, uvloop when installed), one request in flight
per connection, every delivery distinct (its own PR id and X-Request-UUID) and
signed beforehand. Latency is measured per request from the write to the last
byte of the response. Everything runs on this machine's cores, so the load
generator competes with the server under test; the same holds for both.

Run: .venv/bin/python benchmarks/webhook_intake.py [--requests N] [--procs P] [--conns C]
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

SECRET = "bench-secret"
PATH = "/bitbucketHandler"
INBOX_DDL = """
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


# -- payloads --------------------------------------------------------------------------


def payload(pr_id: int) -> bytes:
    """A pullrequest:created body of about 3 KB, shaped like reference §7.4."""
    account = {"type": "user", "uuid": "{a54f16da-24e9-4d7f-a3a7-b1ba2cd98aa3}", "account_id": "557058:c0b72ad0",
               "nickname": "emma", "display_name": "Emma",
               "links": {"self": {"href": "https://api.bitbucket.org/2.0/users/%7Ba54f%7D"},
                         "avatar": {"href": "https://avatar-management.example/emma.png"},
                         "html": {"href": "https://bitbucket.org/%7Ba54f%7D/"}}}
    repo = {"type": "repository", "uuid": "{673a6070-3421-46c9-9d48-90745f7bfe8e}", "full_name": "acme/webapp",
            "name": "webapp", "is_private": True, "scm": "git",
            "workspace": {"type": "workspace", "uuid": "{w}", "slug": "acme", "name": "Acme"},
            "links": {"self": {"href": "https://api.bitbucket.org/2.0/repositories/acme/webapp"},
                      "html": {"href": "https://bitbucket.org/acme/webapp"}}}
    commit = hashlib.sha1(str(pr_id).encode()).hexdigest()[:12]
    pr = {"type": "pullrequest", "id": pr_id, "title": f"Change number {pr_id}", "state": "OPEN", "draft": False,
          "description": "Refactors the payment retry loop and adds tests. " * 8,
          "source": {"branch": {"name": f"feature/{pr_id}"}, "commit": {"hash": commit}, "repository": repo},
          "destination": {"branch": {"name": "main"}, "commit": {"hash": "ce5965ddd289"}, "repository": repo},
          "author": account, "reviewers": [], "participants": [], "comment_count": 0, "task_count": 0,
          "links": {"self": {"href": f"https://api.bitbucket.org/2.0/repositories/acme/webapp/pullrequests/{pr_id}"},
                    "html": {"href": f"https://bitbucket.org/acme/webapp/pull-requests/{pr_id}"}}}
    return json.dumps({"actor": account, "repository": repo, "pullrequest": pr}).encode()


def request_bytes(port: int, pr_id: int) -> bytes:
    body = payload(pr_id)
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Event-Key: pullrequest:created\r\n"
        f"X-Hook-UUID: 5c0c6c87-ffe8-4a57-a1f9-0d5d2b6e7e11\r\nX-Request-UUID: {{req-{pr_id}}}\r\n"
        f"X-Attempt-Number: 1\r\nX-Hub-Signature: {sig}\r\nUser-Agent: Bitbucket-Webhooks/2.0\r\n\r\n"
    )
    return head.encode() + body


# -- load generator --------------------------------------------------------------------


class _Conn(asyncio.Protocol):
    def __init__(self, queue: list[bytes], latencies: list[float], statuses: dict[int, int], done: asyncio.Future):
        self.queue, self.latencies, self.statuses, self.done = queue, latencies, statuses, done
        self.buf = b""
        self.t0 = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._next()

    def _next(self) -> None:
        if not self.queue:
            self.transport.close()
            return
        req = self.queue.pop()
        self.t0 = time.monotonic()
        self.transport.write(req)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            i = head.find(b"content-length:")
            if i >= 0:
                j = head.find(b"\r\n", i)
                length = int(head[i + 15:j if j >= 0 else len(head)])
            if len(self.buf) < end + 4 + length:
                return
            status = int(self.buf[9:12])
            self.buf = self.buf[end + 4 + length:]
            self.latencies.append(time.monotonic() - self.t0)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self._next()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _drive(port: int, requests: list[bytes], conns: int, latencies: list[float], statuses: dict[int, int]):
    loop = asyncio.get_running_loop()
    waits = []
    for _ in range(conns):
        done = loop.create_future()
        await loop.create_connection(lambda d=done: _Conn(requests, latencies, statuses, d), "127.0.0.1", port)
        waits.append(done)
    await asyncio.gather(*waits)


def _worker(port: int, ids: list[int], conns: int, barrier, out) -> None:
    try:
        import uvloop  # noqa: PLC0415

        uvloop.install()
    except ImportError:
        pass
    requests = [request_bytes(port, i) for i in ids]
    requests.reverse()  # popped from the end
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    barrier.wait()
    start = time.monotonic()
    asyncio.run(_drive(port, requests, conns, latencies, statuses))
    out.put((start, time.monotonic(), latencies, statuses))


def load(port: int, first_id: int, n: int, procs: int, conns: int) -> dict:
    # spawn, not fork: the parent runs the intake's C++ threads.
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    ids = list(range(first_id, first_id + n))
    workers = [ctx.Process(target=_worker, args=(port, ids[k::procs], conns, barrier, out)) for k in range(procs)]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r[3].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "n": len(lat),
        "rps": len(lat) / (end - start),
        "p50": statistics.median(lat) * 1000,
        "p99": lat[int(0.99 * (len(lat) - 1))] * 1000,
        "statuses": statuses,
    }


# -- the FastAPI baseline --------------------------------------------------------------


def serve_fastapi(db: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415
    from fastapi import FastAPI, Request  # noqa: PLC0415
    from fastapi.responses import JSONResponse, PlainTextResponse  # noqa: PLC0415

    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=3000")
    insert = ("INSERT INTO inbox (request_uuid, dedup_key, event_key, hook_uuid, repository, pr_id, attempt,"
              " received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
    app = FastAPI()

    @app.post(PATH)
    async def bitbucket_handler(request: Request):
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return PlainTextResponse("Content-Type must be application/json", status_code=415)
        event = request.headers.get("x-event-key")
        if not event:
            return PlainTextResponse("the X-Event-Key header is required", status_code=400)
        body = await request.body()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-hub-signature", "")):
            return PlainTextResponse("missing or invalid X-Hub-Signature", status_code=401)
        try:
            doc = json.loads(body)
            pr = doc.get("pullrequest") or {}
            repo = (doc.get("repository") or {}).get("full_name")
            commit = ((pr.get("source") or {}).get("commit") or {}).get("hash")
        except (ValueError, AttributeError):
            return PlainTextResponse("the body is not valid JSON", status_code=400)
        key = f"{event}|{repo}|{pr.get('id')}|{commit}"
        hook = (request.headers.get("x-hook-uuid") or "").strip("{}").lower() or None
        attempt = int(request.headers.get("x-attempt-number", "1"))
        try:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute(insert, (request.headers.get("x-request-uuid"), key, event, hook, repo, pr.get("id"),
                                        attempt, time.time(), body))
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return PlainTextResponse("the delivery could not be stored", status_code=503)
        if cur.rowcount == 0:
            return JSONResponse({"status": "duplicate"})
        return JSONResponse({"status": "queued", "seq": cur.lastrowid})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- orchestration ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_db(directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    with sqlite3.connect(path) as c:
        c.executescript(INBOX_DDL)
    return path


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of another process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_rows(db: str) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT count(*) FROM inbox").fetchone()[0]


def wait_listening(port: int, proc: subprocess.Popen | None = None) -> None:
    for _ in range(500):
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listens on port {port}")


def bench_bbreview(tmp: str, args) -> dict:
    from bbreview.service.intake import IntakeServer  # noqa: PLC0415

    db = fresh_db(tmp, "bbreview.db")
    with IntakeServer(db, threads=2, default_secret=SECRET) as server:
        load(server.port, 10_000_000, args.warmup, args.procs, args.conns)
        # The intake's threads are the only work of this process meanwhile.
        cpu0 = time.process_time()
        result = load(server.port, 0, args.requests, args.procs, args.conns)
        result["cpu_us"] = (time.process_time() - cpu0) / args.requests * 1e6
        result["commits"] = server.stats()["inbox"]["commits"]
    result["rows"] = count_rows(db) - args.warmup
    return result


def bench_fastapi(tmp: str, args) -> dict:
    db = fresh_db(tmp, "fastapi.db")
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-fastapi", db, str(port)])
    try:
        wait_listening(port, proc)
        load(port, 10_000_000, args.warmup, args.procs, args.conns)
        cpu0 = process_cpu(proc.pid)
        result = load(port, 0, args.requests, args.procs, args.conns)
        result["cpu_us"] = (process_cpu(proc.pid) - cpu0) / args.requests * 1e6
    finally:
        proc.terminate()
        proc.wait()
    result["rows"] = count_rows(db) - args.warmup
    result["commits"] = result["rows"]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--warmup", type=int, default=1_000)
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    p.add_argument("--conns", type=int, default=32, help="kept-alive connections per process")
    p.add_argument("--serve-fastapi", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_fastapi:
        return serve_fastapi(args.serve_fastapi[0], int(args.serve_fastapi[1]))

    try:
        import uvloop  # noqa: F401, PLC0415

        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    try:
        import httptools  # noqa: F401, PLC0415

        parser_name = "httptools"
    except ImportError:
        parser_name = "h11"
    print(f"{args.requests:,} signed pullrequest:created deliveries (~{len(payload(1)):,} B each), "
          f"{args.procs} load processes x {args.conns} kept-alive connections, {os.cpu_count()} cores; "
          f"SQLite WAL + synchronous=FULL; FastAPI on uvicorn ({loop_name}, {parser_name})\n")
    with tempfile.TemporaryDirectory(prefix="bbreview-bench-") as tmp:
        rows = [("bbreview intake (C++)", bench_bbreview(tmp, args)), ("FastAPI + uvicorn", bench_fastapi(tmp, args))]
    print(f"{'server':<24}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/req':>12}{'rows':>9}{'commits':>9}  statuses")
    for name, r in rows:
        print(f"{name:<24}{r['rps']:>10,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['cpu_us']:>12,.0f}{r['rows']:>9,}{r['commits']:>9,}  "
              f"{dict(sorted(r['statuses'].items()))}")
    ours, theirs = rows[0][1], rows[1][1]
    print(f"\nthroughput ratio bbreview / FastAPI: {ours['rps'] / theirs['rps']:.1f}x; "
          f"p99 ratio FastAPI / bbreview: {theirs['p99'] / ours['p99']:.1f}x")


if __name__ == "__main__":
    main()
