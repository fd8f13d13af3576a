"""``bbreview token|repos|user|doctor|admin``: setting bbreview up from the command line.

Each command is one call of :class:`bbreview.service.admin.Admin` (the web
console calls the same methods) and prints a table. Secrets are read from a
prompt that does not echo, or from standard input; they are never printed.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from bbreview.errors import Error

__all__ = ["add_parsers"]

SETUP_EPILOG = """\
configuration:
  --config FILE        the service configuration (YAML; see bbreview.service.config)
  --data-dir DIR       where the database and the secret key file live
  BBREVIEW_PUBLIC_URL  the address Bitbucket calls (webhooks go to <public_url>/bitbucketHandler)
  BBREVIEW_SECRET_KEY  the encryption key (64 hex characters); else DIR/secret.key (mode 0600)
  BBREVIEW_BITBUCKET_URL  the API base (default https://api.bitbucket.org/2.0)
"""


# -- plumbing ----------------------------------------------------------------------------------------


class _Context:
    """The store, the configuration and the Admin of one command run."""

    def __init__(self, ns: argparse.Namespace) -> None:
        from bbreview.service.admin import Admin
        from bbreview.service.config import ServiceConfig
        from bbreview.store import SQLiteStore

        self.config = ServiceConfig.load(ns.config, data_dir=ns.data_dir)
        os.makedirs(self.config.data_dir, exist_ok=True)
        self.store = SQLiteStore(str(self.config.db_path))
        self.changed = False
        self.admin = Admin(self.store, self.config, on_change=self._note_change)

    def _note_change(self) -> None:
        self.changed = True

    def close(self) -> None:
        self.store.close()


def _run(name: str, body: Callable[[_Context, argparse.Namespace, TextIO], int]) -> Callable[..., int]:
    def command(ns: argparse.Namespace, out: TextIO) -> int:
        ctx: _Context | None = None
        try:
            ctx = _Context(ns)
            code = body(ctx, ns, out)
            if ctx.changed:
                print("note: a running `bbreview serve` picks up the change (token, webhook secrets) within "
                      "about a second, without a restart (the console's own actions apply at once)", file=sys.stderr)
            return code
        except Error as exc:
            print(f"bbreview {name}: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"\nbbreview {name}: interrupted", file=sys.stderr)
            return 130
        finally:
            if ctx is not None:
                ctx.close()

    return command


def _table(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        line = "  ".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r))
        print(line.rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)


def _read_secret(prompt: str, from_stdin: bool, what: str) -> str:
    if from_stdin:
        value = sys.stdin.readline().strip()
    else:
        if not sys.stdin.isatty():
            raise Error(f"no terminal to ask for the {what}: pipe it in with --{what.replace(' ', '-')}-stdin")
        value = getpass.getpass(prompt).strip()
    if not value:
        raise Error(f"no {what} given")
    return value


def _read_email(given: str | None, default: str | None = None) -> str:
    if given:
        return given.strip()
    if not sys.stdin.isatty():
        if default:
            return default
        raise Error("give the Atlassian account email with --email")
    suffix = f" [{default}]" if default else ""
    value = input(f"Atlassian account email{suffix}: ").strip() or (default or "")
    if not value:
        raise Error("no email given")
    return value


def _print_check(out: TextIO, check: Any) -> None:
    user = check.user or {}
    if user:
        _table(out, ["ACCOUNT", ""], [
            ["display name", user.get("display_name")],
            ["nickname", user.get("nickname")],
            ["uuid", user.get("uuid")],
            ["account id", user.get("account_id")],
            ["credential", check.credential_type],
        ])
    if check.scopes:
        print(f"\ngranted scopes ({len(check.scopes)}): " + ", ".join(check.scopes), file=out)
    if check.missing:
        print("\nmissing scopes:", file=out)
        _table(out, ["SCOPE", "WHAT FAILS WITHOUT IT"], check.missing)
    elif check.ok and check.scopes:
        print("no scope is missing", file=out)
    if check.error:
        print(f"\nerror: {check.error}", file=out)
    if check.remedy:
        print(f"fix: {check.remedy}", file=out)


def _results(out: TextIO, results: Sequence[Any]) -> int:
    _table(out, ["REPOSITORY", "RESULT", "REMEDY"], [[r.full_name, r.action, r.remedy or ""] for r in results])
    failed = [r for r in results if not r.ok]
    if failed:
        print("\nerrors:", file=out)
        for r in failed:
            print(f"  {r.full_name}: {r.error}", file=out)
    print(f"\n{len(results) - len(failed)} succeeded, {len(failed)} failed", file=out)
    return 1 if failed else 0


class _Bar:
    """``progress(full_name, result)`` for Admin: a progress bar on a terminal's stderr."""

    def __init__(self, total: int, stage: str) -> None:
        from bbreview._commands.review import Progress

        self.bar = Progress()
        self.total = total
        self.stage = stage
        self.done = 0
        self.bar(stage, 0, total)

    def __call__(self, full_name: str, result: Any) -> None:
        self.done += 1
        self.bar(self.stage, self.done, self.total)

    def close(self) -> None:
        self.bar.close()


def _all_rows(admin: Any, search: str | None = None) -> list[Any]:
    rows: list[Any] = []
    page = 1
    while True:
        chunk = admin.repositories(search, page, 100)
        rows += chunk.items
        if not chunk.items or len(rows) >= chunk.total:
            return rows
        page += 1


def _hook_text(row: Any) -> str:
    hook = row.hook
    if hook is None:
        return "needs admin" if row.permission not in (None, "admin") else "unknown"
    if not hook.present:
        return "not installed"
    bad = []
    if not hook.active:
        bad.append("inactive")
    if hook.missing_events:
        bad.append("missing " + ",".join(hook.missing_events))
    if not hook.secret_set:
        bad.append("no secret")
    if not hook.ours:
        bad.append("other URL")
    return "installed" + (" (" + "; ".join(bad) + ")" if bad else "")


def _delivery_text(d: dict[str, Any] | None) -> str:
    if not d:
        return ""
    import time as _time

    when = _time.strftime("%Y-%m-%d %H:%M", _time.gmtime(d["at"])) if d.get("at") else ""
    return f"{when} {d.get('event') or ''} {d.get('outcome') or d.get('state') or ''}".strip()


# -- token -------------------------------------------------------------------------------------------


def _token_set(ctx: _Context, ns: argparse.Namespace, out: TextIO) -> int:
    info = ctx.admin.token_info() or {}
    email = _read_email(ns.email, info.get("email"))
    token = _read_secret("API token (input hidden): ", ns.token_stdin, "token")
    check = ctx.admin.save_token(email, token)
    _print_check(out, check)
    if not check.ok:
        print("\nthe token was NOT saved", file=out)
        return 1
    saved = ctx.admin.token_info() or {}
    print(f"\nsaved the token ending in ...{saved.get('last4', '')} for {email} (encrypted)", file=out)
    return 0


def _token_show(ctx: _Context, ns: argparse.Namespace, out: TextIO) -> int:
    import time as _time

    info = ctx.admin.token_info()
    if info is None:
        print("no token is saved: run `bbreview token set`", file=out)
        return 1
    user = info.get("user") or {}
    saved = _time.strftime("%Y-%m-%d %H:%M:%S UTC", _time.gmtime(info["saved_at"])) if info.get("saved_at") else ""
    _table(out, ["TOKEN", ""], [
        ["email", info.get("email")],
        ["token", f"...{info.get('last4', '')}"],
        ["user", f"{user.get('display_name') or ''} ({user.get('nickname') or ''})"],
        ["uuid", user.get("uuid")],
        ["account id", user.get("account_id")],
        ["credential", info.get("credential_type")],
        ["saved", saved],
    ])
    scopes = info.get("scopes") or []
    print(f"\nscopes ({len(scopes)}): " + ", ".join(scopes), file=out)
    return 0


def _token_verify(ctx: _Context, ns: argparse.Namespace, out: TextIO) -> int:
    check = ctx.admin.verify_token()
    _print_check(out, check)
    if check.ok and not check.missing:
        print("\nthe token works", file=out)
        return 0
    return 1


# -- repositories ------------------------------------------------------------------------------------


def _repos_list(ctx: _Context, ns: argparse.Namespace, out: TextIO) -> int:
    rows = _all_rows(ctx.admin, ns.search)
    if not rows:
        print("no repository matches" if ns.search else "the account sees no repository", file=out)
        return 0
    _table(out, ["REPOSITORY", "PERMISSION", "WEBHOOK", "LAST DELIVERY"],
           [[r.full_name, r.permission or "?", _hook_text(r), _delivery_text(r.last_delivery)] for r in rows])
    # Every row's problems, also where the webhook state is "unknown": they say why it is.
    troubled = [r for r in rows if r.problems]
    if troubled:
        print("\nproblems:", file=out)
        for r in troubled:
            for p in r.problems:
                print(f"  {r.full_name}: {p}", file=out)
    print(f"\n{len(rows)} repositories, {sum(1 for r in rows if r.hook and r.hook.present)} with bbreview's webhook",
          file=out)
    return 0


def _targets(ctx: _Context, ns: argparse.Namespace, action: str) -> list[str]:
    if ns.all and ns.repos:
        raise Error("give either --all or repository names, not both")
    if ns.repos:
        return list(ns.repos)
    if not ns.all:
        raise Error("name the repositories (WORKSPACE/REPO ...) or pass --all")
    if action == "install":
        # Every repository the account administers (or whose permission is unknown). Names only:
        # install() reads each webhook anyway, so listing them here would read them twice.
        return [r.full_name for r in ctx.admin.repository_names() if r.permission in ("admin", None)]
    return [i.full_name for i in ctx.store.installations()]


def _repos_action(action: str) -> Callable[[_Context, argparse.Namespace, TextIO], int]:
    def body(ctx: _Context, ns: argparse.Namespace, out: TextIO) -> int:
        targets = _targets(ctx, ns, action)
        if not targets:
            print("nothing to do: no repository selected", file=out)
            return 0
        method = getattr(ctx.admin, action)
        bar = _Bar(len(targets), action)
        try:
            results = method(targets, progress=bar)
        finally:
            bar.close()
        return _results(out, results)

    return body


# -- user, doctor, admin -----------------------------------------------------------------------------


def _user_change(ctx: _Context, ns: argparse.Namespace, out: TextIO) -> int:
    if ns.all and ns.repos:
        raise Error("give either --all or repository names, not both")
    email = _read_email(ns.email)
    token = _read_secret("API token of the new review account (input hidden): ", ns.token_stdin, "token")
    targets: list[str] | None = list(ns.repos) if ns.repos else None
    if ns.all:
        check = ctx.admin.validate_token(email, token)
        if check.ok:
            from bbreview.bitbucket import Client

            probe = Client(email=email, token=token, base_url=ctx.config.api_url, ca_file=ctx.config.ca_file or None)
            targets = _visible_admin_repos(probe)
    result = ctx.admin.change_user(email, token, targets)
    _print_check(out, result.check)
    if not result.check.ok:
        print("\nnothing was changed", file=out)
        return 1
    print("\nreviews are now posted as "
          f"{(result.check.user or {}).get('display_name') or email}", file=out)
    print("\nold webhooks removed:", file=out)
    if result.removed:
        _table(out, ["REPOSITORY", "RESULT"], [[r.full_name, r.action] for r in result.removed])
    else:
        print("  none", file=out)
    if result.manual:
        print("\nthese webhooks could not be removed; delete them by hand (until then Bitbucket keeps calling "
              "them):", file=out)
        _table(out, ["REPOSITORY", "HOOK", "SETTINGS", "WHY"],
               [[m["full_name"], m["hook_uuid"], m["settings_url"], m.get("reason") or ""] for m in result.manual])
    print("\ninstalled with the new account:", file=out)
    if result.installed:
        return _results(out, result.installed)
    print("  none", file=out)
    return 0


def _visible_admin_repos(client: Any) -> list[str]:
    names = []
    for access in client.workspaces():
        ws = (access.get("workspace") or {}).get("slug")
        if ws:
            names += [str(r.get("full_name")) for r in client.repositories(ws, role="admin")]
    return sorted(names)


def _doctor(ctx: _Context, ns: argparse.Namespace, out: TextIO) -> int:
    problems = ctx.admin.doctor()
    if not problems:
        print("no problem found", file=out)
        return 0
    for p in problems:
        print(f"{p.severity}: {p.what}", file=out)
        print(f"  fix: {p.fix}", file=out)
    errors = sum(1 for p in problems if p.severity == "error")
    print(f"\n{errors} error(s), {len(problems) - errors} warning(s)", file=out)
    return 1 if errors else 0


def _set_password(ctx: _Context, ns: argparse.Namespace, out: TextIO) -> int:
    from bbreview.service import credentials

    if ns.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise Error("no terminal to ask for the password: pipe it in with --password-stdin")
        password = getpass.getpass("New console password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise Error("the two passwords differ; nothing was changed")
    credentials.set_admin_password(ctx.store, password)
    print("the console password is set (stored as a scrypt hash)", file=out)
    return 0


# -- parsers -----------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="the service configuration file (YAML)")
    p.add_argument("--data-dir", metavar="DIR", help="the data folder (database, secret.key)")


def _targets_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("repos", nargs="*", metavar="WS/REPO", help="repositories, as workspace/slug")
    p.add_argument("--all", action="store_true",
                   help="install: every repository the account administers; otherwise: every installed one")


def add_parsers(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter

    t = sub.add_parser("token", help="save, show or verify the review account's Bitbucket API token",
                       description="The API token of the Bitbucket account that posts reviews. It is checked "
                       "with GET /2.0/user and stored encrypted (AES-256-GCM).", epilog=SETUP_EPILOG,
                       formatter_class=fmt)
    tsub = t.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    ts = tsub.add_parser("set", help="validate and save a token (asked for without echo)")
    ts.add_argument("--email", metavar="EMAIL", help="the Atlassian account email (API tokens authenticate with it)")
    ts.add_argument("--token-stdin", action="store_true", help="read the token from standard input")
    _common(ts)
    ts.set_defaults(func=_run("token set", _token_set))
    tshow = tsub.add_parser("show", help="the saved token's account, scopes and last 4 characters")
    _common(tshow)
    tshow.set_defaults(func=_run("token show", _token_show))
    tv = tsub.add_parser("verify", help="check the saved token again; exit 1 on any problem")
    _common(tv)
    tv.set_defaults(func=_run("token verify", _token_verify))

    r = sub.add_parser("repos", help="list repositories and install bbreview's webhook on them",
                       description="Repositories the review account can see, and bbreview's webhook on each.",
                       epilog=SETUP_EPILOG, formatter_class=fmt)
    rsub = r.add_subparsers(dest="repos_command", metavar="ACTION", required=True)
    rl = rsub.add_parser("list", help="repositories with permission, webhook state and last delivery")
    rl.add_argument("--search", metavar="TEXT", help="only names containing TEXT (case-insensitive)")
    _common(rl)
    rl.set_defaults(func=_run("repos list", _repos_list))
    for action, text in (("install", "create or repair the webhook (idempotent)"),
                         ("uninstall", "remove the webhook"),
                         ("reinstall", "remove the webhook, then create a new one with a new secret")):
        ra = rsub.add_parser(action, help=text)
        _targets_args(ra)
        _common(ra)
        ra.set_defaults(func=_run(f"repos {action}", _repos_action(action)))

    u = sub.add_parser("user", help="change the review account",
                       description="Make another Bitbucket account the review user: validate its token, remove "
                       "the old account's webhooks, install them again with the new one. Reviews are attributed "
                       "to the token's owner.", epilog=SETUP_EPILOG, formatter_class=fmt)
    usub = u.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    uc = usub.add_parser("change", help="switch to another account's API token")
    uc.add_argument("--email", metavar="EMAIL", help="the new account's Atlassian email")
    uc.add_argument("--token-stdin", action="store_true", help="read the new token from standard input")
    uc.add_argument("repos", nargs="*", metavar="WS/REPO",
                    help="repositories to install with the new account (default: those installed now)")
    uc.add_argument("--all", action="store_true", help="every repository the new account administers")
    _common(uc)
    uc.set_defaults(func=_run("user change", _user_change))

    d = sub.add_parser("doctor", help="find what keeps reviews from arriving, with the fix for each",
                       description="Checks the token, its scopes, public_url, every installed webhook, recent "
                       "Bitbucket errors and dead jobs. Exit 1 when an error is found.", epilog=SETUP_EPILOG,
                       formatter_class=fmt)
    _common(d)
    d.set_defaults(func=_run("doctor", _doctor))

    a = sub.add_parser("admin", help="the web console's administrator password")
    asub = a.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    ap = asub.add_parser("set-password", help="set the console password (asked twice, without echo)")
    ap.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _common(ap)
    ap.set_defaults(func=_run("admin set-password", _set_password))
