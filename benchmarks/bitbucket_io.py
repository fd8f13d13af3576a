"""Bitbucket I/O throughput: bbreview's native client against httpx and requests.

The emulator (``python -m bbreview.testing``) runs in its own process with
``--seed-demo --demo-prs N --latency-ms L --rate-limit 0``; its diffs are
precomputed (``warm_cache``), so a request costs it little besides the
injected latency (an ``asyncio.sleep``, which blocks nothing).

Each client fetches the diffs of the same N pull requests
(``GET /repositories/{ws}/{repo}/pullrequests/{id}/diff``), following the 302
to the repository diff, at the same concurrency, in its own subprocess:

  (a) bbreview   ``Client.diffs([(ws, repo, id), ...], concurrency=C)`` (C++
                 I/O threads; the budget is raised so that it never throttles);
                 each diff is parsed into a PatchSet, the others keep text.
  (b) httpx      ``httpx.AsyncClient`` (follow_redirects, C connections), an
                 asyncio.Semaphore(C) over N tasks.
  (c) requests   ``requests.Session`` per thread, ThreadPoolExecutor(C).

Ideal: the emulator sleeps L ms on EVERY request, the 302 included, so a diff
costs two round trips of at least L: ideal = C / (2 x L) diffs/s (640 diffs/s,
1,280 HTTP requests/s at C=64, L=50 ms). Fraction of ideal = measured / ideal.

CPU per request: ``time.process_time()`` of the client's own process (every
thread, so bbreview's C++ I/O threads count) across the fetch, divided by the
number of diffs (and by HTTP requests: 2 per diff).

Emulator not the bottleneck: its CPU (utime+stime from /proc/PID/stat) during
each run is printed as a fraction of one core, and a second emulator with
``--latency-ms 0`` is measured with bbreview: the rate it serves without
latency is its ceiling, which must be well above the ideal. The emulator is one
Python asyncio loop, though, so under load it adds a few ms to every exchange
beyond the injected latency. To separate that from the client, bbreview also
fetches from a minimal asyncio server (``--serve-reference``: a 302 and a
fixed diff after the same latency, nothing else), and the mean round trip
(RTT = wall x C / HTTP requests) of both runs is printed.

A perfect client is also bounded by the partial last wave: some slot fetches
ceil(N / C) diffs, so the best wall time is ceil(N / C) x 2L (97.7% of ideal
for N=2000, C=64).

httpx note: with httpx 0.28 / httpcore 1.0.x, ``AsyncConnectionPool`` walks
every connection (``is_idle``, ``has_expired`` with a socket poll) on each
request and release; at 64 connections that dominates its CPU time (a
profile shows ~6,500 ``is_idle`` calls per request). That is what users of
httpx get today (encode/httpcore#1035 proposes a linear rewrite). httpcore
also imports ``sniffio`` on every call when it is missing (recent anyio
no longer depends on it), so install ``sniffio`` alongside httpx for a fair run.

    .venv/bin/python benchmarks/bitbucket_io.py            # 2,000 PRs, C=64, 50 ms
    .venv/bin/python benchmarks/bitbucket_io.py --quick    # 300 PRs: a smoke test

httpx and requests come from the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- workers (each runs in its own subprocess) ---------------------------------------


def _ids(info: dict, n: int) -> list[int]:
    # seed_demo opens PR #1; --demo-prs N opens #2..#N+1.
    return list(range(2, n + 2))


def work_bbreview(info: dict, n: int, conc: int) -> dict:
    from bbreview.bitbucket import Client

    client = Client(email=info["email"], token=info["token"], base_url=info["base_url"],
                    budget_per_hour=1e9, budget_burst=1e9, connections=conc, threads=2)
    prs = [(info["workspace"], info["repository"], i) for i in _ids(info, n)]
    before = client.stats
    t0, c0 = time.perf_counter(), time.process_time()
    results = client.diffs(prs, concurrency=conc)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    after = client.stats
    failed = [r for r in results if isinstance(r, BaseException)]
    files = sum(len(r) for r in results if not isinstance(r, BaseException))
    http = after.get("exchanges", 0) - before.get("exchanges", 0)
    return {"wall": wall, "cpu": cpu, "ok": len(results) - len(failed), "failed": len(failed),
            "http": http, "files": files, "error": repr(failed[0]) if failed else ""}


def work_httpx(info: dict, n: int, conc: int) -> dict:
    import asyncio

    import httpx

    base = info["base_url"]
    urls = [f"{base}/repositories/{info['workspace']}/{info['repository']}/pullrequests/{i}/diff"
            for i in _ids(info, n)]

    async def run() -> tuple[int, int, int]:
        limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
        sem = asyncio.Semaphore(conc)
        ok = http = 0
        async with httpx.AsyncClient(auth=(info["email"], info["token"]), follow_redirects=True,
                                     limits=limits, timeout=60.0) as c:
            async def one(url: str) -> tuple[bool, int]:
                async with sem:
                    r = await c.get(url, headers={"Accept": "text/plain"})
                    body = r.text
                    return r.status_code == 200 and bool(body), len(r.history) + 1

            for good, hops in await asyncio.gather(*(one(u) for u in urls)):
                ok += good
                http += hops
        return ok, http, len(urls)

    t0, c0 = time.perf_counter(), time.process_time()
    ok, http, total = asyncio.run(run())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    import httpcore

    return {"wall": wall, "cpu": cpu, "ok": ok, "failed": total - ok, "http": http, "error": "",
            "version": f"httpx {httpx.__version__}, httpcore {httpcore.__version__}"}


def work_requests(info: dict, n: int, conc: int) -> dict:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from requests.adapters import HTTPAdapter

    base = info["base_url"]
    urls = [f"{base}/repositories/{info['workspace']}/{info['repository']}/pullrequests/{i}/diff"
            for i in _ids(info, n)]
    local = threading.local()

    def session() -> requests.Session:
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
            s.auth = (info["email"], info["token"])
            s.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=2))
        return s

    def one(url: str) -> tuple[bool, int]:
        r = session().get(url, headers={"Accept": "text/plain"}, timeout=60)
        return r.status_code == 200 and bool(r.text), len(r.history) + 1

    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(conc) as pool:
        results = list(pool.map(one, urls))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ok = sum(g for g, _ in results)
    return {"wall": wall, "cpu": cpu, "ok": ok, "failed": len(urls) - ok,
            "http": sum(h for _, h in results), "error": "", "version": f"requests {requests.__version__}"}


WORKERS = {"bbreview": work_bbreview, "httpx": work_httpx, "requests": work_requests}

_REF_DIFF = (b"diff --git a/src/m.py b/src/m.py\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n"
             b"+++ b/src/m.py\n@@ -0,0 +1,2 @@\n+def f(x):\n+    return x\n")


def serve_reference(latency_ms: float) -> None:
    """A minimal asyncio HTTP/1.1 keep-alive server: ``.../pullrequests/N/diff`` answers a 302 to
    ``.../diff/N``, which answers a fixed diff, each after ``latency_ms``. No auth, no routing, no
    recording: it shows how close the client gets to the ideal when the server adds ~nothing."""
    import asyncio

    delay = latency_ms / 1000.0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                await asyncio.sleep(delay)
                if path.endswith(b"/diff") and b"/pullrequests/" in path:
                    n = path.rsplit(b"/", 2)[1]
                    loc = path.split(b"/pullrequests/")[0] + b"/diff/" + n
                    writer.write(b"HTTP/1.1 302 Found\r\nLocation: " + loc + b"\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                                 + str(len(_REF_DIFF)).encode() + b"\r\n\r\n" + _REF_DIFF)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        info = {"base_url": f"http://127.0.0.1:{port}/2.0", "workspace": "ref", "repository": "ref",
                "pull_request": 1, "email": "ref@example.com", "token": "none"}
        print(json.dumps(info), flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- driver ---------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user+system, plus waited-for children) of process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime=14, stime=15, cutime=16, cstime=17.
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


class Emulator:
    def __init__(self, prs: int, latency_ms: float, reference: bool = False) -> None:
        cmd = ([sys.executable, str(HERE), "--serve-reference", "--latency-ms", str(latency_ms)] if reference else
               [sys.executable, "-m", "bbreview.testing", "--seed-demo", "--demo-prs", str(prs),
                "--latency-ms", str(latency_ms), "--rate-limit", "0", "--port", "0"])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise SystemExit(f"the emulator exited ({self.proc.returncode}) before printing its JSON line")
        self.info = json.loads(line)

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_worker(kind: str, emu: Emulator, n: int, conc: int) -> dict:
    cpu0, t0 = emu.cpu(), time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(HERE), "--worker", kind, "--info", json.dumps(emu.info),
         "--prs", str(n), "--concurrency", str(conc)],
        capture_output=True, text=True, timeout=600,
    )
    span = time.perf_counter() - t0
    emu_cpu = emu.cpu() - cpu0
    if out.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{out.stderr}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    # The emulator's CPU over the whole subprocess span (start-up included), per second of fetch.
    res["emu_cpu"] = emu_cpu
    res["emu_core"] = emu_cpu / res["wall"]
    res["span"] = span
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prs", type=int, default=2000, help="pull request diffs to fetch (default 2000)")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    p.add_argument("--latency-ms", type=float, default=50.0, help="emulator latency per request (default 50)")
    p.add_argument("--quick", action="store_true", help="300 PRs: a smoke test")
    p.add_argument("--no-baseline", action="store_true", help="skip the latency-0 emulator ceiling run")
    p.add_argument("--no-reference", action="store_true", help="skip the run against the minimal reference server")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--serve-reference", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--info", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.prs = min(args.prs, 300)

    if args.serve_reference:
        serve_reference(args.latency_ms)
        return 0
    if args.worker:
        res = WORKERS[args.worker](json.loads(args.info), args.prs, args.concurrency)
        print(json.dumps(res))
        return 0

    n, conc, lat = args.prs, args.concurrency, args.latency_ms
    ideal = conc / (2 * lat / 1000.0) if lat > 0 else float("inf")
    print(f"bitbucket_io: {n} PR diffs, concurrency {conc}, emulator latency {lat:g} ms per request "
          f"(separate process), {os.cpu_count()} CPUs")
    print(f"ideal: each diff = 302 + GET, both delayed {lat:g} ms -> {conc} / (2 x {lat / 1000:g} s) "
          f"= {ideal:,.0f} diffs/s ({2 * ideal:,.0f} HTTP req/s)")

    t0 = time.perf_counter()
    emu = Emulator(n, lat)
    print(f"emulator: {n} PRs seeded and diffs precomputed in {time.perf_counter() - t0:.1f} s, pid {emu.proc.pid}")
    results: dict[str, dict] = {}
    try:
        for kind in ("bbreview", "httpx", "requests"):
            try:
                results[kind] = run_worker(kind, emu, n, conc)
            except SystemExit as exc:
                print(f"  {kind}: skipped ({str(exc).strip().splitlines()[-1]})")
    finally:
        emu.close()

    ceiling = None
    if not args.no_baseline:
        emu0 = Emulator(n, 0)
        try:
            ceiling = run_worker("bbreview", emu0, n, conc)
        finally:
            emu0.close()

    reference = None
    if not args.no_reference:
        ref = Emulator(n, lat, reference=True)
        try:
            reference = run_worker("bbreview", ref, n, conc)
        finally:
            ref.close()

    print()
    hdr = (f"{'client':<10} {'ok':>6} {'wall s':>7} {'diffs/s':>8} {'HTTP/s':>8} {'of ideal':>8} "
           f"{'CPU ms/diff':>11} {'CPU ms/HTTP':>11} {'RTT ms':>6} {'emulator CPU':>12}")
    print(hdr)
    print("-" * len(hdr))
    def rtt(r: dict) -> float:
        """Mean time one HTTP exchange held one of the C slots: wall x C / HTTP requests."""
        return 1000 * r["wall"] * conc / max(r["http"], 1)

    for kind, r in results.items():
        rate = r["ok"] / r["wall"]
        print(f"{kind:<10} {r['ok']:>6} {r['wall']:>7.2f} {rate:>8.0f} {r['http'] / r['wall']:>8.0f} "
              f"{rate / ideal:>8.1%} {1000 * r['cpu'] / n:>11.3f} {1000 * r['cpu'] / max(r['http'], 1):>11.3f} "
              f"{rtt(r):>6.1f} {r['emu_core']:>8.0%} core")
        if r["failed"]:
            print(f"           {r['failed']} failed: {r.get('error', '')}")
    if ceiling is not None:
        r = ceiling
        print(f"{'bbreview*':<10} {r['ok']:>6} {r['wall']:>7.2f} {r['ok'] / r['wall']:>8.0f} "
              f"{r['http'] / r['wall']:>8.0f} {'-':>8} {1000 * r['cpu'] / n:>11.3f} "
              f"{1000 * r['cpu'] / max(r['http'], 1):>11.3f} {rtt(r):>6.1f} {r['emu_core']:>8.0%} core")
        print("  * the same fetch against a second emulator with --latency-ms 0: the emulator's ceiling")
    if reference is not None:
        r = reference
        rate = r["ok"] / r["wall"]
        print(f"{'bbreview+':<10} {r['ok']:>6} {r['wall']:>7.2f} {rate:>8.0f} {r['http'] / r['wall']:>8.0f} "
              f"{rate / ideal:>8.1%} {1000 * r['cpu'] / n:>11.3f} {1000 * r['cpu'] / max(r['http'], 1):>11.3f} "
              f"{rtt(r):>6.1f} {r['emu_core']:>8.0%} core")
        print(f"  + the same fetch against a minimal asyncio server (302 + fixed diff after {lat:g} ms each, no auth,")
        print("    no routing): the client's own distance from the ideal when the server adds ~nothing")
    print("  CPU = time.process_time() of the client's own process (all threads) over the fetch;")
    print("  RTT = wall x concurrency / HTTP requests: the mean time an exchange held a slot (ideal: the latency)")
    print("  emulator CPU = its utime+stime (/proc/PID/stat) during the run / fetch wall time")
    waves = -(-n // conc)
    if lat > 0:
        print(f"  with {n} diffs in waves of {conc}, the last wave is partial: even a perfect client needs {waves} "
              f"waves x {2 * lat:g} ms -> at most {n / (waves * 2 * lat / 1000) / ideal:.1%} of ideal")
    versions = [r["version"] for r in results.values() if r.get("version")]
    if versions:
        print(f"  versions: {'; '.join(versions)}")

    print()
    print("targets")
    bb, hx = results.get("bbreview"), results.get("httpx")
    if bb:
        frac = bb["ok"] / bb["wall"] / ideal
        print(f"  bbreview >= 90% of ideal ({ideal:,.0f} diffs/s): {frac:.1%}  {'PASS' if frac >= 0.9 else 'MISS'}")
    if bb and hx:
        ratio = (bb["cpu"] / n) / (hx["cpu"] / n)
        print(f"  bbreview CPU/request <= 1/5 of httpx: {ratio:.3f} of httpx (1/{1 / ratio:.1f})  "
              f"{'PASS' if ratio <= 0.2 else 'MISS'}")
    if reference is not None:
        frac = reference["ok"] / reference["wall"] / ideal
        print(f"  (bbreview against the minimal server: {frac:.1%} of ideal, "
              f"{'PASS' if frac >= 0.9 else 'MISS'}; informational)")
    if ceiling is not None and bb:
        c = ceiling["ok"] / ceiling["wall"]
        busy = max(r["emu_core"] for r in results.values())
        verdict = "not CPU-bound" if c >= 1.5 * ideal and busy < 0.8 else "POSSIBLY CPU-bound"
        print(f"  emulator: ceiling {c:,.0f} diffs/s = {c / ideal:.1f}x ideal; busiest run used {busy:.0%} "
              f"of one core -> {verdict}")
        if reference is not None:
            extra = rtt(bb) - rtt(reference)
            print(f"  emulator: but under load it adds latency: bbreview RTT {rtt(bb):.1f} ms against it vs "
                  f"{rtt(reference):.1f} ms against the minimal server ({extra:+.1f} ms per exchange)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
