"""FakeBitbucket's rate limits (§5), fault knobs, transport (gzip, TLS, latency), CLI and load."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from bbreview.testing import Demo, FakeBitbucket, seed_demo

REPO = "/repositories/acme/webapp"


@pytest.fixture
def bb(fake_bitbucket: FakeBitbucket) -> FakeBitbucket:
    return fake_bitbucket


@pytest.fixture
def demo(fake_bitbucket_demo: Demo) -> Demo:
    return fake_bitbucket_demo


# -- rate limits (§5) -------------------------------------------------------------------------------


def test_rate_limit_429_is_plain_text_without_retry_after(bb: FakeBitbucket, demo: Demo) -> None:
    bb.rate_limit = 3
    for _ in range(3):
        assert bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).status == 200
    r = bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token)
    assert r.status == 429
    assert r.headers["content-type"] == "text/plain"
    assert r.body == b"Rate limit for this resource has been exceeded" and len(r.body) == 46
    assert "retry-after" not in r.headers
    assert bb.rate_limit_used(f"user:{demo.admin.uuid}") == 3
    # per identity: another user still has budget; /user is not repository data
    assert bb.request("GET", f"{REPO}/pullrequests/1", auth=bb.add_api_token(demo.author)).status == 200
    assert bb.request("GET", "/user", auth=demo.token).status == 200
    bb.advance_time(3601)  # rolling one-hour window
    assert bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).status == 200


def test_webhook_endpoints_have_their_own_budget(bb: FakeBitbucket, demo: Demo) -> None:
    bb.rate_limit = 2
    bb.webhook_rate_limit = 1
    assert bb.request("GET", f"{REPO}/hooks", auth=demo.token).status == 200
    assert bb.request("GET", f"{REPO}/hooks", auth=demo.token).status == 429
    assert bb.request("GET", REPO, auth=demo.token).status == 200


def test_anonymous_budget_is_per_ip(bb: FakeBitbucket, demo: Demo) -> None:
    bb.add_repository(demo.workspace, "oss", private=False, files={"a": "a\n"}, author=demo.admin)
    bb.anonymous_rate_limit = 2
    codes = [bb.request("GET", "/repositories/acme/oss").status for _ in range(3)]
    assert codes == [200, 200, 429]


def test_access_tokens_get_scaled_rate_limit_headers(bb: FakeBitbucket, demo: Demo) -> None:
    tok = bb.add_access_token(demo.repository, {"repository", "pullrequest"})
    bb.rate_limit = 10
    r = bb.request("GET", f"{REPO}/pullrequests/1", auth=tok)
    assert r.headers["x-ratelimit-limit"] == "10" and r.headers["x-ratelimit-resource"] == "api"
    assert r.headers["x-ratelimit-nearlimit"] == "false"
    for _ in range(8):
        r = bb.request("GET", f"{REPO}/pullrequests/1", auth=tok)
    assert r.headers["x-ratelimit-nearlimit"] == "true"
    assert "x-ratelimit-limit" not in bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).headers


# -- injected faults -----------------------------------------------------------------------------------


def test_fail_next_and_error_rate(bb: FakeBitbucket, demo: Demo) -> None:
    bb.fail_next(2, status=503, path=r"/pullrequests/1$")
    codes = [bb.request("GET", f"{REPO}/pullrequests/1", auth=demo.token).status for _ in range(3)]
    assert codes == [503, 503, 200]
    assert bb.request("GET", "/user", auth=demo.token).status == 200
    assert [r.status for r in list(bb.requests)[-4:]] == [503, 503, 200, 200]
    bb.error_rate = 1.0
    r = bb.request("GET", "/user", auth=demo.token)
    assert r.status == 500 and r.json()["type"] == "error"
    bb.clear_faults()
    assert bb.request("GET", "/user", auth=demo.token).status == 200


def test_dropped_connections(bb: FakeBitbucket, demo: Demo) -> None:
    bb.drop_next(1, method="GET")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        bb.request("GET", "/user", auth=demo.token)
    assert bb.requests[-1].dropped is True and bb.requests[-1].status is None
    assert bb.request("GET", "/user", auth=demo.token).status == 200


def test_large_diff_answers_555(bb: FakeBitbucket, demo: Demo) -> None:
    pr = demo.pull_request
    spec = f"{pr.source_commit[:12]}..{pr.destination_commit[:12]}"
    assert bb.request("GET", f"{REPO}/diff/{spec}", auth=demo.token).status == 200
    bb.diff_size_limit = 100
    for kind in ("diff", "diffstat"):
        r = bb.request("GET", f"{REPO}/{kind}/{spec}", auth=demo.token)
        assert r.status == 555 and r.json()["type"] == "error" and r.json()["error"]["message"]
    bb.diff_size_limit = None
    bb.fail_next(1, status=555)
    assert bb.request("GET", f"{REPO}/diff/{spec}", auth=demo.token).status == 555


def test_latency_does_not_block_other_requests(bb: FakeBitbucket, demo: Demo) -> None:
    bb.latency = lambda req: 0.4 if req.path.endswith("/slow-path") else 0.0
    results: list[int] = []
    slow = threading.Thread(target=lambda: results.append(bb.request("GET", "/slow-path").status))
    slow.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    assert bb.request("GET", "/user", auth=demo.token).status == 200
    assert time.monotonic() - t0 < 0.3
    slow.join()
    assert results == [404]
    bb.latency = 0.3
    t0 = time.monotonic()
    threads = [threading.Thread(target=bb.request, args=("GET", "/user"), kwargs={"auth": demo.token}) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - t0 < 1.2  # 8 concurrent requests, not 8 x 0.3 s


# -- transport: gzip, TLS ---------------------------------------------------------------------------------


def test_gzip_when_asked(bb: FakeBitbucket, demo: Demo) -> None:
    pr = demo.pull_request
    path = f"{REPO}/diff/{pr.source_commit}..{pr.destination_commit}"
    plain = bb.request("GET", path, auth=demo.token)
    packed = bb.request("GET", path, auth=demo.token, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip" and packed.body == plain.body  # request() unpacks
    assert int(packed.headers["content-length"]) < len(plain.body)
    refused = bb.request("GET", path, auth=demo.token, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    bb.gzip = False
    assert "content-encoding" not in bb.request("GET", path, auth=demo.token, headers={"Accept-Encoding": "gzip"}).headers


def test_tls_mode() -> None:
    with FakeBitbucket(tls=True) as bb:
        demo = seed_demo(bb)
        assert bb.base_url.startswith("https://127.0.0.1:") and bb.ca_file and os.path.exists(bb.ca_file)
        ctx = ssl.create_default_context(cafile=bb.ca_file)
        req = urllib.request.Request(f"{bb.base_url}/user", headers={"Authorization": demo.token.basic_auth()})
        with urllib.request.urlopen(req, context=ctx) as resp:
            assert resp.status == 200 and json.loads(resp.read())["nickname"] == "review-bot"
        localhost = bb.base_url.replace("127.0.0.1", "localhost")
        with urllib.request.urlopen(urllib.request.Request(f"{localhost}/hook_events"), context=ctx) as resp:
            assert resp.status == 200
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{bb.base_url}/hook_events", context=ssl.create_default_context())
        assert bb.request("GET", "/user", auth=demo.token).status == 200


# -- the standalone emulator (python -m bbreview.testing) --------------------------------------------------


def start_cli(*args: str) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-m", "bbreview.testing", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line:
        proc.kill()
        raise AssertionError(f"emulator printed nothing: {proc.stderr.read()}")  # type: ignore[union-attr]
    return proc, json.loads(line)


def stop_cli(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def test_seed_demo_cli() -> None:
    proc, info = start_cli("--seed-demo", "--port", "0")
    try:
        assert set(info) >= {"base_url", "workspace", "repository", "pull_request", "email", "token"}
        assert info["base_url"].startswith("http://127.0.0.1:") and info["base_url"].endswith("/2.0")
        auth = "Basic " + base64.b64encode(f"{info['email']}:{info['token']}".encode()).decode()
        url = f"{info['base_url']}/repositories/{info['workspace']}/{info['repository']}/pullrequests/{info['pull_request']}"
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth})) as resp:
            pr = json.loads(resp.read())
            assert pr["state"] == "OPEN"
            scopes = {s.strip() for s in resp.headers["x-oauth-scopes"].split(",")}
            assert "delete:webhook:bitbucket" in scopes
    finally:
        stop_cli(proc)


@pytest.mark.slow
def test_load_cached_diffs_at_concurrency_64_with_50ms_latency() -> None:
    """Bounded loopback load: 64 keep-alive clients for ~3 s against the standalone emulator.

    Little's law caps this setup at 64 / 0.05 s = 1,280 requests/s; the emulator
    should come close (the benchmark's target for clients is 90 % of ideal). The
    assertion is deliberately generous; the figure is printed.
    """
    concurrency, latency, seconds = 64, 0.05, 3.0
    proc, info = start_cli("--seed-demo", "--rate-limit", "0", "--latency-ms", str(latency * 1000))
    try:
        auth = "Basic " + base64.b64encode(f"{info['email']}:{info['token']}".encode()).decode()
        base = urlsplit(info["base_url"])
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=10)
        conn.request("GET", f"{base.path}/repositories/acme/webapp/pullrequests/1/diff", headers={"Authorization": auth})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        location = urlsplit(resp.getheader("Location"))
        target = f"{location.path}?{location.query}"
        counts = [0] * concurrency
        failures: list[int] = []
        deadline = time.monotonic() + seconds

        def client(i: int) -> None:
            c = http.client.HTTPConnection(base.hostname, base.port, timeout=10)
            try:
                while time.monotonic() < deadline:
                    c.request("GET", target, headers={"Authorization": auth})
                    r = c.getresponse()
                    r.read()
                    if r.status != 200:
                        failures.append(r.status)
                        return
                    counts[i] += 1
            finally:
                c.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 30)
        elapsed = time.monotonic() - t0
        rate = sum(counts) / elapsed
        ideal = concurrency / latency
        print(f"\nemulator load: {rate:.0f} req/s at concurrency {concurrency} with {latency * 1000:.0f} ms latency "
              f"({rate / ideal:.0%} of the {ideal:.0f} req/s ideal)")
        assert not failures
        assert rate > 500
    finally:
        stop_cli(proc)
