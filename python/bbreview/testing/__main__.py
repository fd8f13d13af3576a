"""``python -m bbreview.testing``: run the Bitbucket Cloud emulator standalone.

With ``--seed-demo`` it creates sample data and prints ONE JSON line first::

    {"base_url": "http://127.0.0.1:PORT/2.0", "workspace": "acme", "repository": "webapp",
     "pull_request": 1, "email": "review-bot@example.com", "token": "ATATT3x..."}

then serves until SIGINT or SIGTERM. ``main(argv)`` is what the ``bbreview
fake-bitbucket`` subcommand calls.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def build_parser(prog: str = "python -m bbreview.testing") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run a local Bitbucket Cloud emulator (REST API 2.0 + webhooks).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--seed-demo", action="store_true", help="create a workspace, a bot account, a repository and a PR")
    p.add_argument("--demo-prs", type=int, default=0, metavar="N",
                   help="with --seed-demo: open N more pull requests, diffs precomputed (for benchmarks)")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA (its path is printed)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every request")
    p.add_argument("--rate-limit", type=int, default=1000,
                   help="hourly request budget per identity; 0 disables (default 1000)")
    p.add_argument("--diff-size-limit", type=int, default=None, help="diffs larger than this many bytes answer 555")
    p.add_argument("--no-gzip", action="store_true", help="never compress responses")
    p.add_argument("--workdir", default=None, help="where the git repositories live (default: a temporary dir)")
    p.add_argument("--seed", type=int, default=None, help="seed for ids and tokens (reproducible output)")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "python -m bbreview.testing") -> int:
    args = build_parser(prog).parse_args(argv)
    from bbreview.testing import FakeBitbucket, seed_demo

    bb = FakeBitbucket(
        host=args.host,
        port=args.port,
        tls=args.tls,
        gzip=not args.no_gzip,
        workdir=args.workdir,
        seed=args.seed,
        rate_limit=args.rate_limit or None,
        latency=args.latency_ms / 1000.0,
        diff_size_limit=args.diff_size_limit,
    )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        bb.start()
        info: dict[str, object] = {"base_url": bb.base_url}
        if args.seed_demo:
            demo = seed_demo(bb)
            if args.demo_prs:
                bb.add_pull_requests(demo.repository, args.demo_prs, author=demo.author)
                bb.warm_cache()
            info.update(
                workspace=demo.workspace.slug,
                repository=demo.repository.slug,
                pull_request=demo.pull_request.id,
                email=demo.admin.email,
                token=demo.token.token,  # printed on purpose: scripts use it to talk to the emulator
                account_id=demo.admin.account_id,
            )
        if bb.ca_file:
            info["ca_file"] = bb.ca_file
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        bb.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
