"""The composition root of ``bbreview serve``: intake, dispatcher, workers, metrics.

```
Bitbucket ──POST──▶ IntakeServer (C++: signature, limits, dedup, durable insert, 200)
                          │ inbox (SQLite, WAL)
                     dispatcher ── plan_delivery ──▶ jobs (same transaction)
                          │
                     workers ── lease ──▶ JobRunner (review, command, closed) ──▶ Bitbucket
```

Every piece gets its dependencies here and nowhere else: the store, the
Bitbucket client, the bot's identity, the review defaults, the LLM.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

from bbreview.errors import AuthError, Error, PermissionDenied, ScopeError
from bbreview.review.config import ReviewConfig, load_config
from bbreview.service.config import ServiceConfig
from bbreview.service.events import HANDLED_EVENTS, BotIdentity, plan_delivery
from bbreview.service.worker import JobRunner, Observations, is_retryable
from bbreview.store import Delivery, SQLiteStore, Store

__all__ = ["Service", "Metrics"]

log = logging.getLogger("bbreview.service")

#: Latency samples kept for the /metrics quantiles.
LATENCY_SAMPLES = 1024
#: How often the metrics text given to the intake is refreshed, in seconds.
METRICS_INTERVAL_S = 1.0
#: Deliveries claimed per dispatcher transaction.
CLAIM_BATCH = 200
#: Finished jobs and handled deliveries older than the retention are deleted this often (seconds).
PRUNE_INTERVAL_S = 3600.0
#: While the service has no working token, it tries again this often (seconds),
#: besides reacting at once to a token saved in the console or the CLI.
RECONNECT_INTERVAL_S = 30.0


class Metrics:
    """Counters the service adds to the intake's ``/metrics`` (Prometheus text)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.reviews = 0
        self.latency_sum = 0.0
        self.tokens_in = 0
        self.tokens_out = 0
        self.job_failures = 0

    def observe(self, o: Observations) -> None:
        with self._lock:
            if o.review_seconds is not None:
                self.latencies.append(o.review_seconds)
                self.reviews += 1
                self.latency_sum += o.review_seconds
            self.tokens_in += o.input_tokens
            self.tokens_out += o.output_tokens

    def failed(self) -> None:
        with self._lock:
            self.job_failures += 1

    def render(self, store: Store, budget: Any) -> str:
        counts = store.counts_by_state()
        depth = store.queue_depth()
        with self._lock:
            samples = sorted(self.latencies)
            reviews, total = self.reviews, self.latency_sum
            tin, tout, failures = self.tokens_in, self.tokens_out, self.job_failures
        lines = [
            "# HELP bbreview_queue_depth Jobs waiting to run.",
            "# TYPE bbreview_queue_depth gauge",
            f"bbreview_queue_depth {depth}",
            "# HELP bbreview_jobs Jobs in the store by state.",
            "# TYPE bbreview_jobs gauge",
        ]
        lines += [f'bbreview_jobs{{state="{state}"}} {n}' for state, n in sorted(counts.items())]
        lines += [
            "# HELP bbreview_review_latency_seconds From webhook receipt to the review being published.",
            "# TYPE bbreview_review_latency_seconds summary",
        ]
        for q in (0.5, 0.9, 0.99):
            value = samples[min(len(samples) - 1, int(q * len(samples)))] if samples else float("nan")
            lines.append(f'bbreview_review_latency_seconds{{quantile="{q}"}} {value:.6g}')
        lines += [
            f"bbreview_review_latency_seconds_sum {total:.6g}",
            f"bbreview_review_latency_seconds_count {reviews}",
            "# HELP bbreview_bitbucket_budget_remaining Requests left in the token's hourly budget.",
            "# TYPE bbreview_bitbucket_budget_remaining gauge",
            f"bbreview_bitbucket_budget_remaining {getattr(budget, 'remaining', float('nan')):.6g}",
            "# HELP bbreview_llm_tokens_total LLM tokens used, by direction.",
            "# TYPE bbreview_llm_tokens_total counter",
            f'bbreview_llm_tokens_total{{direction="in"}} {tin}',
            f'bbreview_llm_tokens_total{{direction="out"}} {tout}',
            "# HELP bbreview_job_failures_total Job attempts that failed.",
            "# TYPE bbreview_job_failures_total counter",
            f"bbreview_job_failures_total {failures}",
        ]
        return "\n".join(lines) + "\n"


class Service:
    """The running service. ``start()`` returns once the intake listens; ``stop()`` drains.

    Args:
        config: the ServiceConfig.
        client: a Bitbucket Client (default: from the stored token or the environment).
        store: a Store (default: SQLite at ``config.db_path``).
        webhook_secret: the default secret for hooks with no per-hook secret.
        hook_secrets: ``{hook uuid: secret}`` (default: from the store's installations).
        defaults: the service-level review configuration.
        llm: an LLM provider or reviewer for every review (default: from the configuration).
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        client: Any = None,
        store: Store | None = None,
        webhook_secret: str | None = None,
        hook_secrets: dict[str, str] | None = None,
        defaults: ReviewConfig | None = None,
        checks: Sequence[Any] = (),
        llm: Any = None,
        env: dict[str, str] | None = None,
        console: bool = True,
    ) -> None:
        self.config = config
        self.console_enabled = console
        self.console: Any = None
        self.env = dict(os.environ if env is None else env)
        os.makedirs(config.data_dir, exist_ok=True)
        self.store: Store = store or SQLiteStore(str(config.db_path))
        self._explicit_client = client is not None
        #: Why there is no working Bitbucket client yet ("" once connected).
        self.credentials_problem = ""
        self._token_marker: bytes | None = None
        self._last_connect_try = 0.0
        self._connect_lock = threading.RLock()  # the console's thread and the housekeeping loop
        self.client = client
        if client is None:
            self._token_marker = self._saved_token_marker()
            try:
                self.client = self._client_from_settings()
            except Error as exc:
                self.credentials_problem = str(exc)
        self.webhook_secret = webhook_secret if webhook_secret is not None else self.env.get("BBREVIEW_WEBHOOK_SECRET")
        self._hook_secrets = hook_secrets
        self.defaults = defaults or (load_config(config.review_defaults) if config.review_defaults else ReviewConfig.default())
        self.checks = list(checks)
        self.llm = llm
        self.metrics = Metrics()
        self.bot: BotIdentity | None = None
        self.runner: JobRunner | None = None
        self.intake: Any = None
        self._stop = threading.Event()
        self._work = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._running: dict[int, str] = {}
        self._running_lock = threading.Lock()
        self._loaded_hooks: set[str] = set()
        self._next_prune = 0.0
        self._installations_seen: tuple[Any, ...] | None = None
        self.instance = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"

    # -- wiring ------------------------------------------------------------------------------------
    def _client_from_settings(self) -> Any:
        from bbreview._commands.review import bitbucket_client_from_env

        try:
            from bbreview.service import credentials
        except ImportError:  # pragma: no cover - the credentials module arrives with the console
            credentials = None  # type: ignore[assignment]
        if credentials is not None:
            client = credentials.client_from_store(self.store, self.config, self.env)
            if client is not None:
                return client
        ns = type("NS", (), {"api_url": self.config.api_url, "ca_file": self.config.ca_file})()
        return bitbucket_client_from_env(ns, self.env)

    def hook_secrets(self) -> dict[str, str]:
        if self._hook_secrets is not None:
            return dict(self._hook_secrets)
        try:
            from bbreview.service import credentials
        except ImportError:  # pragma: no cover
            return {}
        return credentials.hook_secrets(self.store, self.config, self.env)

    def _saved_token_marker(self) -> bytes | None:
        try:
            from bbreview.service import credentials
        except ImportError:  # pragma: no cover
            return None
        try:
            return credentials.saved_token_marker(self.store)
        except Error:
            return None

    @property
    def connected(self) -> bool:
        """Whether the service has a working token (and so reviews); see ``credentials_problem``."""
        return self.runner is not None

    def _connect(self) -> bool:
        """Builds the bot's identity and the job runner from the current client.

        Without a working token the service still runs: webhooks are stored, the
        console works, and jobs wait until a token is saved (``refresh_credentials``)."""
        with self._connect_lock:
            self._last_connect_try = time.monotonic()
            if self.client is None:
                self.runner = None
                self.bot = None
                return False
            try:
                user = self.client.current_user()
            except (AuthError, ScopeError, PermissionDenied) as exc:
                self.credentials_problem = f"the Bitbucket token does not work: {exc}"
                self.runner = None
                self.bot = None
                return False
            except Error as exc:  # Bitbucket unreachable or failing: tried again later
                self.credentials_problem = (f"Bitbucket could not be reached to check the token ({exc}); trying "
                                            f"again every {RECONNECT_INTERVAL_S:.0f} s")
                self.runner = None
                self.bot = None
                return False
            self.bot = BotIdentity.from_user(user)
            self.runner = JobRunner(
                client=self.client, store=self.store, bot=self.bot, defaults=self.defaults, checks=self.checks,
                llm=self.llm, env=self.env, observe=self.metrics.observe,
            )
            self.credentials_problem = ""
            return True

    def refresh_credentials(self, *, force: bool = False) -> bool:
        """Picks up a token saved since (console, ``bbreview token set``, ``bbreview user
        change``): a new client, the new bot identity, a new runner. Retries a token that
        did not work every RECONNECT_INTERVAL_S. Returns True when the credentials changed."""
        if self._explicit_client:
            return False
        with self._connect_lock:
            return self._refresh_credentials(force)

    def _refresh_credentials(self, force: bool) -> bool:
        marker = self._saved_token_marker()
        changed = marker != self._token_marker
        retry = self.runner is None and time.monotonic() - self._last_connect_try >= RECONNECT_INTERVAL_S
        if not (changed or retry or force):
            return False
        previous = self.bot
        self._token_marker = marker
        try:
            self.client = self._client_from_settings()
        except Error as exc:
            self.client = None
            self.credentials_problem = str(exc)
        if not self._connect():
            if changed:
                log.error("bbreview serve: not reviewing: %s", self.credentials_problem)
            return changed
        if previous is None or previous.uuid != self.bot.uuid:  # type: ignore[union-attr]
            log.info("bbreview serve: reviewing as %s", self.bot.display_name or self.bot.uuid)  # type: ignore[union-attr]
        with self._work:
            self._work.notify_all()
        return True

    def _settings_changed(self) -> None:
        """The console or the CLI changed the token or the installations."""
        self.reload_secrets()
        self.refresh_credentials()

    def start(self) -> Service:
        from bbreview.service.intake import IntakeServer

        if self._explicit_client:
            self._connect()
        else:
            self.refresh_credentials(force=True)  # also a token saved since the service was made
        self.intake = IntakeServer(
            str(self.config.db_path), host=self.config.host, port=self.config.port, path=self.config.path,
            threads=self.config.intake_threads, require_signature=self.config.require_signature,
            accepted_events=HANDLED_EVENTS,
        )
        self.reload_secrets()
        try:
            self.intake.start()
        except (OSError, RuntimeError) as exc:
            self.intake = None
            raise Error(f"the webhook listener cannot listen on {self.config.host}:{self.config.port}: {exc}; stop "
                        "what uses that port or choose another with --port (listen.port in the configuration)"
                        ) from exc
        if self.console_enabled:
            try:
                self._start_console()
            except OSError as exc:
                self.intake.stop(drain_timeout=0.0)
                self.intake = None
                raise Error(f"the console cannot listen on {self.config.console_host}:{self.config.console_port}: "
                            f"{exc.strerror or exc}; choose another port with --console-port (console.port in "
                            "the configuration) or run without it (--no-console)") from exc
        if self.bot is not None:
            log.info("bbreview serve: webhooks on http://%s:%d%s, reviewing as %s", self.config.host, self.port,
                     self.config.path, self.bot.display_name or self.bot.uuid)
        else:
            log.warning("bbreview serve: webhooks on http://%s:%d%s are stored but not reviewed yet: %s (a token "
                        "saved later is picked up without a restart)",
                        self.config.host, self.port, self.config.path, self.credentials_problem)
        self._spawn("dispatcher", self._dispatch_loop)
        for i in range(self.config.workers):
            self._spawn(f"worker-{i}", self._worker_loop, f"{self.instance}/w{i}")
        self._spawn("heartbeat", self._heartbeat_loop)
        self._spawn("metrics", self._metrics_loop)
        return self

    def _start_console(self) -> None:
        try:
            from bbreview.service.admin import Admin
            from bbreview.service.console.server import ConsoleServer
        except ImportError as exc:  # pragma: no cover - both ship with the package
            log.warning("bbreview serve: the console is unavailable: %s", exc)
            return
        admin = Admin(self.store, self.config, env=self.env, on_change=self._settings_changed)
        console = ConsoleServer(admin, self.store, self.config, host=self.config.console_host,
                                port=self.config.console_port)
        console.start()
        self.console = console
        log.info("bbreview serve: console on %s", self.console.url)

    def _installations_changed(self) -> bool:
        """Whether an installation was added, changed or removed since the last look (a cheap
        read, so that a hook installed by another process is verified within a second:
        Bitbucket does not retry the 401 a delivery gets before its secret is loaded)."""
        signature = tuple((i.full_name, i.hook_uuid, i.active, i.updated_at, i.secret)
                          for i in self.store.installations())
        if signature == self._installations_seen:
            return False
        self._installations_seen = signature
        return True

    def reload_secrets(self) -> None:
        """Hands the current webhook secrets to the intake (after an installation changes)."""
        if self.intake is None:
            return
        self.intake.set_default_secret(self.webhook_secret or None)
        current = self.hook_secrets()
        for hook_uuid, secret in current.items():
            self.intake.set_hook_secret(hook_uuid, secret)
        for gone in self._loaded_hooks - set(current):  # uninstalled: its deliveries are refused again
            self.intake.remove_hook_secret(gone)
        self._loaded_hooks = set(current)

    @property
    def port(self) -> int:
        return int(self.intake.port) if self.intake is not None else 0

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        def guarded() -> None:
            try:
                target(*args)
            except BaseException as exc:  # noqa: BLE001 - reported, then /healthz turns red
                log.critical("bbreview serve: the %s thread stopped: %s: %s", name, type(exc).__name__, exc)
                self._unhealthy()
                raise
            if not self._stop.is_set():  # pragma: no cover - the loops only return on stop
                log.critical("bbreview serve: the %s thread ended unexpectedly", name)
                self._unhealthy()

        t = threading.Thread(target=guarded, name=f"bbreview-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def _unhealthy(self) -> None:
        """A loop died: ``/healthz`` answers 503 so that a supervisor restarts the service."""
        if self.intake is not None:
            try:
                self.intake.set_healthy(False)
            except Exception:  # noqa: BLE001 - best effort
                pass

    def prune(self, now: float | None = None) -> dict[str, int]:
        """Deletes finished jobs and handled deliveries older than ``retention_days``
        (before ``now``, unix seconds; default: the current time)."""
        removed = self.store.prune((time.time() if now is None else now) - self.config.retention_days * 86_400)
        if any(removed.values()):
            log.info("housekeeping: pruned %d finished job(s) and %d handled deliveries older than %g days",
                     removed.get("jobs", 0), removed.get("inbox", 0), self.config.retention_days)
        return removed

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Stops accepting webhooks (in-flight requests finish), then lets running jobs end."""
        if self.console is not None:
            self.console.stop()
            self.console = None
        if self.intake is not None:
            self.intake.stop(drain_timeout=drain_timeout)
        self._stop.set()
        with self._work:
            self._work.notify_all()
        deadline = time.monotonic() + drain_timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        # Jobs still running are given back, so that the next start runs them at once
        # instead of waiting for their leases to expire (the fingerprints keep a rerun
        # from posting anything twice).
        with self._running_lock:
            running = list(self._running.items())
        for job_id, owner in running:
            try:
                if self.store.release(job_id, owner):
                    log.info("job %d was still running at shutdown: queued again", job_id)
            except Exception as exc:  # noqa: BLE001 - its lease expires anyway
                log.warning("job %d could not be queued again (%s); it runs once its lease expires", job_id, exc)

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Blocks until SIGINT/SIGTERM, then stops gracefully."""
        import signal

        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        while not done.wait(1.0):
            pass
        log.info("bbreview serve: shutting down")
        self.stop()

    # -- loops ----------------------------------------------------------------------------------------
    def _handle(self, delivery: Delivery) -> Any:
        bot = self.bot
        if bot is None:
            raise Error("no bot identity yet")  # pragma: no cover - dispatch_once checks first
        plan = plan_delivery(delivery, bot)
        for pr_key in plan.cancel:
            n = self.store.cancel_pending(pr_key, kinds=["review", "command"])
            if n:
                log.info("%s: cancelled %d pending job(s)", pr_key, n)
        if not plan.jobs:
            log.info("delivery %d (%s): %s", delivery.seq, delivery.event_key, plan.note)
        return [j if j.max_attempts == self.config.max_attempts else _with_attempts(j, self.config.max_attempts)
                for j in plan.jobs]

    def dispatch_once(self) -> int:
        """Turns every new delivery into jobs; returns how many deliveries were handled.

        Without a bot identity (no working token yet) deliveries stay in the inbox:
        whether an event is the bot's own cannot be told before."""
        total = 0
        if self.bot is None:
            return 0
        while True:
            n = self.store.claim_deliveries(self._handle, limit=CLAIM_BATCH)
            total += n
            if n < CLAIM_BATCH:
                break
        if total:
            with self._work:
                self._work.notify_all()
        return total

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.intake.wait_for_delivery(0.5)
                self.dispatch_once()
            except Exception as exc:  # noqa: BLE001 - the deliveries stay in the inbox: try again
                log.error("dispatcher: %s: %s; trying again in 1 s", type(exc).__name__, exc)
                self._stop.wait(1.0)

    def _worker_loop(self, owner: str) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._work_once(owner)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the store failed (disk full, locked, ...): never die
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.error("%s: %s: %s; trying again in %.0f s (a job it held runs again once its lease expires)",
                          owner, type(exc).__name__, exc, delay)
                self._stop.wait(delay)

    def _work_once(self, owner: str) -> None:
        runner = self.runner
        if runner is None:  # no working token yet: jobs wait
            with self._work:
                self._work.wait(0.5)
            return
        job = self.store.lease(owner, lease_seconds=self.config.lease_seconds)
        if job is None:
            with self._work:
                self._work.wait(0.5)
            return
        with self._running_lock:
            self._running[job.id] = owner
        try:
            try:
                outcome = runner.run(job)
            except Exception as exc:  # noqa: BLE001 - a job's failure must never kill its worker
                retry = is_retryable(exc)
                self.metrics.failed()
                log.warning("job %d (%s %s) failed (attempt %d, %s): %s", job.id, job.kind, job.pr_key,
                            job.attempts, "will retry" if retry else "giving up", exc)
                self.store.fail(job.id, owner, f"{type(exc).__name__}: {exc}", retry=retry)
            else:
                log.info("job %d (%s %s): %s", job.id, job.kind, job.pr_key, outcome)
                self.store.complete(job.id, owner)
        finally:
            with self._running_lock:
                self._running.pop(job.id, None)

    def _heartbeat_loop(self) -> None:
        interval = max(1.0, self.config.lease_seconds / 3)
        while not self._stop.wait(interval):
            with self._running_lock:
                running = list(self._running.items())
            for job_id, owner in running:
                try:
                    self.store.heartbeat(job_id, owner, self.config.lease_seconds)
                except Exception as exc:  # noqa: BLE001 - keep renewing the other leases
                    log.warning("heartbeat of job %d failed: %s", job_id, exc)

    def metrics_text(self) -> str:
        return self.metrics.render(self.store, getattr(self.client, "budget", None))

    def _metrics_loop(self) -> None:
        # Also picks up webhook secrets and a token that another process (`bbreview repos
        # install`, `bbreview token set`) saved.
        while not self._stop.is_set():
            try:
                self.intake.set_metrics_text(self.metrics_text())
                if self._hook_secrets is None and self._installations_changed():
                    self.reload_secrets()
                self.refresh_credentials()  # a cheap read unless the saved token changed
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + PRUNE_INTERVAL_S
                    self.prune()
            except Exception as exc:  # noqa: BLE001 - housekeeping must not stop
                log.warning("housekeeping: %s: %s", type(exc).__name__, exc)
            self._stop.wait(METRICS_INTERVAL_S + random.random() * 0.1)


def _with_attempts(job: Any, attempts: int) -> Any:
    from dataclasses import replace

    return replace(job, max_attempts=attempts)
