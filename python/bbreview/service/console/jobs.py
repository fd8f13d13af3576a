"""Long console operations (install, uninstall, reinstall, change user) as pollable jobs.

The page starts a job, then polls it; each repository's result appears as soon as the Admin
reports it through its ``progress`` callback, so the page shows progress per repository.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Job", "JobBusy", "Jobs", "MAX_JOBS", "jsonable"]

log = logging.getLogger("bbreview.console")

#: Finished jobs kept for polling; older ones are forgotten.
MAX_JOBS = 32


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data: objects with ``to_dict()`` become dicts, recursively."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class JobBusy(Exception):
    """Another job is still running; the console runs one repository operation at a time."""


@dataclass
class Job:
    id: str
    action: str
    targets: list[str]
    state: str = "running"  # running | done | failed
    results: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "state": self.state,
            "targets": list(self.targets),
            "total": len(self.targets),
            "done": len(self.results),
            "results": dict(self.results),
            "result": self.result,
            "error": self.error,
            "started": self.started,
            "finished": self.finished,
        }


class Jobs:
    """Runs one job at a time on a background thread and keeps the last MAX_JOBS for polling."""

    def __init__(self, capacity: int = MAX_JOBS) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._threads: list[threading.Thread] = []

    def start(
        self,
        action: str,
        targets: list[str],
        work: Callable[[Callable[[str, Any], None]], Any],
        describe_error: Callable[[BaseException], str],
    ) -> Job:
        """Starts ``work(progress)`` on a thread. ``progress(full_name, result)`` records one
        repository's result; ``work``'s return value becomes the job's ``result`` (a list of
        per-repository results is also merged into ``results``). Raises JobBusy while a job runs."""
        job = Job(id=secrets.token_hex(8), action=action, targets=list(targets))
        with self._lock:
            if any(j.state == "running" for j in self._jobs.values()):
                raise JobBusy("another repository operation is still running; wait for it to finish")
            self._jobs[job.id] = job
            while len(self._jobs) > self.capacity:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].state == "running":
                    break
                del self._jobs[oldest]

        def progress(full_name: str, result: Any) -> None:
            data = jsonable(result)
            with self._lock:
                job.results[full_name] = data

        def run() -> None:
            try:
                outcome = work(progress)
            except Exception as exc:  # noqa: BLE001 - a job's failure is reported to the page, not raised
                message = describe_error(exc)
                log.warning("console job %s (%s) failed: %s", job.id, action, message)
                with self._lock:
                    job.error, job.state, job.finished = message, "failed", time.time()
                return
            data = jsonable(outcome)
            with self._lock:
                if isinstance(data, list):
                    for item in data:
                        if isinstance(item, dict) and item.get("full_name"):
                            job.results[item["full_name"]] = item
                job.result, job.state, job.finished = data, "done", time.time()

        thread = threading.Thread(target=run, name=f"bbreview-console-job-{job.id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A snapshot of the job, or None when unknown."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.to_dict()

    def join(self, timeout: float) -> None:
        """Waits up to ``timeout`` seconds in total for running jobs (on shutdown)."""
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))
