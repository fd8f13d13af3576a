"""The LLM reviewer: a pull request's files in, validated findings out.

:meth:`LLMReviewer.review` selects the files worth sending, splits them into
requests under the per-request and per-review token limits, runs the requests
concurrently, reads the JSON answers robustly and validates every finding.
Two limits keep a slow or dead provider from holding the review: the review's
time limit (``llm.review_timeout_s``) and a circuit breaker that stops sending
requests after consecutive failures that say the provider is unavailable.
Untrusted text (the title, the description and the code) is passed as data
between marker lines carrying a random per-run boundary token, and findings
that try to talk to the bot or the reviewer system are dropped.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from bbreview.errors import LLMError
from bbreview.review.llm.chunks import Chunk, Piece, estimate_tokens, render_file, skip_reason
from bbreview.review.llm.parse import ParsedAnswer, parse_review_json
from bbreview.review.llm.prompts import PROMPT_VERSION, render_prompt
from bbreview.review.llm.providers import Completion, Deadline, LLMSettings, Provider
from bbreview.review.llm.redact import Redactor, clean_model_text, public_error
from bbreview.review.model import SEVERITIES, ReviewFinding, fingerprint_of, normalise_severity

__all__ = ["LLMReviewer", "LLMReviewResult", "Usage", "Answer", "PROFILES", "INJECTION_PATTERNS"]

log = logging.getLogger("bbreview.llm")

PROFILES = ("chill", "assertive")

#: Untrusted text is cut to these sizes before it reaches a prompt.
MAX_TITLE_CHARS = 300
MAX_DESCRIPTION_CHARS = 12_000
MAX_QUESTION_CHARS = 8_000
#: Findings kept per request; the prompt asks for at most this many.
MAX_FINDINGS_PER_CHUNK = 40
#: Files packed into one request at most (small files share requests).
MAX_FILES_PER_CHUNK = 12
#: A finding's text is cut to these sizes.
MAX_FINDING_TITLE_CHARS = 200
MAX_FINDING_BODY_CHARS = 6_000
MAX_REPLACEMENT_CHARS = 8_000
MAX_SUMMARY_CHARS = 300
#: Of an invalid answer, this much is echoed back in the corrective retry.
MAX_ECHO_CHARS = 2_000
#: Smallest share of a request left for code, whatever the title and description take.
MIN_CODE_TOKENS = 1_000
#: Tokens of marker lines and instructions around each piece of a file.
PIECE_OVERHEAD_TOKENS = 40
#: Consecutive failed requests saying the provider is unavailable (no connection, timeouts,
#: 5xx or 429 after the provider's own retries) after which no further request is sent.
BREAKER_FAILURES = 3
#: Rejected credentials (401/403) will not get better within a review: one stops it.
BREAKER_AUTH_FAILURES = 1
#: After the review's time limit, requests still running get this long before they are
#: abandoned (the built-in providers end theirs at the limit; a custom one may not).
ABANDON_GRACE_S = 2.0

#: Text in a finding that addresses the bot, the reviewer system or the model
#: itself: a sign that the code or description steered the model.
INJECTION_PATTERNS = (
    r"\bignore\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?(?:previous|prior|above|earlier|preceding|former)"
    r"\s+(?:instructions?|prompts?|rules|directions|messages?)",
    r"\bdisregard\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?(?:previous|prior|above|earlier|system)\b",
    r"\bforget\s+(?:all\s+)?(?:your|the|previous|prior)\s+(?:instructions|rules)",
    r"\bapprove\s+(?:this|the)\s+(?:pr|pull[\s-]+request|change(?:set)?|merge request)\b",
    r"\b(?:merge|decline)\s+(?:this|the)\s+(?:pr|pull[\s-]+request)\s+(?:now|immediately|right away)",
    r"\bas\s+an?\s+(?:ai|a\.i\.|language\s+model|llm|large\s+language\s+model|ai\s+assistant)\b",
    r"\byou\s+are\s+now\b",
    r"\bnew\s+instructions?\s*:",
    r"\b(?:dear|hey|hi|attention)?\s*(?:bot|reviewer|assistant|ai|model)\s*[,:]\s*(?:please\s+)?"
    r"(?:ignore|approve|merge|skip|stop|disregard|do\s+not|don't)\b",
    r"\b(?:report|return|output)\s+(?:no|zero)\s+(?:issues|findings|problems)\b",
    r"<<<\s*(?:BEGIN|END)\b",
)
_INJECTION = re.compile("|".join(f"(?:{p})" for p in INJECTION_PATTERNS), re.IGNORECASE)
_WS = re.compile(r"\s+")
_TITLE_NOISE = re.compile(r"[`'\"*_.,:;!?()\[\]]+")


@dataclass(frozen=True)
class Usage:
    """Tokens the provider reported, and the number of completions requested."""

    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.requests + other.requests,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class LLMReviewResult:
    """What one :meth:`LLMReviewer.review` produced.

    Attributes:
        findings: validated findings (``source="llm"``), in file and line order.
        file_summaries: path -> one line on what the change does there.
        reviewed: paths whose every chunk was answered, in input order.
        skipped: (path, reason) for every file not (fully) reviewed.
        usage: tokens and requests, corrective retries included.
        dropped_injection: findings dropped because they address the bot or the system.
        invalid_findings: findings dropped because they lacked fields or named
            unknown files, or were over MAX_FINDINGS_PER_CHUNK (those counted
            in ``over_cap_findings`` too).
        over_cap_findings: findings dropped because an answer had more than
            MAX_FINDINGS_PER_CHUNK.
        shown: path -> the new-side line numbers shown to the model in
            requests that were answered (what this run really reviewed).
        errors: one message per failed chunk, and one line when the review's
            time limit or the circuit breaker stopped the LLM part.
        deadline_reached: the review's time limit (``review_timeout_s``)
            stopped requests from being sent or answered.
        breaker_tripped: consecutive failures said the provider is
            unavailable, so the remaining requests were not sent.
        model: the provider's model.
        prompt_version: :data:`~bbreview.review.llm.PROMPT_VERSION`.
        inputs_hash: sha256 over the prompts sent (the per-run boundary token
            normalised), equal for equal inputs and settings.
    """

    findings: list[ReviewFinding] = field(default_factory=list)
    file_summaries: dict[str, str] = field(default_factory=dict)
    reviewed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    dropped_injection: int = 0
    invalid_findings: int = 0
    over_cap_findings: int = 0
    shown: dict[str, set[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    deadline_reached: bool = False
    breaker_tripped: bool = False
    model: str = ""
    prompt_version: str = PROMPT_VERSION
    inputs_hash: str = ""


@dataclass(frozen=True)
class Answer:
    """An answer to a question in a pull request thread."""

    text: str
    usage: Usage


@dataclass
class _Outcome:
    parsed: ParsedAnswer | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    #: "deadline" or "breaker" when a limit stopped the chunk (``error`` is then None).
    stopped: str | None = None


class _Breaker:
    """Counts consecutive chunk failures that say the provider is unavailable.

    Thread-safe. Tripping cancels the review's :class:`Deadline`, so requests
    waiting to retry give up at once and no further chunk is sent.
    """

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._lock = threading.Lock()
        self._failures = 0
        self.tripped = False
        #: Once tripped: "after repeated failures (...)" or "because ...", without URLs or keys.
        self.why = ""

    def success(self) -> None:
        with self._lock:
            self._failures = 0

    def failure(self, exc: LLMError) -> None:
        """Records a failed chunk; trips when ``exc`` (with those before it) says the provider is unavailable."""
        why, limit = _unavailable(exc)
        with self._lock:
            if why is None:
                self._failures = 0  # the provider answered: it is there
                return
            self._failures += 1
            if self._failures < limit or self.tripped:
                return
            self.tripped = True
            self.why = f"after repeated failures ({why})" if limit > 1 else f"because {why}"
        log.warning("LLM circuit breaker tripped after %d failed request(s): %s", limit, why)
        self._deadline.cancel()


def _unavailable(exc: LLMError) -> tuple[str | None, int]:
    """(why the provider looks unavailable, failures in a row that stop the review), or (None, 0).

    The text is public: it never holds a URL, a host or a key.
    """
    status = int(getattr(exc, "status", 0) or 0)
    if status in (401, 403):
        why = f"the provider rejected the credentials (HTTP {status}); check the API key setting"
        return why, BREAKER_AUTH_FAILURES
    if status == 429:  # the provider retried already: a rate limit that outlasts them counts
        return "the provider kept limiting the request rate (HTTP 429)", BREAKER_FAILURES
    if status >= 500:
        return f"the provider failed with HTTP {status}", BREAKER_FAILURES
    if status == 0 and getattr(exc, "retryable", False):
        lowered = str(exc).lower()
        if "timed out" in lowered or "timeout" in lowered:
            return "the provider did not answer in time", BREAKER_FAILURES
        return "the provider could not be reached", BREAKER_FAILURES
    return None, 0


ProgressCallback = Callable[[int, int], None]


class LLMReviewer:
    """Reviews files with an LLM :class:`~bbreview.review.llm.Provider`.

    ``profile`` is ``"chill"`` (no nitpicks) or ``"assertive"`` (nitpicks
    welcome). ``path_instructions`` are ``(glob, text)`` pairs from the
    repository configuration; every matching pair's text is shown with a file.
    ``bot_mentions`` are handles (``"@bbreview"``) that no finding may contain.
    """

    def __init__(
        self,
        provider: Provider,
        settings: LLMSettings | None = None,
        *,
        profile: str = "chill",
        language: str = "en",
        tone_instructions: str = "",
        path_instructions: Sequence[tuple[str, str]] = (),
        bot_mentions: Sequence[str] = ("@bbreview",),
        boundary_factory: Callable[[], str] | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
        self.provider = provider
        self.settings = settings or LLMSettings()
        self.settings.validate()
        self.profile = profile
        self.language = language or "en"
        self.tone_instructions = tone_instructions or ""
        self.path_instructions = [(glob, text) for glob, text in path_instructions]
        self._path_regexes = [(_glob_regex(glob), text) for glob, text in self.path_instructions]
        self.bot_mentions = tuple(m.lower() for m in bot_mentions if m)
        self._boundary_factory = boundary_factory or (lambda: "BBR-" + secrets.token_hex(12))
        self._takes_deadline = _takes_deadline(provider)

    # -- review -------------------------------------------------------------------------

    def review(
        self,
        files: Sequence[Any],
        *,
        title: str = "",
        description: str = "",
        progress: ProgressCallback | None = None,
        redactor: Redactor | None = None,
    ) -> LLMReviewResult:
        """Reviews ``files`` (FileDiffs). One failing request never aborts the review:
        it is listed in ``errors`` (without URLs or hosts; the full error is
        logged) and its files in ``skipped``.

        ``progress(done, total)`` is called on this thread after each request.
        ``redactor`` masks secrets in the code, title and description before
        they are sent, and in the model's findings and summaries.

        The review takes at most about ``settings.review_timeout_s`` (plus
        ABANDON_GRACE_S for a provider that ignores the deadline): after it,
        no request is sent and requests still running are abandoned. After
        BREAKER_FAILURES consecutive failures that say the provider is
        unavailable (BREAKER_AUTH_FAILURES for rejected credentials), the
        remaining requests are not sent. Their files are listed in
        ``skipped`` with the reason, ``deadline_reached``/``breaker_tripped``
        is set, and ``errors`` gets one line saying what happened.
        """
        result = LLMReviewResult(model=self.provider.model, prompt_version=PROMPT_VERSION)
        settings = self.settings
        deadline = Deadline(settings.review_timeout_s)
        breaker = _Breaker(deadline)
        redactor = redactor or Redactor()
        title = redactor.text(_cut(title, MAX_TITLE_CHARS))
        description = redactor.text(_cut(description, MAX_DESCRIPTION_CHARS))
        boundary = self._boundary(title, description, files)
        system = self._review_system(boundary)
        empty_user = self._review_user(boundary, title, description, [], 1, 1)
        overhead = estimate_tokens(system) + estimate_tokens(empty_user)
        piece_limit = max(settings.max_request_tokens - overhead, MIN_CODE_TOKENS)
        request_cost = overhead + settings.max_output_tokens

        chunks: list[Chunk] = []
        skipped: dict[str, str] = {}
        planned: list[str] = []
        spent = 0
        for file in files:
            reason = skip_reason(file)
            if reason is not None:
                skipped[file.path] = reason
                continue
            mask = (lambda n, text, path=file.path: redactor.line(path, n, text)) if redactor else None
            pieces = render_file(file, max(piece_limit - PIECE_OVERHEAD_TOKENS * 2, 1), mask)
            cost, placed = _plan(chunks, pieces, piece_limit, request_cost)
            if spent + cost > settings.max_tokens_per_review:
                skipped[file.path] = "over the token budget"
                continue
            spent += cost
            chunks = placed
            planned.append(file.path)

        prompts = [
            self._review_user(boundary, title, description, chunk.pieces, chunk.index + 1, len(chunks))
            for chunk in chunks
        ]
        digest = hashlib.sha256()
        for user in prompts:
            for text in (system, user):
                digest.update(text.replace(boundary, "<boundary>").encode("utf-8", "surrogatepass"))
                digest.update(b"\0")
        result.inputs_hash = digest.hexdigest()

        outcomes = self._run_chunks(system, prompts, deadline, breaker, progress) if chunks else {}

        limit_reason = {
            "deadline": f"LLM: the review's time limit ({settings.review_timeout_s:g} s) was reached",
            "breaker": f"LLM: skipped {breaker.why}",
        }
        stopped = {"deadline": 0, "breaker": 0}
        failed: dict[str, str] = {}
        summaries: dict[str, list[str]] = {}
        seen: set[tuple[Any, ...]] = set()
        for chunk in chunks:
            outcome = outcomes.get(chunk.index) or _Outcome(stopped="deadline")  # abandoned at the time limit
            result.usage = result.usage + outcome.usage
            if outcome.stopped is not None:
                stopped[outcome.stopped] += 1
                for path in chunk.paths:
                    failed.setdefault(path, limit_reason[outcome.stopped])
                continue
            if outcome.error is not None:
                where = ", ".join(chunk.paths)
                result.errors.append(f"chunk {chunk.index + 1} of {len(chunks)} ({where}): {outcome.error}")
                for path in chunk.paths:
                    failed.setdefault(path, f"LLM error: {outcome.error}")
                continue
            assert outcome.parsed is not None
            for path in chunk.paths:
                result.shown.setdefault(path, set()).update(chunk.lines_of(path))
            for item in outcome.parsed.findings[:MAX_FINDINGS_PER_CHUNK]:
                verdict = self._finding(item, chunk, boundary, redactor)
                if verdict == "invalid":
                    result.invalid_findings += 1
                elif verdict == "injection":
                    result.dropped_injection += 1
                else:
                    key = (verdict.path, verdict.line, verdict.end_line, verdict.fingerprint)
                    if key not in seen:
                        seen.add(key)
                        result.findings.append(verdict)
            over = max(len(outcome.parsed.findings) - MAX_FINDINGS_PER_CHUNK, 0)
            result.invalid_findings += over
            result.over_cap_findings += over
            for path, line in self._summaries(outcome.parsed.summary, chunk, boundary, redactor).items():
                summaries.setdefault(path, []).append(line)

        order = {path: k for k, path in enumerate(f.path for f in files)}
        result.findings.sort(key=lambda f: (order.get(f.path, len(order)), f.line or 0, f.end_line or 0))
        result.file_summaries = {path: " ".join(lines) for path, lines in summaries.items() if path not in failed}
        skipped.update(failed)
        result.reviewed = [path for path in planned if path not in failed]
        for path in failed:  # a file is reviewed only when every chunk of it was answered
            result.shown.pop(path, None)
        result.skipped = [(f.path, skipped[f.path]) for f in files if f.path in skipped]
        result.deadline_reached = stopped["deadline"] > 0
        result.breaker_tripped = breaker.tripped
        not_reviewed = len(planned) - len(result.reviewed)
        files_text = f"{not_reviewed} file{'s' if not_reviewed != 1 else ''} not reviewed by the LLM"
        if result.breaker_tripped:
            result.errors.append(
                f"The LLM review stopped {breaker.why}: {stopped['breaker']} of {len(chunks)} LLM requests "
                f"were not sent ({files_text}); the rules and checks still ran."
            )
        if result.deadline_reached:
            result.errors.append(
                f"The LLM review reached its time limit (llm.review_timeout_s: {settings.review_timeout_s:g} s): "
                f"{stopped['deadline']} of {len(chunks)} LLM requests were not sent or not answered in time "
                f"({files_text}); the rules and checks still ran."
            )
        return result

    def _run_chunks(
        self,
        system: str,
        prompts: Sequence[str],
        deadline: Deadline,
        breaker: _Breaker,
        progress: ProgressCallback | None,
    ) -> dict[int, _Outcome]:
        """Outcomes by chunk index; a chunk still running ABANDON_GRACE_S after the
        deadline has none (its thread finishes on its own, and its answer is dropped)."""
        outcomes: dict[int, _Outcome] = {}
        workers = min(self.settings.concurrency, len(prompts))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bbreview-llm")
        try:
            futures: dict[Future[_Outcome], int] = {
                pool.submit(self._run_chunk, system, user, deadline, breaker): index
                for index, user in enumerate(prompts)
            }
            pending = set(futures)
            while pending:
                left = deadline.until()
                timeout = None if math.isinf(left) else left + ABANDON_GRACE_S
                done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
                if not done:
                    log.warning("LLM review: %d request(s) abandoned at the time limit", len(pending))
                    break
                for future in done:
                    outcomes[futures[future]] = future.result()
                    if progress is not None:
                        progress(len(outcomes), len(prompts))
        finally:
            # Chunks not started are dropped (their files are skipped); a request still running
            # after the grace is not waited for.
            deadline.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
        return outcomes

    def _boundary(self, title: str, description: str, files: Sequence[Any]) -> str:
        # A token that occurs in the data could be forged by it: draw another.
        for _ in range(8):
            token = self._boundary_factory()
            if token and token not in title and token not in description and not any(
                token in line.content for f in files for h in f.hunks for line in h.lines
            ):
                return token
        raise LLMError("could not draw a boundary token absent from the data; check boundary_factory")

    def _review_system(self, boundary: str) -> str:
        return render_prompt(
            "review",
            boundary=boundary,
            profile=self.profile,
            profile_instructions=render_prompt(f"profile_{self.profile}").strip(),
            language=self.language,
            tone_instructions=self.tone_instructions.strip(),
            severities=", ".join(SEVERITIES),
            max_findings=MAX_FINDINGS_PER_CHUNK,
        )

    def _instructions_for(self, path: str) -> list[str]:
        return [text for regex, text in self._path_regexes if regex is not None and regex.fullmatch(path)]

    def _review_user(
        self, boundary: str, title: str, description: str, pieces: Sequence[Piece], part: int, parts: int
    ) -> str:
        blocks: list[str] = []
        for piece in pieces:
            lines: list[str] = []
            instructions = self._instructions_for(piece.path)
            if instructions:
                lines.append("Review instructions for the next file, from the repository configuration:")
                lines.extend(f"- {_WS.sub(' ', text).strip()}" for text in instructions)
            about = piece.status + (f", renamed from {json.dumps(piece.old_path)}" if piece.old_path else "")
            split = f", part {piece.part} of {piece.parts} of this file" if piece.parts > 1 else ""
            quoted = json.dumps(piece.path, ensure_ascii=False)
            lines.append(f"<<<BEGIN FILE {boundary}>>> path: {quoted} ({about}{split})")
            lines.append(piece.text)
            lines.append(f"<<<END FILE {boundary}>>>")
            blocks.append("\n".join(lines))
        path_note = ""
        if self.path_instructions:
            path_note = (
                "Review instructions given before a file come from the repository configuration; follow them "
                "for that file.\n"
            )
        return render_prompt(
            "review_user",
            boundary=boundary,
            title=title or "(none)",
            description=description or "(none)",
            path_instructions=path_note,
            part=part,
            parts=parts,
            file_count=len({p.path for p in pieces}),
            files="\n\n".join(blocks),
        )

    def _run_chunk(self, system: str, user: str, deadline: Deadline, breaker: _Breaker) -> _Outcome:
        outcome = _Outcome()
        if breaker.tripped:
            outcome.stopped = "breaker"
            return outcome
        if deadline.expired():
            outcome.stopped = "deadline"
            return outcome
        settings = self.settings
        messages = [{"role": "user", "content": user}]
        try:
            completion = self._complete(system, messages, outcome, deadline)
            parsed = _usable(parse_review_json(completion.text))
            if parsed is None:
                problem = "it was not a JSON object with a \"findings\" list"
                if completion.finish_reason == "length":
                    problem += f" (it was cut off at {settings.max_output_tokens} tokens; report fewer findings)"
                messages = [
                    *messages,
                    {"role": "assistant", "content": completion.text[:MAX_ECHO_CHARS] or "(empty)"},
                    {"role": "user", "content": render_prompt("review_retry", problem=problem)},
                ]
                completion = self._complete(system, messages, outcome, deadline)
                parsed = _usable(parse_review_json(completion.text))
                if parsed is None:
                    outcome.error = "the model did not answer valid JSON, twice"
                    breaker.success()
                    return outcome
            outcome.parsed = parsed
            breaker.success()
        except LLMError as exc:
            # The full message (URL, host) is for the logs; the review shows what happened and what to do.
            log.warning("LLM request failed: %s", exc)
            if deadline.passed:
                outcome.stopped = "deadline"  # it failed because its time was cut to the limit
            elif deadline.cancelled:
                outcome.stopped = "breaker"  # given up because the breaker tripped meanwhile
            else:
                outcome.error = public_error(exc)
                breaker.failure(exc)
        return outcome

    def _complete(
        self, system: str, messages: list[dict[str, str]], outcome: _Outcome, deadline: Deadline | None = None
    ) -> Completion:
        options: dict[str, Any] = {"deadline": deadline} if deadline is not None and self._takes_deadline else {}
        completion = self.provider.complete(
            system,
            messages,
            max_tokens=self.settings.max_output_tokens,
            temperature=self.settings.temperature,
            json=True,
            **options,
        )
        outcome.usage = outcome.usage + Usage(completion.input_tokens, completion.output_tokens, 1)
        return completion

    def _injected(self, text: str, boundary: str) -> bool:
        if not text:
            return False
        if boundary in text:
            return True
        lowered = text.lower()
        if any(mention in lowered for mention in self.bot_mentions):
            return True
        return _INJECTION.search(text) is not None

    def _finding(
        self, item: Any, chunk: Chunk, boundary: str, redactor: Redactor | None = None
    ) -> ReviewFinding | str:
        """A ReviewFinding, or ``"invalid"``/``"injection"`` for one to drop."""
        if not isinstance(item, dict):
            return "invalid"
        path = _match_path(item.get("path"), chunk.paths)
        start = _line_number(item.get("start_line", item.get("line")))
        end = _line_number(item.get("end_line"))
        title = item.get("title")
        body = item.get("body", item.get("message"))
        if path is None or start is None or not isinstance(title, str) or not title.strip():
            return "invalid"
        if not isinstance(body, str):
            return "invalid"
        end = start if end is None or end < start else end
        replacement = item.get("replacement", item.get("suggestion"))
        replacement = replacement if isinstance(replacement, str) and replacement.strip() else None
        title = _WS.sub(" ", title).strip()[:MAX_FINDING_TITLE_CHARS]
        body = body.strip()[:MAX_FINDING_BODY_CHARS]
        if self._injected(title, boundary) or self._injected(body, boundary):
            return "injection"
        if replacement is not None:
            if boundary in replacement or any(m in replacement.lower() for m in self.bot_mentions):
                return "injection"
            # Code in a fenced block: links do not render there, secrets still must not show.
            replacement = (redactor or Redactor()).text(replacement[:MAX_REPLACEMENT_CHARS])
        title = _WS.sub(" ", clean_model_text(title, redactor)).strip() or "(no title)"
        body = clean_model_text(body, redactor).strip()
        try:
            severity = normalise_severity(str(item.get("severity", "medium")))
        except ValueError:
            severity = "medium"
        category = item.get("category")
        if isinstance(category, str) and category.strip():
            category = _WS.sub("-", category.strip().lower())[:40]
        else:
            category = "general"
        shown = chunk.lines_of(path)
        outside = start not in shown or end not in shown
        code = "\n".join(shown[n] for n in range(start, end + 1) if n in shown)
        key = _TITLE_NOISE.sub(" ", title.lower())
        key = _WS.sub(" ", key).strip()
        return ReviewFinding(
            path=path,
            line=start,
            end_line=end,
            side="new",
            severity=severity,
            category=category,
            title=title,
            body=body,
            suggestion=replacement,
            source="llm",
            rule_id=None,
            fingerprint=fingerprint_of("llm", key, path, code),
            extra={"code": code, "outside_chunk": outside},
        )

    def _summaries(
        self, summary: Any, chunk: Chunk, boundary: str, redactor: Redactor | None = None
    ) -> dict[str, str]:
        paths = chunk.paths
        pairs: list[tuple[Any, Any]] = []
        if isinstance(summary, dict):
            pairs = list(summary.items())
        elif isinstance(summary, list):
            pairs = [(x.get("path"), x.get("summary")) for x in summary if isinstance(x, dict)]
        elif isinstance(summary, str):
            for line in summary.splitlines():
                head, sep, tail = line.strip().lstrip("-* ").partition(":")
                if sep and _match_path(head.strip(" `"), paths):
                    pairs.append((head.strip(" `"), tail))
                elif line.strip() and len(paths) == 1:
                    pairs.append((paths[0], line))
        out: dict[str, str] = {}
        for raw_path, text in pairs:
            path = _match_path(raw_path, paths)
            if path is None or not isinstance(text, str):
                continue
            text = _WS.sub(" ", clean_model_text(text, redactor)).strip()[:MAX_SUMMARY_CHARS]
            if text and not self._injected(text, boundary):
                out[path] = f"{out[path]} {text}" if path in out else text
        return out

    # -- answer -------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        *,
        thread: Sequence[tuple[str, str]] = (),
        code: str = "",
        path: str | None = None,
        title: str = "",
        description: str = "",
    ) -> Answer:
        """An answer to ``question`` asked in a pull request thread.

        ``thread`` is the conversation so far as (author, text), oldest first;
        ``code`` the code under discussion (``path`` names its file). Everything
        is passed as delimited data, cut to fit one request (the latest thread
        entries are kept). Raises LLMError when the provider fails or does not
        answer within ``review_timeout_s``.
        """
        settings = self.settings
        question = _cut(question, MAX_QUESTION_CHARS)
        title = _cut(title, MAX_TITLE_CHARS)
        description = _cut(description, MAX_DESCRIPTION_CHARS // 2)
        data = "\n".join([question, title, description, code, *(t for _, t in thread), *(a for a, _ in thread)])
        boundary = ""
        for _ in range(8):
            candidate = self._boundary_factory()
            if candidate and candidate not in data:
                boundary = candidate
                break
        if not boundary:
            raise LLMError("could not draw a boundary token absent from the data; check boundary_factory")
        system = render_prompt(
            "answer", boundary=boundary, language=self.language, tone_instructions=self.tone_instructions.strip()
        )
        fixed = estimate_tokens(system) + estimate_tokens(question + title + description) + 200
        room = max(settings.max_request_tokens - fixed, MIN_CODE_TOKENS)
        code_text = _cut(code, room // 2 * 4) if code else "(none)"
        room -= estimate_tokens(code_text)
        entries: list[str] = []
        for author, text in reversed(list(thread)):
            entry = f"[{_WS.sub(' ', author).strip() or 'someone'}]: {text.strip()}"
            cost = estimate_tokens(entry) + 1
            if cost > room:
                break
            room -= cost
            entries.append(entry)
        if len(entries) < len(thread):
            entries.append(f"({len(thread) - len(entries)} earlier comments left out)")
        entries.reverse()
        user = render_prompt(
            "answer_user",
            boundary=boundary,
            title=title or "(none)",
            description=description or "(none)",
            path=json.dumps(path, ensure_ascii=False) if path else "(none)",
            code=code_text,
            thread="\n\n".join(entries) or "(no earlier comments)",
            question=question,
        )
        # An answer gets the same time limit as a review's LLM part (retries included).
        extra = {"deadline": Deadline(settings.review_timeout_s)} if self._takes_deadline else {}
        completion = self.provider.complete(
            system,
            [{"role": "user", "content": user}],
            max_tokens=settings.max_output_tokens,
            temperature=settings.temperature,
            json=False,
            **extra,
        )
        text = completion.text.replace(boundary, "").strip()
        for mention in self.bot_mentions:  # an answer must never summon the bot again
            text = re.sub(re.escape(mention), mention.lstrip("@"), text, flags=re.IGNORECASE)
        return Answer(text, Usage(completion.input_tokens, completion.output_tokens, 1))


# ---------------------------------------------------------------------------------------------


def _plan(chunks: list[Chunk], pieces: list[Piece], limit: int, request_cost: int) -> tuple[int, list[Chunk]]:
    """(estimated tokens, the chunks after adding ``pieces``); ``chunks`` is not changed.

    A piece joins the last chunk while both fit in ``limit`` and it holds fewer
    than MAX_FILES_PER_CHUNK files; otherwise it opens a new chunk, which costs
    ``request_cost`` (prompts and the output reserve) on top of the code.
    """
    placed = [Chunk(c.index, list(c.pieces)) for c in chunks]
    cost = 0
    for piece in pieces:
        tokens = piece.tokens + PIECE_OVERHEAD_TOKENS
        last = placed[-1] if placed else None
        fits = (
            last is not None
            and last.tokens + PIECE_OVERHEAD_TOKENS * len(last.pieces) + tokens <= limit
            and (piece.path in last.paths or len(last.paths) < MAX_FILES_PER_CHUNK)
        )
        if not fits:
            placed.append(Chunk(len(placed)))
            cost += request_cost
        placed[-1].pieces.append(piece)
        cost += tokens
    return cost, placed


def _takes_deadline(provider: Any) -> bool:
    """Whether ``provider.complete`` names a ``deadline`` parameter (the Provider protocol does not
    require one). A bare ``**kwargs`` does not count: it may forward to an API that rejects it."""
    try:
        parameters = inspect.signature(provider.complete).parameters
    except (TypeError, ValueError, AttributeError):
        return False
    return "deadline" in parameters


def _usable(parsed: ParsedAnswer | None) -> ParsedAnswer | None:
    """None for no answer, and for a cut-off answer that kept no finding (worth a retry)."""
    if parsed is None or (parsed.partial and not parsed.findings):
        return None
    return parsed


def _glob_regex(glob: str) -> re.Pattern[str] | None:
    from bbreview._native import core

    regex, _never = core.rules.glob_to_regex(glob)
    return re.compile(regex) if regex else None


def _cut(text: str, limit: int) -> str:
    text = text or ""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters left out]"


def _line_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value >= 1 else None


def _match_path(value: Any, paths: Sequence[str]) -> str | None:
    """The chunk path ``value`` names, tolerating ``./``, ``a/``/``b/`` prefixes and suffixes."""
    if not isinstance(value, str) or not value.strip():
        return None
    name = value.strip().strip("`\"'")
    if name in paths:
        return name
    for prefix in ("./", "a/", "b/", "/"):
        if name.startswith(prefix) and name[len(prefix) :] in paths:
            return name[len(prefix) :]
    tails = [p for p in paths if p.endswith("/" + name) or name.endswith("/" + p)]
    return tails[0] if len(tails) == 1 else None
