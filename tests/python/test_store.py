"""The persistent store: schema migrations, the webhook inbox, the durable job
queue, and the per-PR, installation, settings and events tables."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bbreview.errors import StoreError
from bbreview.store import (
    SCHEMA_VERSION,
    Delivery,
    Installation,
    Job,
    JobSpec,
    PRState,
    SQLiteStore,
    Store,
    make_pr_key,
    open_store,
    split_pr_key,
)
from bbreview.store.sqlite import INBOX_DDL


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock):
    s = SQLiteStore(tmp_path / "bbreview.db", clock=clock)
    yield s
    s.close()


def _deliver(store: SQLiteStore, n: int, **kw) -> int | None:
    fields = {
        "dedup_key": f"dedup-{n}",
        "event_key": "pullrequest:created",
        "body": b'{"pullrequest": {"id": %d}}' % n,
        "request_uuid": f"req-{n}",
        "repository": "acme/webapp",
        "pr_id": n,
    }
    fields.update(kw)
    return store.insert_delivery(**fields)


def _review_handler(delivery: Delivery) -> list[JobSpec]:
    pr = delivery.json()["pullrequest"]["id"]
    return [JobSpec(make_pr_key("acme", "webapp", pr), "review", {"pr": pr, "seq": delivery.seq})]


# -- opening and migrations ---------------------------------------------------------


def test_open_creates_the_schema_and_reopening_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bbreview.db"
    with SQLiteStore(path) as first:
        assert first.schema_version == SCHEMA_VERSION
        first.set_setting("k", b"v")
    with SQLiteStore(path) as second:
        assert second.schema_version == SCHEMA_VERSION
        assert second.get_setting("k") == b"v"
    conn = sqlite3.connect(path)
    try:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        inbox_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'inbox'").fetchone()[0]
    finally:
        conn.close()
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    assert {"inbox", "jobs", "pr_state", "posted_comments", "installations", "settings", "events_log"} <= tables
    assert inbox_sql == INBOX_DDL.strip().rstrip(";")


def test_opening_from_many_threads_at_once_migrates_once(tmp_path: Path) -> None:
    path = tmp_path / "bbreview.db"
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            SQLiteStore(path).close()
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bbreview.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(StoreError, match=r"schema version \d+, newer") as info:
        SQLiteStore(path)
    assert str(path) in str(info.value)
    assert "upgrade bbreview" in str(info.value)


def test_a_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    with pytest.raises(StoreError, match="not a bbreview store"):
        SQLiteStore(path)
    conn = sqlite3.connect(path)
    try:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["customers"]
    finally:
        conn.close()


def test_a_missing_folder_is_reported_with_the_path_and_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "bbreview.db"
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    assert str(path) in str(info.value)
    assert "hint: check that the folder exists" in str(info.value)


def test_in_memory_databases_are_refused() -> None:
    with pytest.raises(StoreError, match="file path"):
        SQLiteStore(":memory:")


def test_connections_use_wal_full_sync_foreign_keys_and_a_busy_timeout(store: SQLiteStore) -> None:
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000


def test_a_closed_store_raises(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "bbreview.db")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.queue_depth()


def test_open_store_accepts_paths_and_sqlite_urls_only(tmp_path: Path) -> None:
    for target in (tmp_path / "a.db", str(tmp_path / "b.db"), f"sqlite:///{tmp_path / 'c.db'}"):
        s = open_store(target)
        try:
            assert isinstance(s, SQLiteStore)
            assert isinstance(s, Store)
        finally:
            s.close()
    assert (tmp_path / "c.db").exists()
    with pytest.raises(StoreError, match=r"'postgresql'.*\n.*sqlite:///"):
        open_store("postgresql://db/bbreview")
    with pytest.raises(StoreError, match="three slashes"):
        open_store("sqlite://")


def test_importing_the_package_has_no_side_effects(tmp_path: Path) -> None:
    import bbreview.store as package
    import bbreview.store.base as base
    import bbreview.store.sqlite as sqlite_module

    for module in (package, base, sqlite_module):
        assert module.__all__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    assert list(tmp_path.iterdir()) == []


def test_pr_keys_round_trip() -> None:
    assert make_pr_key("acme", "webapp", 7) == "acme/webapp#7"
    assert split_pr_key("acme/webapp#7") == ("acme", "webapp", 7)
    assert split_pr_key("something else") == (None, None, None)


# -- inbox --------------------------------------------------------------------------


def test_inbox_drops_duplicates_by_dedup_key_and_by_request_uuid(store: SQLiteStore) -> None:
    first = _deliver(store, 1)
    assert isinstance(first, int)
    assert _deliver(store, 1, request_uuid="req-other") is None  # same dedup_key
    assert _deliver(store, 2, request_uuid="req-1") is None  # same request_uuid
    second = _deliver(store, 3, request_uuid=None)
    third = _deliver(store, 4, request_uuid=None)  # NULL uuids never collide
    assert second is not None and third is not None and first < second < third
    delivery = store.delivery(first)
    assert delivery is not None
    assert delivery.body == b'{"pullrequest": {"id": 1}}' and delivery.state == "new"
    assert store.stats()["tables"]["inbox"] == 3


def test_inbox_still_requires_its_not_null_columns(store: SQLiteStore) -> None:
    with pytest.raises(ValueError, match="dedup_key"):
        store.insert_delivery(dedup_key="", event_key="repo:push", body=b"{}")


def test_claim_turns_each_delivery_into_jobs_exactly_once(store: SQLiteStore) -> None:
    seqs = [_deliver(store, n) for n in (1, 2, 3)]
    assert store.claim_deliveries(_review_handler) == 3
    assert store.claim_deliveries(_review_handler) == 0
    jobs = sorted(store.jobs(), key=lambda j: j.id)
    assert [(j.pr_key, j.kind, j.delivery_seq) for j in jobs] == [
        ("acme/webapp#1", "review", seqs[0]),
        ("acme/webapp#2", "review", seqs[1]),
        ("acme/webapp#3", "review", seqs[2]),
    ]
    assert jobs[0].payload == {"pr": 1, "seq": seqs[0]}
    outcomes = store.delivery_outcomes()
    assert [o.seq for o in outcomes] == seqs[::-1]
    assert all(o.state == "taken" and o.outcome == "1 job(s): review" for o in outcomes)
    assert [(j.kind, j.state) for j in outcomes[0].jobs] == [("review", "queued")]


def test_claim_respects_the_limit_and_takes_the_oldest_first(store: SQLiteStore) -> None:
    for n in range(5):
        _deliver(store, n)
    seen: list[int] = []

    def handler(d: Delivery) -> list[JobSpec]:
        seen.append(d.pr_id)
        return []

    assert store.claim_deliveries(handler, limit=2) == 2
    assert store.claim_deliveries(handler, limit=10) == 3
    assert seen == [0, 1, 2, 3, 4]
    assert all(o.outcome == "ignored: no jobs" for o in store.delivery_outcomes())


def test_a_raising_handler_rejects_only_its_delivery_and_undoes_its_writes(store: SQLiteStore) -> None:
    for n in (1, 2, 3):
        _deliver(store, n)

    def handler(d: Delivery) -> list[JobSpec]:
        if d.pr_id == 2:
            store.enqueue("acme/webapp#2", "half-done")  # joins the claim; must be undone
            raise ValueError("no pullrequest in body")
        return _review_handler(d)

    assert store.claim_deliveries(handler) == 3
    states = {o.pr_id: (o.state, o.outcome) for o in store.delivery_outcomes()}
    assert states == {
        1: ("taken", "1 job(s): review"),
        2: ("rejected", "ValueError: no pullrequest in body"),
        3: ("taken", "1 job(s): review"),
    }
    assert sorted(j.pr_key for j in store.jobs()) == ["acme/webapp#1", "acme/webapp#3"]
    assert store.delivery_outcomes(repository="acme/webapp", limit=1)[0].pr_id == 3
    assert store.delivery_outcomes(repository="other/repo") == []


def test_a_handler_that_returns_something_else_rejects_the_delivery(store: SQLiteStore) -> None:
    _deliver(store, 1)
    assert store.claim_deliveries(lambda d: ["review"]) == 1
    (outcome,) = store.delivery_outcomes()
    assert outcome.state == "rejected" and "not JobSpec" in outcome.outcome


def test_a_handler_may_write_to_the_store_within_the_claim(store: SQLiteStore) -> None:
    _deliver(store, 1)

    def handler(d: Delivery) -> list[JobSpec]:
        store.update_pr_state("acme/webapp#1", last_reviewed_commit="abc")
        return []

    assert store.claim_deliveries(handler) == 1
    assert store.pr_state("acme/webapp#1").last_reviewed_commit == "abc"


class _Crash(BaseException):
    """Stands for the process dying in the middle of a claim."""


def test_a_claim_that_dies_midway_leaves_every_delivery_new(store: SQLiteStore) -> None:
    for n in (1, 2):
        _deliver(store, n)

    def dies_on_second(d: Delivery) -> list[JobSpec]:
        if d.pr_id == 2:
            raise _Crash
        return _review_handler(d)

    with pytest.raises(_Crash):
        store.claim_deliveries(dies_on_second)
    assert store.jobs() == []
    assert {o.state for o in store.delivery_outcomes()} == {"new"}
    assert store.claim_deliveries(_review_handler) == 2
    assert len(store.jobs()) == 2


# -- the job queue ------------------------------------------------------------------


def test_enqueue_and_lease_return_jobs_with_parsed_payloads(store: SQLiteStore, clock: Clock) -> None:
    job_id = store.enqueue("acme/webapp#7", "review", {"commit": "4f2a9c1", "files": [1, 2]})
    job = store.lease("w1", lease_seconds=30)
    assert isinstance(job, Job)
    assert job.id == job_id and job.payload == {"commit": "4f2a9c1", "files": [1, 2]}
    assert (job.state, job.attempts, job.lease_owner, job.lease_expires) == ("leased", 1, "w1", clock.now + 30)
    assert store.lease("w2") is None
    assert store.complete(job_id, "w1")
    done = store.job(job_id)
    assert done is not None and done.state == "done" and done.finished_at == clock.now
    assert store.job(9999) is None


def test_payloads_must_be_json(store: SQLiteStore) -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        store.enqueue("acme/webapp#7", "review", {"when": object()})


def test_jobs_of_one_pull_request_run_in_order_and_other_prs_run_meanwhile(store: SQLiteStore) -> None:
    first = store.enqueue("acme/webapp#1", "review")
    second = store.enqueue("acme/webapp#1", "command")
    other = store.enqueue("acme/webapp#2", "review")
    a = store.lease("w1")
    assert a is not None and a.id == first
    b = store.lease("w2")
    assert b is not None and b.id == other  # not `second`: its PR is busy
    assert store.lease("w3") is None
    assert store.complete(first, "w1")
    c = store.lease("w3")
    assert c is not None and c.id == second


def test_a_job_waiting_for_its_retry_holds_back_its_pr(store: SQLiteStore, clock: Clock) -> None:
    first = store.enqueue("acme/webapp#1", "review")
    second = store.enqueue("acme/webapp#1", "review")
    store.lease("w1")
    store.fail(first, "w1", "HTTP 503", retry_after=30)
    assert store.lease("w1") is None  # first is backing off; second must wait for it
    clock.advance(31)
    again = store.lease("w1")
    assert again is not None and again.id == first and again.attempts == 2
    store.complete(first, "w1")
    after = store.lease("w1")
    assert after is not None and after.id == second


def test_lease_filters_by_kind_without_breaking_pr_order(store: SQLiteStore) -> None:
    review = store.enqueue("acme/webapp#1", "review")
    store.enqueue("acme/webapp#1", "command")
    command = store.enqueue("acme/webapp#2", "command")
    got = store.lease("w1", kinds=["command"])
    assert got is not None and got.id == command
    assert store.lease("w1", kinds=["command"]) is None  # PR 1's command waits for its review
    assert store.lease("w1", kinds=[]) is None
    got = store.lease("w1", kinds=("review",))
    assert got is not None and got.id == review


def test_run_after_delays_a_job(store: SQLiteStore, clock: Clock) -> None:
    job_id = store.enqueue("acme/webapp#1", "review", run_after=clock.now + 60)
    assert store.lease("w1") is None
    clock.advance(60)
    job = store.lease("w1")
    assert job is not None and job.id == job_id


def test_an_expired_lease_comes_back_and_the_old_owner_has_lost_it(store: SQLiteStore, clock: Clock) -> None:
    job_id = store.enqueue("acme/webapp#1", "review")
    store.lease("crashed", lease_seconds=60)
    clock.advance(59)
    assert store.lease("w2") is None
    clock.advance(2)
    job = store.lease("w2", lease_seconds=60)
    assert job is not None and job.id == job_id and job.attempts == 2 and job.lease_owner == "w2"
    assert not store.heartbeat(job_id, "crashed", 60)
    assert not store.complete(job_id, "crashed")
    assert store.fail(job_id, "crashed", "late") is None
    assert store.complete(job_id, "w2")


def test_heartbeat_keeps_the_lease(store: SQLiteStore, clock: Clock) -> None:
    job_id = store.enqueue("acme/webapp#1", "review")
    store.lease("w1", lease_seconds=10)
    clock.advance(8)
    assert store.heartbeat(job_id, "w1", 60)
    clock.advance(30)
    assert store.lease("w2") is None
    job = store.job(job_id)
    assert job is not None and job.lease_owner == "w1" and job.lease_expires == clock.now + 30


def test_a_lease_that_expires_on_the_last_attempt_dead_letters_the_job(store: SQLiteStore, clock: Clock) -> None:
    job_id = store.enqueue("acme/webapp#1", "review", max_attempts=2)
    for owner in ("w1", "w2"):
        assert store.lease(owner, lease_seconds=5) is not None
        clock.advance(6)
    assert store.lease("w3") is None
    job = store.job(job_id)
    assert job is not None and job.state == "dead" and job.attempts == 2
    assert "lease of w2 expired on attempt 2 of 2" in job.last_error


def test_fail_backs_off_exponentially_then_dead_letters(tmp_path: Path, clock: Clock) -> None:
    with SQLiteStore(tmp_path / "q.db", clock=clock, backoff_base=2, backoff_cap=5) as store:
        job_id = store.enqueue("acme/webapp#1", "review", max_attempts=4)
        bounds = [(1, 2), (2, 4), (2.5, 5)]  # half the delay is fixed, half jitter; 8 s capped to 5
        for attempt, (low, high) in enumerate(bounds, start=1):
            job = store.lease("w1")
            assert job is not None and job.attempts == attempt
            failed = store.fail(job_id, "w1", f"HTTP 503 on attempt {attempt}")
            assert failed is not None and failed.state == "queued" and failed.lease_owner is None
            assert failed.last_error == f"HTTP 503 on attempt {attempt}"
            assert low <= failed.run_after - clock.now <= high
            assert store.lease("w1") is None  # not before its backoff ends
            clock.now = failed.run_after
        assert store.lease("w1") is not None
        dead = store.fail(job_id, "w1", "HTTP 503 again")
        assert dead is not None and dead.state == "dead" and dead.last_error == "HTTP 503 again"
        assert dead.finished_at == clock.now
        assert store.jobs(state="dead")[0].id == job_id


def test_fail_without_retry_dead_letters_at_once_and_retry_dead_revives(store: SQLiteStore) -> None:
    job_id = store.enqueue("acme/webapp#1", "review")
    later = store.enqueue("acme/webapp#1", "review")
    store.lease("w1")
    dead = store.fail(job_id, "w1", "NotFound: pull request 1 was deleted", retry=False)
    assert dead is not None and dead.state == "dead" and dead.attempts == 1
    nxt = store.lease("w1")  # a dead job no longer holds back its pull request
    assert nxt is not None and nxt.id == later
    store.complete(later, "w1")
    assert store.retry_dead(job_id)
    assert not store.retry_dead(later)
    revived = store.lease("w1")
    assert revived is not None and revived.id == job_id and revived.attempts == 1
    assert revived.last_error == "NotFound: pull request 1 was deleted"


def test_cancel_pending_cancels_only_queued_jobs_of_the_pr(store: SQLiteStore) -> None:
    running = store.enqueue("acme/webapp#1", "review")
    store.lease("w1")
    review = store.enqueue("acme/webapp#1", "review")
    command = store.enqueue("acme/webapp#1", "command")
    other = store.enqueue("acme/webapp#2", "review")
    assert store.cancel_pending("acme/webapp#1", kinds=["review"]) == 1
    assert store.cancel_pending("acme/webapp#1", kinds=[]) == 0
    assert store.cancel_pending("acme/webapp#1") == 1
    states = {j.id: j.state for j in store.jobs()}
    assert states == {running: "leased", review: "cancelled", command: "cancelled", other: "queued"}


def test_queue_figures(store: SQLiteStore, clock: Clock) -> None:
    assert store.oldest_queued_age() == 0.0
    store.enqueue("acme/webapp#1", "review")
    clock.advance(10)
    store.enqueue("acme/webapp#2", "review")
    store.enqueue("acme/webapp#3", "review", run_after=clock.now + 100)
    clock.advance(5)
    assert store.queue_depth() == 3
    assert store.oldest_queued_age() == 15
    leased = store.lease("w1")
    assert leased is not None
    assert store.oldest_queued_age() == 5
    counts = store.counts_by_state()
    assert counts == {"queued": 2, "leased": 1, "done": 0, "failed": 0, "dead": 0, "cancelled": 0}
    assert [j.pr_key for j in store.jobs(state="queued")] == ["acme/webapp#3", "acme/webapp#2"]
    assert [j.id for j in store.jobs(pr_key="acme/webapp#1")] == [leased.id]
    assert len(store.jobs(limit=1)) == 1
    with pytest.raises(ValueError, match="unknown job state"):
        store.jobs(state="running")


def test_prune_deletes_old_finished_jobs_and_their_deliveries(store: SQLiteStore, clock: Clock) -> None:
    _deliver(store, 1)
    store.claim_deliveries(_review_handler)
    job = store.lease("w1")
    assert job is not None
    store.complete(job.id, "w1")
    dead = store.enqueue("acme/webapp#2", "review", max_attempts=1)
    store.lease("w1")
    store.fail(dead, "w1", "boom")
    clock.advance(100)
    assert store.prune(before=clock.now - 200) == {"jobs": 0, "inbox": 0}
    assert store.prune(before=clock.now) == {"jobs": 1, "inbox": 1}
    assert [j.id for j in store.jobs()] == [dead]


# -- concurrency ----------------------------------------------------------------------


def _drain(store: SQLiteStore, owner: str, total: int, leased: list[tuple[str, int]]) -> None:
    """Lease and complete jobs until all ``total`` jobs are done."""
    for _ in range(1_000_000):
        job = store.lease(owner, lease_seconds=300)
        if job is None:
            if store.counts_by_state()["done"] >= total:
                return
            time.sleep(0.001)
            continue
        leased.append((job.pr_key, job.id))
        assert store.complete(job.id, owner)
    raise AssertionError(f"{owner} gave up before the queue drained")


def _drain_in_process(path: str, owner: str, total: int) -> list[tuple[str, int]]:
    leased: list[tuple[str, int]] = []
    with SQLiteStore(path) as store:
        _drain(store, owner, total, leased)
    return leased


def _enqueue_many(store: SQLiteStore, prs: int, per_pr: int) -> int:
    for i in range(per_pr):
        for pr in range(prs):
            store.enqueue(f"acme/webapp#{pr}", "review", {"i": i})
    return prs * per_pr


def _assert_each_job_once_and_in_pr_order(store: SQLiteStore, leased: list[tuple[str, int]], total: int) -> None:
    ids = [job_id for _, job_id in leased]
    assert len(ids) == len(set(ids)) == total
    assert store.counts_by_state()["done"] == total
    by_pr: dict[str, list[int]] = defaultdict(list)
    for pr_key, job_id in leased:
        by_pr[pr_key].append(job_id)
    assert all(order == sorted(order) for order in by_pr.values())


def test_threads_never_lease_the_same_job_twice(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "q.db") as store:
        total = _enqueue_many(store, prs=6, per_pr=10)
        leased: list[tuple[str, int]] = []  # list.append is atomic
        workers = [threading.Thread(target=_drain, args=(store, f"t{n}", total, leased)) for n in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        # A job of a PR is leased only after the previous one completed, so the
        # order of appends across threads is the order of leases per PR.
        _assert_each_job_once_and_in_pr_order(store, leased, total)


def test_processes_never_lease_the_same_job_twice(tmp_path: Path) -> None:
    path = str(tmp_path / "q.db")
    with SQLiteStore(path) as store:
        total = _enqueue_many(store, prs=4, per_pr=15)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_drain_in_process, [(path, "p0", total), (path, "p1", total)])
    leased = [pair for result in results for pair in result]
    with SQLiteStore(path) as store:
        ids = [job_id for _, job_id in leased]
        assert len(ids) == len(set(ids)) == total
        assert store.counts_by_state()["done"] == total
        # Per-PR order across processes: every job finished before the next one was leased.
        for pr in range(4):
            jobs = sorted(store.jobs(pr_key=f"acme/webapp#{pr}"), key=lambda j: j.id)
            assert all(a.finished_at <= b.updated_at for a, b in zip(jobs, jobs[1:]))


def test_concurrent_claims_take_each_delivery_once(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "q.db") as store:
        for n in range(40):
            _deliver(store, n)
        claimed: list[int] = []

        def claim() -> None:
            while store.claim_deliveries(lambda d: claimed.append(d.seq) or _review_handler(d), limit=3):
                pass

        threads = [threading.Thread(target=claim) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 40
        assert store.queue_depth() == 40


# -- pull request state, posted comments --------------------------------------------


def test_pr_state_defaults_then_updates(store: SQLiteStore, clock: Clock) -> None:
    assert store.pr_state("acme/webapp#7") == PRState("acme/webapp#7", "acme", "webapp", 7)
    state = store.update_pr_state("acme/webapp#7", last_reviewed_commit="abc123", summary_comment_id=42)
    assert (state.last_reviewed_commit, state.summary_comment_id, state.updated_at) == ("abc123", 42, clock.now)
    clock.advance(5)
    state = store.update_pr_state(
        "acme/webapp#7", paused=True, auto_review_disabled=True, auto_review_disabled_reason="draft"
    )
    assert state.paused and state.auto_review_disabled and state.auto_review_disabled_reason == "draft"
    assert state.last_reviewed_commit == "abc123"  # untouched fields keep their values
    assert store.pr_state("acme/webapp#7") == state
    assert store.update_pr_state("acme/webapp#7", paused=False).paused is False
    with pytest.raises(TypeError, match="unknown pull request state field"):
        store.update_pr_state("acme/webapp#7", colour="red")


def test_posted_comments_by_fingerprint(store: SQLiteStore, clock: Clock) -> None:
    store.record_posted("acme/webapp#7", "fp1", 101, "src/app.py", 12, "abc")
    store.record_posted("acme/webapp#7", "fp2", 102, "src/app.py", None, "abc")
    store.record_posted("acme/webapp#8", "fp1", 201, "README.md", 1, "def")
    posted = store.posted("acme/webapp#7")
    assert list(posted) == ["fp1", "fp2"]
    assert (posted["fp1"].comment_id, posted["fp1"].line, posted["fp1"].state) == (101, 12, "open")
    assert posted["fp2"].line is None
    assert store.mark_comment("acme/webapp#7", "fp1", "resolved")
    assert not store.mark_comment("acme/webapp#7", "nope", "resolved")
    with pytest.raises(ValueError, match="unknown comment state"):
        store.mark_comment("acme/webapp#7", "fp1", "gone")
    assert store.posted("acme/webapp#7")["fp1"].state == "resolved"
    clock.advance(1)
    again = store.record_posted("acme/webapp#7", "fp1", 103, "src/app.py", 14, "def")
    assert (again.comment_id, again.line, again.commit, again.state) == (103, 14, "def", "open")
    assert again.created_at == clock.now - 1 and again.updated_at == clock.now
    assert store.forget_posted("acme/webapp#7") == 2
    assert store.posted("acme/webapp#7") == {}
    assert list(store.posted("acme/webapp#8")) == ["fp1"]


# -- installations, settings, events ----------------------------------------------


def test_installations_save_update_and_delete(store: SQLiteStore, clock: Clock) -> None:
    saved = store.save_installation(
        "acme/webapp",
        repo_uuid="{r1}",
        hook_uuid="{h1}",
        hook_url="https://bbreview.example/bitbucketHandler",
        events=["pullrequest:created", "pullrequest:comment_created"],
        secret=b"\x00encrypted",
        installed_by="{u1}",
    )
    assert isinstance(saved, Installation)
    assert saved.workspace == "acme" and saved.active and saved.installed_at == clock.now
    assert saved.events == ("pullrequest:created", "pullrequest:comment_created")
    assert "encrypted" not in repr(saved)
    store.save_installation("acme/api", hook_uuid="{h2}", secret=b"s2", active=False)
    store.save_installation("acme/docs")
    clock.advance(10)
    updated = store.save_installation("acme/webapp", last_error="HTTP 403: admin permission required")
    assert updated.hook_uuid == "{h1}" and updated.secret == b"\x00encrypted"
    assert updated.installed_at == clock.now - 10 and updated.updated_at == clock.now
    assert store.installation("acme/webapp") == updated
    assert [i.full_name for i in store.installations()] == ["acme/api", "acme/docs", "acme/webapp"]
    assert store.hook_secrets() == {"{h1}": b"\x00encrypted"}  # acme/api is inactive
    with pytest.raises(TypeError, match="encrypt it"):
        store.save_installation("acme/webapp", secret="plain text")
    with pytest.raises(TypeError, match="unknown installation field"):
        store.save_installation("acme/webapp", token="x")
    assert store.delete_installation("acme/webapp")
    assert not store.delete_installation("acme/webapp")
    assert store.installation("acme/webapp") is None


def test_settings(store: SQLiteStore) -> None:
    assert store.get_setting("token") is None
    assert store.get_setting("token", b"none") == b"none"
    store.set_setting("token", b"\x01\x02cipher")
    store.set_setting("public_url", "https://bbreview.example")
    assert store.get_setting("token") == b"\x01\x02cipher"
    assert store.get_setting("public_url") == b"https://bbreview.example"
    store.set_setting("token", b"rotated")
    assert store.get_setting("token") == b"rotated"
    assert store.delete_setting("token")
    assert not store.delete_setting("token")


def test_events_log_keeps_the_newest_rows(tmp_path: Path, clock: Clock) -> None:
    with SQLiteStore(tmp_path / "e.db", clock=clock, events_limit=5) as store:
        for n in range(12):
            repo = "acme/webapp" if n % 2 else "acme/api"
            store.log_event("bitbucket", f"HTTP 429 #{n}", repository=repo, pr_id=n, level="warning", status=429)
            clock.advance(1)
        events = store.recent_events()
        assert [e.message for e in events] == [f"HTTP 429 #{n}" for n in (11, 10, 9, 8, 7)]
        assert events[0].status == 429 and events[0].level == "warning" and events[0].pr_id == 11
        assert [e.pr_id for e in store.recent_events("acme/webapp")] == [11, 9, 7]
        assert len(store.recent_events(limit=2)) == 2
        assert store.stats()["tables"]["events_log"] == 5
        with pytest.raises(ValueError, match="unknown event level"):
            store.log_event("bitbucket", "x", level="fatal")


def test_stats_counts_tables_and_states(store: SQLiteStore) -> None:
    _deliver(store, 1)
    _deliver(store, 2)
    store.claim_deliveries(_review_handler, limit=1)
    store.lease("w1")
    store.set_setting("a", b"1")
    stats = store.stats()
    assert stats["schema_version"] == SCHEMA_VERSION
    assert stats["tables"] == {
        "inbox": 2,
        "jobs": 1,
        "pr_state": 0,
        "posted_comments": 0,
        "installations": 0,
        "settings": 1,
        "events_log": 0,
    }
    assert stats["jobs_by_state"]["leased"] == 1
    assert stats["inbox_by_state"] == {"new": 1, "taken": 1}


def test_a_job_naming_an_unknown_delivery_is_refused(store: SQLiteStore) -> None:
    with pytest.raises(StoreError, match="FOREIGN KEY constraint failed.*\n.*delivery_seq"):
        store.enqueue("acme/webapp#1", "review", delivery_seq=999)
    assert store.jobs() == []
