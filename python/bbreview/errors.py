"""The bbreview exception hierarchy, rooted at :class:`Error`."""

from __future__ import annotations

__all__ = [
    "Error",
    "DiffParseError",
    "RuleError",
    "BitbucketError",
    "AuthError",
    "ScopeError",
    "PermissionDenied",
    "NotFound",
    "RateLimited",
    "ServerError",
    "NetworkError",
    "ConfigError",
    "WebhookAuthError",
    "LLMError",
    "StoreError",
]


class Error(Exception):
    """Base class of every error bbreview raises on purpose."""


class DiffParseError(Error, ValueError):
    """A diff could not be parsed in strict mode.

    Attributes:
        line: 1-based line number in the input where parsing failed.
        text: the offending input line, truncated to 120 bytes.
        reason: what was wrong, e.g. "hunk declares 5 new lines but 4 follow".
        source: the file the diff came from, when known.
    """

    def __init__(self, line: int, text: str, reason: str, source: str | None = None) -> None:
        self.line = line
        self.text = text
        self.reason = reason
        self.source = source
        where = f"{source}:{line}" if source else f"line {line}"
        super().__init__(
            f"{where}: {reason}: {text!r}\n"
            "hint: pass strict=False to skip malformed files and collect warnings instead"
        )

    def __reduce__(self):  # keeps the exception picklable across processes
        return (type(self), (self.line, self.text, self.reason, self.source))


class RuleError(Error, ValueError):
    """A rule, a rule file or a rule set is invalid.

    Attributes:
        reason: what was wrong, e.g. ``invalid regex "print(": missing ): print(``.
        rule_id: the rule's id, when the problem belongs to one rule.
        source: the file the rule came from, when known.
        line: 1-based line in ``source`` (or in the YAML text) of the offending
            value, or of the rule when the problem is the rule as a whole.
        field: the rule field at fault (``"patterns"``, ``"paths"``...), if any.
        hint: what to do about it.

    ``str(error)`` reads ``rules.yaml:12: rule "no-print": invalid regex ...``
    followed by a ``hint:`` line.
    """

    def __init__(
        self,
        reason: str,
        rule_id: str | None = None,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.rule_id = rule_id
        self.source = source
        self.line = line
        self.field = field
        self.hint = hint
        if source and line:
            where = f"{source}:{line}: "
        elif source:
            where = f"{source}: "
        elif line:
            where = f"line {line}: "
        else:
            where = ""
        who = f'rule "{rule_id}": ' if rule_id else ""
        super().__init__(f"{where}{who}{reason}" + (f"\nhint: {hint}" if hint else ""))

    def located(self, source: str | None, line: int | None) -> RuleError:
        """A copy that names ``source`` and ``line`` (kept when already set)."""
        return RuleError(
            self.reason, self.rule_id, self.source or source, self.line or line, self.field, self.hint
        )

    def __reduce__(self):  # keeps the exception picklable across processes
        return (type(self), (self.reason, self.rule_id, self.source, self.line, self.field, self.hint))


class BitbucketError(Error):
    """A Bitbucket Cloud call failed.

    Attributes:
        status: the HTTP status (0 when no response arrived: see NetworkError).
        message: Bitbucket's own message (``error.message``, or the first line of a
            plain-text or HTML body).
        method: the request method, e.g. ``"GET"``.
        path: the request path without the query string, e.g.
            ``/2.0/repositories/acme/app/pullrequests/7``.
        detail: ``error.detail`` when Bitbucket sent it as text.
        fields: ``error.fields`` (validation errors per field), or None.
        error_id: Bitbucket's correlation id (``error.id``), for support requests.

    Credentials never appear in any attribute or in the message.
    """

    hint = ""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        method: str = "",
        path: str = "",
        detail: str = "",
        fields: dict | None = None,
        error_id: str = "",
        required: tuple[str, ...] = (),
        granted: tuple[str, ...] = (),
    ) -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.detail = detail
        self.fields = fields
        self.error_id = error_id
        self.required = tuple(required)
        self.granted = tuple(granted)
        where = f"{method} {path}: " if method or path else ""
        what = f"HTTP {status}: {message}" if status else message
        text = where + what
        if detail:
            text += f" ({detail})"
        if fields:
            text += f" fields={fields}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        super().__init__(text)

    def __reduce__(self):  # keeps the exception picklable across processes
        return (_rebuild_bitbucket_error, (type(self), self.message, self._state()))

    def _state(self) -> dict:
        return {
            "status": self.status,
            "method": self.method,
            "path": self.path,
            "detail": self.detail,
            "fields": self.fields,
            "error_id": self.error_id,
            "required": self.required,
            "granted": self.granted,
        }


def _rebuild_bitbucket_error(cls, message, state):
    return cls(message, **state)


class AuthError(BitbucketError):
    """401: the credentials are missing, wrong, expired or not valid for this endpoint."""

    hint = (
        "check the account email and the API token (Basic auth uses the Atlassian account email, "
        "not the username), and that the token has Bitbucket scopes and has not expired"
    )


class ScopeError(BitbucketError):
    """403 because the token lacks a scope. ``required`` and ``granted`` name the scopes."""

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(s for s in self.required if s not in self.granted)

    def __init__(self, message: str, **kw) -> None:
        required = kw.get("required", ())
        self.hint = (
            f"create a token that also has: {', '.join(required)}" if required else "grant the missing scope"
        )
        super().__init__(message, **kw)


class PermissionDenied(BitbucketError):
    """403 for any other reason: the account lacks the repository permission (e.g. admin for webhooks)."""


class NotFound(BitbucketError):
    """404: the resource does not exist, or is private and not visible to this account."""


class RateLimited(BitbucketError):
    """429 even after backing off: the identity's hourly budget is spent (about 1,000 requests per hour)."""

    hint = "wait for the rolling one-hour window to free budget, or lower the request rate"


class ServerError(BitbucketError):
    """5xx from Bitbucket, after retries; 555 means the diff was too large or took too long."""


class NetworkError(BitbucketError):
    """No HTTP response: DNS, connect, TLS, proxy, timeout or a dropped connection (status 0)."""


class ConfigError(Error, ValueError):
    """A configuration file (``.bbreview.yaml`` or the service's) is invalid.

    Attributes:
        reason: what was wrong, e.g. ``unknown profile 'loud'``.
        key: the dotted key path at fault, e.g. ``reviews.profile`` or
            ``reviews.path_instructions[2].path``; empty for the file as a whole.
        source: the file name, when known.
        line: 1-based line of the offending value in ``source``, when known.
        hint: what to do about it.

    ``str(error)`` reads ``.bbreview.yaml:7: reviews.profile: unknown profile 'loud'``
    followed by a ``hint:`` line.
    """

    def __init__(
        self,
        reason: str,
        key: str = "",
        source: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.key = key
        self.source = source
        self.line = line
        self.hint = hint
        if source and line:
            where = f"{source}:{line}: "
        elif source:
            where = f"{source}: "
        elif line:
            where = f"line {line}: "
        else:
            where = ""
        what = f"{key}: {reason}" if key else reason
        super().__init__(f"{where}{what}" + (f"\nhint: {hint}" if hint else ""))

    def __reduce__(self):  # keeps the exception picklable across processes
        return (type(self), (self.reason, self.key, self.source, self.line, self.hint))


class WebhookAuthError(Error):
    """A webhook delivery was unsigned or carried a signature that does not verify."""


class LLMError(Error):
    """An LLM provider call failed.

    Attributes:
        status: the HTTP status (0 when no response arrived).
        provider: the provider name, e.g. ``"openai"`` or ``"anthropic"``.
        retryable: True for 429, 5xx, timeouts and dropped connections.

    Keys never appear in any attribute or in the message.
    """

    def __init__(self, message: str, *, status: int = 0, provider: str = "", retryable: bool = False) -> None:
        self.status = status
        self.provider = provider
        self.retryable = retryable
        prefix = f"{provider}: " if provider else ""
        super().__init__(prefix + (f"HTTP {status}: " if status else "") + message)

    def __reduce__(self):  # keeps the exception picklable across processes
        return (_rebuild_llm_error, (type(self), self.args[0], self.status, self.provider, self.retryable))


def _rebuild_llm_error(cls, text, status, provider, retryable):
    err = cls.__new__(cls)
    Exception.__init__(err, text)
    err.status, err.provider, err.retryable = status, provider, retryable
    return err


class StoreError(Error):
    """The persistent store (SQLite by default) could not be opened, migrated or written."""
