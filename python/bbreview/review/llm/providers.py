"""LLM providers: the OpenAI-compatible chat completions API and the Anthropic
Messages API, both over bbreview's native HTTP client.

A provider sends one request and returns a :class:`Completion`. Failures raise
:class:`~bbreview.errors.LLMError`; ``retryable`` is True for 429, 408, 5xx,
timeouts and dropped connections, and those are retried here with jittered
exponential backoff (:class:`RetryPolicy`). The native client never retries a
POST by itself, so this module owns every retry. API keys are sent in headers
only and never appear in an error message.

A :class:`Deadline` bounds a whole review's calls: a provider given one sends
no attempt after it, cuts each attempt's timeout to the time left and waits
for no retry that cannot finish before it.
"""

from __future__ import annotations

import abc
import json as jsonlib
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from bbreview.errors import LLMError

__all__ = [
    "Completion",
    "Deadline",
    "Provider",
    "RetryPolicy",
    "OpenAIProvider",
    "AnthropicProvider",
    "LLMSettings",
    "make_provider",
    "DEFAULT_OPENAI_BASE_URL",
    "DEFAULT_ANTHROPIC_BASE_URL",
    "DEFAULT_ANTHROPIC_VERSION",
]

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
#: The Messages API version header value (required by Anthropic).
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

#: Attempts per completion, the first one included.
MAX_ATTEMPTS = 4
#: First backoff delay; doubles per retry, capped at BACKOFF_MAX_S, with equal jitter.
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 30.0
#: A server's Retry-After is honoured up to this long; longer waits fail the call instead.
MAX_RETRY_AFTER_S = 60.0
#: Connections per provider host (requests beyond it queue in the native client).
DEFAULT_MAX_CONNECTIONS = 8
#: Characters of a server's error message kept in an LLMError.
MAX_ERROR_MESSAGE_CHARS = 300
#: An attempt with less time than this left before the deadline is not sent:
#: it could not even connect, let alone get an answer.
MIN_ATTEMPT_S = 0.05

_RETRYABLE_TRANSPORT = {"timeout", "reset", "connect", "resolve", "protocol", "shutdown"}
# Things that look like keys in a server message (OpenAI echoes a masked key on 401).
_KEY_LIKE = re.compile(r"\b(?:sk|pk|key|sess)-[A-Za-z0-9_*\-]{4,}|\b[A-Za-z0-9_\-]{32,}\b")


@dataclass(frozen=True)
class Completion:
    """One model answer.

    ``finish_reason`` is normalised: ``"stop"`` (the model finished),
    ``"length"`` (cut at max_tokens), or the provider's own word otherwise.
    """

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    finish_reason: str


class Deadline:
    """When a review's LLM calls must end: an instant on ``clock`` (default
    :func:`time.monotonic`), or none, plus :meth:`cancel` to end them now.

    Thread-safe: the reviewer shares one among its worker threads, and a
    provider reads it before each attempt and retry.
    """

    def __init__(self, seconds: float | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.seconds = seconds
        self.at = None if seconds is None else clock() + seconds
        self._cancelled = threading.Event()

    def remaining(self) -> float:
        """Seconds left: 0 once passed or cancelled, ``math.inf`` without a limit."""
        if self._cancelled.is_set():
            return 0.0
        return math.inf if self.at is None else max(self.at - self._clock(), 0.0)

    def until(self) -> float:
        """Seconds until the instant itself (``math.inf`` without one), cancelled or not."""
        return math.inf if self.at is None else max(self.at - self._clock(), 0.0)

    @property
    def passed(self) -> bool:
        """Whether the instant has come (cancellation aside)."""
        return self.at is not None and self._clock() >= self.at

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def expired(self) -> bool:
        """Whether no call may start any more: passed or cancelled."""
        return self.remaining() <= 0

    def cancel(self) -> None:
        """Ends the calls now: no further attempt or retry starts (one in flight runs to its timeout)."""
        self._cancelled.set()

    def wait(self, seconds: float) -> None:
        """Sleeps ``seconds``, at most until the deadline, waking at once on :meth:`cancel`."""
        self._cancelled.wait(max(min(seconds, self.until()), 0.0))


@runtime_checkable
class Provider(Protocol):
    """What the reviewer needs from an LLM service."""

    name: str
    model: str

    def complete(
        self,
        system: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json: bool = False,
    ) -> Completion:
        """The model's answer to ``messages`` (dicts with ``role`` and ``content``).

        ``json=True`` asks for a JSON object where the protocol can say so.
        Raises LLMError; the provider has already retried retryable failures.

        A provider may also take ``deadline: Deadline | None = None`` (the
        built-in ones do; the reviewer passes it to providers whose
        ``complete`` names it): then it starts no attempt or retry once the
        deadline has expired, and no attempt outlives it.
        """
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with "equal jitter" backoff (half fixed, half random)."""

    max_attempts: int = MAX_ATTEMPTS
    base_s: float = BACKOFF_BASE_S
    max_s: float = BACKOFF_MAX_S
    max_retry_after_s: float = MAX_RETRY_AFTER_S

    def delay(self, retry: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        cap = min(self.max_s, self.base_s * (2 ** (retry - 1)))
        return cap / 2 + (rng or random).uniform(0, cap / 2)


@dataclass
class LLMSettings:
    """The LLM part of the configuration, with its defaults.

    ``max_tokens_per_review`` bounds input plus output tokens of one review;
    ``max_request_tokens`` bounds the (estimated) input of one request, which
    decides how large files are split. ``timeout_s`` bounds one attempt of one
    request, ``review_timeout_s`` all of a review's requests, retries included.
    """

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    max_tokens_per_review: int = 200_000
    max_output_tokens: int = 4096
    concurrency: int = 4
    timeout_s: float = 120.0
    temperature: float = 0.0
    max_request_tokens: int = 24_000
    review_timeout_s: float = 300.0

    @classmethod
    def from_config(cls, llm_config: Any = None, env: Mapping[str, str] | None = None) -> LLMSettings:
        """Settings from any object with the same attribute names (missing or None
        attributes keep their defaults), then ``BBREVIEW_LLM_PROVIDER``,
        ``BBREVIEW_LLM_MODEL`` and ``BBREVIEW_LLM_BASE_URL`` from ``env``."""
        env = os.environ if env is None else env
        defaults = cls()
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            value = getattr(llm_config, name, None) if llm_config is not None else None
            values[name] = getattr(defaults, name) if value is None else value
        for name in ("provider", "model", "base_url"):
            override = env.get(f"BBREVIEW_LLM_{name.upper()}")
            if override:
                values[name] = override
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raises LLMError naming the first out-of-range field."""
        for name in ("max_tokens_per_review", "max_output_tokens", "concurrency", "max_request_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LLMError(f"llm.{name} must be a whole number of at least 1, not {value!r}")
        for name in ("timeout_s", "review_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise LLMError(f"llm.{name} must be a positive number of seconds, not {value!r}")
        if not isinstance(self.temperature, int | float) or not 0 <= self.temperature <= 2:
            raise LLMError(f"llm.temperature must be between 0 and 2, not {self.temperature!r}")

    @property
    def provider_name(self) -> str | None:
        """``"openai"``, ``"anthropic"`` or None (no LLM review)."""
        name = (self.provider or "").strip().lower()
        return None if name in ("", "none", "off", "false") else name


# ---------------------------------------------------------------------------------------------
# The HTTP part shared by both protocols


def _redact(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)


def _join(base_url: str, path: str) -> str:
    """``base_url`` + ``path``, keeping a query string (Azure's ``?api-version=``) at the end."""
    base, sep, query = base_url.partition("?")
    return base.rstrip("/") + path + (sep + query if sep else "")


def _retry_after(headers: Sequence[tuple[str, str]]) -> float | None:
    for name, value in headers:
        lname = name.lower()
        try:
            if lname == "retry-after-ms":
                return float(value) / 1000.0
            if lname == "retry-after":
                return float(value)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
    return None


class _HttpProvider(abc.ABC):
    """Sends JSON POSTs with retries; subclasses build bodies and read answers."""

    name = ""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        *,
        timeout: float,
        api_key_env: str,
        retry: RetryPolicy | None,
        max_connections: int,
        ca_file: str,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        from bbreview._native import core  # the compiled core loads on first use, not at import

        if not base_url or not urlsplit(base_url).scheme.startswith("http"):
            raise LLMError(f"base_url must be an http(s) URL, not {base_url!r}", provider=self.name)
        if not model:
            raise LLMError("no model given; set llm.model or BBREVIEW_LLM_MODEL", provider=self.name)
        self.base_url = base_url
        self.model = model
        self.timeout = float(timeout)
        self.api_key_env = api_key_env
        self.retry = retry or RetryPolicy()
        self._api_key = api_key or None
        self._ca_file = ca_file
        self._sleep = sleep or time.sleep
        self._rng = random.Random()
        self._rng_lock = threading.Lock()
        # Retries belong to this class (POST is never retried natively), so the
        # native client gets none; its total deadline is one attempt's timeout.
        self._client = core.http.Client(
            threads=2,
            max_connections_per_host=max_connections,
            timeout=self.timeout,
            max_retries=0,
            ca_file=ca_file,
        )

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r})"

    @abc.abstractmethod
    def _headers(self) -> list[tuple[str, str]]:
        """The protocol's authentication and version headers (each subclass has its own)."""

    def _post(self, url: str, body: dict[str, Any], deadline: Deadline | None = None) -> dict[str, Any]:
        """The decoded JSON answer to ``body``, after retries; raises LLMError.

        With ``deadline``, no attempt starts once it has expired (LLMError,
        not retryable), each attempt gets at most the time left, and a retry
        whose backoff would outlast it is not made.
        """
        data = jsonlib.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = [("Content-Type", "application/json"), ("Accept", "application/json"), *self._headers()]
        attempt = 0
        while True:
            timeout = self.timeout
            if deadline is not None:
                timeout = min(timeout, deadline.remaining())
                if timeout < MIN_ATTEMPT_S:
                    what = "cancelled" if deadline.cancelled else "the review's time limit was reached"
                    raise LLMError(f"not sent: {what}", provider=self.name)
            attempt += 1
            error, retry_after = self._attempt(url, headers, data, timeout)
            if isinstance(error, dict):
                return error
            if not error.retryable or attempt >= self.retry.max_attempts:
                if error.retryable:
                    raise LLMError(
                        f"{_strip_prefix(error, self.name)} (gave up after {attempt} attempts)",
                        status=error.status,
                        provider=self.name,
                        retryable=True,
                    )
                raise error
            if retry_after is not None and retry_after > self.retry.max_retry_after_s:
                raise LLMError(
                    f"{_strip_prefix(error, self.name)} (the server asks to wait {retry_after:.0f} s)",
                    status=error.status,
                    provider=self.name,
                    retryable=True,
                )
            with self._rng_lock:
                delay = self.retry.delay(attempt, retry_after, self._rng)
            if deadline is not None:
                if delay + MIN_ATTEMPT_S > deadline.remaining():
                    raise LLMError(
                        f"{_strip_prefix(error, self.name)} (no retry after {attempt} attempt"
                        f"{'s' if attempt != 1 else ''}: the review's time limit leaves no time for one)",
                        status=error.status,
                        provider=self.name,
                        retryable=True,
                    )
                if self._sleep is time.sleep:
                    deadline.wait(delay)  # wakes at once when the review cancels its calls
                    continue
            self._sleep(delay)

    def _attempt(
        self, url: str, headers: list[tuple[str, str]], data: bytes, timeout: float | None = None
    ) -> tuple[dict[str, Any] | LLMError, float | None]:
        client = self._client
        if timeout is not None and timeout < self.timeout:
            # The native client's deadline is fixed per client, so an attempt that must end
            # sooner (the review's time limit is near) gets a one-off client with that deadline.
            from bbreview._native import core

            client = core.http.Client(
                threads=1, max_connections_per_host=1, timeout=timeout, max_retries=0, ca_file=self._ca_file
            )
        response = client.request("POST", url, headers=headers, body=data)
        if response.error != "none":
            retryable = response.error in _RETRYABLE_TRANSPORT
            what = "timed out" if response.error == "timeout" else f"no response ({response.error})"
            message = f"POST {_redact(url, self._api_key)}: {what}: {_redact(response.error_message, self._api_key)}"
            return LLMError(message, provider=self.name, retryable=retryable), None
        status = response.status
        raw = response.body
        try:
            payload = jsonlib.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            payload = None
        if 200 <= status < 300:
            if not isinstance(payload, dict):
                snippet = raw[:120].decode("utf-8", "replace")
                return LLMError(
                    f"the answer is not a JSON object: {_redact(snippet, self._api_key)!r}",
                    status=status,
                    provider=self.name,
                ), None
            return payload, None
        return self._error(status, payload, raw), _retry_after(response.headers)

    def _error(self, status: int, payload: Any, raw: bytes) -> LLMError:
        kind, message = _error_fields(payload)
        if not message:
            message = raw[:MAX_ERROR_MESSAGE_CHARS].decode("utf-8", "replace").strip() or "no details"
        message = _redact(message[:MAX_ERROR_MESSAGE_CHARS], self._api_key)
        retryable = status in (408, 429) or status >= 500
        if status in (401, 403):
            what = "authentication failed" if status == 401 else "access denied"
            detail = f" ({kind})" if kind else ""
            where = f"${self.api_key_env}" if self.api_key_env else "the provider configuration"
            hint = f"check the API key in {where}" + ("" if self._api_key else " (no key was sent)")
            return LLMError(f"{what}{detail}: {message}; {hint}", status=status, provider=self.name)
        if status == 404:
            message += f"; check the base URL ({self.base_url}) and the model name ({self.model})"
        return LLMError(message, status=status, provider=self.name, retryable=retryable)


def _strip_prefix(error: LLMError, provider: str) -> str:
    text = str(error)
    prefix = f"{provider}: " if provider else ""
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    if error.status and text.startswith(f"HTTP {error.status}: "):
        text = text[len(f"HTTP {error.status}: ") :]
    return text


def _error_fields(payload: Any) -> tuple[str, str]:
    """(type or code, message) from either service's error JSON."""
    if not isinstance(payload, dict):
        return "", ""
    err = payload.get("error")
    if isinstance(err, dict):
        kind = err.get("code") or err.get("type") or ""
        return str(kind), str(err.get("message") or "")
    if isinstance(err, str):
        return "", err
    return "", str(payload.get("message") or "")


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible chat completions


class OpenAIProvider(_HttpProvider):
    """``POST {base_url}/chat/completions`` (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp...).

    ``base_url`` includes the version prefix, e.g. ``https://api.openai.com/v1``
    or ``http://localhost:11434/v1``; a query string (Azure's
    ``?api-version=...``) is kept. ``api_key`` may be None for local servers.
    ``extra_headers`` are sent with every request (e.g. Azure's ``api-key``).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 120,
        organization: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        api_key_env: str = DEFAULT_KEY_ENV["openai"],
        retry: RetryPolicy | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        ca_file: str = "",
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(
            base_url,
            model,
            api_key,
            timeout=timeout,
            api_key_env=api_key_env,
            retry=retry,
            max_connections=max_connections,
            ca_file=ca_file,
            sleep=sleep,
        )
        self.organization = organization
        self.extra_headers = dict(extra_headers or {})

    def _headers(self) -> list[tuple[str, str]]:
        headers = []
        if self._api_key:
            headers.append(("Authorization", f"Bearer {self._api_key}"))
        if self.organization:
            headers.append(("OpenAI-Organization", self.organization))
        headers.extend(self.extra_headers.items())
        return headers

    def complete(
        self,
        system: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json: bool = False,
        deadline: Deadline | None = None,
    ) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}] if system else [],
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
        }
        body["messages"].extend({"role": m["role"], "content": m["content"]} for m in messages)
        if json:
            body["response_format"] = {"type": "json_object"}
        payload = self._post(_join(self.base_url, "/chat/completions"), body, deadline)
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise LLMError("the answer has no choices", status=200, provider=self.name)
        choice = choices[0]
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        text = message.get("content")
        if not isinstance(text, str):
            refusal = message.get("refusal")
            if isinstance(refusal, str) and refusal:
                refused = refusal[:MAX_ERROR_MESSAGE_CHARS]
                raise LLMError(f"the model refused: {refused}", status=200, provider=self.name)
            text = ""
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        return Completion(
            text=text,
            input_tokens=_as_int(usage.get("prompt_tokens")),
            output_tokens=_as_int(usage.get("completion_tokens")),
            model=str(payload.get("model") or self.model),
            finish_reason=str(choice.get("finish_reason") or "stop"),
        )


# ---------------------------------------------------------------------------------------------
# Anthropic Messages API

_ANTHROPIC_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicProvider(_HttpProvider):
    """``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``.

    The system prompt goes in the top-level ``system`` field; ``json=True`` has
    no protocol switch here, so the prompt alone asks for JSON.
    """

    name = "anthropic"

    def __init__(
        self,
        base_url: str = DEFAULT_ANTHROPIC_BASE_URL,
        model: str = "",
        api_key: str | None = None,
        *,
        timeout: float = 120,
        version: str = DEFAULT_ANTHROPIC_VERSION,
        api_key_env: str = DEFAULT_KEY_ENV["anthropic"],
        retry: RetryPolicy | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        ca_file: str = "",
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(
            base_url,
            model,
            api_key,
            timeout=timeout,
            api_key_env=api_key_env,
            retry=retry,
            max_connections=max_connections,
            ca_file=ca_file,
            sleep=sleep,
        )
        self.version = version

    def _headers(self) -> list[tuple[str, str]]:
        headers = [("anthropic-version", self.version)]
        if self._api_key:
            headers.append(("x-api-key", self._api_key))
        return headers

    def complete(
        self,
        system: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json: bool = False,
        deadline: Deadline | None = None,
    ) -> Completion:
        # The Messages API has no "system" role, and consecutive turns of one
        # role must be merged.
        systems = [system] if system else []
        turns: list[dict[str, str]] = []
        for m in messages:
            if m["role"] == "system":
                systems.append(m["content"])
            elif turns and turns[-1]["role"] == m["role"]:
                turns[-1] = {"role": m["role"], "content": turns[-1]["content"] + "\n\n" + m["content"]}
            else:
                turns.append({"role": m["role"], "content": m["content"]})
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "messages": turns,
        }
        if systems:
            body["system"] = "\n\n".join(systems)
        payload = self._post(_join(self.base_url, "/v1/messages"), body, deadline)
        content = payload.get("content")
        if not isinstance(content, list):
            raise LLMError("the answer has no content", status=200, provider=self.name)
        text = "".join(
            block.get("text", "") for block in content if isinstance(block, dict) and block.get("type") == "text"
        )
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        stop = str(payload.get("stop_reason") or "end_turn")
        return Completion(
            text=text,
            input_tokens=_as_int(usage.get("input_tokens")),
            output_tokens=_as_int(usage.get("output_tokens")),
            model=str(payload.get("model") or self.model),
            finish_reason=_ANTHROPIC_STOP.get(stop, stop),
        )


# ---------------------------------------------------------------------------------------------
# Construction from configuration

# Hosted services that always need a key; any other host (vLLM, Ollama, a
# proxy...) may run without one.
_KEYED_HOSTS = ("api.openai.com", "api.anthropic.com")
_KEYED_SUFFIXES = (".openai.azure.com", ".azure-api.net")


def _needs_key(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return host in _KEYED_HOSTS or host.endswith(_KEYED_SUFFIXES)


def make_provider(
    llm_config: Any,
    env: Mapping[str, str] = os.environ,
    **options: Any,
) -> Provider | None:
    """The provider ``llm_config`` describes, or None when no LLM is configured.

    ``llm_config`` is any object with :class:`LLMSettings`' attribute names
    (an LLMSettings itself, the repository configuration's ``llm`` section...).
    ``BBREVIEW_LLM_PROVIDER``, ``BBREVIEW_LLM_MODEL`` and ``BBREVIEW_LLM_BASE_URL``
    in ``env`` override it. The key is read from the variable named by
    ``api_key_env`` (default ``OPENAI_API_KEY``/``ANTHROPIC_API_KEY``).
    ``options`` go to the provider's constructor (``retry``, ``ca_file``...).

    Raises LLMError for an unknown provider, a missing model, or a missing key
    for a hosted service (naming the variable to set).
    """
    settings = LLMSettings.from_config(llm_config, env)
    name = settings.provider_name
    if name is None:
        return None
    if name not in DEFAULT_KEY_ENV:
        raise LLMError(f"unknown provider {settings.provider!r}; use openai, anthropic or none")
    if not settings.model:
        raise LLMError("no model configured; set llm.model or BBREVIEW_LLM_MODEL", provider=name)
    base_url = settings.base_url or (DEFAULT_OPENAI_BASE_URL if name == "openai" else DEFAULT_ANTHROPIC_BASE_URL)
    key_env = settings.api_key_env or DEFAULT_KEY_ENV[name]
    api_key = env.get(key_env) or None
    if api_key is None and _needs_key(base_url):
        raise LLMError(
            f"no API key: set the environment variable {key_env} (or point llm.api_key_env at the "
            f"variable that holds it) for {base_url}",
            provider=name,
        )
    common = {
        "timeout": settings.timeout_s,
        "api_key_env": key_env,
        "max_connections": max(settings.concurrency, 1),
        **options,
    }
    if name == "openai":
        return OpenAIProvider(base_url, settings.model, api_key, **common)
    return AnthropicProvider(base_url, settings.model, api_key, **common)
