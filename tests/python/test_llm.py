"""LLM providers against FakeLLM: both protocols, errors, retries and the fake's own fidelity."""

from __future__ import annotations

import json
import pickle
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from bbreview.errors import LLMError
from bbreview.review.llm import (
    PROMPT_VERSION,
    AnthropicProvider,
    LLMSettings,
    OpenAIProvider,
    Provider,
    RetryPolicy,
    load_prompt,
    make_provider,
    parse_review_json,
    render_prompt,
)
from bbreview.review.llm.prompts import PROMPTS_DIR
from bbreview.testing import FakeLLM
from bbreview.testing.fake_llm import Fault

KEY = "sk-test-0123456789abcdef"
FAST = RetryPolicy(max_attempts=3, base_s=0.001, max_s=0.002)
HELLO = [{"role": "user", "content": "Say hello in JSON."}]


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


def openai(llm: FakeLLM, sleeps: list[float], key: str | None = KEY, **kw) -> OpenAIProvider:
    kw.setdefault("retry", FAST)
    return OpenAIProvider(llm.openai_base_url, "gpt-fake", key, sleep=sleeps.append, **kw)


def anthropic(llm: FakeLLM, sleeps: list[float], key: str | None = KEY, **kw) -> AnthropicProvider:
    kw.setdefault("retry", FAST)
    return AnthropicProvider(llm.anthropic_base_url, "claude-fake", key, sleep=sleeps.append, **kw)


PROVIDERS = [openai, anthropic]


def post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json",
                                                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


# -- happy paths ---------------------------------------------------------------------------


def test_openai_sends_chat_completions_and_reads_usage(llm: FakeLLM, sleeps: list[float]) -> None:
    llm.script(['{"greeting": "hello"}'])
    provider = openai(llm, sleeps, organization="org-1", extra_headers={"X-Trace": "t1"})
    assert isinstance(provider, Provider)
    completion = provider.complete("You are terse.", HELLO, max_tokens=50, temperature=0.2, json=True)

    assert completion.text == '{"greeting": "hello"}'
    assert completion.finish_reason == "stop"
    assert completion.model == "gpt-fake"
    req = llm.requests[-1]
    assert (req.protocol, req.path) == ("openai", "/v1/chat/completions")
    assert req.body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert req.body["messages"][1:] == HELLO
    assert req.body["max_tokens"] == 50 and req.body["temperature"] == 0.2
    assert req.body["response_format"] == {"type": "json_object"}
    assert req.headers["authorization"] == "[redacted]"
    assert req.headers["openai-organization"] == "org-1" and req.headers["x-trace"] == "t1"
    assert (completion.input_tokens, completion.output_tokens) == (req.input_tokens, req.output_tokens)
    assert completion.input_tokens > 0 and completion.output_tokens > 0


def test_openai_without_json_sends_no_response_format(llm: FakeLLM, sleeps: list[float]) -> None:
    openai(llm, sleeps).complete("", HELLO, max_tokens=20)
    body = llm.requests[-1].body
    assert "response_format" not in body
    assert body["messages"] == HELLO  # no empty system message


def test_anthropic_sends_messages_with_top_level_system(llm: FakeLLM, sleeps: list[float]) -> None:
    llm.script(["hello"])
    completion = anthropic(llm, sleeps).complete("You are terse.", HELLO, max_tokens=64)

    assert completion.text == "hello"
    assert completion.finish_reason == "stop"
    req = llm.requests[-1]
    assert (req.protocol, req.path) == ("anthropic", "/v1/messages")
    assert req.body["system"] == "You are terse."
    assert req.body["messages"] == HELLO
    assert req.body["max_tokens"] == 64
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["x-api-key"] == "[redacted]"
    assert (completion.input_tokens, completion.output_tokens) == (req.input_tokens, req.output_tokens)


def test_anthropic_folds_system_messages_and_merges_turns(llm: FakeLLM, sleeps: list[float]) -> None:
    messages = [
        {"role": "system", "content": "Extra rule."},
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ]
    anthropic(llm, sleeps).complete("Base.", messages, max_tokens=16)
    body = llm.requests[-1].body
    assert body["system"] == "Base.\n\nExtra rule."
    assert body["messages"] == [{"role": "user", "content": "one\n\ntwo"}]


def test_local_server_needs_no_key() -> None:
    with FakeLLM() as fake:
        text = OpenAIProvider(fake.openai_base_url, "llama").complete("", HELLO, max_tokens=10).text
        assert "authorization" not in fake.requests[-1].headers
        assert text


def test_azure_style_query_string_is_kept(llm: FakeLLM, sleeps: list[float]) -> None:
    provider = OpenAIProvider(f"{llm.url}/v1?api-version=2024-06-01", "dep", KEY, sleep=sleeps.append)
    provider.complete("", HELLO, max_tokens=10)
    req = llm.requests[-1]
    assert (req.path, req.query) == ("/v1/chat/completions", "api-version=2024-06-01")


def test_openai_compatible_path_without_v1(llm: FakeLLM, sleeps: list[float]) -> None:
    OpenAIProvider(llm.url, "m", KEY).complete("", HELLO, max_tokens=10)
    assert llm.requests[-1].path == "/chat/completions"


def test_repr_never_shows_the_key(llm: FakeLLM, sleeps: list[float]) -> None:
    for make in PROVIDERS:
        assert KEY not in repr(make(llm, sleeps))


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make,env", [(openai, "$OPENAI_API_KEY"), (anthropic, "$ANTHROPIC_API_KEY")])
def test_wrong_key_names_the_variable_but_never_the_key(llm: FakeLLM, sleeps: list[float], make, env) -> None:
    wrong = "sk-wrong-key-9876543210fedcba"
    with pytest.raises(LLMError) as info:
        make(llm, sleeps, key=wrong).complete("", HELLO, max_tokens=10)
    err = info.value
    assert err.status == 401 and not err.retryable
    assert f"check the API key in {env}" in str(err)
    assert wrong not in str(err) and wrong[-4:] not in str(err)
    assert len(llm.requests) == 1  # 401 is not retried
    assert wrong not in repr(pickle.loads(pickle.dumps(err)))


@pytest.mark.parametrize("make", PROVIDERS)
def test_missing_key_is_401_with_a_hint(llm: FakeLLM, sleeps: list[float], make) -> None:
    with pytest.raises(LLMError, match=r"no key was sent") as info:
        make(llm, sleeps, key=None).complete("", HELLO, max_tokens=10)
    assert info.value.status == 401


@pytest.mark.parametrize("make", PROVIDERS)
def test_429_is_retried_then_succeeds(llm: FakeLLM, sleeps: list[float], make) -> None:
    llm.script([Fault.rate_limited(), Fault.rate_limited(), "finally"])
    assert make(llm, sleeps).complete("", HELLO, max_tokens=10).text == "finally"
    assert [r.status for r in llm.requests] == [429, 429, 200]
    assert len(sleeps) == 2 and all(0 < s <= FAST.max_s for s in sleeps)


@pytest.mark.parametrize("make", PROVIDERS)
def test_retry_after_is_honoured(llm: FakeLLM, sleeps: list[float], make) -> None:
    llm.script([Fault.rate_limited(retry_after=7), "ok"])
    make(llm, sleeps).complete("", HELLO, max_tokens=10)
    assert sleeps == [7.0]


def test_retry_after_beyond_the_cap_fails_at_once(llm: FakeLLM, sleeps: list[float]) -> None:
    llm.script([Fault.rate_limited(retry_after=3600), "never"])
    with pytest.raises(LLMError, match="asks to wait 3600 s") as info:
        openai(llm, sleeps).complete("", HELLO, max_tokens=10)
    assert info.value.retryable and info.value.status == 429
    assert sleeps == [] and llm.pending == 1


@pytest.mark.parametrize("make", PROVIDERS)
def test_persistent_5xx_gives_up_after_bounded_attempts(llm: FakeLLM, sleeps: list[float], make) -> None:
    llm.script([Fault.server_error(500)] * 5)
    with pytest.raises(LLMError, match="gave up after 3 attempts") as info:
        make(llm, sleeps).complete("", HELLO, max_tokens=10)
    assert info.value.status == 500 and info.value.retryable
    assert len(llm.requests) == FAST.max_attempts


def test_overloaded_is_retried(llm: FakeLLM, sleeps: list[float]) -> None:
    llm.script([Fault.overloaded(), "ok"])
    assert anthropic(llm, sleeps).complete("", HELLO, max_tokens=10).text == "ok"
    assert llm.requests[0].status == 529
    llm.script([Fault.overloaded(), "ok"])
    assert openai(llm, sleeps).complete("", HELLO, max_tokens=10).text == "ok"
    assert llm.requests[2].status == 503


@pytest.mark.parametrize("make", PROVIDERS)
def test_timeout_is_retryable(llm: FakeLLM, sleeps: list[float], make) -> None:
    llm.script([Fault.timeout(30)])
    provider = make(llm, sleeps, timeout=0.3, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(LLMError, match="timed out") as info:
        provider.complete("", HELLO, max_tokens=10)
    assert info.value.retryable and info.value.status == 0


def test_timeout_then_success(llm: FakeLLM, sleeps: list[float]) -> None:
    llm.script([Fault.timeout(30), "late but fine"])
    assert openai(llm, sleeps, timeout=0.3).complete("", HELLO, max_tokens=10).text == "late but fine"


def test_dropped_connection_is_retried(llm: FakeLLM, sleeps: list[float]) -> None:
    llm.script([Fault.drop(), "ok"])
    assert openai(llm, sleeps).complete("", HELLO, max_tokens=10).text == "ok"
    assert len(sleeps) == 1


def test_non_json_success_body_is_not_retried(llm: FakeLLM, sleeps: list[float]) -> None:
    llm.script([Fault.http(200, "<html>proxy says hi</html>")])
    with pytest.raises(LLMError, match="not a JSON object") as info:
        openai(llm, sleeps).complete("", HELLO, max_tokens=10)
    assert not info.value.retryable


def test_unknown_model_is_404_with_a_hint(sleeps: list[float]) -> None:
    with FakeLLM(models=["real-model"]) as fake:
        with pytest.raises(LLMError, match="does not exist.*check the base URL") as info:
            OpenAIProvider(fake.openai_base_url, "typo-model").complete("", HELLO, max_tokens=10)
        assert info.value.status == 404 and not info.value.retryable


# -- large and cut answers ---------------------------------------------------------------------


@pytest.mark.parametrize("make", PROVIDERS)
def test_huge_output_arrives_whole(llm: FakeLLM, sleeps: list[float], make) -> None:
    llm.enforce_max_tokens = False  # a server that ignores max_tokens
    llm.script([Fault.huge(size=2_000_000)])
    prompt = [{"role": "user", "content": '<<<BEGIN FILE t>>> path: "a.py" (added)\n   1 + eval(x)\n<<<END FILE t>>>'}]
    completion = make(llm, sleeps).complete("", prompt, max_tokens=4096)
    assert len(completion.text) >= 2_000_000
    assert len(json.loads(completion.text)["findings"]) > 100


@pytest.mark.parametrize("make", PROVIDERS)
def test_answers_longer_than_max_tokens_are_cut(llm: FakeLLM, sleeps: list[float], make) -> None:
    llm.script(["x" * 1000])
    completion = make(llm, sleeps).complete("", HELLO, max_tokens=10)
    assert completion.finish_reason == "length"
    assert completion.output_tokens == 10 and len(completion.text) == 40


@pytest.mark.parametrize("make", PROVIDERS)
def test_fenced_and_truncated_answers_parse(llm: FakeLLM, sleeps: list[float], make) -> None:
    payload = {"findings": [{"path": "a.py", "start_line": n, "title": f"t{n}", "body": "b"} for n in range(1, 6)]}
    llm.script([Fault.fenced(payload), Fault.truncated(payload, keep=0.7), Fault.malformed_json()])
    provider = make(llm, sleeps)
    fenced = parse_review_json(provider.complete("", HELLO, max_tokens=4000).text)
    assert fenced is not None and fenced.findings == payload["findings"] and not fenced.partial
    cut = provider.complete("", HELLO, max_tokens=4000)
    assert cut.finish_reason == "length"
    partial = parse_review_json(cut.text)
    assert partial is not None and partial.partial
    assert 1 <= len(partial.findings) < 5 and partial.findings == payload["findings"][: len(partial.findings)]
    assert parse_review_json(provider.complete("", HELLO, max_tokens=4000).text) is None


# -- the fake validates like the real services ------------------------------------------------


def test_fake_openai_rejects_bad_requests_with_real_shapes(llm: FakeLLM) -> None:
    url = f"{llm.openai_base_url}/chat/completions"
    auth = {"Authorization": f"Bearer {KEY}"}
    status, body = post(url, {"messages": HELLO}, auth)
    assert status == 400
    assert body == {"error": {"message": "you must provide a model parameter", "type": "invalid_request_error",
                              "param": None, "code": None}}
    status, body = post(url, {"model": "m"}, auth)
    assert status == 400 and body["error"]["code"] == "missing_required_parameter"
    assert body["error"]["param"] == "messages"
    status, body = post(url, {"model": "m", "messages": []}, auth)
    assert status == 400 and body["error"]["code"] == "empty_array"
    status, body = post(url, {"model": "m", "messages": [{"role": "bot", "content": "x"}]}, auth)
    assert status == 400 and body["error"]["param"] == "messages[0].role"
    status, body = post(url, {"model": "m", "messages": HELLO, "max_tokens": 0}, auth)
    assert status == 400 and body["error"]["code"] == "integer_below_min_value"
    no_json_word = [{"role": "user", "content": "hi"}]
    status, body = post(url, {"model": "m", "messages": no_json_word, "response_format": {"type": "json_object"}}, auth)
    assert status == 400 and "must contain the word 'json'" in body["error"]["message"]
    status, body = post(url, b"{not json", auth)
    assert status == 400 and "could not parse the JSON body" in body["error"]["message"]
    status, body = post(url, {"model": "m", "messages": HELLO}, {"Authorization": "Bearer sk-nope-000000000"})
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert "sk-nope-000000000" not in body["error"]["message"]


def test_fake_anthropic_rejects_bad_requests_with_real_shapes(llm: FakeLLM) -> None:
    url = f"{llm.anthropic_base_url}/v1/messages"
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    ok = {"model": "m", "max_tokens": 10, "messages": HELLO}
    for missing in ("model", "max_tokens", "messages"):
        status, body = post(url, {k: v for k, v in ok.items() if k != missing}, headers)
        assert status == 400
        assert body["type"] == "error"
        assert body["error"] == {"type": "invalid_request_error", "message": f"{missing}: Field required"}
    status, body = post(url, {**ok, "messages": [{"role": "system", "content": "x"}, *HELLO]}, headers)
    assert status == 400 and 'Unexpected role "system"' in body["error"]["message"]
    status, body = post(url, {**ok, "messages": HELLO * 2}, headers)
    assert status == 400 and "must alternate" in body["error"]["message"]
    status, body = post(url, ok, {"x-api-key": KEY})
    assert status == 400 and body["error"]["message"] == "anthropic-version: header is required"
    status, body = post(url, ok, {"anthropic-version": "2023-06-01"})
    assert status == 401 and body["error"]["type"] == "authentication_error"
    status, body = post(url, ok, headers)
    assert status == 200 and body["type"] == "message" and body["content"][0]["type"] == "text"


def test_fake_answers_unknown_paths_with_404(llm: FakeLLM) -> None:
    status, body = post(f"{llm.url}/v2/engines", {"x": 1})
    assert status == 404 and "Invalid URL" in body["error"]["message"]


def test_fake_is_a_context_manager_with_urls() -> None:
    fake = FakeLLM()
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.url
    with fake:
        assert fake.url.startswith("http://127.0.0.1:")
        assert fake.openai_base_url == fake.url + "/v1"
        assert fake.anthropic_base_url == fake.url
    assert fake.port is None


# -- configuration -------------------------------------------------------------------------------


class Cfg:
    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


def test_make_provider_returns_none_without_a_provider() -> None:
    assert make_provider(Cfg(provider=None), env={}) is None
    assert make_provider(Cfg(provider="none"), env={}) is None
    assert make_provider(LLMSettings(), env={}) is None


def test_make_provider_names_the_missing_key_variable() -> None:
    with pytest.raises(LLMError, match=r"set the environment variable OPENAI_API_KEY"):
        make_provider(Cfg(provider="openai", model="gpt-4o"), env={})
    with pytest.raises(LLMError, match=r"set the environment variable MY_CLAUDE_KEY"):
        make_provider(Cfg(provider="anthropic", model="claude", api_key_env="MY_CLAUDE_KEY"), env={})


def test_make_provider_rejects_unknown_provider_and_missing_model() -> None:
    with pytest.raises(LLMError, match="unknown provider 'gemini'"):
        make_provider(Cfg(provider="gemini", model="x"), env={})
    with pytest.raises(LLMError, match="BBREVIEW_LLM_MODEL"):
        make_provider(Cfg(provider="openai"), env={"OPENAI_API_KEY": "k"})


def test_make_provider_reads_config_env_and_overrides(llm: FakeLLM) -> None:
    env = {"ANTHROPIC_API_KEY": KEY, "BBREVIEW_LLM_BASE_URL": llm.anthropic_base_url}
    provider = make_provider(Cfg(provider="anthropic", model="claude-x", timeout_s=5), env=env)
    assert isinstance(provider, AnthropicProvider)
    assert (provider.model, provider.base_url, provider.timeout) == ("claude-x", llm.anthropic_base_url, 5.0)
    assert provider.complete("", HELLO, max_tokens=8).text

    env = {"BBREVIEW_LLM_PROVIDER": "openai", "BBREVIEW_LLM_MODEL": "llama3",
           "BBREVIEW_LLM_BASE_URL": "http://127.0.0.1:1/v1"}
    local = make_provider(Cfg(provider="none"), env=env)  # a local server: no key needed
    assert isinstance(local, OpenAIProvider) and local.model == "llama3"


def test_settings_defaults_and_validation() -> None:
    settings = LLMSettings.from_config(Cfg(provider="openai", concurrency=None), env={})
    assert (settings.max_tokens_per_review, settings.max_output_tokens, settings.concurrency) == (200_000, 4096, 4)
    assert (settings.timeout_s, settings.temperature) == (120.0, 0.0)
    with pytest.raises(LLMError, match="llm.concurrency"):
        LLMSettings.from_config(Cfg(concurrency=0), env={})


# -- prompts -----------------------------------------------------------------------------------


def test_prompt_version_hashes_the_template_files() -> None:
    import hashlib

    h = hashlib.sha256()
    for path in sorted(PROMPTS_DIR.glob("*.md")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    assert PROMPT_VERSION == h.hexdigest()[:12]
    assert {"review", "review_user", "answer"} <= {p.stem for p in PROMPTS_DIR.glob("*.md")}


def test_templates_render_and_untrusted_dollars_stay_literal() -> None:
    assert "$boundary" in load_prompt("review").template
    text = render_prompt("review_retry", problem="costs $HOME and ${x}")
    assert "costs $HOME and ${x}" in text
    with pytest.raises(KeyError, match=r"needs a value for \$problem"):
        render_prompt("review_retry")
