"""The service's own configuration: one typed object, from a YAML file and the environment.

```yaml
data_dir: /var/lib/bbreview          # SQLite database, key file
public_url: https://review.example.com   # what Bitbucket calls: <public_url>/bitbucketHandler
listen: {host: 0.0.0.0, port: 8080, path: /bitbucketHandler}
console: {host: 127.0.0.1, port: 8081}
bitbucket: {api_url: https://api.bitbucket.org/2.0, ca_file: null}
workers: 4
review_defaults: /etc/bbreview/defaults.yaml   # a .bbreview.yaml that repositories override
require_signature: true
lease_seconds: 120                   # a job's lease; renewed while it runs
max_attempts: 6                      # then the job is dead-lettered, its error kept
intake_threads: 2                    # the webhook listener's I/O threads
retention_days: 14                   # finished jobs and handled deliveries kept this long
```

Environment variables override the file: ``BBREVIEW_DATA_DIR``,
``BBREVIEW_PUBLIC_URL``, ``BBREVIEW_HOST``, ``BBREVIEW_PORT``,
``BBREVIEW_WORKERS``, ``BBREVIEW_BITBUCKET_URL``, ``BBREVIEW_CA_FILE``.
Secrets never live in this file: the webhook secret comes from
``BBREVIEW_WEBHOOK_SECRET`` or from the installations, the token from the
store (``bbreview token set``) or ``BITBUCKET_EMAIL`` + ``BITBUCKET_API_TOKEN``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from bbreview.errors import ConfigError

__all__ = ["ServiceConfig", "DEFAULT_PATH", "WEBHOOK_TIMEOUT_S"]

DEFAULT_PATH = "/bitbucketHandler"
#: Bitbucket waits 10 s for a webhook response, then treats it as failed (§7.3).
WEBHOOK_TIMEOUT_S = 10.0

_ENV = {
    "data_dir": "BBREVIEW_DATA_DIR",
    "public_url": "BBREVIEW_PUBLIC_URL",
    "host": "BBREVIEW_HOST",
    "port": "BBREVIEW_PORT",
    "workers": "BBREVIEW_WORKERS",
    "api_url": "BBREVIEW_BITBUCKET_URL",
    "ca_file": "BBREVIEW_CA_FILE",
    "console_port": "BBREVIEW_CONSOLE_PORT",
}


@dataclass(frozen=True)
class ServiceConfig:
    data_dir: str = "./bbreview-data"
    public_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    path: str = DEFAULT_PATH
    console_host: str = "127.0.0.1"
    console_port: int = 8081
    api_url: str = "https://api.bitbucket.org/2.0"
    ca_file: str | None = None
    workers: int = 4
    review_defaults: str | None = None
    require_signature: bool = True
    lease_seconds: float = 120.0
    intake_threads: int = 2
    max_attempts: int = 6
    retention_days: float = 14.0

    def __post_init__(self) -> None:
        def number(name: str, low: float, high: float, integer: bool = True) -> None:
            value = getattr(self, name)
            kinds = (int,) if integer else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
                kind = "a whole number" if integer else "a number"
                raise ConfigError(f"{name} must be {kind} in {low:g}..{high:g}, not {value!r}", name)

        number("lease_seconds", 1, 86_400, integer=False)
        number("max_attempts", 1, 100)
        number("intake_threads", 1, 64)
        number("retention_days", 0.01, 3_650, integer=False)
        if not isinstance(self.require_signature, bool):
            raise ConfigError(f"require_signature must be true or false, not {self.require_signature!r}",
                              "require_signature")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0..65535, not {self.port!r}", "listen.port")
        if not isinstance(self.console_port, int) or not 0 <= self.console_port <= 65535:
            raise ConfigError(f"port must be 0..65535, not {self.console_port!r}", "console.port")
        if not isinstance(self.workers, int) or not 1 <= self.workers <= 64:
            raise ConfigError(f"workers must be 1..64, not {self.workers!r}", "workers")
        if not self.path.startswith("/"):
            raise ConfigError(f"the webhook path must start with '/', not {self.path!r}", "listen.path")
        if self.public_url is not None and not self.public_url.startswith(("https://", "http://")):
            raise ConfigError(f"public_url must be an http(s) URL, not {self.public_url!r}", "public_url",
                              hint="e.g. https://review.example.com (bbreview appends the webhook path)")

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "bbreview.db"

    @property
    def hook_url(self) -> str | None:
        """The URL webhooks are installed with: ``<public_url><path>``."""
        return None if not self.public_url else self.public_url.rstrip("/") + self.path

    @classmethod
    def load(cls, path: str | None = None, env: dict[str, str] | None = None, **overrides: Any) -> ServiceConfig:
        """The file at ``path`` (optional), then the environment, then ``overrides``."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read the service configuration: {exc.strerror}", source=path) from None
            try:
                data = yaml.safe_load(text) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", source=path,
                                  line=mark.line + 1 if mark else None) from None
            if not isinstance(data, dict):
                raise ConfigError("the top level must be a mapping", source=path)
            values.update(_flatten(data, path))
        known = {f.name for f in fields(cls)}
        for name, var in _ENV.items():
            if var in env and env[var] != "":
                raw = env[var]
                values[name] = int(raw) if name in ("port", "workers", "console_port") and raw.isdigit() else raw
        values.update({k: v for k, v in overrides.items() if v is not None and k in known})
        return cls(**values)

    def with_(self, **changes: Any) -> ServiceConfig:
        return replace(self, **changes)


def _flatten(data: dict[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sections = {"listen": {"host": "host", "port": "port", "path": "path"},
                "console": {"host": "console_host", "port": "console_port"},
                "bitbucket": {"api_url": "api_url", "ca_file": "ca_file"}}
    plain = {f.name for f in fields(ServiceConfig)} - {"host", "port", "path", "console_host", "console_port",
                                                       "api_url", "ca_file"}
    for key, value in data.items():
        if key in sections:
            if not isinstance(value, dict):
                raise ConfigError("must be a mapping", key, source=source)
            for sub, sub_value in value.items():
                if sub not in sections[key]:
                    raise ConfigError(f"unknown key {sub!r}", f"{key}.{sub}", source=source,
                                      hint="known: " + ", ".join(sections[key]))
                out[sections[key][sub]] = sub_value
        elif key in plain:
            out[key] = value
        else:
            raise ConfigError(f"unknown key {key!r}", key, source=source,
                              hint="known: " + ", ".join(sorted([*plain, *sections])))
    return out
