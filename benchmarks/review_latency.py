"""From a pull request being opened to its review summary being posted, rules only.

A 50-file pull request (Python modules with a debug print, an eval and a
committed key among ordinary code) is opened on FakeBitbucket, which sends the
signed ``pullrequest:created`` webhook on loopback. The clock runs from
``create_pull_request`` until the bot's summary comment exists in the
emulator's state (read in process, not through the API, so polling costs the
measured system nothing).

  (a) bbreview   ``bbreview.service.app.Service``: the C++ intake verifies and
                 stores the delivery, a worker fetches the diff, runs the 69
                 built-in rules (RE2) and posts the inline comments, the
                 summary and the Code Insights report.
  (b) a typical Python bot   what a team would write on its own: a
                 ``ThreadingHTTPServer`` webhook handler that verifies the
                 HMAC and starts a thread, ``requests`` to fetch the diff and
                 post, ``unidiff`` to parse, and the same rule patterns run
                 with ``re`` over every added line, comments posted one by one.

Both post the same number of inline comments plus one summary, against the
same emulator with the same latency per request (``--latency-ms``, default 20:
a fast network path to api.bitbucket.org). Each system reviews ``--prs`` fresh
pull requests; the table shows the median and the slowest.

    .venv/bin/python benchmarks/review_latency.py
    .venv/bin/python benchmarks/review_latency.py --prs 3 --latency-ms 0   # smoke test

requests and unidiff come from the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "benchmark-secret"
N_FILES = 50


def module(i: int) -> str:
    lines = [f'"""Module {i}."""', "", "import os", ""]
    for k in range(12):
        lines += [f"def f{k}(value):", f"    total = value * {k + 1}", "    return total + 1", ""]
    if i % 5 == 0:
        lines += ["def debug(x):", "    print('debug', x)", ""]
    if i % 10 == 3:
        lines += ["def calc(expr):", "    return eval(expr)", ""]
    if i == 7:
        lines += ['AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', ""]
    return "\n".join(lines) + "\n"


def setup_emulator(bb, prs: int):
    from bbreview.testing import BOT_SCOPES

    bot = bb.add_user("bot", "Review Bot", email="bot@example.com")
    dev = bb.add_user("dev", "Dev", email="dev@example.com")
    ws = bb.add_workspace("acme", "Acme", owners=[bot])
    bb.add_member(ws, dev, "member")
    token = bb.add_api_token(bot, BOT_SCOPES, name="bot")
    repo = bb.add_repository(ws, "app", admins=[bot], writers=[dev])
    bb.commit(repo, "main", {"README.md": "# app\n"}, message="base", author=dev, notify=False)
    for n in range(2 * prs):
        files = {f"pkg{n}/mod{i}.py": module(i) for i in range(N_FILES)}
        bb.commit(repo, f"feature-{n}", files, message=f"feature {n}", author=dev, notify=False)
    return bot, dev, token, repo


def wait_for_summary(pr, marker: str, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(marker in c.raw for c in list(pr.comments.values())):
            return time.monotonic()
        time.sleep(0.002)
    raise TimeoutError("no summary")


# -- (b) a typical Python bot ------------------------------------------------------------------


class TypicalBot:
    """webhook → thread → requests + unidiff + re → comments one by one."""

    def __init__(self, base_url: str, email: str, token: str, patterns: list[tuple[str, re.Pattern[str]]]) -> None:
        import requests

        self.base = base_url
        self.session_auth = (email, token)
        self.patterns = patterns
        self.requests = requests
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, self.headers.get("X-Hub-Signature", "")):
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(200)
                self.end_headers()
                if self.headers.get("X-Event-Key") == "pullrequest:created":
                    threading.Thread(target=bot.review, args=(json.loads(body),), daemon=True).start()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def review(self, event: dict) -> None:
        import unidiff

        s = self.requests.Session()
        s.auth = self.session_auth
        pr = event["pullrequest"]
        repo = event["repository"]["full_name"]
        api = f"{self.base}/repositories/{repo}/pullrequests/{pr['id']}"
        diff = s.get(f"{api}/diff").text
        findings = []
        for f in unidiff.PatchSet(diff):
            for hunk in f:
                for line in hunk:
                    if line.is_added:
                        for rule_id, rx in self.patterns:
                            if rx.search(line.value):
                                findings.append((f.path, line.target_line_no, rule_id))
        for path, line, rule_id in findings:
            s.post(f"{api}/comments", json={"content": {"raw": f"{rule_id}"}, "inline": {"path": path, "to": line}})
        s.post(f"{api}/comments", json={"content": {"raw": f"summary: {len(findings)} findings\n\nTYPICAL-SUMMARY"}})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def python_patterns() -> list[tuple[str, re.Pattern[str]]]:
    from bbreview.rules import RuleSet

    out = []
    for rule in RuleSet.builtin():
        if rule.scope != "added":
            continue
        for p in rule.patterns:
            try:
                out.append((rule.id, re.compile(p)))
            except re.error:
                continue  # RE2-only syntax; the typical bot would drop such a rule too
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prs", type=int, default=5)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    args = ap.parse_args()

    from bbreview.bitbucket import Client
    from bbreview.review import ReviewConfig
    from bbreview.service.app import Service
    from bbreview.service.config import ServiceConfig
    from bbreview.service.events import HANDLED_EVENTS
    from bbreview.testing import FakeBitbucket

    results: dict[str, list[float]] = {"bbreview": [], "typical Python bot": []}
    comments: dict[str, int] = {}
    with FakeBitbucket(seed=1, rate_limit=None) as bb, tempfile.TemporaryDirectory() as data:
        bot, dev, token, repo = setup_emulator(bb, args.prs)
        bb.latency = args.latency_ms / 1000.0
        client = Client(email=bot.email, token=token.token, base_url=bb.base_url, budget_per_hour=1e9)

        service = Service(ServiceConfig(data_dir=data, port=0, workers=2), client=client,
                          defaults=ReviewConfig.from_dict({"reviews": {"code_insights": True}}), hook_secrets={},
                          webhook_secret=SECRET, env={}, console=False)
        service.start()
        hook = client.create_hook("acme", "app", f"{service.url}/bitbucketHandler", HANDLED_EVENTS, secret=SECRET)
        for n in range(args.prs):
            t0 = time.monotonic()
            pr = bb.create_pull_request(repo, f"feature-{n}", title=f"PR {n}", author=dev)
            results["bbreview"].append(wait_for_summary(pr, "bbreview:summary") - t0)
            comments["bbreview"] = sum(1 for c in pr.comments.values() if c.inline)
        service.stop()
        client.delete_hook("acme", "app", hook["uuid"])

        typical = TypicalBot(bb.base_url, bot.email, token.token, python_patterns())
        client.create_hook("acme", "app", typical.url, ["pullrequest:created"], secret=SECRET)
        for n in range(args.prs, 2 * args.prs):
            t0 = time.monotonic()
            pr = bb.create_pull_request(repo, f"feature-{n}", title=f"PR {n}", author=dev)
            results["typical Python bot"].append(wait_for_summary(pr, "TYPICAL-SUMMARY") - t0)
            comments["typical Python bot"] = sum(1 for c in pr.comments.values() if c.inline)
        typical.close()

    print(f"PR opened → summary posted, {N_FILES}-file PR, rules only, {args.latency_ms:g} ms per API request, "
          f"{args.prs} PRs each")
    print(f"{'system':<22}{'median s':>10}{'slowest s':>11}{'inline comments':>17}")
    for name, values in results.items():
        print(f"{name:<22}{statistics.median(values):>10.3f}{max(values):>11.3f}{comments[name]:>17}")
    b, t = statistics.median(results["bbreview"]), statistics.median(results["typical Python bot"])
    print(f"bbreview is {t / b:.1f}x faster at the median (and also posts a Code Insights report)")


if __name__ == "__main__":
    main()
