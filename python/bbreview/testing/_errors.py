"""Error answers of the emulated API, in the body variants of reference §3."""

from __future__ import annotations

import json
from typing import Any

from bbreview.testing._http import HttpResponse

__all__ = ["EmulatorError", "error_body", "json_response"]

#: Body of a 429 (§3, §5): plain text, 46 bytes, no Retry-After.
RATE_LIMIT_BODY = b"Rate limit for this resource has been exceeded"
#: Body of a 401 for bad Basic credentials (§2.5): plain text, not JSON.
BAD_LOGIN_BODY = (
    b"Login failed due to incorrect login credentials or method.\n\n"
    b"If you are using an API token, use your Atlassian account email as the username "
    b"and the token as the password: https://support.atlassian.com/bitbucket-cloud/docs/using-api-tokens/\n"
)
#: Message of a 401 for an invalid, expired or unsupported token (§2.1, §2.5).
BAD_TOKEN_MESSAGE = "Token is invalid, expired, or not supported for this endpoint."
#: Message of a 403 for missing scopes (§2.7).
SCOPE_MESSAGE = "Your credentials lack one or more required privilege scopes."
#: An oversized comment gets Django's HTML 400 page (§3, §8).
HTML_BAD_REQUEST = (
    b"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <title>Bad Request (400)</title>\n</head>\n"
    b"<body>\n  <h1>Bad Request (400)</h1><p></p>\n</body>\n</html>\n"
)


def error_body(message: str, detail: Any = None, fields: Any = None, data: Any = None) -> dict[str, Any]:
    """The standard 2.0 error object (§3)."""
    error: dict[str, Any] = {"message": message}
    if detail is not None:
        error["detail"] = detail
    if fields is not None:
        error["fields"] = fields
    if data is not None:
        error["data"] = data
    return {"type": "error", "error": error}


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return HttpResponse(status, json.dumps(obj).encode(), headers=list(headers or []), content_type="application/json")


class EmulatorError(Exception):
    """An error answer of the emulated API; raised by scripting calls that Bitbucket would refuse.

    ``status`` is the HTTP status and ``body`` the JSON body (or raw bytes with
    ``content_type`` for the plain-text and HTML variants).
    """

    def __init__(
        self,
        status: int,
        message: str,
        detail: Any = None,
        fields: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(f"{status} {message}" + (f": {detail}" if isinstance(detail, str) else ""))
        self.status = status
        self.message = message
        self.detail = detail
        self.fields = fields
        self.raw = raw
        self.content_type = content_type

    def response(self) -> HttpResponse:
        if self.raw is not None:
            return HttpResponse(self.status, self.raw, content_type=self.content_type or "text/plain")
        return json_response(self.status, error_body(self.message, self.detail, self.fields))
