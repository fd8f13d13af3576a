"""Publishing a :class:`~bbreview.review.Review` to a Bitbucket pull request.

The pull request itself is the source of truth for what the bot has posted:
every bot comment ends with a hidden marker (``[//]: # (bbreview:...)``) that
names the finding's fingerprint or the summary. Before posting, the publisher
reads the PR's comments, so a re-run (after a crash, a retried webhook, or a
second ``bbreview review``) posts nothing twice, even without a store. A store,
when given, is kept in step for the service's bookkeeping.

Order: a check that the pull request's head is still the reviewed commit,
inline comments, then resolving the bot's comments whose finding is gone, then
the summary (edited in place; it reports what failed above), then the Code
Insights report. When a newer commit arrived while the review ran, nothing is
anchored to the old diff: only the summary is posted, saying so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bbreview.errors import BitbucketError
from bbreview.review.pipeline import Deferred, InlineComment, Review
from bbreview.review.render import MAX_COMMENT_CHARS, parse_markers, split_markdown
from bbreview.review.source import PullRequest

__all__ = ["BitbucketPublisher", "PublishResult", "BotComment", "read_bot_comments", "DEFAULT_REPORT_ID"]

log = logging.getLogger("bbreview.publisher")

#: Inline comments posted at once. Each costs one request of the token's hourly
#: budget (§5) whatever the concurrency; this only shortens the wall time.
DEFAULT_CONCURRENCY = 8

#: The Code Insights report id: prefixed with the tool's name, as §6.9 advises.
DEFAULT_REPORT_ID = "bbreview-review"


@dataclass
class BotComment:
    """One of the bot's comments on the PR, as read back from Bitbucket."""

    id: int
    kind: str  # "finding", "summary", "summary-part", "reply", "error"
    fingerprint: str | None
    source: str | None
    path: str | None
    line: int | None
    resolved: bool
    parent: int | None
    raw: str
    start: int | None = None  # first line of a range comment (start_to/start_from), else None


#: The heading of a configuration error comment once the file is valid again.
CONFIG_FIXED_HEADING = "## bbreview: the configuration is valid again"


@dataclass(frozen=True)
class PublishFailure:
    """One thing the publisher could not do: ``what`` (e.g. "inline comment on a.py:3"), the
    HTTP ``status`` when Bitbucket answered (None for a network failure), and its message."""

    what: str
    status: int | None
    message: str

    def __str__(self) -> str:
        status = f"{self.status} " if self.status is not None else ""
        return f"{self.what} failed: {status}{self.message}"


@dataclass
class PublishResult:
    posted: int = 0
    skipped_existing: int = 0
    resolved: int = 0
    summary_comment_id: int | None = None
    report_annotations: int = 0
    actions: list[str] = field(default_factory=list)
    #: The failures as text (``str`` of each of ``failures``).
    errors: list[str] = field(default_factory=list)
    #: The failures with their HTTP status, for scripts and the service's events log.
    failures: list[PublishFailure] = field(default_factory=list)
    comment_ids: dict[str, int] = field(default_factory=dict)
    #: The PR's source commit when it is no longer the reviewed one (nothing
    #: was posted on lines then; review that commit next). None: up to date.
    newer_commit: str | None = None
    #: Inline comments that could not be posted and went to the summary instead.
    moved_to_summary: int = 0
    #: What was left out on purpose, and why (e.g. Code Insights on a fork the bot cannot write to).
    notes: list[str] = field(default_factory=list)

    def fail(self, what: str, status: Any, message: Any) -> PublishFailure:
        """Records a failure (in ``failures`` and, as text, in ``errors``)."""
        failure = PublishFailure(what, int(status) if isinstance(status, int) else None, str(message))
        self.failures.append(failure)
        self.errors.append(str(failure))
        return failure

    def __str__(self) -> str:
        return (
            f"posted {self.posted} inline comment{'s' if self.posted != 1 else ''}, skipped "
            f"{self.skipped_existing} already posted, resolved {self.resolved}; summary "
            f"{'#' + str(self.summary_comment_id) if self.summary_comment_id else 'not posted'}"
            + (f"; {len(self.errors)} error(s)" if self.errors else "")
            + (f"; a newer commit {self.newer_commit[:12]} arrived, inline comments held back"
               if self.newer_commit else "")
        )


def read_bot_comments(client: Any, pr: PullRequest, bot_uuid: str) -> list[BotComment]:
    """The bot's live (not deleted) comments on ``pr`` that carry a bbreview marker."""
    out = []
    for c in client.comments(pr.workspace, pr.repo, pr.id):
        if c.get("deleted") or (c.get("user") or {}).get("uuid") != bot_uuid:
            continue
        raw = (c.get("content") or {}).get("raw") or ""
        markers = parse_markers(raw)
        if not markers:
            continue
        kind, args = markers[-1]
        inline = c.get("inline") or {}
        out.append(
            BotComment(
                id=int(c["id"]), kind=kind, fingerprint=args[0] if kind == "finding" and args else None,
                source=args[1] if kind == "finding" and len(args) > 1 else None,
                path=inline.get("path"), line=inline.get("to") or inline.get("from"),
                resolved=bool(c.get("resolution")), parent=(c.get("parent") or {}).get("id"), raw=raw,
                start=inline.get("start_to") or inline.get("start_from"),
            )
        )
    return out


class BitbucketPublisher:
    """Posts reviews to pull requests through a :class:`~bbreview.bitbucket.Client`.

    ``store`` (optional) receives the posted fingerprints and the PR's review
    state; ``bot`` is the token's user (``GET /2.0/user``), fetched when omitted.
    """

    def __init__(self, client: Any, *, store: Any = None, bot: dict | None = None,
                 report_id: str = DEFAULT_REPORT_ID, max_comment_chars: int = MAX_COMMENT_CHARS,
                 concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.client = client
        self.concurrency = concurrency
        self.store = store
        self._bot = bot
        self.report_id = report_id
        self.max_chars = max_comment_chars

    @property
    def bot(self) -> dict:
        if self._bot is None:
            self._bot = self.client.current_user()
        return self._bot

    def publish(
        self,
        review: Review,
        pr: PullRequest,
        *,
        full: bool = False,
        dry_run: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> PublishResult:
        """Posts ``review`` on ``pr``. ``full``: post again every finding whose earlier
        comment was resolved (a finding with an open comment is never posted twice). ``dry_run``: change nothing; ``actions`` says what would be done."""
        note = progress or (lambda stage, done, total: None)
        result = PublishResult()
        ws, repo, pr_id = pr.workspace, pr.repo, pr.id
        pr_key = f"{ws}/{repo}#{pr_id}"
        # The diff was fetched at the start of the review; comments anchored to it are wrong on a newer head.
        result.newer_commit = self._newer_head(pr, review)
        if result.newer_commit is not None:
            return self._publish_stale(review, pr, result, dry_run)
        # The Code Insights report does not depend on the comments: it runs alongside them.
        insights: threading.Thread | None = None
        if review.config.reviews.code_insights and review.head_commit:
            insights = threading.Thread(target=self._publish_insights, args=(pr, review, dry_run, result),
                                        name="bbreview-insights", daemon=True)
            insights.start()
        existing = read_bot_comments(self.client, pr, self.bot["uuid"])
        by_fp = {c.fingerprint: c for c in existing if c.kind == "finding" and c.fingerprint}
        open_fps = {c.fingerprint for c in existing if c.kind == "finding" and c.fingerprint and not c.resolved}
        current = review.fingerprints

        # 1. inline comments, posted concurrently (their order on the PR follows the diff anyway)
        failed: list[PublishFailure] = []
        todo: list[tuple[InlineComment, list[str]]] = []
        for comment in review.comments:
            fingerprint = comment.finding.fingerprint
            if fingerprint in open_fps or (fingerprint in by_fp and not full):
                result.skipped_existing += 1
                continue
            body = review.comment_markdown(comment)
            if dry_run:
                result.actions.append(f"post inline comment on {comment.path}:{comment.start}: {comment.finding.title}")
                result.posted += 1
                continue
            parts = split_markdown(body, self.max_chars)
            parts[0] = _with_marker(parts[0], body)
            todo.append((comment, parts))
        calls = [self.client.calls.create_comment(ws, repo, pr_id, parts[0], **_inline_kwargs(comment))
                 for comment, parts in todo]
        answers = self.client.map(calls, concurrency=self.concurrency,
                                  progress=lambda done, total: note("publish", done, total)) if calls else []
        for (comment, parts), answer in zip(todo, answers):
            where = f"{comment.path}:{comment.start}"
            if isinstance(answer, BaseException):
                status = getattr(answer, "status", "")
                message = getattr(answer, "message", answer)
                result.fail(f"inline comment on {where}", status, message)
                log.warning("%s: inline comment on %s failed: HTTP %s: %s", pr_key, where, status, message)
                # The finding keeps its text: it is listed in the summary, with why it is not on the line.
                reason = f"posting it on the line failed (HTTP {status})" if status else "posting it on the line failed"
                review.comments.remove(comment)
                review.deferred.append(Deferred(comment.finding, reason))
                result.moved_to_summary += 1
                continue
            cid = int(answer["id"])
            for part in parts[1:]:
                self.client.reply(ws, repo, pr_id, cid, part)
            result.posted += 1
            result.comment_ids[comment.finding.fingerprint] = cid
            if self.store is not None:
                self.store.record_posted(pr_key, comment.finding.fingerprint, cid, comment.path, comment.start,
                                         review.head_commit or "")

        # 2. resolve the bot's comments whose finding has disappeared
        earlier_open = 0
        failed_checks = set(review.metadata.get("failed_checks", ()))
        for c in existing:
            if c.kind != "finding" or c.resolved or c.parent is not None or c.fingerprint in current:
                continue
            # A check that failed this run found nothing: its earlier comments stay open.
            deterministic = (c.source or "").startswith(("rules", "check:")) and c.source not in failed_checks
            # The LLM saw only this run's hunks: its comment is gone only if its lines were among them
            # (and it was not found again) or left the diff.
            llm_gone = c.source == "llm" and review.llm_scope is not None and review.llm_scope.gone(
                c.path, c.start, c.line)
            gone = deterministic or llm_gone
            if not (gone and review.config.reviews.resolve_fixed):
                earlier_open += 1
                continue
            if dry_run:
                result.actions.append(f"resolve comment #{c.id} on {c.path}:{c.line} (finding fixed)")
                result.resolved += 1
                continue
            try:
                self.client.resolve_comment(ws, repo, pr_id, c.id)
                result.resolved += 1
                if self.store is not None:
                    self.store.mark_comment(pr_key, c.fingerprint, "resolved")
            except BitbucketError as exc:
                if exc.status != 409:  # 409: already resolved (§6.5)
                    failed.append(result.fail(f"resolving comment #{c.id}", exc.status, exc.message))

        # 3. the summary, edited in place
        review.errors.extend(str(f) for f in failed)
        text = review.summary_markdown(earlier_open=earlier_open)
        summary_id = self._publish_summary(pr, existing, text, dry_run, result)
        result.summary_comment_id = summary_id
        self._close_config_error(pr, existing, review, dry_run, result)

        # 4. Code Insights (started first)
        if insights is not None:
            insights.join()

        if self.store is not None and not dry_run:
            self.store.update_pr_state(
                pr_key, last_reviewed_commit=review.head_commit, summary_comment_id=summary_id,
            )
        return result

    def _newer_head(self, pr: PullRequest, review: Review) -> str | None:
        """The PR's source commit if it moved past ``review.head_commit``, else None."""
        if not review.head_commit:
            return None
        try:
            data = self.client.pull_request(pr.workspace, pr.repo, pr.id)
        except BitbucketError as exc:
            # Cannot tell: publish as before (the next webhook reviews a newer head anyway).
            log.warning("%s: re-reading the pull request failed: HTTP %s", pr.label, exc.status)
            return None
        head = ((data.get("source") or {}).get("commit") or {}).get("hash") or ""
        n = min(len(head), len(review.head_commit), 12)
        if not head or n == 0 or head[:n] == review.head_commit[:n]:
            return None
        return head

    def _publish_stale(self, review: Review, pr: PullRequest, result: PublishResult, dry_run: bool) -> PublishResult:
        """Only the summary, saying that a newer commit arrived: the inline comments,
        resolutions and the report belong to a diff that is no longer the PR's."""
        newer = result.newer_commit or ""
        log.info("%s: head moved from %s to %s during the review; holding back inline comments",
                 pr.label, (review.head_commit or "")[:12], newer[:12])
        existing = read_bot_comments(self.client, pr, self.bot["uuid"])
        text = review.summary_markdown(newer_commit=newer)
        result.summary_comment_id = self._publish_summary(pr, existing, text, dry_run, result)
        if dry_run:
            result.actions.insert(0, f"hold back {len(review.comments)} inline comment(s): the pull request "
                                     f"moved to {newer[:12]}")
        return result

    def publish_config_error(self, pr: PullRequest, error: Exception, *, dry_run: bool = False) -> int | None:
        """Posts (or edits in place) one comment explaining why ``.bbreview.yaml``
        is invalid, so that the PR gets an answer instead of silence."""
        text = "\n".join([
            "## bbreview could not review this pull request",
            "",
            "The repository configuration `.bbreview.yaml` is invalid:",
            "",
            "```",
            str(error),
            "```",
            "",
            "Fix the file and push; the next commit is reviewed. Check a file locally with "
            "`bbreview config check .bbreview.yaml`.",
            "",
            "[//]: # (bbreview:config-error)",
        ])
        if dry_run:
            return None
        existing = read_bot_comments(self.client, pr, self.bot["uuid"])
        old = next((c for c in existing if c.kind == "config-error"), None)
        if old is not None:
            if old.raw != text:
                self.client.update_comment(pr.workspace, pr.repo, pr.id, old.id, text)
            return old.id
        return int(self.client.create_comment(pr.workspace, pr.repo, pr.id, text)["id"])

    def _close_config_error(
        self, pr: PullRequest, existing: list[BotComment], review: Review, dry_run: bool, result: PublishResult
    ) -> None:
        """An earlier "configuration is invalid" comment says the file is valid again, so that
        nobody keeps fixing what is already fixed."""
        old = next((c for c in existing if c.kind == "config-error"), None)
        if old is None or CONFIG_FIXED_HEADING in old.raw:
            return
        if dry_run:
            result.actions.append(f"mark the configuration error comment #{old.id} as fixed")
            return
        head = (review.head_commit or "")[:12]
        text = "\n".join([
            CONFIG_FIXED_HEADING,
            "",
            "`.bbreview.yaml` is valid again" + (f": commit `{head}` was reviewed" if head else "")
            + " (see the summary).",
            "",
            "[//]: # (bbreview:config-error)",
        ])
        try:
            self.client.update_comment(pr.workspace, pr.repo, pr.id, old.id, text)
        except BitbucketError as exc:
            result.fail(f"updating the configuration error comment #{old.id}", exc.status, exc.message)

    # -- pieces ---------------------------------------------------------------------------------
    def _publish_summary(
        self, pr: PullRequest, existing: list[BotComment], text: str, dry_run: bool, result: PublishResult
    ) -> int | None:
        parts = split_markdown(text, self.max_chars)
        head = next((c for c in existing if c.kind == "summary"), None)
        if dry_run:
            result.actions.append(
                ("update" if head else "post") + f" the summary ({len(text):,} characters in {len(parts)} part(s))"
            )
            return head.id if head else None
        first = _with_marker(parts[0], text)
        if head is not None:
            if head.raw != first:
                self.client.update_comment(pr.workspace, pr.repo, pr.id, head.id, first)
            summary_id = head.id
        else:
            summary_id = int(self.client.create_comment(pr.workspace, pr.repo, pr.id, first)["id"])
        # Continuation parts are replies to the summary, edited in place too.
        old_parts = [c for c in existing if c.kind == "summary-part" and c.parent == summary_id]
        for i, part in enumerate(parts[1:]):
            raw = f"{part}\n\n[//]: # (bbreview:summary-part {i + 1})"
            if i < len(old_parts):
                if old_parts[i].raw != raw:
                    self.client.update_comment(pr.workspace, pr.repo, pr.id, old_parts[i].id, raw)
            else:
                self.client.reply(pr.workspace, pr.repo, pr.id, summary_id, raw)
        for stale in old_parts[len(parts) - 1:]:
            self.client.delete_comment(pr.workspace, pr.repo, pr.id, stale.id)
        return summary_id

    def _publish_insights(self, pr: PullRequest, review: Review, dry_run: bool, result: PublishResult) -> None:
        report, annotations = review.code_insights(report_id=self.report_id)
        if dry_run:
            result.actions.append(f"put Code Insights report {self.report_id!r} with {len(annotations)} annotation(s)")
            return
        # Posted on the pull request's repository. For a pull request from a fork, whether that
        # repository knows the fork's commit is not documented; when it does not (404), or the
        # bot may not write there (403), the report is left out with a note: the comments carry
        # the findings either way. The bot never writes into a contributor's fork.
        ws, repo = pr.workspace, pr.repo
        from_fork = bool(getattr(pr, "from_fork", False))
        try:
            commit = pr.full_head()
            # Deleting first resets the annotations of an earlier run on this commit (§6.9).
            try:
                self.client.delete_report(ws, repo, commit, self.report_id)
            except BitbucketError as exc:
                if exc.status != 404:
                    raise
            self.client.put_report(ws, repo, commit, self.report_id, report)
            if annotations:
                self.client.add_annotations(ws, repo, commit, self.report_id, annotations)
            result.report_annotations = len(annotations)
        except BitbucketError as exc:
            if from_fork and exc.status in (403, 404):
                # The bot usually cannot write to a contributor's fork: expected, not a failure.
                result.notes.append(f"Code Insights report not posted: {ws}/{repo} does not accept a report on "
                                    f"the fork's commit (HTTP {exc.status}); the comments carry the findings")
                log.info("%s: Code Insights report on a fork's commit refused: HTTP %s", pr.label, exc.status)
                return
            result.fail("Code Insights report", exc.status, exc.message)
            log.warning("%s: Code Insights report failed: HTTP %s", pr.label, exc.status)


def _inline_kwargs(comment: InlineComment) -> dict[str, Any]:
    inline = comment.inline()
    kw: dict[str, Any] = {"path": inline["path"]}
    for key, arg in (("to", "to"), ("from", "from_"), ("start_to", "start_to"), ("start_from", "start_from")):
        if key in inline:
            kw[arg] = inline[key]
    return kw


def _with_marker(part: str, whole: str) -> str:
    """The first part of a split comment keeps the marker, which sits at the end of the whole."""
    if part is whole or part == whole:
        return part
    last = whole.rstrip().rsplit("\n", 1)[-1]
    return part if part.rstrip().endswith(last) else f"{part}\n\n{last}"
