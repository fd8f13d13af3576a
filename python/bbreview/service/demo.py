"""``bbreview demo``: the whole product on loopback, with nothing configured.

1. FakeBitbucket starts with a sample repository;
2. the service starts with SQLite in a temporary folder;
3. the webhook is installed through the API, as an administrator would;
4. a developer opens a pull request with real problems (a secret, a debug
   print, a risky change);
5. the webhook-driven review arrives;
6. the conversation is printed as a person reads it on Bitbucket;
7. the developer asks the bot a question in a thread and the reply is shown.

The LLM is FakeLLM (a local server speaking the OpenAI protocol with
deterministic, rule-driven answers), so the demo needs no key and no network.
"""

from __future__ import annotations

import re
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, TextIO

from bbreview.errors import Error

__all__ = ["run_demo", "DemoResult"]

_BASE_FILES = {
    "README.md": "# payments\n\nA small payments service.\n",
    "payments/__init__.py": "",
    "payments/api.py": (
        '"""HTTP handlers."""\n\nimport json\n\n\ndef parse_amount(text):\n'
        '    return round(float(text), 2)\n\n\ndef handle(request):\n'
        '    body = json.loads(request.body)\n    return {"amount": parse_amount(body["amount"])}\n'
    ),
    "payments/settings.py": 'import os\n\nSTRIPE_KEY = os.environ["STRIPE_KEY"]\nTIMEOUT_S = 10\n',
}

_FEATURE_FILES = {
    "payments/api.py": (
        '"""HTTP handlers."""\n\nimport json\nimport subprocess\n\n\ndef parse_amount(text):\n'
        '    return round(eval(text), 2)\n\n\ndef handle(request):\n'
        '    body = json.loads(request.body)\n    print("handling", body)\n'
        '    return {"amount": parse_amount(body["amount"])}\n\n\n'
        'def export(path):\n    subprocess.run("tar czf export.tgz " + path, shell=True, check=True)\n'
    ),
    "payments/settings.py": (
        'import os\n\nSTRIPE_KEY = "sk_live_51HqLyjWDarjtT1zdp7dcXnBpEQXyZ8aG3Vb2rJrV0"\nTIMEOUT_S = 10\n'
    ),
}


class DemoResult:
    """What the demo did, for tests: the PR, the bot's comments and the timings."""

    def __init__(self) -> None:
        self.pr_id = 0
        self.summary = ""
        self.inline: list[dict[str, Any]] = []
        self.reply = ""
        self.review_seconds = 0.0
        self.reply_seconds = 0.0


def _demo_answer(question: str) -> str:
    """FakeLLM's reply to the demo's question: what a model would say about eval on request data."""
    return (
        "Yes. `parse_amount` passes the request's `amount` straight to `eval`, and a request body is "
        "client-controlled whatever the frontend sends: anyone who can reach the endpoint can post "
        "`__import__('os').system('...')` as the amount and run it on the server. Parse the number instead:\n\n"
        "```python\nfrom decimal import Decimal\n\ndef parse_amount(text):\n"
        "    return round(Decimal(text), 2)\n```"
    )


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    from bbreview.testing import wait_until

    try:
        return wait_until(predicate, timeout, what)
    except TimeoutError:
        raise TimeoutError(f"the demo waited {timeout:.0f} s for {what}; run with --verbose to see the service "
                           "log") from None


def _clean(raw: str) -> str:
    return re.sub(r"\n*^\[//\]: # \(bbreview:[^)]*\)\s*$", "", raw, flags=re.M).rstrip()


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else "" for line in text.splitlines())


def run_demo(out: TextIO | None = None, *, timeout: float = 60.0, keep: bool = False) -> DemoResult:
    """Runs the demo and prints the conversation to ``out``; returns what happened."""
    from bbreview.bitbucket import Client
    from bbreview.review.config import ReviewConfig
    from bbreview.service.app import Service
    from bbreview.service.config import ServiceConfig
    from bbreview.service.events import HANDLED_EVENTS
    from bbreview.testing import BOT_SCOPES, FakeBitbucket
    from bbreview.testing.fake_llm import FakeLLM

    out = out or sys.stdout
    result = DemoResult()

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bbreview-demo-") as data_dir, FakeBitbucket(seed=2026) as bb, \
            FakeLLM(answer_text=_demo_answer) as llm_server:
        # 1. Bitbucket with a sample repository.
        bot = bb.add_user("bbreview-bot", "bbreview", email="bbreview-bot@example.com")
        dev = bb.add_user("dana", "Dana Developer", email="dana@example.com")
        ws = bb.add_workspace("acme", "Acme", owners=[bot])
        bb.add_member(ws, dev, "member")
        token = bb.add_api_token(bot, BOT_SCOPES, name="bbreview")
        repo = bb.add_repository(ws, "payments", description="Payments service", admins=[bot], writers=[dev])
        bb.commit(repo, "main", _BASE_FILES, message="Initial commit", author=dev, notify=False)
        say(f"1. FakeBitbucket on {bb.base_url} with repository acme/payments")

        # 2. The service, SQLite in a temporary folder.
        from bbreview.review.llm import OpenAIProvider
        from bbreview.service.admin import Admin

        provider = OpenAIProvider(llm_server.openai_base_url, "fake-reviewer", api_key=None, timeout=30)
        config = ServiceConfig(data_dir=data_dir, port=0, console_port=0, workers=2, api_url=bb.base_url)
        env = {"BBREVIEW_SECRET_KEY": secrets.token_hex(32)}  # the key that seals the token and hook secrets
        service = Service(config, defaults=ReviewConfig.default(), llm=provider, webhook_secret="", env=env,
                          console=False)
        # What an administrator does (console, or `bbreview token set`): validate and save the
        # bot account's token; the service reviews as that account.
        check = Admin(service.store, config, env=env).save_token(bot.email, token.token)
        if not check.ok:  # pragma: no cover - the emulator's token is valid
            raise Error(f"the demo token was refused: {check.error}")
        service.start()
        try:
            say(f"2. bbreview serve: webhooks on {service.url}{config.path}, store {config.db_path}")
            say(f"   LLM: FakeLLM on {llm_server.openai_base_url} (OpenAI protocol, deterministic answers)")
            user = check.user or {}
            say(f"   token validated and saved (encrypted): {user.get('display_name')} {user.get('uuid')}, "
                f"account id {user.get('account_id')}; missing scopes: {len(check.missing) or 'none'}")

            # 3. The webhook, installed through the API with its own secret (console, or
            #    `bbreview repos install`); the running service loads the secret at once.
            admin = Admin(service.store, config.with_(public_url=service.url), env=env,
                          on_change=service._settings_changed)  # noqa: SLF001 - the console's own wiring
            (installed,) = admin.install(["acme/payments"])
            if not installed.ok:  # pragma: no cover
                raise Error(f"the demo could not install its webhook: {installed.error}")
            client = Client(email=bot.email, token=token.token, base_url=bb.base_url)
            say(f"3. webhook {installed.hook_uuid} {installed.action} with its own secret, for "
                f"{', '.join(HANDLED_EVENTS)}")

            # 4. A pull request with real problems.
            bb.commit(repo, "feature/export", _FEATURE_FILES, message="Export payments and parse amounts",
                      author=dev, notify=False)
            t0 = time.monotonic()
            pr = bb.create_pull_request(repo, "feature/export", title="Export payments; flexible amounts",
                                        author=dev, description="Adds an export job and accepts expressions "
                                        "as amounts.")
            result.pr_id = pr.id
            say(f"4. Dana opened pull request #{pr.id}: {pr.title!r}")

            # 5. The webhook-driven review.
            def bot_comments() -> list[dict[str, Any]]:
                return [c for c in client.comments("acme", "payments", pr.id)
                        if c["user"]["uuid"] == bot.uuid and not c.get("deleted")]

            def summary_posted() -> list[dict[str, Any]] | None:
                found = bot_comments()
                return found if any("bbreview:summary" in c["content"]["raw"] for c in found) else None

            posted = _wait(summary_posted, timeout, "the review")
            result.review_seconds = time.monotonic() - t0
            say(f"5. review posted {result.review_seconds:.2f} s after the pull request was opened")
            say()

            # 6. The conversation, as a person reads it.
            say("=" * 78)
            say(f"acme/payments pull request #{pr.id}: {pr.title}")
            say("=" * 78)
            summary = next(c for c in posted if "bbreview:summary" in c["content"]["raw"])
            result.summary = summary["content"]["raw"]
            say(f"\n{bot.display_name} commented:\n")
            say(_indent(_clean(result.summary)))
            files = {path: text.splitlines() for path, text in _FEATURE_FILES.items()}
            inline = sorted((c for c in posted if c.get("inline")),
                            key=lambda c: (c["inline"]["path"], c["inline"].get("to") or 0))
            result.inline = inline
            for c in inline:
                path, line = c["inline"]["path"], c["inline"].get("to")
                say("\n" + "-" * 78)
                say(f"{bot.display_name} commented on {path} line {line}:")
                if line and path in files and not any(s in c["content"]["raw"] for s in ("secrets ·",)):
                    say(f"    {line:>4} | {files[path][line - 1]}")
                say()
                say(_indent(_clean(c["content"]["raw"])))

            # 7. A question in a thread, answered by the bot.
            target = next((c for c in inline if "eval" in c["content"]["raw"]), inline[0] if inline else summary)
            question = f"@{{{bot.account_id}}} is this really exploitable? amounts come from our own frontend."
            t1 = time.monotonic()
            asked = bb.add_comment(pr, dev, question, parent=target["id"])

            def reply() -> dict[str, Any] | None:
                for c in bot_comments():
                    if (c.get("parent") or {}).get("id") == asked.id:
                        return c
                return None

            answer = _wait(reply, timeout, "the bot's reply")
            result.reply_seconds = time.monotonic() - t1
            result.reply = answer["content"]["raw"]
            say("\n" + "-" * 78)
            say(f"{dev.display_name} replied: {question.replace('@{' + str(bot.account_id) + '}', '@bbreview')}")
            say(f"\n{bot.display_name} replied ({result.reply_seconds:.2f} s later):\n")
            say(_indent(_clean(result.reply)))
            say("=" * 78)
            say(f"\nDone in {time.monotonic() - started:.1f} s: {len(inline)} inline comments, a summary and an "
                "answer, all through webhooks on loopback.")
            if keep:
                say(f"The service keeps running on {service.url}; press Ctrl-C to stop.")
                service.serve_forever()
        finally:
            service.stop()
    return result
