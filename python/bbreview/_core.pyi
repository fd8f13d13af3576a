# Type stubs for the compiled extension bbreview._core. Private: import bbreview.
from typing import Any, Literal

class _DiffModule:
    class ParseError(ValueError):
        args: tuple[int, str, str]

    class Line:
        @property
        def kind(self) -> Literal["+", "-", " "]: ...
        @property
        def old_lineno(self) -> int | None: ...
        @property
        def new_lineno(self) -> int | None: ...
        @property
        def content(self) -> str: ...
        @property
        def content_bytes(self) -> bytes: ...
        @property
        def no_newline_at_eof(self) -> bool: ...
        @property
        def line_ending(self) -> Literal["\n", "\r\n", ""]: ...
        @property
        def input_lineno(self) -> int: ...

    class Hunk:
        old_start: int
        old_count: int
        new_start: int
        new_count: int
        input_lineno: int
        @property
        def section(self) -> str: ...
        @property
        def lines(self) -> list[_DiffModule.Line]: ...
        def __len__(self) -> int: ...

    class Commit:
        sha: str
        author: str
        date: str
        subject: str
        message: str
        input_lineno: int

    class Anchor:
        @property
        def side(self) -> Literal["new", "old"]: ...
        start: int
        end: int
        exact: bool
        @property
        def hunk(self) -> _DiffModule.Hunk: ...

    class FileDiff:
        @property
        def old_path(self) -> str | None: ...
        @property
        def new_path(self) -> str | None: ...
        @property
        def path(self) -> str: ...
        @property
        def status(self) -> Literal["added", "deleted", "modified", "renamed", "copied"]: ...
        is_binary: bool
        is_combined: bool
        is_git: bool
        @property
        def old_mode(self) -> str | None: ...
        @property
        def new_mode(self) -> str | None: ...
        similarity: int | None
        dissimilarity: int | None
        old_hash: str
        new_hash: str
        added: int
        removed: int
        input_lineno: int
        commit_index: int
        @property
        def hunks(self) -> list[_DiffModule.Hunk]: ...
        def anchor(self, *, new_line: int | None = None, old_line: int | None = None) -> _DiffModule.Hunk | None: ...
        def nearest_anchor(
            self, start: int, end: int | None = None, *, side: Literal["new", "old"] = "new", max_distance: int = 0
        ) -> _DiffModule.Anchor | None: ...
        def to_text(self) -> bytes: ...

    class PatchSet:
        @property
        def files(self) -> list[_DiffModule.FileDiff]: ...
        @property
        def commits(self) -> list[_DiffModule.Commit]: ...
        @property
        def warnings(self) -> list[tuple[int, str]]: ...
        added: int
        removed: int
        stats_only: bool
        input_size: int
        def __len__(self) -> int: ...
        def to_text(self) -> bytes: ...
        def file_records(self) -> list[dict[str, Any]]: ...
        def line_records(self) -> list[dict[str, Any]]: ...

    @staticmethod
    def parse(data: str | bytes | bytearray | memoryview, strict: bool = True, keep_lines: bool = True) -> _DiffModule.PatchSet: ...

diff: _DiffModule

class _RulesModule:
    class CompileError(ValueError):
        args: tuple[int, str, int, str, str]  # (rule index or -1, field, item, value, reason)

    class RuleSet:
        @property
        def warnings(self) -> list[tuple[int, str, int, str]]: ...  # (rule index, field, item, message)
        @property
        def dfa_fallbacks(self) -> int: ...
        def __len__(self) -> int: ...
        # Each finding: (rule index, path, line | None, side, column_start, column_end, match,
        #                suggestion | None, fingerprint, snippet, commit | None)
        def scan(self, patchset: _DiffModule.PatchSet) -> list[tuple[Any, ...]]: ...
        def scan_file(self, file: _DiffModule.FileDiff) -> list[tuple[Any, ...]]: ...
        def scan_many(self, patchsets: list[_DiffModule.PatchSet], threads: int = 0) -> list[list[tuple[Any, ...]]]: ...

    @staticmethod
    def compile(rules: list[dict[str, Any]], max_mem: int) -> _RulesModule.RuleSet: ...
    @staticmethod
    def language_of(path: str) -> str | None: ...
    @staticmethod
    def canonical_language(name: str) -> str | None: ...
    @staticmethod
    def known_languages() -> list[str]: ...
    @staticmethod
    def example_file_name(language: str) -> str: ...
    @staticmethod
    def glob_to_regex(glob: str) -> tuple[str | None, str | None]: ...  # (regex, why it never matches)
    @staticmethod
    def shannon_entropy(text: str) -> float: ...
    @staticmethod
    def redact(secret: str) -> str: ...
    @staticmethod
    def fingerprint(rule_id: str, path: str, content: str, occurrence: int = 1) -> str: ...

rules: _RulesModule

class _HttpModule:
    class Response:
        status: int
        headers: list[tuple[str, str]]
        url: str
        attempts: int
        redirects: int
        error_message: str
        @property
        def body(self) -> bytes: ...
        @property
        def error(self) -> str: ...  # "none", "timeout", "reset", "tls", ...

    class Client:
        def __init__(
            self, *, threads: int = 2, max_connections_per_host: int = 8, timeout: float = 120.0,
            max_retries: int = 3, ca_file: str = "", read_timeout: float = 0.0,
        ) -> None: ...
        def request(
            self, method: str, url: str, headers: list[tuple[str, str]] = ..., body: bytes = b""
        ) -> _HttpModule.Response: ...

http: _HttpModule

class _BitbucketModule:
    MAX_PAGELEN: int
    MAX_PULL_REQUEST_PAGELEN: int
    MAX_DIFFSTAT_PAGELEN: int
    MAX_ANNOTATIONS_PER_REQUEST: int
    MAX_ANNOTATIONS_PER_REPORT: int
    DEFAULT_REQUESTS_PER_HOUR: float

    class Budget:
        capacity: float
        per_hour: float
        remaining: float
        waiting: int
        spent: int
        rate_limited: int
        cooldown_seconds: float

    class Call:
        method: str
        path: str
        def __init__(
            self, method: str, path: str, query: list[tuple[str, str]] = ..., body: bytes = b"",
            content_type: str = "application/json", accept: str = "application/json", immutable: bool = False,
            caller: str = "", retry_non_idempotent: bool = False,
        ) -> None: ...

    class Result:
        status: int
        headers: list[tuple[str, str]]
        url: str
        from_cache: bool
        @property
        def body(self) -> bytes: ...
        @property
        def ok(self) -> bool: ...
        @property
        def error_kind(self) -> str: ...  # "none", "auth", "scope", "permission_denied", ...
        @property
        def message(self) -> str: ...
        @property
        def detail(self) -> str: ...
        @property
        def required(self) -> list[str]: ...
        @property
        def granted(self) -> list[str]: ...
        @property
        def fields(self) -> str: ...  # JSON text or ""
        @property
        def error_id(self) -> str: ...
        @property
        def method(self) -> str: ...
        @property
        def path(self) -> str: ...

    @staticmethod
    def decode_error(status: int, content_type: str, body: bytes, oauth_scopes: str = "") -> _BitbucketModule.Result: ...

    class Client:
        def __init__(self, **kwargs: Any) -> None: ...
        def call(self, call: _BitbucketModule.Call) -> _BitbucketModule.Result: ...
        def map(
            self, calls: list[_BitbucketModule.Call], concurrency: int, progress: Any = None
        ) -> list[_BitbucketModule.Result]: ...
        @property
        def budget(self) -> _BitbucketModule.Budget: ...
        @property
        def base_url(self) -> str: ...
        @property
        def cache_entries(self) -> int: ...
        @property
        def stats(self) -> dict[str, int]: ...
        def describe(self) -> str: ...

bitbucket: _BitbucketModule

class _CryptoModule:
    KEY_BYTES: int
    NONCE_BYTES: int
    TAG_BYTES: int
    SEAL_VERSION: int
    SEAL_OVERHEAD: int

    class OpenError(ValueError): ...

    @staticmethod
    def seal(key: bytes, plaintext: bytes, associated: bytes = b"") -> bytes: ...
    @staticmethod
    def open(key: bytes, sealed: bytes, associated: bytes = b"") -> bytes: ...  # raises OpenError
    @staticmethod
    def random_bytes(n: int) -> bytes: ...
    @staticmethod
    def hash_password(password: str, log2_n: int = 15, r: int = 8, p: int = 1) -> str: ...
    @staticmethod
    def verify_password(password: str, encoded: str) -> bool: ...
    @staticmethod
    def password_params(encoded: str) -> tuple[int, int, int] | None: ...

crypto: _CryptoModule

class _WebhookModule:
    SIGNATURE_PREFIX: str
    DEFAULT_PATH: str
    DEFAULT_MAX_BODY_BYTES: int
    DEFAULT_MAX_HEADER_BYTES: int

    class InboxError(RuntimeError): ...

    @staticmethod
    def sign(secret: str, body: str | bytes) -> str: ...
    @staticmethod
    def verify(secret: str, body: str | bytes, header: str) -> bool: ...
    # Keys: event_key, repository, pr_id, source_commit, comment_id, actor_uuid,
    # actor_account_id (None when absent) and dedup_key. ValueError when malformed.
    @staticmethod
    def decode_event(event_key: str, body: str | bytes) -> dict[str, Any]: ...

    class IntakeServer:
        def __init__(
            self, db_path: str, *, host: str = "127.0.0.1", port: int = 0, path: str = "/bitbucketHandler",
            threads: int = 2, max_connections: int = 1024, max_body_bytes: int = 327680,
            max_header_bytes: int = 16384, header_timeout: float = 5.0, body_timeout: float = 10.0,
            idle_timeout: float = 60.0, handler_timeout: float = 9.0, require_signature: bool = False,
            queue_capacity: int = 8192, max_batch: int = 512, busy_timeout: float = 3.0,
            accepted_events: list[str] = ...,
        ) -> None: ...
        def start(self) -> int: ...
        @property
        def port(self) -> int: ...
        def stop(self, drain_timeout: float = 5.0) -> None: ...
        def set_default_secret(self, secret: str | None) -> None: ...
        def set_hook_secret(self, hook_uuid: str, secret: str) -> None: ...
        def remove_hook_secret(self, hook_uuid: str) -> bool: ...
        @property
        def hook_secret_count(self) -> int: ...
        @property
        def has_default_secret(self) -> bool: ...
        def set_metrics_text(self, text: str) -> None: ...
        def set_healthy(self, healthy: bool) -> None: ...
        def wait_for_delivery(self, timeout: float) -> bool: ...
        def take_log(self, timeout: float) -> list[tuple[str, str]]: ...  # (level, message)
        def metrics_text(self) -> str: ...
        def stats(self) -> dict[str, Any]: ...

webhook: _WebhookModule
