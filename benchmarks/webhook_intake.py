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

The load generator is the same for both, and every delivery is distinct (its
own PR id, commit and X-Request-UUID) and signed beforehand:
  wrk     (default; installed with apt-get when missing and possible) with a
          Lua script that sends each request of a pre-signed pool once, over
          procs x conns kept-alive connections, for --duration seconds after a
          warm-up; req/s and p50/p99 are wrk's (--latency).
  python  (--generator python, or when wrk is unavailable) P processes, each
          with C kept-alive connections (asyncio protocols, uvloop when
          installed), one request in flight per connection, --requests in all;
          latency from the write to the last byte of the response.
Everything runs on this machine's cores, so the load generator competes with
the server under test; the same holds for both. CPU µs/req is the server's own
CPU time (user + system, all threads) over the measured phase divided by the
requests answered, which compares the servers whatever the generator.
"rows" counts rows committed during the measured phase; it may exceed
"answered" by the requests in flight when wrk stops, and falls short of it if
any delivery were a duplicate.

Run: .venv/bin/python benchmarks/webhook_intake.py [--generator wrk|python] [--duration S] [--requests N]
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

# The store's own inbox table (the one the C++ intake writes in production), for both servers.
from bbreview.store.sqlite import INBOX_DDL

SECRET = "bench-secret"
PATH = "/bitbucketHandler"


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


def request_bytes(port: int, pr_id: int, body: bytes | None = None) -> bytes:
    body = payload(pr_id) if body is None else body
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Event-Key: pullrequest:created\r\n"
        f"X-Hook-UUID: 5c0c6c87-ffe8-4a57-a1f9-0d5d2b6e7e11\r\nX-Request-UUID: {{req-{pr_id}}}\r\n"
        f"X-Attempt-Number: 1\r\nX-Hub-Signature: {sig}\r\nUser-Agent: Bitbucket-Webhooks/2.0\r\n\r\n"
    )
    return head.encode() + body


# Pool ids have this many digits, so that every request of a pool has the same
# length and the wrk script can slice its data file without an index.
_POOL_DIGITS = 7
_SENTINEL = 9_999_999


def _commit(pr_id: int) -> str:
    return hashlib.sha1(str(pr_id).encode()).hexdigest()[:12]


def request_pool(port: int, first_id: int, n: int) -> list[bytes]:
    """n distinct signed requests (ids first_id..), all of one length.

    Equivalent to request_bytes() for each id, but the body is made once and
    the id and commit substituted, which is ~5x faster for large pools."""
    assert 10 ** (_POOL_DIGITS - 1) <= first_id and first_id + n <= _SENTINEL
    template = payload(_SENTINEL).decode()
    assert template.count(_commit(_SENTINEL)) == 1
    out = []
    for pr_id in range(first_id, first_id + n):
        body = template.replace(_commit(_SENTINEL), _commit(pr_id)).replace(str(_SENTINEL), str(pr_id)).encode()
        out.append(request_bytes(port, pr_id, body))
    assert out[0] == request_bytes(port, first_id) and len({len(r) for r in out}) == 1
    return out


# -- load generator: wrk ---------------------------------------------------------------

# Each wrk thread reads its own data file of fixed-length requests and sends
# each exactly once; running out is reported (the pool is sized from a warm-up
# run), never papered over by resending, which would turn deliveries into
# cheap duplicates. Latency percentiles are wrk's own (microseconds).
WRK_SCRIPT = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local prefix, size = args[1], tonumber(args[2])
  local f = assert(io.open(prefix .. "." .. id, "rb"))
  local data = f:read("*a")
  f:close()
  -- Sliced here, before the run, so that request() allocates nothing: the
  -- generator's own CPU competes with the server under test.
  pool, count, next_i, exhausted = {}, #data / size, 0, 0
  for i = 0, count - 1 do
    pool[i] = data:sub(i * size + 1, (i + 1) * size)
  end
end

function request()
  if next_i >= count then
    exhausted = exhausted + 1
    next_i = 0
  end
  local r = pool[next_i]
  next_i = next_i + 1
  return r
end

function done(summary, latency, requests)
  local exhausted_n = 0
  for _, t in ipairs(threads) do
    exhausted_n = exhausted_n + t:get("exhausted")
  end
  io.write(string.format(
    "BBREVIEW-WRK requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d exhausted=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status,
    exhausted_n, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def find_wrk(install: bool) -> str | None:
    """The wrk binary; when missing and `install`, tries apt-get (sudo unless root)."""
    import shutil  # noqa: PLC0415

    found = shutil.which("wrk")
    if found or not install or not shutil.which("apt-get"):
        return found
    cmd = ["apt-get", "install", "-y", "-q", "wrk"]
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            return None
        cmd = ["sudo", "-n", *cmd]
    print("wrk not found; installing it: " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, check=False)
    return shutil.which("wrk")


def run_wrk(wrk: str, port: int, pool: tuple[str, int, int], seconds: float, args, warmup: bool) -> dict:
    """Runs wrk against `port` with a pool from write_pool(); wraps around the pool only when `warmup`."""
    prefix, size, n = pool
    script = prefix + ".lua"
    with open(script, "w") as f:
        f.write(WRK_SCRIPT)
    cmd = [wrk, f"-t{args.wrk_threads}", f"-c{args.procs * args.conns}", f"-d{max(1, round(seconds))}s",
           "--latency", "--timeout", "10s", "-s", script, f"http://127.0.0.1:{port}{PATH}", "--", prefix, str(size)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BBREVIEW-WRK "))
    v = {k: int(x) for k, x in (kv.split("=") for kv in line.split()[1:])}
    if v["exhausted"] and not warmup:
        raise SystemExit(f"the wrk request pool ({n:,}) ran out; rerun with a larger --pool-margin")
    # No Lua response() callback: it would cost wrk a Lua call and a body copy
    # per response. Duplicates show as rows < answered in the report instead.
    statuses: dict = {"2xx": v["requests"] - v["non2xx"]} if v["requests"] > v["non2xx"] else {}
    if v["non2xx"]:
        statuses["non-2xx"] = v["non2xx"]
    if v["errors"]:
        statuses["socket/timeout errors"] = v["errors"]
    return {
        "n": v["requests"],
        "rps": v["requests"] / (v["duration_us"] / 1e6),
        "p50": v["p50_us"] / 1000,
        "p99": v["p99_us"] / 1000,
        "statuses": statuses,
    }


def write_pool(directory: str, port: int, first_id: int, n: int, threads: int) -> tuple[str, int, int]:
    """Writes n distinct signed requests, round-robin into one data file per wrk thread."""
    requests = request_pool(port, first_id, n)
    prefix = os.path.join(directory, f"pool-{port}-{first_id}")
    for t in range(threads):
        with open(f"{prefix}.{t}", "wb") as f:
            f.write(b"".join(requests[t::threads]))
    return prefix, len(requests[0]), n


def measure(tmp: str, port: int, args, cpu) -> dict:
    """Warms up, then measures one server; `cpu()` reads the server's CPU seconds.

    The pools are written before the CPU reading starts: with the in-process
    bbreview server, the benchmark's own Python work would otherwise count."""
    if args.generator == "python":
        load(port, 10_000_000, args.warmup, args.procs, args.conns)
        cpu0 = cpu()
        result = load(port, 0, args.requests, args.procs, args.conns)
        result["cpu_us"] = (cpu() - cpu0) / result["n"] * 1e6
        return result
    warm = write_pool(tmp, port, 1_000_000, args.warmup, args.wrk_threads)
    rate = run_wrk(args.wrk, port, warm, args.warmup_seconds, args, warmup=True)["rps"]
    n = min(7_000_000, max(args.warmup, int(rate * args.duration * args.pool_margin)))
    pool = write_pool(tmp, port, 2_000_000, n, args.wrk_threads)
    cpu0 = cpu()
    result = run_wrk(args.wrk, port, pool, args.duration, args, warmup=False)
    result["cpu_us"] = (cpu() - cpu0) / result["n"] * 1e6
    return result


# -- load generator: Python --------------------------------------------------------------------


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
    with IntakeServer(db, threads=args.threads, default_secret=SECRET) as server:
        rows0 = commits0 = None

        def cpu() -> float:
            # The intake's threads are the only work of this process while the
            # load generator (another process) runs.
            nonlocal rows0, commits0
            if rows0 is None:
                rows0, commits0 = count_rows(db), server.stats()["inbox"]["commits"]
            return time.process_time()

        result = measure(tmp, server.port, args, cpu)
        result["commits"] = server.stats()["inbox"]["commits"] - commits0
    result["rows"] = count_rows(db) - rows0
    return result


def bench_fastapi(tmp: str, args) -> dict:
    db = fresh_db(tmp, "fastapi.db")
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-fastapi", db, str(port)])
    rows0 = None

    def cpu() -> float:
        nonlocal rows0
        if rows0 is None:
            rows0 = count_rows(db)
        return process_cpu(proc.pid)

    try:
        wait_listening(port, proc)
        result = measure(tmp, port, args, cpu)
    finally:
        proc.terminate()
        proc.wait()
    result["rows"] = count_rows(db) - rows0
    result["commits"] = result["rows"]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", choices=["wrk", "python"], default=None,
                   help="load generator for both servers (default: wrk when installed or installable, else python)")
    p.add_argument("--no-install", action="store_true", help="do not try to apt-get install wrk when it is missing")
    p.add_argument("--duration", type=float, default=5.0, help="wrk: seconds of measured load per server")
    p.add_argument("--warmup-seconds", type=float, default=1.0, help="wrk: seconds of warm-up per server")
    p.add_argument("--pool-margin", type=float, default=2.0,
                   help="wrk: distinct requests prepared = warm-up rate x duration x this")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk threads")
    p.add_argument("--threads", type=int, default=2, help="bbreview io threads (IntakeServer's default: 2)")
    p.add_argument("--requests", type=int, default=20_000, help="python: measured requests per server")
    p.add_argument("--warmup", type=int, default=None,
                   help="warm-up requests (default: python 1,000; wrk 30,000 distinct, resent if the second runs out)")
    p.add_argument("--procs", type=int, default=2, help="python: load generator processes")
    p.add_argument("--conns", type=int, default=32,
                   help="kept-alive connections per process (wrk opens procs x conns in all)")
    p.add_argument("--serve-fastapi", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_fastapi:
        return serve_fastapi(args.serve_fastapi[0], int(args.serve_fastapi[1]))
    args.wrk = None
    if args.generator in (None, "wrk"):
        args.wrk = find_wrk(install=not args.no_install)
        if args.wrk is None:
            if args.generator == "wrk":
                raise SystemExit("wrk is not installed (apt-get install wrk) and could not be installed")
            print("wrk is not available; using the Python load generator", file=sys.stderr)
        args.generator = "wrk" if args.wrk else "python"
    if args.warmup is None:
        args.warmup = 30_000 if args.generator == "wrk" else 1_000

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
    if args.generator == "wrk":
        load_desc = (f"wrk, {args.wrk_threads} threads x {args.procs * args.conns} kept-alive connections in all, "
                     f"{args.duration:g} s per server after {args.warmup_seconds:g} s of warm-up")
    else:
        load_desc = (f"{args.requests:,} per server; Python generator, {args.procs} processes x {args.conns} "
                     "kept-alive connections")
    print(f"signed pullrequest:created deliveries (~{len(payload(1)):,} B each, every one distinct), {load_desc}; "
          f"{os.cpu_count()} cores shared by servers and load generator; "
          f"SQLite WAL + synchronous=FULL; FastAPI on uvicorn ({loop_name}, {parser_name})\n")
    with tempfile.TemporaryDirectory(prefix="bbreview-bench-") as tmp:
        rows = [("bbreview intake (C++)", bench_bbreview(tmp, args)), ("FastAPI + uvicorn", bench_fastapi(tmp, args))]
    print(f"{'server':<24}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/req':>12}{'answered':>10}{'rows':>9}"
          f"{'commits':>9}  statuses")
    for name, r in rows:
        print(f"{name:<24}{r['rps']:>10,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['cpu_us']:>12,.0f}{r['n']:>10,}"
              f"{r['rows']:>9,}{r['commits']:>9,}  {r['statuses']}")
    ours, theirs = rows[0][1], rows[1][1]
    print(f"\nthroughput ratio bbreview / FastAPI: {ours['rps'] / theirs['rps']:.1f}x; "
          f"p99 ratio FastAPI / bbreview: {theirs['p99'] / ours['p99']:.1f}x; "
          f"CPU per request FastAPI / bbreview: {theirs['cpu_us'] / ours['cpu_us']:.1f}x")


if __name__ == "__main__":
    main()
