"""Running jobs: reviews, bot commands and closed pull requests.

A job may run more than once (the queue delivers at least once: a worker can
die after posting and before completing). Every effect is therefore made
idempotent against Bitbucket itself: inline comments carry their finding's
fingerprint and the summary and replies carry markers, so a re-run finds
what was already posted and posts nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bbreview.errors import BitbucketError, ConfigError, LLMError, NotFound
from bbreview.review import BitbucketPublisher, PullRequest, Reviewer, load_change_config
from bbreview.review.config import ReviewConfig
from bbreview.review.publisher import PublishFailure, read_bot_comments
from bbreview.review.source import CONFIG_FILE
from bbreview.service.commands import COMMANDS, description_disables_reviews, help_text, parse_command
from bbreview.service.events import BotIdentity
from bbreview.store import Job, Store

__all__ = ["JobRunner", "PermanentError", "is_retryable", "LLM_SETUP_HELP"]

log = logging.getLogger("bbreview.service")

LLM_SETUP_HELP = (
    "I can only answer questions with an LLM, and none is configured. Add an `llm` section to the "
    "repository's `.bbreview.yaml` (or the service defaults), for example:\n\n"
    "```yaml\nllm:\n  provider: openai        # or anthropic; any OpenAI-compatible server works\n"
    "  model: gpt-4o-mini\n  api_key_env: OPENAI_API_KEY   # the variable holding the key on the bbreview host\n```\n\n"
    "Commands work without an LLM: mention me with `help` to list them."
)


def _publish_hint(status: int | None) -> str:
    if status in (401, 403):
        return "; check the token's scopes and the account's access to the repository (`bbreview token verify`)"
    if status == 429 or (status or 0) >= 500:
        return "; Bitbucket was busy or rate-limited, and the next review tries again"
    return ""


class PermanentError(Exception):
    """A job that cannot succeed by retrying (it goes to the dead-letter state)."""


def is_retryable(exc: BaseException) -> bool:
    """Rate limits, 5xx and network failures are worth retrying; 4xx are not."""
    if isinstance(exc, BitbucketError):
        return exc.status == 0 or exc.status == 429 or exc.status >= 500
    return not isinstance(exc, (PermanentError, ConfigError, ValueError, KeyError, TypeError))


@dataclass
class Observations:
    """What a job reports to the metrics."""

    review_seconds: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0


class JobRunner:
    """Executes one job at a time; safe to share between worker threads."""

    def __init__(
        self,
        *,
        client: Any,
        store: Store,
        bot: BotIdentity,
        defaults: ReviewConfig | None = None,
        checks: Sequence[Any] = (),
        llm: Any = None,
        env: dict[str, str] | None = None,
        observe: Callable[[Observations], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = store
        self.bot = bot
        self.defaults = defaults or ReviewConfig.default()
        self.checks = list(checks)
        self.llm = llm
        self.env = env
        self.observe = observe or (lambda o: None)
        self.clock = clock
        self.publisher = BitbucketPublisher(client, store=store, bot={"uuid": bot.uuid})

    def run(self, job: Job) -> str:
        """Runs ``job`` and returns its outcome; raises on failure (see :func:`is_retryable`)."""
        handler = {"review": self._review, "command": self._command, "closed": self._closed}.get(job.kind)
        if handler is None:
            raise PermanentError(f"unknown job kind {job.kind!r}")
        try:
            return handler(job)
        except BitbucketError as exc:
            p = job.payload or {}
            self.store.log_event(
                "bitbucket_error", f"{job.kind}: {exc.method} {exc.path}: HTTP {exc.status}: {exc.message}",
                repository=f"{p.get('workspace')}/{p.get('repo')}", pr_id=p.get("pr_id"), level="error",
                status=exc.status or None,
            )
            raise

    # -- jobs ------------------------------------------------------------------------------------
    def _pr(self, payload: dict[str, Any]) -> PullRequest:
        return PullRequest(self.client, payload["workspace"], payload["repo"], int(payload["pr_id"]))

    def _review(self, job: Job) -> str:
        p = job.payload
        pr = self._pr(p)
        return self.review(pr, job.pr_key, trigger=p.get("trigger", "created"), full=bool(p.get("full")),
                           received_at=p.get("received_at"))

    def review(self, pr: PullRequest, pr_key: str, *, trigger: str, full: bool = False,
               received_at: float | None = None, summary_only: bool = False) -> str:
        """Reviews ``pr`` if it should be (state, pause, configuration) and publishes."""
        state_name = pr.data.get("state")
        if state_name != "OPEN":
            return f"skipped: the pull request is {str(state_name).lower()}"
        state = self.store.pr_state(pr_key)
        automatic = trigger in ("created", "updated")
        if automatic:
            if state.paused:
                return "skipped: automatic reviews are paused on this pull request"
            if description_disables_reviews(self.bot, pr.description):
                self.store.update_pr_state(pr_key, auto_review_disabled=True,
                                           auto_review_disabled_reason="the description asks the bot to ignore it")
                return "skipped: the description asks the bot to ignore this pull request"
            if state.auto_review_disabled:  # the description no longer asks it: reviews are back on
                self.store.update_pr_state(pr_key, auto_review_disabled=False, auto_review_disabled_reason=None)
        pr.prefetch(CONFIG_FILE)
        try:
            config = load_change_config(pr, self.defaults)
        except ConfigError as exc:
            self.publisher.publish_config_error(pr, exc)
            self.store.log_event("config_error", str(exc), repository=f"{pr.workspace}/{pr.repo}", pr_id=pr.id,
                                 level="warning")
            return f"configuration error: {exc.key or 'file'}"
        if automatic:
            ok, why = config.reviews.auto_review.decide(pr.data)
            if not ok:
                return f"skipped: {why}"
        head = pr.head_commit or ""
        since = None if full else state.last_reviewed_commit
        if since and since[:12] == head[:12] and not summary_only:
            return "no new commits since the last review"
        reviewer = Reviewer(config, self.checks, llm=self.llm, env=self.env)
        try:
            review = reviewer.review(pr, since=since)
        except NotFound:
            if since is None:
                raise
            # The last reviewed commit is gone (a force push): review the whole change.
            review = reviewer.review(pr)
        # `full`: everything was reviewed again (since=None), and a finding whose comment was
        # resolved while still in the code is posted again; an open one never twice.
        result = self.publisher.publish(review, pr, full=full)
        self._record_publish_errors(pr, head, result.failures)
        now = self.clock()
        if result.newer_commit:
            # A newer commit arrived while reviewing: only the summary was posted, and the
            # next review (queued by its pullrequest:updated) must still cover this one's lines.
            self.store.update_pr_state(pr_key, last_review_at=now)
        else:
            self.store.update_pr_state(pr_key, last_reviewed_commit=head, last_review_at=now)
        self.observe(Observations(
            review_seconds=(now - received_at) if received_at else None,
            input_tokens=review.usage.input_tokens, output_tokens=review.usage.output_tokens,
        ))
        return str(result)

    def _record_publish_errors(self, pr: PullRequest, head: str, failures: Sequence[PublishFailure]) -> None:
        """The publisher carries on past a failed comment or report and lists it in
        its result; each goes to the events log, so the console's health view shows it."""
        for failure in failures:
            self.store.log_event(
                "publish_error",
                f"publishing the review of {pr.label} at {head[:12] or 'its head'}: {failure}"
                f"{_publish_hint(failure.status)}",
                repository=f"{pr.workspace}/{pr.repo}", pr_id=pr.id, level="error", status=failure.status,
            )

    def _closed(self, job: Job) -> str:
        return f"closed ({job.payload.get('state') or 'merged or declined'}); nothing left to do"

    # -- commands ------------------------------------------------------------------------------------
    def _command(self, job: Job) -> str:
        p = job.payload
        comment = p.get("comment") or {}
        cmd = parse_command(self.bot, comment.get("raw") or "")
        if cmd is None:
            return "ignored: no mention of the bot"
        pr = self._pr(p)
        cid = int(comment["id"])
        if self._already_replied(pr, cid):
            return f"already answered comment #{cid}"
        name = cmd.name
        if name in ("review", "full review", "summary"):
            outcome = self.review(pr, job.pr_key, trigger="command", full=name == "full review",
                                  summary_only=name == "summary")
            text = {
                "review": "Done: I reviewed the commits since my last review. ",
                "full review": "Done: I reviewed the whole pull request again. ",
                "summary": "Done: the summary is up to date. ",
            }[name] + f"({outcome})"
        elif name in ("pause", "resume"):
            self.store.update_pr_state(job.pr_key, paused=name == "pause",
                                       workspace=pr.workspace, repo=pr.repo, pr_id=pr.id)
            text = ("Automatic reviews are paused on this pull request. Mention me with `resume` to restart them."
                    if name == "pause" else "Automatic reviews are back on for this pull request.")
        elif name == "resolve":
            text = f"Resolved {self._resolve_all(pr, job.pr_key)} of my comments."
        elif name == "configuration":
            try:
                config = load_change_config(pr, self.defaults)
                text = "The effective configuration for this pull request:\n\n```yaml\n" + config.to_yaml() + "```"
            except ConfigError as exc:
                text = f"`.bbreview.yaml` is invalid:\n\n```\n{exc}\n```"
        elif name == "help":
            text = help_text(self.bot)
        elif name == "unknown":
            word = cmd.text.split()[0] if cmd.text.split() else ""
            text = help_text(self.bot, prefix=f"I don't know the command `{word}`.")
        else:
            text = self._answer(pr, comment, cmd.text)
        self._reply(pr, cid, text)
        return f"{name}: replied to comment #{cid}"

    def _already_replied(self, pr: PullRequest, comment_id: int) -> bool:
        for c in read_bot_comments(self.client, pr, self.bot.uuid):
            if c.kind == "reply" and c.parent == comment_id:
                return True
        return False

    def _reply(self, pr: PullRequest, comment_id: int, text: str) -> None:
        marker = f"\n\n[//]: # (bbreview:reply {comment_id})"
        self.client.reply(pr.workspace, pr.repo, pr.id, comment_id, text + marker)

    def _resolve_all(self, pr: PullRequest, pr_key: str) -> int:
        n = 0
        for c in read_bot_comments(self.client, pr, self.bot.uuid):
            if c.kind != "finding" or c.resolved or c.parent is not None or c.path is None:
                continue
            try:
                self.client.resolve_comment(pr.workspace, pr.repo, pr.id, c.id)
                n += 1
                if c.fingerprint:
                    self.store.mark_comment(pr_key, c.fingerprint, "resolved")
            except BitbucketError as exc:
                if exc.status not in (403, 409):  # 409 already resolved; 403 not on the diff any more (§6.5)
                    raise
        return n

    def _answer(self, pr: PullRequest, comment: dict[str, Any], question: str) -> str:
        try:
            config = load_change_config(pr, self.defaults)
        except ConfigError as exc:
            return f"I cannot answer while `.bbreview.yaml` is invalid:\n\n```\n{exc}\n```"
        llm = Reviewer(config, llm=self.llm, env=self.env).llm()
        if llm is None:
            return LLM_SETUP_HELP
        thread, anchor = self._thread(pr, int(comment["id"]))
        code, path = "", None
        if anchor and anchor.get("path"):
            path = anchor["path"]
            code = self._code_around(pr, path, anchor.get("to") or anchor.get("from"))
        try:
            answer = llm.answer(question, thread=thread, code=code, path=path, title=pr.title,
                                description=pr.description)
        except LLMError as exc:
            # The provider has already retried with backoff; say so instead of staying silent.
            log.warning("%s: answering comment #%s failed: %s", pr.label, comment.get("id"), exc)
            return (f"I could not get an answer from the LLM ({exc.provider or 'provider'}: "
                    f"{'HTTP ' + str(exc.status) if exc.status else 'no response'}). Mention me again later.")
        self.observe(Observations(input_tokens=answer.usage.input_tokens, output_tokens=answer.usage.output_tokens))
        return answer.text.strip() or "I have no answer to that."

    def _thread(self, pr: PullRequest, comment_id: int) -> tuple[list[tuple[str, str]], dict | None]:
        comments = {int(c["id"]): c for c in self.client.comments(pr.workspace, pr.repo, pr.id) if not c.get("deleted")}
        root_id = comment_id
        while comments.get(root_id, {}).get("parent"):
            root_id = int(comments[root_id]["parent"]["id"])
        members = []
        for cid, c in sorted(comments.items()):
            walk = cid
            while comments.get(walk, {}).get("parent") and walk != root_id:
                walk = int(comments[walk]["parent"]["id"])
            if walk == root_id:
                author = (c.get("user") or {}).get("display_name") or "someone"
                members.append((author, (c.get("content") or {}).get("raw") or ""))
        return members, (comments.get(root_id) or {}).get("inline")

    def _code_around(self, pr: PullRequest, path: str, line: int | None, radius: int = 15) -> str:
        data = pr.read_file(path)
        if data is None:
            return ""
        lines = data.decode("utf-8", "replace").splitlines()
        if not line:
            return "\n".join(f"{i + 1:>5} {text}" for i, text in enumerate(lines[: 2 * radius]))
        lo, hi = max(1, line - radius), min(len(lines), line + radius)
        return "\n".join(f"{n:>5} {lines[n - 1]}" for n in range(lo, hi + 1))


def commands_table() -> str:
    return "\n".join(f"{name}: {what}" for name, what in COMMANDS.items())
