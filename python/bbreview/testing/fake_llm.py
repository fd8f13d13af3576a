"""``FakeLLM``: a local LLM server speaking the OpenAI chat completions API and
the Anthropic Messages API, for tests and offline demos.

It validates requests like the real services (the same 400/401 statuses and
error JSON shapes), counts tokens roughly, records every request, and answers
either from a script (:meth:`FakeLLM.script`) or, by default, like a plausible
reviewer: every added line of the diff in the prompt that matches one of its
:class:`FakeRule` patterns yields a finding on that file and new-side line.

Typical use::

    with FakeLLM(api_key="sk-test") as llm:
        provider = OpenAIProvider(llm.openai_base_url, "fake-model", "sk-test")
        llm.script([Fault.rate_limited(), {"findings": []}])
        ...
        assert llm.requests[-1].protocol == "openai"

The prompt format it understands is the one :class:`bbreview.review.llm.LLMReviewer`
sends: files between ``<<<BEGIN FILE <token>>>> path: "<json path>"`` and
``<<<END FILE <token>>>`` marker lines, each code line as
``<new line number> + <code>`` (added), ``<number>   <code>`` (context) or
``- <code>`` (removed).

The server runs on its own thread and event loop; every public method is safe
to call from any other thread.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bbreview.testing._http import HttpRequest, HttpResponse, HttpServer

__all__ = ["FakeLLM", "FakeRule", "Fault", "LLMRequest", "DEFAULT_RULES"]

#: Rough size of a token, as in bbreview.review.llm (bytes per token).
CHARS_PER_TOKEN = 4
#: Tokens counted per message for the role and separators, like the real services.
MESSAGE_OVERHEAD_TOKENS = 4
#: Largest max_tokens accepted by the fake Anthropic endpoint (real models allow 4k-128k).
ANTHROPIC_MAX_OUTPUT_TOKENS = 128_000
#: A gate (:meth:`FakeLLM.hold`) opens by itself after this long, so a test can never hang.
GATE_TIMEOUT_S = 30.0

_OPENAI_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_FILE_BLOCK = re.compile(
    r'<<<BEGIN FILE (\S+)>>> path: ("(?:[^"\\\n]|\\.)*")[^\n]*\n(.*?)\n?<<<END FILE \1>>>', re.DOTALL
)
_ADDED_LINE = re.compile(r"^\s*(\d+) \+ (.*)$", re.MULTILINE)
_QUESTION = re.compile(r"<<<BEGIN QUESTION (\S+)>>>\n(.*?)\n<<<END QUESTION \1>>>", re.DOTALL)


def _tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class FakeRule:
    """An added line matching ``pattern`` gets a finding.

    ``title``, ``body`` and ``replacement`` may contain ``{line}`` (the line's
    code, stripped) and ``{match}`` (the matched text).
    """

    pattern: str
    severity: str
    title: str
    body: str = ""
    category: str = "general"
    replacement: str | None = None

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


DEFAULT_RULES: tuple[FakeRule, ...] = (
    FakeRule(
        r"\bprint\(",
        "nitpick",
        "Debug print left in",
        "This `print` looks like leftover debugging output; remove it or use the `logging` module.",
        "style",
    ),
    FakeRule(
        r"\beval\(",
        "high",
        "Use of eval",
        "`eval` executes arbitrary code from its input. Parse the data instead (for literals, "
        "`ast.literal_eval`).",
        "security",
    ),
    FakeRule(
        r"(?i)password\s*=",
        "critical",
        "Hard-coded password",
        "A password is committed in the source. Load it from the environment or a secret store, "
        "and rotate this one.",
        "secrets",
    ),
)


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour; build one with the class methods."""

    kind: str
    status: int = 0
    delay_s: float = 0.0
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    payload: Any = None
    keep: float = 0.6
    size: int = 0

    @classmethod
    def malformed_json(cls) -> Fault:
        """Prose with JSON-like text that no parser can read."""
        return cls("malformed")

    @classmethod
    def fenced(cls, payload: Any = None) -> Fault:
        """The answer (``payload``, else the rule-driven one) in a ```json fence, with prose around it."""
        return cls("fenced", payload=payload)

    @classmethod
    def prose(cls, payload: Any = None) -> Fault:
        """Leading prose, the JSON answer, then trailing text."""
        return cls("prose", payload=payload)

    @classmethod
    def truncated(cls, payload: Any = None, keep: float = 0.6) -> Fault:
        """The JSON answer cut after ``keep`` of its characters, finish reason "length"."""
        return cls("truncated", payload=payload, keep=keep)

    @classmethod
    def timeout(cls, delay_s: float = 5.0) -> Fault:
        """Answer normally, but only after ``delay_s`` (longer than the client's timeout)."""
        return cls("timeout", delay_s=delay_s)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> Fault:
        """429 with the service's own body (and ``retry-after`` when given)."""
        headers = (("retry-after", f"{retry_after:g}"),) if retry_after is not None else ()
        return cls("rate_limited", status=429, headers=headers)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx with the service's own body."""
        return cls("server_error", status=status)

    @classmethod
    def overloaded(cls) -> Fault:
        """Anthropic's 529 ``overloaded_error``; OpenAI's 503 "engine is currently overloaded"."""
        return cls("overloaded")

    @classmethod
    def huge(cls, size: int = 1_000_000) -> Fault:
        """A valid JSON answer of at least ``size`` characters (many long findings)."""
        return cls("huge", size=size)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls("drop")

    @classmethod
    def empty(cls) -> Fault:
        """A successful answer with no text."""
        return cls("empty")

    @classmethod
    def http(cls, status: int, body: bytes | str | dict = b"", headers: Iterable[tuple[str, str]] = ()) -> Fault:
        """Any raw response."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
        return cls("http", status=status, body=raw, headers=tuple(headers))


@dataclass
class LLMRequest:
    """One request the fake received. Keys are redacted from ``headers``."""

    protocol: str  # "openai", "anthropic" or "" (unknown path)
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any  # the decoded JSON, or None
    started_at: float
    status: int | None = None
    reply: str | None = None  # the text the model "said"
    input_tokens: int = 0
    output_tokens: int = 0
    scripted: bool = False

    @property
    def system(self) -> str:
        """The system prompt (OpenAI system/developer messages, or Anthropic's ``system``)."""
        if not isinstance(self.body, dict):
            return ""
        if self.protocol == "anthropic":
            return _content_text(self.body.get("system"))
        return "\n\n".join(
            _content_text(m.get("content"))
            for m in self.messages
            if m.get("role") in ("system", "developer")
        )

    @property
    def messages(self) -> list[dict[str, Any]]:
        body = self.body if isinstance(self.body, dict) else {}
        messages = body.get("messages")
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    @property
    def user_text(self) -> str:
        """Every user message's text, joined."""
        return "\n\n".join(_content_text(m.get("content")) for m in self.messages if m.get("role") == "user")

    @property
    def prompt(self) -> str:
        """The system prompt and every message's text, joined."""
        return "\n\n".join([self.system, *(_content_text(m.get("content")) for m in self.messages)])

    @property
    def json_mode(self) -> bool:
        body = self.body if isinstance(self.body, dict) else {}
        fmt = body.get("response_format")
        return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def _content_text(content: Any) -> str:
    """Text of a message content: a string, or a list of blocks of type text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") in ("text", "input_text")
        )
    return ""


class _Reject(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code


def _mask(key: str) -> str:
    return f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"


class FakeLLM:
    """A fake OpenAI-compatible and Anthropic LLM server on ``host`` (port 0 picks one).

    Args:
        api_key: when set, requests must carry it (``Authorization: Bearer`` for
            OpenAI, ``x-api-key`` for Anthropic) or get 401; when None, any or
            no key is accepted, like a local vLLM/Ollama server.
        rules: the rule-driven reviewer's rules (default :data:`DEFAULT_RULES`).
        model: the model reported when a request names none (it always must).
        models: when set, other model names get the service's 404.
        latency: seconds every request waits before it is answered.
        enforce_max_tokens: cut answers longer than ``max_tokens`` (finish reason
            "length"), as the real services do.
        answer_text: for requests without diff files and without JSON mode:
            a function of the question (or the last user message) returning the
            answer; default: a fixed sentence quoting the question's first line.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        rules: Sequence[FakeRule] = DEFAULT_RULES,
        model: str = "fake-model",
        models: Iterable[str] | None = None,
        latency: float = 0.0,
        enforce_max_tokens: bool = True,
        answer_text: Callable[[str], str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_recorded_requests: int = 10_000,
    ) -> None:
        self.api_key = api_key
        self.rules = list(rules)
        self.model = model
        self.models = set(models) if models is not None else None
        self.latency = latency
        self.enforce_max_tokens = enforce_max_tokens
        self.answer_text = answer_text or _default_answer
        self.host = host
        self._port = port
        self.port: int | None = None
        self.requests: deque[LLMRequest] = deque(maxlen=max_recorded_requests)
        self.in_flight = 0
        self.max_concurrent = 0
        self._lock = threading.Lock()
        self._queue: deque[Any] = deque()
        self._gate: int | None = None
        self._gate_event: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: HttpServer | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeLLM:
        """Starts serving on a background thread; returns self. Idempotent."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = HttpServer(self._handle, self.host, self._port, gzip_enabled=lambda: False)
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-llm", daemon=True)
        self._thread.start()
        ready.wait()

        async def begin() -> None:
            self._stopping = asyncio.Event()
            assert self._server is not None
            await self._server.start()

        asyncio.run_coroutine_threadsafe(begin(), loop).result()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stops the server; requests still waiting (latency, timeouts, gates) end at once."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def end() -> None:
            if self._stopping is not None:
                self._stopping.set()
            if self._gate_event is not None:
                self._gate_event.set()
            assert self._server is not None
            await self._server.stop()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()

        asyncio.run_coroutine_threadsafe(end(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        self._loop = self._thread = self._server = None
        self.port = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise RuntimeError("FakeLLM is not started; call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The base URL for OpenAIProvider (like ``https://api.openai.com/v1``)."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The base URL for AnthropicProvider (like ``https://api.anthropic.com``)."""
        return self.url

    def __repr__(self) -> str:
        where = self.url if self.port else "not started"
        return f"FakeLLM({where}, requests={len(self.requests)})"

    # -- scripting ----------------------------------------------------------------------

    def script(self, replies: Iterable[Any]) -> None:
        """Queues replies for the next requests, one each, in order.

        A reply is a ``str`` (the model's text), a ``dict``/``list`` (sent as
        JSON text) or a :class:`Fault`. When the queue is empty the rule-driven
        reviewer answers.
        """
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._queue)

    def hold(self, concurrent: int) -> None:
        """Makes requests wait until ``concurrent`` of them are in flight at once
        (one-shot; it opens by itself after GATE_TIMEOUT_S). Lets a test prove
        that a client reaches a level of concurrency without timing anything."""
        with self._lock:
            self._gate = concurrent
            self._gate_event = None

    def reset(self) -> None:
        """Forgets recorded requests, scripted replies and the concurrency peak."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self.max_concurrent = 0
            self._gate = None

    def review_answer(self, prompt: str) -> dict[str, Any]:
        """What the rule-driven reviewer answers to ``prompt`` (its user text)."""
        findings: list[dict[str, Any]] = []
        added_lines: dict[str, int] = {}
        seen: set[tuple[str, int, str]] = set()
        compiled = [(rule, rule.compiled()) for rule in self.rules]
        for match in _FILE_BLOCK.finditer(prompt):
            try:
                path = json.loads(match.group(2))
            except ValueError:
                continue
            added = 0
            for line_match in _ADDED_LINE.finditer(match.group(3)):
                added += 1
                number, code = int(line_match.group(1)), line_match.group(2)
                for rule, regex in compiled:
                    hit = regex.search(code)
                    if hit is None or (path, number, rule.title) in seen:
                        continue
                    seen.add((path, number, rule.title))

                    def fill(text: str, code: str = code, hit: re.Match[str] = hit) -> str:
                        return text.replace("{line}", code.strip()).replace("{match}", hit.group(0))

                    finding: dict[str, Any] = {
                        "path": path,
                        "start_line": number,
                        "end_line": number,
                        "severity": rule.severity,
                        "category": rule.category,
                        "title": fill(rule.title),
                        "body": fill(rule.body or rule.title),
                    }
                    if rule.replacement is not None:
                        finding["replacement"] = fill(rule.replacement)
                    findings.append(finding)
            added_lines[path] = added_lines.get(path, 0) + added
        summary = {
            path: f"Changes {count} added line{'s' if count != 1 else ''}." for path, count in added_lines.items()
        }
        return {"findings": findings, "summary": summary}

    # -- request handling ---------------------------------------------------------------

    async def _handle(self, req: HttpRequest) -> HttpResponse:
        protocol = (
            "openai" if req.path in ("/v1/chat/completions", "/chat/completions")
            else "anthropic" if req.path == "/v1/messages"
            else ""
        )
        try:
            body = json.loads(req.body) if req.body else None
        except (ValueError, UnicodeDecodeError):
            body = None
        rec = LLMRequest(
            protocol=protocol,
            method=req.method,
            path=req.path,
            query=req.query,
            headers=_redact_headers(req.headers),
            body=body,
            started_at=time.time(),
        )
        with self._lock:
            self.requests.append(rec)
            self.in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight)
        try:
            await self._wait_gate()
            if self.latency > 0:
                await self._sleep(self.latency)
            response = await self._respond(req, rec, protocol)
        finally:
            with self._lock:
                self.in_flight -= 1
        rec.status = response.status
        return response

    async def _wait_gate(self) -> None:
        with self._lock:
            gate = self._gate
            if gate is None:
                return
            if self._gate_event is None:
                self._gate_event = asyncio.Event()
            event = self._gate_event
            if self.in_flight >= gate:
                event.set()
        try:
            async with asyncio.timeout(GATE_TIMEOUT_S):
                await event.wait()
        except TimeoutError:
            pass
        with self._lock:
            if self._gate_event is event:
                self._gate = None  # one-shot: later requests pass straight through

    async def _sleep(self, seconds: float) -> None:
        """Sleeps, but ends early when the server stops."""
        assert self._stopping is not None
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def _respond(self, req: HttpRequest, rec: LLMRequest, protocol: str) -> HttpResponse:
        if req.method == "GET" and req.path in ("/v1/models", "/models"):
            names = sorted(self.models) if self.models else [self.model]
            data = [{"id": n, "object": "model", "owned_by": "fake"} for n in names]
            return _json(200, {"object": "list", "data": data})
        if not protocol:
            return _error("openai", _Reject(404, f"Invalid URL ({req.method} {req.path})"))
        if req.method != "POST":
            return _error(protocol, _Reject(405, f"Invalid method for URL ({req.method} {req.path})"))
        try:
            self._authenticate(protocol, req)
            if protocol == "openai":
                system, messages, max_tokens = _validate_openai(rec.body, req.body)
            else:
                system, messages, max_tokens = _validate_anthropic(rec.body, req.body, req.headers)
            model = rec.body["model"]
            if self.models is not None and model not in self.models:
                raise _Reject(
                    404,
                    f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found",
                    kind="not_found_error" if protocol == "anthropic" else "invalid_request_error",
                )
        except _Reject as exc:
            return _error(protocol, exc)
        rec.input_tokens = _tokens(system) + sum(
            _tokens(_content_text(m.get("content"))) + MESSAGE_OVERHEAD_TOKENS for m in messages
        )
        with self._lock:
            reply = self._queue.popleft() if self._queue else None
        rec.scripted = reply is not None
        finish = "stop"
        if isinstance(reply, Fault):
            fault = reply
            if fault.kind == "drop":
                return HttpResponse(0, drop=True)
            if fault.kind in ("rate_limited", "server_error", "overloaded", "http"):
                return _fault_response(protocol, fault)
            if fault.kind == "timeout":
                await self._sleep(fault.delay_s)
            text, finish = self._fault_text(fault, rec)
        elif isinstance(reply, str):
            text = reply
        elif reply is not None:
            text = json.dumps(reply)
        else:
            text = self._default_text(rec)
        output = _tokens(text)
        if self.enforce_max_tokens and output > max_tokens:
            text = text[: max_tokens * CHARS_PER_TOKEN]
            output, finish = max_tokens, "length"
        rec.reply, rec.output_tokens = text, output
        if protocol == "openai":
            return _json(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }],
                "usage": {
                    "prompt_tokens": rec.input_tokens,
                    "completion_tokens": output,
                    "total_tokens": rec.input_tokens + output,
                },
                "system_fingerprint": "fp_fake",
            })
        return _json(200, {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": "max_tokens" if finish == "length" else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": rec.input_tokens, "output_tokens": output},
        })

    def _authenticate(self, protocol: str, req: HttpRequest) -> None:
        if self.api_key is None:
            return
        if protocol == "openai":
            auth = req.headers.get("authorization", "")
            if not auth:
                raise _Reject(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an Authorization header "
                    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
                    "https://platform.openai.com/account/api-keys.",
                )
            scheme, _, key = auth.partition(" ")
            if scheme.lower() != "bearer" or key.strip() != self.api_key:
                raise _Reject(
                    401,
                    f"Incorrect API key provided: {_mask(key.strip())}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                )
        else:
            key = req.headers.get("x-api-key")
            if key is None:
                raise _Reject(401, "x-api-key header is required", kind="authentication_error")
            if key != self.api_key:
                raise _Reject(401, "invalid x-api-key", kind="authentication_error")

    def _default_text(self, rec: LLMRequest) -> str:
        prompt = rec.user_text
        if _FILE_BLOCK.search(prompt):
            return json.dumps(self.review_answer(prompt))
        if rec.json_mode:
            return json.dumps({"findings": [], "summary": {}})
        match = _QUESTION.search(prompt)
        question = match.group(2) if match else (
            _content_text(rec.messages[-1].get("content")) if rec.messages else ""
        )
        return self.answer_text(question)

    def _fault_text(self, fault: Fault, rec: LLMRequest) -> tuple[str, str]:
        def payload_text(indent: int | None = None) -> str:
            if fault.payload is None:
                return json.dumps(self.review_answer(rec.user_text), indent=indent)
            return fault.payload if isinstance(fault.payload, str) else json.dumps(fault.payload, indent=indent)

        if fault.kind == "malformed":
            return (
                "Sure! I reviewed the change. Here are my findings:\n"
                "{findings: [{path: 'app.py', line: 3, severity: high, 'eval is dangerous'}, ...]}\n"
                "Let me know if you want more detail.",
                "stop",
            )
        if fault.kind == "fenced":
            return f"Here is my review of the change:\n\n```json\n{payload_text(2)}\n```\n\nHope this helps!", "stop"
        if fault.kind == "prose":
            return f"After reviewing the diff carefully, my answer is: {payload_text()} -- end of review.", "stop"
        if fault.kind == "truncated":
            text = payload_text(2)
            return text[: max(1, int(len(text) * fault.keep))], "length"
        if fault.kind == "empty":
            return "", "stop"
        if fault.kind == "huge":
            answer = self.review_answer(rec.user_text) if fault.payload is None else fault.payload
            findings = list(answer.get("findings", [])) if isinstance(answer, dict) else []
            if not findings:
                return json.dumps({"findings": [], "summary": {}, "padding": "x" * fault.size}), "stop"
            filler = "This explanation is deliberately long. " * 50
            out: list[dict[str, Any]] = []
            size = 0
            while size < fault.size:
                for f in findings:
                    item = {**f, "body": f"{f.get('body', '')} {filler}"}
                    out.append(item)
                    size += len(json.dumps(item))
            return json.dumps({**answer, "findings": out}), "stop"
        return self._default_text(rec), "stop"  # timeout: the normal answer, late


# ---------------------------------------------------------------------------------------------
# Validation, shaped like the real services' checks


def _validate_openai(body: Any, raw: bytes) -> tuple[str, list[dict[str, Any]], int]:
    if not isinstance(body, dict):
        raise _Reject(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        )
    if not body.get("model"):
        raise _Reject(400, "you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        raise _Reject(400, "Missing required parameter: 'messages'.", param="messages",
                      code="missing_required_parameter")
    if not isinstance(messages, list):
        raise _Reject(400, f"Invalid type for 'messages': expected an array, but got {type(messages).__name__} "
                      "instead.", param="messages", code="invalid_type")
    if not messages:
        raise _Reject(400, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
                      "empty array instead.", param="messages", code="empty_array")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _Reject(400, f"Invalid type for 'messages[{i}]': expected an object.", param=f"messages[{i}]",
                          code="invalid_type")
        role = m.get("role")
        if role is None:
            raise _Reject(400, f"Missing required parameter: 'messages[{i}].role'.", param=f"messages[{i}].role",
                          code="missing_required_parameter")
        if role not in _OPENAI_ROLES:
            raise _Reject(400, f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                          "'function', 'tool', and 'developer'.", param=f"messages[{i}].role", code="invalid_value")
        if "content" not in m and role != "assistant":
            raise _Reject(400, f"Missing required parameter: 'messages[{i}].content'.",
                          param=f"messages[{i}].content", code="missing_required_parameter")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
        raise _Reject(400, f"Invalid type for 'max_tokens': expected an integer, but got {type(max_tokens).__name__} "
                      "instead.", param="max_tokens", code="invalid_type")
    if max_tokens is not None and max_tokens < 1:
        raise _Reject(400, f"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got "
                      f"{max_tokens} instead.", param="max_tokens", code="integer_below_min_value")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
        raise _Reject(400, f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got "
                      f"{temperature} instead.", param="temperature", code="decimal_above_max_value")
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise _Reject(400, f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and "
                          "'text'.", param="response_format.type", code="invalid_value")
        if kind == "json_object" and "json" not in raw.decode("utf-8", "replace").lower().replace(
            '"json_object"', ""
        ):
            raise _Reject(400, "'messages' must contain the word 'json' in some form, to use 'response_format' of "
                          "type 'json_object'.", param="messages")
    system = "\n\n".join(
        _content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")
    )
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]
    return system, rest, max_tokens if max_tokens is not None else 4096


def _validate_anthropic(body: Any, raw: bytes, headers: dict[str, str]) -> tuple[str, list[dict[str, Any]], int]:
    if "anthropic-version" not in headers:
        raise _Reject(400, "anthropic-version: header is required")
    if not isinstance(body, dict):
        raise _Reject(400, "There was an error parsing the body of your request. Please check that it is valid JSON.")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise _Reject(400, f"{name}: Field required")
    max_tokens = body["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _Reject(400, "max_tokens: Input should be a valid integer greater than or equal to 1")
    if max_tokens > ANTHROPIC_MAX_OUTPUT_TOKENS:
        raise _Reject(400, f"max_tokens: {max_tokens} > {ANTHROPIC_MAX_OUTPUT_TOKENS}, which is the maximum allowed "
                      f"number of output tokens for {body['model']}")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 1):
        raise _Reject(400, "temperature: range: 0..1")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _Reject(400, "messages: Input should be a valid list")
    if not messages:
        raise _Reject(400, "messages: at least one message is required")
    previous = None
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise _Reject(400, f"messages.{i}: Field required")
        role = m["role"]
        if role == "system":
            raise _Reject(400, 'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                          'parameter, not "system" as an input message role.')
        if role not in ("user", "assistant"):
            raise _Reject(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise _Reject(400, 'messages: first message must use the "user" role')
        if role == previous:
            raise _Reject(400, f'messages: roles must alternate between "user" and "assistant", but found multiple '
                          f'"{role}" roles in a row')
        if not _content_text(m["content"]).strip():
            raise _Reject(400, f"messages.{i}: all messages must have non-empty content except for the optional "
                          "final assistant message")
        previous = role
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise _Reject(400, "system: Input should be a valid string")
    return _content_text(system), messages, max_tokens


# ---------------------------------------------------------------------------------------------
# Responses


def _json(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload).encode(), list(headers), content_type="application/json")


def _error(protocol: str, exc: _Reject) -> HttpResponse:
    if protocol == "anthropic":
        kind = exc.kind if exc.kind != "invalid_request_error" else _anthropic_kind(exc.status)
        return _json(exc.status, {
            "type": "error",
            "error": {"type": kind, "message": exc.message},
            "request_id": f"req_{uuid.uuid4().hex[:24]}",
        })
    error = {"message": exc.message, "type": exc.kind, "param": exc.param, "code": exc.code}
    return _json(exc.status, {"error": error})


def _anthropic_kind(status: int) -> str:
    return {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 413: "request_too_large",
            429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error" if status >= 500 else
                                                                     "invalid_request_error")


def _fault_response(protocol: str, fault: Fault) -> HttpResponse:
    headers = list(fault.headers)
    if fault.kind == "http":
        return HttpResponse(fault.status, fault.body or b"", headers, content_type="application/json")
    if fault.kind == "rate_limited":
        if protocol == "anthropic":
            return _json(429, {"type": "error", "error": {
                "type": "rate_limit_error",
                "message": "Number of request tokens has exceeded your per-minute rate limit "
                           "(https://docs.anthropic.com/en/api/rate-limits); see the response headers for current "
                           "usage. Please reduce the prompt length or the maximum tokens requested, or try again "
                           "later.",
            }}, headers)
        return _json(429, {"error": {
            "message": "Rate limit reached for fake-model in organization org-fake on tokens per min (TPM): "
                       "Limit 30000, Used 29000, Requested 1500. Please try again in 2.5s. Visit "
                       "https://platform.openai.com/account/rate-limits to learn more.",
            "type": "tokens", "param": None, "code": "rate_limit_exceeded",
        }}, [*headers, ("x-ratelimit-limit-tokens", "30000"), ("x-ratelimit-remaining-tokens", "1000")])
    if fault.kind == "overloaded":
        if protocol == "anthropic":
            overloaded = {"type": "overloaded_error", "message": "Overloaded"}
            return _json(529, {"type": "error", "error": overloaded}, headers)
        return _json(503, {"error": {"message": "The engine is currently overloaded, please try again later.",
                                     "type": "server_error", "param": None, "code": None}}, headers)
    status = fault.status or 500
    if protocol == "anthropic":
        return _json(status, {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
                     headers)
    return _json(status, {"error": {"message": "The server had an error while processing your request. Sorry about "
                                               "that!", "type": "server_error", "param": None, "code": None}}, headers)


def _redact_headers(headers: dict[str, str]) -> dict[str, str]:
    out = dict(headers)
    for name in ("authorization", "x-api-key", "api-key"):
        if name in out:
            out[name] = "[redacted]"
    return out


def _default_answer(question: str) -> str:
    first = next((line.strip() for line in question.splitlines() if line.strip()), "")
    return f"FakeLLM's answer to \"{first[:200]}\": the code shown does what its name says."
