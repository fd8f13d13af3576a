"""The LLM part of a review is bounded: a time limit for all of a review's requests
(``llm.review_timeout_s``) and a circuit breaker for a provider that is down.

Bounds are proved by counting requests; the few timings are checked against
limits many seconds away from what a working bound takes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bbreview.diff import parse_diff
from bbreview.errors import ConfigError, LLMError
from bbreview.review import ReviewConfig, Reviewer
from bbreview.review.llm import Completion, LLMReviewer, LLMSettings, OpenAIProvider, RetryPolicy
from bbreview.review.llm.providers import Deadline
from bbreview.review.llm.reviewer import ABANDON_GRACE_S, BREAKER_FAILURES
from bbreview.testing import FakeLLM
from bbreview.testing.fake_llm import Fault

FAST = RetryPolicy(max_attempts=2, base_s=0.001, max_s=0.002)
DEADLINE_REASON = "LLM: the review's time limit (1 s) was reached"


# -- inputs ------------------------------------------------------------------------------------


def risky_file(path: str, pad: int = 0) -> str:
    """A new file with an ``eval`` (a rule finding and a FakeLLM finding) and ``pad``
    lines of filler, so that files of ~600 tokens each need a request of their own
    under ``max_request_tokens=1``."""
    lines = ["import os", "value = eval(os.environ['EXPR'])"] + [f"filler_{i} = {i}  # {'x' * 40}" for i in range(pad)]
    body = "".join(f"+{line}\n" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{body}"
    )


def diff_text(count: int, pad: int = 0) -> str:
    return "".join(risky_file(f"pkg/mod{i:02d}.py", pad) for i in range(count))


def one_per_request(count: int) -> list[Any]:
    """``count`` files that each fill one request (see :func:`risky_file`)."""
    return parse_diff(diff_text(count, pad=40)).files


# The smallest request: each file above gets a request of its own.
SMALL_REQUESTS = {"max_request_tokens": 1}


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


def dead_url() -> str:
    """An http URL on loopback where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class Counting:
    """A provider wrapper counting calls (the built-in provider's deadline support kept)."""

    def __init__(self, inner: OpenAIProvider) -> None:
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.calls = 0
        self._lock = threading.Lock()

    def complete(
        self, system: str, messages: list[dict[str, str]], *, deadline: Deadline | None = None, **kw: Any
    ) -> Completion:
        with self._lock:
            self.calls += 1
        return self.inner.complete(system, messages, deadline=deadline, **kw)


class Hanging:
    """A provider that ignores deadlines and hangs until released."""

    name, model = "hanging", "hanging-model"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def complete(
        self, system: str, messages: list[dict[str, str]], *, max_tokens: int, temperature: float = 0.0,
        json: bool = False,
    ) -> Completion:
        self.calls += 1
        self.release.wait(60)
        raise LLMError("released", provider=self.name)


# -- the review's time limit --------------------------------------------------------------------


def test_a_slow_model_is_cut_off_at_the_time_limit_and_the_rules_findings_remain() -> None:
    with FakeLLM(latency=60) as slow:
        cfg = ReviewConfig.from_dict({"llm": {"review_timeout_s": 1, "concurrency": 2}})
        provider = OpenAIProvider(slow.openai_base_url, "fake-model", timeout=30, retry=FAST)
        started = time.monotonic()
        rv = Reviewer(cfg, llm=provider).review(diff_text(3))
        elapsed = time.monotonic() - started
        # One request (three small files share it), cut at the limit and not retried.
        assert len(slow.requests) == 1
    assert elapsed < 1 + ABANDON_GRACE_S + 5  # the model would take 60 s
    assert {f.source for f in rv.findings} == {"rules"} and len(rv.findings) >= 3
    assert rv.coverage.reviewed == []
    assert dict(rv.coverage.skipped) == {f"pkg/mod{i:02d}.py": DEADLINE_REASON for i in range(3)}
    assert rv.metadata["llm_deadline_reached"] is True and rv.metadata["llm_breaker_tripped"] is False
    summary = rv.summary_markdown()
    assert DEADLINE_REASON in summary
    notes = [line for line in summary.splitlines() if "time limit (llm.review_timeout_s: 1 s)" in line]
    assert len(notes) == 1 and "1 of 1 LLM requests" in notes[0] and "3 files not reviewed" in notes[0]


def test_requests_not_started_by_the_time_limit_are_not_sent() -> None:
    with FakeLLM(latency=60) as slow:
        provider = OpenAIProvider(slow.openai_base_url, "fake-model", timeout=30, retry=FAST)
        settings = LLMSettings(review_timeout_s=1, concurrency=2, **SMALL_REQUESTS)
        result = LLMReviewer(provider, settings).review(one_per_request(8))
        assert len(slow.requests) == 2  # the two running at the limit; the six others never sent
    assert result.deadline_reached and not result.breaker_tripped
    assert result.reviewed == [] and len(result.skipped) == 8
    assert {reason for _, reason in result.skipped} == {DEADLINE_REASON}
    assert len(result.errors) == 1 and "8 of 8 LLM requests" in result.errors[0]


def test_answers_before_the_time_limit_are_kept() -> None:
    with FakeLLM() as fake:
        fake.script([{"findings": [], "summary": {}}, Fault.timeout(60), Fault.timeout(60)])
        provider = OpenAIProvider(fake.openai_base_url, "fake-model", timeout=30, retry=FAST)
        settings = LLMSettings(review_timeout_s=1, concurrency=1, **SMALL_REQUESTS)
        result = LLMReviewer(provider, settings).review(one_per_request(3))
        assert len(fake.requests) == 2
    assert result.reviewed == ["pkg/mod00.py"]
    assert result.skipped == [("pkg/mod01.py", DEADLINE_REASON), ("pkg/mod02.py", DEADLINE_REASON)]
    assert result.deadline_reached


def test_a_provider_that_ignores_the_deadline_is_abandoned_after_a_grace() -> None:
    hanging = Hanging()
    try:
        settings = LLMSettings(review_timeout_s=1, concurrency=2, **SMALL_REQUESTS)
        started = time.monotonic()
        result = LLMReviewer(hanging, settings).review(one_per_request(4))
        elapsed = time.monotonic() - started
    finally:
        hanging.release.set()
    assert elapsed < 1 + ABANDON_GRACE_S + 5  # the provider would hang for 60 s
    assert hanging.calls == 2
    assert result.deadline_reached and {reason for _, reason in result.skipped} == {DEADLINE_REASON}
    assert len(result.skipped) == 4


def test_a_retry_that_cannot_finish_before_the_time_limit_is_not_made(llm: FakeLLM) -> None:
    llm.script([Fault.server_error(503)] * 10)
    slow_backoff = RetryPolicy(max_attempts=4, base_s=30, max_s=30)
    provider = OpenAIProvider(llm.openai_base_url, "fake-model", timeout=30, retry=slow_backoff)
    started = time.monotonic()
    with pytest.raises(LLMError, match="time limit leaves no time"):
        provider.complete("system", [{"role": "user", "content": "json please"}], max_tokens=50,
                          deadline=Deadline(2))
    assert time.monotonic() - started < 10 and len(llm.requests) == 1


def test_an_expired_or_cancelled_deadline_sends_nothing(llm: FakeLLM) -> None:
    provider = OpenAIProvider(llm.openai_base_url, "fake-model", retry=FAST)
    cancelled = Deadline(60)
    cancelled.cancel()
    for deadline in (Deadline(0), cancelled):
        with pytest.raises(LLMError, match="not sent"):
            provider.complete("system", [{"role": "user", "content": "hi"}], max_tokens=50, deadline=deadline)
    assert len(llm.requests) == 0


# -- the circuit breaker ------------------------------------------------------------------------


def test_a_server_that_always_fails_gets_a_bounded_number_of_requests(llm: FakeLLM) -> None:
    llm.script([Fault.server_error(500)] * 200)
    provider = OpenAIProvider(llm.openai_base_url, "fake-model", retry=FAST)
    settings = LLMSettings(concurrency=2, **SMALL_REQUESTS)
    result = LLMReviewer(provider, settings).review(one_per_request(20))
    # Without the breaker: 20 chunks x 2 attempts. With it: the chunks that fail before it
    # trips, plus those already running then.
    assert len(llm.requests) <= (BREAKER_FAILURES + settings.concurrency - 1) * FAST.max_attempts
    assert result.breaker_tripped and not result.deadline_reached
    reasons = dict(result.skipped)
    assert len(reasons) == 20 and result.reviewed == []
    tripped = "LLM: skipped after repeated failures (the provider failed with HTTP 500)"
    assert sum(reason == tripped for reason in reasons.values()) >= 20 - BREAKER_FAILURES - settings.concurrency + 1
    notes = [e for e in result.errors if e.startswith("The LLM review stopped")]
    assert len(notes) == 1 and "after repeated failures (the provider failed with HTTP 500)" in notes[0]


def test_an_unreachable_server_trips_the_breaker_without_naming_its_address() -> None:
    url = dead_url()
    provider = Counting(OpenAIProvider(url, "fake-model", retry=FAST))
    settings = LLMSettings(concurrency=2, **SMALL_REQUESTS)
    result = LLMReviewer(provider, settings).review(one_per_request(15))
    assert provider.calls <= BREAKER_FAILURES + settings.concurrency - 1
    assert result.breaker_tripped
    reasons = dict(result.skipped)
    assert len(reasons) == 15
    tripped = "LLM: skipped after repeated failures (the provider could not be reached)"
    assert list(reasons.values()).count(tripped) >= 15 - provider.calls
    port = url.rsplit(":", 1)[1].split("/")[0]
    for text in [*reasons.values(), *result.errors]:
        assert "127.0.0.1" not in text and port not in text and "http" not in text.lower().replace("http ", "")


def test_rejected_credentials_stop_the_review_after_one_request() -> None:
    with FakeLLM(api_key="sk-the-right-key-0123456789") as fake:
        provider = OpenAIProvider(fake.openai_base_url, "fake-model", "sk-a-wrong-key-0123456789", retry=FAST)
        settings = LLMSettings(concurrency=1, **SMALL_REQUESTS)
        result = LLMReviewer(provider, settings).review(one_per_request(6))
        assert len(fake.requests) == 1  # 401 is not retried, and one stops the review
    assert result.breaker_tripped
    reason = "LLM: skipped because the provider rejected the credentials (HTTP 401); check the API key setting"
    assert [r for _, r in result.skipped][1:] == [reason] * 5
    assert all("sk-" not in text for text in [*(r for _, r in result.skipped), *result.errors])


def test_rate_limits_between_answers_do_not_trip_the_breaker(llm: FakeLLM) -> None:
    answer = {"findings": [], "summary": {}}
    # Each odd request exhausts its retries on 429; each even one is answered.
    llm.script([Fault.rate_limited(), Fault.rate_limited(), answer] * 4)
    provider = OpenAIProvider(llm.openai_base_url, "fake-model", retry=FAST)
    settings = LLMSettings(concurrency=1, **SMALL_REQUESTS)
    result = LLMReviewer(provider, settings).review(one_per_request(8))
    assert not result.breaker_tripped and len(llm.requests) == 12
    assert len(result.reviewed) == 4
    assert all("HTTP 429" in reason for _, reason in result.skipped)


def test_rate_limits_that_outlast_the_retries_again_and_again_trip_the_breaker(llm: FakeLLM) -> None:
    llm.script([Fault.rate_limited()] * 100)
    provider = OpenAIProvider(llm.openai_base_url, "fake-model", retry=FAST)
    settings = LLMSettings(concurrency=1, **SMALL_REQUESTS)
    result = LLMReviewer(provider, settings).review(one_per_request(8))
    assert result.breaker_tripped and len(llm.requests) == BREAKER_FAILURES * FAST.max_attempts
    assert dict(result.skipped)["pkg/mod07.py"] == (
        "LLM: skipped after repeated failures (the provider kept limiting the request rate (HTTP 429))"
    )


def test_errors_that_are_not_about_availability_do_not_trip_the_breaker(llm: FakeLLM) -> None:
    llm.script([Fault.http(400, {"error": {"message": "bad request"}})] * 5)
    provider = OpenAIProvider(llm.openai_base_url, "fake-model", retry=FAST)
    settings = LLMSettings(concurrency=1, **SMALL_REQUESTS)
    result = LLMReviewer(provider, settings).review(one_per_request(5))
    assert not result.breaker_tripped and len(llm.requests) == 5


def test_the_pipeline_records_a_tripped_breaker(llm: FakeLLM) -> None:
    llm.script([Fault.server_error(502)] * 200)
    provider = OpenAIProvider(llm.openai_base_url, "fake-model", retry=FAST)
    reviewer = LLMReviewer(provider, LLMSettings(concurrency=1, **SMALL_REQUESTS))
    rv = Reviewer(ReviewConfig.default(), llm=reviewer).review(diff_text(6, pad=40))
    assert len(llm.requests) == BREAKER_FAILURES * FAST.max_attempts
    assert rv.metadata["llm_breaker_tripped"] is True and rv.metadata["llm_deadline_reached"] is False
    assert {f.source for f in rv.findings} == {"rules"}
    skipped = dict(rv.coverage.skipped)
    assert len(skipped) == 6
    assert list(skipped.values()).count("LLM: skipped after repeated failures (the provider failed with HTTP 502)") == 3
    summary = rv.summary_markdown()
    assert sum("The LLM review stopped after repeated failures" in line for line in summary.splitlines()) == 1


def test_a_review_without_trouble_records_no_limit(llm: FakeLLM) -> None:
    provider = OpenAIProvider(llm.openai_base_url, "fake-model", retry=FAST)
    rv = Reviewer(ReviewConfig.default(), llm=provider).review(diff_text(2))
    assert rv.metadata["llm_deadline_reached"] is False and rv.metadata["llm_breaker_tripped"] is False
    assert rv.coverage.skipped == [] and not rv.errors
    assert Reviewer(ReviewConfig.default()).review(diff_text(1)).metadata["llm_deadline_reached"] is False


# -- configuration ------------------------------------------------------------------------------


def test_review_timeout_s_defaults_to_five_minutes_and_reaches_the_settings() -> None:
    assert ReviewConfig.default().llm.review_timeout_s == 300.0 == LLMSettings().review_timeout_s
    cfg = ReviewConfig.from_yaml("llm:\n  provider: openai\n  model: m\n  review_timeout_s: 42\n")
    assert cfg.llm.review_timeout_s == 42.0
    assert LLMSettings.from_config(cfg.llm, env={}).review_timeout_s == 42.0


@pytest.mark.parametrize("value", ["-5", "0", "soon", "true", "3601", "[1]"])
def test_an_invalid_review_timeout_s_is_a_config_error_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        ReviewConfig.from_yaml(f"llm:\n  review_timeout_s: {value}\n")
    assert info.value.key == "llm.review_timeout_s" and info.value.line == 2
    assert "llm.review_timeout_s" in str(info.value)


@pytest.mark.parametrize("value", [-1, 0, "300", True, float("nan")])
def test_llm_settings_reject_an_invalid_review_timeout_s(value: Any) -> None:
    with pytest.raises(LLMError, match="llm.review_timeout_s"):
        LLMSettings(review_timeout_s=value).validate()


def test_a_call_timeout_longer_than_the_review_time_limit_is_warned_about() -> None:
    cfg = ReviewConfig.from_yaml("llm:\n  provider: openai\n  timeout_s: 600\n  review_timeout_s: 300\n")
    assert any("llm.timeout_s" in w and "review_timeout_s" in w for w in cfg.check())


def test_an_answer_in_a_thread_has_the_same_time_limit() -> None:
    with FakeLLM(latency=60) as slow:
        provider = OpenAIProvider(slow.openai_base_url, "fake-model", timeout=30, retry=FAST)
        reviewer = LLMReviewer(provider, LLMSettings(review_timeout_s=1))
        with pytest.raises(LLMError):
            reviewer.answer("is this exploitable?", code="eval(x)", path="app.py")
        assert len(slow.requests) == 1  # cut off at the limit, not retried past it


def test_every_llm_key_the_settings_share_reaches_the_reviewer_through_the_pipeline() -> None:
    import dataclasses

    cfg = ReviewConfig.from_yaml(
        "llm:\n  provider: openai\n  model: m\n  max_tokens_per_review: 1234\n  max_output_tokens: 321\n"
        "  concurrency: 3\n  timeout_s: 7\n  temperature: 0.5\n  review_timeout_s: 42\n"
    )
    provider = OpenAIProvider("http://127.0.0.1:9/v1", "m")
    settings = Reviewer(cfg, llm=provider).llm().settings
    shared = {f.name for f in dataclasses.fields(LLMSettings)} & {f.name for f in dataclasses.fields(cfg.llm)}
    assert {"review_timeout_s", "concurrency", "timeout_s"} <= shared
    for name in shared:
        assert getattr(settings, name) == getattr(cfg.llm, name), name
