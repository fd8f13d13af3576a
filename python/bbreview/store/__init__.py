"""Persistent state of the service: the webhook inbox, the durable job queue,
review state per pull request, posted comments, installations and settings.

    from bbreview.store import open_store
    store = open_store("sqlite:///var/lib/bbreview/bbreview.db")
    job_id = store.enqueue("acme/webapp#7", "review", {"commit": "4f2a9c1"})
    job = store.lease("worker-1")
    ...
    store.complete(job.id, "worker-1")

SQLite is the default (:class:`SQLiteStore`); every store follows the
:class:`Store` protocol. Errors are :class:`bbreview.StoreError`.
"""

from __future__ import annotations

import os
from typing import Any

from bbreview.errors import StoreError
from bbreview.store.base import (
    COMMENT_STATES,
    DELIVERY_STATES,
    EVENT_LEVELS,
    JOB_STATES,
    UNFINISHED_JOB_STATES,
    Delivery,
    DeliveryOutcome,
    Event,
    Installation,
    Job,
    JobSpec,
    JobSummary,
    PostedComment,
    PRState,
    Store,
    make_pr_key,
    split_pr_key,
)
from bbreview.store.sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = [
    "COMMENT_STATES",
    "DELIVERY_STATES",
    "EVENT_LEVELS",
    "JOB_STATES",
    "SCHEMA_VERSION",
    "UNFINISHED_JOB_STATES",
    "Delivery",
    "DeliveryOutcome",
    "Event",
    "Installation",
    "Job",
    "JobSpec",
    "JobSummary",
    "PRState",
    "PostedComment",
    "SQLiteStore",
    "Store",
    "StoreError",
    "make_pr_key",
    "open_store",
    "split_pr_key",
]

_SQLITE_PREFIX = "sqlite:///"


def open_store(url_or_path: str | os.PathLike[str], **options: Any) -> Store:
    """Open the store at ``url_or_path``: a file path or ``sqlite:///path``
    (``sqlite:////abs/path`` for an absolute path, as in SQLAlchemy; three
    slashes before an absolute path work too). ``options`` go to the store's
    constructor. Raises StoreError for any other scheme, naming those supported.
    """
    if not isinstance(url_or_path, str):
        return SQLiteStore(url_or_path, **options)
    if url_or_path.startswith(_SQLITE_PREFIX):
        path = url_or_path[len(_SQLITE_PREFIX):]
        if not path:
            raise StoreError(f"{url_or_path}: no database file in the URL\nhint: use sqlite:///path/to/bbreview.db")
        return SQLiteStore(path, **options)
    if "://" in url_or_path:
        scheme = url_or_path.split("://", 1)[0]
        if scheme == "sqlite":
            raise StoreError(
                f"{url_or_path}: an SQLite URL needs a file after three slashes\n"
                "hint: use sqlite:///relative/path.db or sqlite:////absolute/path.db "
                "(in-memory stores are not supported)"
            )
        raise StoreError(
            f"{url_or_path}: unsupported store scheme {scheme!r}\n"
            "hint: use a file path or sqlite:///path/to/bbreview.db (SQLite is the store this version supports)"
        )
    return SQLiteStore(url_or_path, **options)
