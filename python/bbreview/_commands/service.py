"""``bbreview serve`` and ``bbreview demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, TextIO

from bbreview.errors import Error

__all__ = ["add_parsers"]

SERVE_EPILOG = """\
environment:
  BITBUCKET_EMAIL, BITBUCKET_API_TOKEN   the bot account (or save it once: bbreview token set)
  BBREVIEW_WEBHOOK_SECRET                secret of hooks installed by hand (bbreview repos install
                                         gives each hook its own secret)
  BBREVIEW_DATA_DIR, BBREVIEW_PUBLIC_URL, BBREVIEW_HOST, BBREVIEW_PORT, BBREVIEW_WORKERS,
  BBREVIEW_BITBUCKET_URL, BBREVIEW_CA_FILE, BBREVIEW_SECRET_KEY (key that encrypts the stored token)

endpoints:
  POST <path> (default /bitbucketHandler)   Bitbucket webhooks
  GET  /healthz, GET /metrics               health and Prometheus metrics
  console (loopback by default)             token, repositories, troubleshooting
"""


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _cmd_serve(ns: argparse.Namespace, out: TextIO) -> int:
    from bbreview.service.app import Service
    from bbreview.service.config import ServiceConfig

    _logging(ns.verbose)
    try:
        config = ServiceConfig.load(
            ns.config, data_dir=ns.data_dir, host=ns.host, port=ns.port, public_url=ns.public_url,
            workers=ns.workers, review_defaults=ns.review_defaults, console_port=ns.console_port,
            api_url=ns.api_url, ca_file=ns.ca_file,
        )
        if ns.allow_unsigned:
            config = config.with_(require_signature=False)
        service = Service(config, console=not ns.no_console)
        service.start()
    except Error as exc:
        print(f"bbreview serve: error: {exc}", file=sys.stderr)
        return 2
    if config.require_signature and not service.webhook_secret and not service.hook_secrets():
        print("bbreview serve: warning: no webhook secret is configured, so every delivery will be refused (401); "
              "install repositories (bbreview repos install) or set BBREVIEW_WEBHOOK_SECRET", file=sys.stderr)
    if not service.connected and service.console is not None:
        print(f"bbreview serve: not reviewing yet: open the console at {service.console.url} and save the bot "
              "account's token (Bitbucket user); no restart is needed", file=sys.stderr)
    print(f"bbreview serve: listening on {service.url}{config.path}", file=out, flush=True)
    service.serve_forever()
    return 0


def _cmd_demo(ns: argparse.Namespace, out: TextIO) -> int:
    from bbreview.service.demo import run_demo

    if ns.verbose:
        _logging(True)
    try:
        run_demo(out, timeout=ns.timeout, keep=ns.keep)
    except (Error, TimeoutError) as exc:
        print(f"bbreview demo: error: {exc}", file=sys.stderr)
        return 1
    return 0


def add_parsers(sub: Any) -> None:
    s = sub.add_parser(
        "serve",
        help="run the review service: webhooks in, reviews out",
        description="Receive Bitbucket webhooks, store them durably, review pull requests and answer the bot's "
        "mentions. Settings come from --config, the environment and these options (in that order).",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--config", metavar="FILE", help="service configuration (YAML)")
    s.add_argument("--data-dir", metavar="DIR", help="where the SQLite store and the key file live")
    s.add_argument("--host", help="webhook listener address (default 127.0.0.1; 0.0.0.0 to accept Bitbucket)")
    s.add_argument("--port", type=int, help="webhook listener port (default 8080)")
    s.add_argument("--public-url", metavar="URL", help="the address Bitbucket reaches this service at")
    s.add_argument("--workers", type=int, help="concurrent review workers (default 4)")
    s.add_argument("--console-port", type=int, help="console port (default 8081, loopback)")
    s.add_argument("--no-console", action="store_true", help="do not serve the web console")
    s.add_argument("--review-defaults", metavar="FILE", help="service-wide .bbreview.yaml defaults")
    s.add_argument("--api-url", metavar="URL", help="Bitbucket API base URL")
    s.add_argument("--ca-file", metavar="PEM", help="CA bundle to trust for the API")
    s.add_argument("--allow-unsigned", action="store_true",
                   help="accept unsigned deliveries when no secret is configured (development only)")
    s.add_argument("--verbose", "-v", action="store_true")
    s.set_defaults(func=_cmd_serve)

    d = sub.add_parser(
        "demo",
        help="the whole product on loopback: emulator, service, webhook, PR, review, question",
        description="Start FakeBitbucket and the service, install the webhook, open a pull request with real "
        "problems, wait for the review and show the conversation. Needs no network and no configuration.",
    )
    d.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each step (default 60)")
    d.add_argument("--keep", action="store_true", help="keep the service running after the demo")
    d.add_argument("--verbose", "-v", action="store_true", help="show the service log")
    d.set_defaults(func=_cmd_demo)
