"""``bbreview review`` and ``bbreview config check``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, TextIO

from bbreview.errors import BitbucketError, ConfigError, Error, LLMError

__all__ = ["add_parsers", "Progress", "bitbucket_client_from_env"]

REVIEW_EPILOG = """\
examples:
  bbreview review                         # this branch against its merge base with the default branch
  bbreview review --base origin/develop   # ... against another base
  bbreview review --format markdown       # the summary and comments as Bitbucket would show them
  bbreview review https://bitbucket.org/acme/app/pull-requests/7 --dry-run
  bbreview review https://bitbucket.org/acme/app/pull-requests/7   # post the review

credentials for pull requests (environment):
  BITBUCKET_EMAIL + BITBUCKET_API_TOKEN   an API token of the bot's Atlassian account
  BITBUCKET_ACCESS_TOKEN                  or a repository/workspace access token
  BBREVIEW_BITBUCKET_URL                  API base (default https://api.bitbucket.org/2.0)

an LLM reviews too when .bbreview.yaml's llm section (or BBREVIEW_LLM_PROVIDER/_MODEL/_BASE_URL)
configures one; without it the rules and checks review alone, offline.
"""


class Progress:
    """A one-line progress bar on a terminal's standard error; silent otherwise."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0
        self._shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 24
        filled = width if total <= 0 else int(width * done / total)
        self.stream.write(f"\r{stage:>8} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}   ")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def bitbucket_client_from_env(ns: argparse.Namespace | None = None, env: dict[str, str] | None = None) -> Any:
    """A Client from the environment (see REVIEW_EPILOG); raises Error naming what to set."""
    from bbreview.bitbucket import DEFAULT_BASE_URL, Client

    env = dict(os.environ if env is None else env)
    base = getattr(ns, "api_url", None) or env.get("BBREVIEW_BITBUCKET_URL") or DEFAULT_BASE_URL
    ca = getattr(ns, "ca_file", None) or env.get("BBREVIEW_CA_FILE") or None
    if env.get("BITBUCKET_ACCESS_TOKEN"):
        return Client(access_token=env["BITBUCKET_ACCESS_TOKEN"], base_url=base, ca_file=ca)
    token = env.get("BITBUCKET_API_TOKEN")
    email = env.get("BITBUCKET_EMAIL")
    if token and email:
        return Client(email=email, token=token, base_url=base, ca_file=ca)
    if token and not email:
        raise Error("BITBUCKET_API_TOKEN is set but BITBUCKET_EMAIL is not: API tokens authenticate with the "
                    "Atlassian account email")
    saved = _client_from_saved_token(ns, env, base, ca)
    if saved is not None:
        return saved
    raise Error("no Bitbucket credentials: set BITBUCKET_EMAIL and BITBUCKET_API_TOKEN (the bot account's API "
                "token) or BITBUCKET_ACCESS_TOKEN, or save the token once with `bbreview token set`")


def _client_from_saved_token(ns: Any, env: dict[str, str], base: str, ca: str | None) -> Any:
    """The token saved by ``bbreview token set`` (or the console) in the data folder, if any."""
    from bbreview.service.config import ServiceConfig

    data_dir = getattr(ns, "data_dir", None) or env.get("BBREVIEW_DATA_DIR") or ServiceConfig().data_dir
    config = ServiceConfig(data_dir=data_dir, api_url=base, ca_file=ca)
    if not config.db_path.exists():
        return None
    from bbreview.service import credentials
    from bbreview.store import SQLiteStore

    store = SQLiteStore(str(config.db_path))
    try:
        return credentials.client_from_store(store, config, env)
    finally:
        store.close()


def _load_defaults(path: str | None) -> Any:
    from bbreview.review.config import ReviewConfig, load_config

    return load_config(path) if path else ReviewConfig.default()


def _load_checks(specs: list[str] | None) -> list[Any]:
    """``module:function`` or ``path/to/file.py:function`` → a check."""
    import importlib
    import importlib.util

    from bbreview.review.checks import PythonCheck

    out = []
    for spec in specs or ():
        target, _, name = spec.rpartition(":")
        if not target or not name:
            raise Error(f"--check {spec!r}: use MODULE:FUNCTION or FILE.py:FUNCTION")
        if target.endswith(".py"):
            mod_spec = importlib.util.spec_from_file_location(f"bbreview_user_check_{len(out)}", target)
            if mod_spec is None or mod_spec.loader is None:
                raise Error(f"--check {spec!r}: cannot load {target}")
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
        func = getattr(module, name, None)
        if func is None:
            raise Error(f"--check {spec!r}: {target} has no {name!r}")
        out.append(func if hasattr(func, "run") else PythonCheck(func))
    return out


def _cmd_review(ns: argparse.Namespace, out: TextIO) -> int:
    from bbreview.review import GitChange, Reviewer, load_change_config

    progress = Progress(enabled=True if ns.progress else (False if ns.no_progress else None))
    try:
        defaults = _load_defaults(ns.config)
        checks = _load_checks(ns.check)
        if ns.target and "/pull-requests/" in ns.target:
            return _review_pr(ns, out, defaults, checks, progress)
        repo = ns.target or "."
        if not os.path.isdir(repo):
            raise Error(f"{repo!r} is neither a git working tree nor a pull request URL")
        change = GitChange.merge_base(repo, ns.base, ns.head)
        config = load_change_config(change, defaults)
        review = Reviewer(config, checks, rules=not ns.no_rules).review(change, progress=progress)
    except (ConfigError, BitbucketError, LLMError, Error) as exc:
        progress.close()
        print(f"bbreview review: error: {exc}", file=sys.stderr)
        return 2
    progress.close()
    _emit(review, ns, out)
    if not review.files:
        print(f"bbreview review: nothing to review: {change.label} has no changes (HEAD is at its merge base); "
              "pass --base REV to review against another revision, e.g. --base HEAD~5", file=sys.stderr)
    return _exit_code(review, ns.fail_on)


def _exit_code(review: Any, fail_on: str) -> int:
    """1 when a posted finding (inline or in the summary) is at least ``fail_on`` severe, else 0."""
    from bbreview.review.model import SEVERITY_RANK

    if fail_on == "never":
        return 0
    return 1 if any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on] for f in review.posted_findings()) else 0


def _emit(review: Any, ns: argparse.Namespace, out: TextIO) -> None:
    if ns.format == "json":
        json.dump(review.to_dict(), out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif ns.format == "markdown":
        out.write(review.to_markdown())
    elif ns.format == "sarif":
        json.dump(review.to_sarif(), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        color = ns.color == "always" or (ns.color == "auto" and out.isatty() and not os.environ.get("NO_COLOR"))
        out.write(review.to_text(color=color))


def _review_pr(ns: argparse.Namespace, out: TextIO, defaults: Any, checks: list[Any], progress: Progress) -> int:
    from bbreview.review import BitbucketPublisher, PullRequest, Reviewer, load_change_config

    client = bitbucket_client_from_env(ns)
    pr = PullRequest.from_url(client, ns.target)
    config = load_change_config(pr, defaults)
    since = ns.since
    review = Reviewer(config, checks, rules=not ns.no_rules).review(pr, since=since, progress=progress)
    publisher = BitbucketPublisher(client)
    result = publisher.publish(review, pr, dry_run=ns.dry_run, full=ns.full, progress=progress)
    progress.close()
    if ns.dry_run:
        _emit(review, ns, out)
        print("\nwould do:", file=out)
        for action in result.actions:
            print(f"  - {action}", file=out)
    else:
        print(f"{pr.label}: {result}", file=out)
    for err in result.errors:
        print(f"bbreview review: warning: {err}", file=sys.stderr)
    return _exit_code(review, ns.fail_on)


def _cmd_config_check(ns: argparse.Namespace, out: TextIO) -> int:
    from bbreview.review.config import check_main

    return check_main(ns.files)


def add_parsers(sub: Any) -> None:
    r = sub.add_parser(
        "review",
        help="review the current branch (offline) or a Bitbucket pull request",
        description="Review a change: the current git branch against its merge base with the default branch, "
        "or a Bitbucket Cloud pull request given by URL. Rules and Python checks always run; an LLM reviews too "
        "when one is configured.",
        epilog=REVIEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("target", nargs="?", metavar="REPO_DIR|PR_URL",
                   help="a git working tree (default: .) or https://bitbucket.org/WS/REPO/pull-requests/N")
    r.add_argument("--base", metavar="REV", help="review against the merge base with REV (default: the default branch)")
    r.add_argument("--head", metavar="REV", default="HEAD", help="the head to review (default: HEAD)")
    r.add_argument("--since", metavar="COMMIT", help="pull requests: review only the commits after COMMIT")
    r.add_argument("--config", metavar="FILE", help="service defaults under the repository's .bbreview.yaml")
    r.add_argument("--check", action="append", metavar="MODULE:FUNC",
                   help="add a Python check (MODULE:FUNCTION or FILE.py:FUNCTION; repeatable)")
    r.add_argument("--no-rules", action="store_true", help="do not run the rules engine")
    r.add_argument("--format", choices=["text", "json", "markdown", "sarif"], default="text")
    r.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    r.add_argument("--fail-on", choices=["never", "nitpick", "low", "medium", "high", "critical"], default="never",
                   help="exit 1 when a posted finding has this severity or higher (default: never)")
    r.add_argument("--dry-run", action="store_true", help="pull requests: print what would be posted, post nothing")
    r.add_argument("--full", action="store_true",
                   help="pull requests: post again the findings whose comments were resolved (an open comment is "
                   "never posted twice)")
    r.add_argument("--api-url", metavar="URL", help="Bitbucket API base URL (e.g. the local emulator)")
    r.add_argument("--ca-file", metavar="PEM", help="CA bundle to trust for the API (e.g. the emulator's)")
    r.add_argument("--data-dir", metavar="DIR",
                   help="where `bbreview token set` saved the token (default: $BBREVIEW_DATA_DIR or ./bbreview-data)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--progress", action="store_true", help="always show the progress bar")
    g.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    r.set_defaults(func=_cmd_review)

    c = sub.add_parser("config", help="check .bbreview.yaml files",
                       description="Validate repository configuration files (.bbreview.yaml).")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    cc = csub.add_parser("check", help="validate files; exit 1 on the first invalid one")
    cc.add_argument("files", nargs="+", metavar="FILE")
    cc.set_defaults(func=_cmd_config_check)
