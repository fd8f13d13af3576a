"""The webhook intake over loopback: signatures, dedup, durability, limits, shutdown."""

from __future__ import annotations

import http.client
import json
import logging
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bbreview.errors import StoreError
from bbreview.service.intake import IntakeServer, decode_event, sign, verify

# The store migrations' DDL, verbatim.
INBOX_DDL = """
CREATE TABLE inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  request_uuid TEXT UNIQUE,          -- X-Request-UUID, NULL when absent
  dedup_key TEXT NOT NULL UNIQUE,    -- the event dedup key described above
  event_key TEXT NOT NULL,
  hook_uuid TEXT,                    -- X-Hook-UUID without braces, NULL when absent
  repository TEXT,                   -- repository.full_name, NULL when absent
  pr_id INTEGER,                     -- pullrequest.id, NULL when absent
  attempt INTEGER NOT NULL DEFAULT 1,-- X-Attempt-Number
  received_at REAL NOT NULL,         -- unix time, seconds
  body BLOB NOT NULL,                -- the raw body as received
  state TEXT NOT NULL DEFAULT 'new'  -- 'new'; the Python dispatcher sets 'taken'
);
"""

SECRET = "It's a Secret to Everybody"
HOOK = "{5c0c6c87-ffe8-4a57-a1f9-0d5d2b6e7e11}"


def payload(pr_id: int = 1, commit: str = "d3022fc0ca3d", repo: str = "ws/repo") -> bytes:
    return json.dumps({
        "actor": {"type": "user", "uuid": "{a54f}", "account_id": "557058:emma"},
        "repository": {"type": "repository", "full_name": repo},
        "pullrequest": {"type": "pullrequest", "id": pr_id, "source": {"commit": {"hash": commit}}},
    }).encode()


def headers(body: bytes, *, secret: str | None = SECRET, request_uuid: str = "{r-1}",
            event: str = "pullrequest:created") -> dict[str, str]:
    h = {
        "Content-Type": "application/json",
        "X-Event-Key": event,
        "X-Hook-UUID": HOOK.strip("{}"),
        "X-Request-UUID": request_uuid,
        "X-Attempt-Number": "1",
        "User-Agent": "Bitbucket-Webhooks/2.0",
    }
    if secret is not None:
        h["X-Hub-Signature"] = sign(secret, body)
    return h


class Client:
    """One kept-alive loopback connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=headers or {})
        res = self.conn.getresponse()
        return res.status, res.read()

    def post(self, body: bytes, hdrs: dict[str, str]) -> tuple[int, bytes]:
        return self.request("POST", "/bitbucketHandler", body, hdrs)

    def close(self) -> None:
        self.conn.close()


def rows(db: str, where: str = "1") -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute(f"SELECT request_uuid, dedup_key, event_key, hook_uuid, repository, pr_id, attempt, body, state "
                         f"FROM inbox WHERE {where} ORDER BY seq").fetchall()


@pytest.fixture
def db(tmp_path) -> str:
    path = str(tmp_path / "bbreview.db")
    with sqlite3.connect(path) as c:
        c.executescript(INBOX_DDL)
    return path


@pytest.fixture
def intake(db):
    server = IntakeServer(db, default_secret=SECRET)
    server.start()
    yield server
    server.stop(drain_timeout=5.0)


@pytest.fixture
def client(intake):
    c = Client(intake.port)
    yield c
    c.close()


def test_signature_matches_the_reference_vector():
    sig = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"
    assert sign(SECRET, b"Hello World!") == sig
    assert verify(SECRET, "Hello World!", sig)
    assert not verify("other", b"Hello World!", sig)
    assert not verify(SECRET, b"Hello World!", None)
    assert not verify(SECRET, b"Hello World!", sig[7:])


def test_decode_event_returns_the_routing_fields_and_the_dedup_key():
    ev = decode_event("pullrequest:created", payload(pr_id=4))
    assert ev["repository"] == "ws/repo"
    assert ev["pr_id"] == 4
    assert ev["comment_id"] is None
    assert ev["actor_account_id"] == "557058:emma"
    assert ev["dedup_key"] == "pullrequest:created|ws/repo|4|d3022fc0ca3d"
    with pytest.raises(ValueError, match="not valid JSON"):
        decode_event("pullrequest:created", b"{nope")


def test_signed_delivery_is_stored_before_the_200(intake, client, db):
    body = payload()
    status, answer = client.post(body, headers(body))
    assert status == 200
    assert json.loads(answer) == {"status": "queued", "seq": 1}
    [row] = rows(db)
    assert row == ("{r-1}", "pullrequest:created|ws/repo|1|d3022fc0ca3d", "pullrequest:created",
                   HOOK.strip("{}"), "ws/repo", 1, 1, body, "new")


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "garbage", "forged-with-other-secret"])
def test_missing_or_forged_signature_is_401_and_nothing_is_queued(intake, client, db, signature):
    body = payload()
    h = headers(body, secret=None)
    if signature == "forged-with-other-secret":
        h["X-Hub-Signature"] = sign("not the secret", body)
    elif signature is not None:
        h["X-Hub-Signature"] = signature
    status, _ = client.post(body, h)
    assert status == 401
    assert rows(db) == []
    assert intake.stats()["rejected_signature"] == 1


def test_hook_secret_wins_over_the_default(intake, client, db):
    intake.set_hook_secret(HOOK, "hook-secret")  # braces and case do not matter
    body = payload()
    assert client.post(body, headers(body, secret=SECRET))[0] == 401
    assert client.post(body, headers(body, secret="hook-secret"))[0] == 200
    assert intake.remove_hook_secret(HOOK.upper())


def test_unsigned_deliveries_are_accepted_only_when_no_secret_is_configured(db):
    body = payload()
    with IntakeServer(db) as open_intake:
        c = Client(open_intake.port)
        assert c.post(body, headers(body, secret=None))[0] == 200
        c.close()
    with IntakeServer(db, require_signature=True) as strict:
        c = Client(strict.port)
        assert c.post(payload(pr_id=2), headers(payload(pr_id=2), secret=None, request_uuid="{r-2}"))[0] == 401
        c.close()
    assert len(rows(db)) == 1


def test_the_same_delivery_three_times_is_one_row(intake, client, db):
    body = payload()
    answers = [client.post(body, headers(body)) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert [json.loads(a)["status"] for _, a in answers] == ["queued", "duplicate", "duplicate"]
    # The same event from a second hook (another X-Request-UUID) is a duplicate too.
    status, answer = client.post(body, headers(body, request_uuid="{r-other-hook}"))
    assert (status, json.loads(answer)) == (200, {"status": "duplicate"})
    assert len(rows(db)) == 1
    assert intake.stats()["duplicates"] == 3


def test_a_burst_of_1000_deliveries_is_acknowledged_and_stored(intake, db):
    n_clients, per_client = 8, 125

    def send(k: int) -> list[int]:
        c = Client(intake.port)
        statuses = []
        for i in range(per_client):
            body = payload(pr_id=k * per_client + i)
            statuses.append(c.post(body, headers(body, request_uuid=f"{{r-{k}-{i}}}"))[0])
        c.close()
        return statuses

    with ThreadPoolExecutor(n_clients) as pool:
        statuses = [s for batch in pool.map(send, range(n_clients)) for s in batch]
    assert statuses == [200] * (n_clients * per_client)
    stored = rows(db)
    assert len(stored) == n_clients * per_client
    assert {r[5] for r in stored} == set(range(n_clients * per_client))
    stats = intake.stats()
    assert stats["accepted"] == n_clients * per_client
    assert stats["inbox"]["commits"] <= n_clients * per_client


def test_malformed_json_is_400_with_a_clear_message(client, db):
    body = b'{"pullrequest": {"id": 1,'
    status, answer = client.post(body, headers(body))
    assert status == 400
    assert b"not valid JSON" in answer
    body = b'{"pullrequest": {"id": "seven"}}'
    status, answer = client.post(body, headers(body, request_uuid="{r-2}"))
    assert status == 400
    assert b"pullrequest.id is a string, expected an integer" in answer
    assert rows(db) == []


def updated_payload(*, title: str = "Greeting", draft: bool = True, updated_on: str = "2026-01-05T10:00:00+00:00",
                    commit: str = "d3022fc0ca3d") -> bytes:
    """A pullrequest:updated body shaped like reference §7.4, on ``commit``."""
    return json.dumps({
        "actor": {"type": "user", "uuid": "{a54f}", "account_id": "557058:emma"},
        "repository": {"type": "repository", "full_name": "ws/repo"},
        "pullrequest": {"type": "pullrequest", "id": 1, "title": title, "description": "", "state": "OPEN",
                        "draft": draft, "updated_on": updated_on,
                        "source": {"branch": {"name": "f"}, "commit": {"hash": commit}},
                        "destination": {"branch": {"name": "main"}, "commit": {"hash": "ce5965ddd289"}}},
    }).encode()


def test_each_update_of_a_pull_request_on_one_commit_is_queued_once(intake, client, db):
    # Reference §7.4: pullrequest:updated fires for draft toggles and title edits too, on the same commit.
    updates = [
        updated_payload(draft=True, updated_on="2026-01-05T10:00:00+00:00"),
        updated_payload(title="Greeting v2", draft=True, updated_on="2026-01-05T10:01:00+00:00"),
        updated_payload(title="Greeting v2", draft=False, updated_on="2026-01-05T10:02:00+00:00"),
    ]
    for i, body in enumerate(updates):
        status, answer = client.post(body, headers(body, event="pullrequest:updated", request_uuid=f"{{u-{i}}}"))
        assert (status, json.loads(answer)["status"]) == (200, "queued"), i
    ready = updates[-1]
    # A retry of the last one, the same update from a second hook, and the same update re-serialized.
    retry = client.post(ready, headers(ready, event="pullrequest:updated", request_uuid="{u-2}"))
    other_hook = client.post(ready, headers(ready, event="pullrequest:updated", request_uuid="{u-other-hook}"))
    pretty = json.dumps(json.loads(ready), indent=2).encode()
    reformatted = client.post(pretty, headers(pretty, event="pullrequest:updated", request_uuid="{u-pretty}"))
    assert [json.loads(a)["status"] for _, a in (retry, other_hook, reformatted)] == ["duplicate"] * 3
    stored = rows(db, "event_key = 'pullrequest:updated'")
    assert [r[0] for r in stored] == ["{u-0}", "{u-1}", "{u-2}"]
    assert len({r[1] for r in stored}) == 3
    assert all(r[1].startswith("pullrequest:updated|ws/repo|1|d3022fc0ca3d|fields:") for r in stored)
    # Other pull request events keep their key: the title does not enter it.
    assert decode_event("pullrequest:created", updates[1])["dedup_key"] == "pullrequest:created|ws/repo|1|d3022fc0ca3d"


@pytest.mark.parametrize(("event", "body", "missing"), [
    ("pullrequest:created", b"{}", "repository.full_name"),
    ("pullrequest:updated",
     json.dumps({"repository": {"full_name": "ws/repo"}, "pullrequest": {"title": "t"}}).encode(), "pullrequest.id"),
    ("pullrequest:comment_created",
     json.dumps({"repository": {"name": "repo"}, "pullrequest": {"id": 1}, "comment": {"id": 2}}).encode(),
     "repository.full_name"),
])
def test_a_pull_request_event_without_repository_or_id_is_400_and_logged(client, db, caplog, event, body, missing):
    caplog.set_level(logging.INFO, logger="bbreview.service.intake")
    status, answer = client.post(body, headers(body, event=event))
    assert status == 400
    assert f"the {event} payload has no {missing}".encode() in answer
    assert rows(db) == []
    deadline = time.monotonic() + 10
    while not any(f"has no {missing}" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "no log line names the missing field"
        time.sleep(0.02)
    [line] = [r for r in caplog.records if f"has no {missing}" in r.getMessage()]
    assert line.levelno == logging.WARNING and "{r-1}" in line.getMessage()


def test_events_that_name_no_pull_request_are_still_accepted(client, db):
    # repo:push has no pullrequest (reference §7.4); pullrequest:push's shape is undocumented there.
    for i, event in enumerate(("repo:push", "pullrequest:push")):
        assert client.post(b"{}", headers(b"{}", event=event, request_uuid=f"{{p-{i}}}"))[0] == 200
    assert len(rows(db)) == 2


def test_missing_event_key_is_400(client, db):
    body = payload()
    h = headers(body)
    del h["X-Event-Key"]
    status, answer = client.post(body, h)
    assert status == 400
    assert b"X-Event-Key" in answer


def test_wrong_content_type_is_415(client, db):
    body = payload()
    h = headers(body)
    h["Content-Type"] = "application/x-www-form-urlencoded"
    assert client.post(body, h)[0] == 415
    assert rows(db) == []


def test_oversized_body_is_413(db):
    with IntakeServer(db, default_secret=SECRET, max_body_bytes=64 * 1024) as small:
        c = Client(small.port)
        body = b'{"pad": "' + b"x" * (100 * 1024) + b'"}'
        status, answer = c.post(body, headers(body))
        c.close()
        assert status == 413
        assert small.stats()["server"]["body_too_large"] == 1
    assert rows(db) == []


def test_the_default_body_cap_admits_bitbucket_sized_payloads_and_refuses_more(intake, db):
    c = Client(intake.port)
    body = json.dumps({"repository": {"full_name": "ws/repo"}, "pad": "x" * (256 * 1000)}).encode()
    assert c.post(body, headers(body, event="repo:push"))[0] == 200
    c.close()
    c = Client(intake.port)
    body = b'{"pad": "' + b"x" * (400 * 1024) + b'"}'
    assert c.post(body, headers(body, request_uuid="{big}", event="repo:push"))[0] == 413
    c.close()


def test_healthz(intake, client):
    assert client.request("GET", "/healthz") == (200, b"ok\n")
    intake.set_healthy(False)
    assert client.request("GET", "/healthz")[0] == 503
    intake.set_healthy(True)
    assert client.request("GET", "/healthz")[0] == 200


def test_metrics_expose_the_intake_counters_and_the_service_text(intake, client):
    body = payload()
    client.post(body, headers(body))
    client.post(body, headers(body, secret="wrong"))
    intake.set_metrics_text("# TYPE bbreview_jobs gauge\nbbreview_jobs{state=\"new\"} 1\n")
    status, text = client.request("GET", "/metrics")
    assert status == 200
    lines = text.decode().splitlines()
    assert 'bbreview_intake_deliveries_total{outcome="accepted"} 1' in lines
    assert 'bbreview_intake_deliveries_total{outcome="rejected_signature"} 1' in lines
    assert 'bbreview_intake_requests_total{route="webhook",status="401"} 1' in lines
    assert "bbreview_intake_enqueue_seconds_count 1" in lines
    assert "bbreview_http_connections_active 1" in lines
    assert 'bbreview_jobs{state="new"} 1' in lines
    assert intake.metrics_text().startswith("# HELP")


def test_503_when_the_database_cannot_be_written(intake, client, db):
    with sqlite3.connect(db) as c:
        c.execute("DROP TABLE inbox")
    body = payload()
    status, _ = client.post(body, headers(body))
    assert status == 503  # Bitbucket retries a 5xx
    assert client.request("GET", "/healthz")[0] == 503
    assert intake.stats()["unavailable"] == 1


def test_a_missing_table_or_database_fails_at_start(tmp_path):
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(StoreError, match="inbox table is missing"):
        IntakeServer(empty)
    with pytest.raises(StoreError, match="cannot open"):
        IntakeServer(tmp_path / "absent.db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_database_fails_at_start(db):
    os.chmod(db, 0o444)
    with pytest.raises(StoreError):
        IntakeServer(db)


def test_wait_for_delivery_wakes_a_waiting_thread(intake, client):
    # The GIL is released while waiting: the main thread posts meanwhile.
    assert intake.wait_for_delivery(0.0) is False
    woke = []
    waiter = threading.Thread(target=lambda: woke.append(intake.wait_for_delivery(60.0)))
    waiter.start()
    body = payload()
    assert client.post(body, headers(body))[0] == 200
    waiter.join()
    assert woke == [True]


def test_graceful_stop_answers_the_delivery_in_progress(db):
    server = IntakeServer(db, default_secret=SECRET, handler_timeout=60.0, busy_timeout=60.0)
    server.start()
    port = server.port
    # Another connection holds the write lock, so the delivery waits for its commit.
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    result: list[tuple[int, bytes]] = []
    body = payload()
    sender = threading.Thread(target=lambda: result.append(Client(port).post(body, headers(body))))
    sender.start()
    while server.stats()["server"]["requests_in_flight"] == 0:
        time.sleep(0.01)
    stopper = threading.Thread(target=server.stop, kwargs={"drain_timeout": 60.0})
    stopper.start()
    while not server.stats()["server"]["draining"]:
        time.sleep(0.01)
    with pytest.raises(ConnectionRefusedError):
        Client(port).request("GET", "/healthz")
    assert stopper.is_alive()  # still draining: the delivery has not been answered
    blocker.execute("ROLLBACK")
    blocker.close()
    sender.join()
    stopper.join()
    assert result[0][0] == 200
    assert json.loads(result[0][1])["status"] == "queued"
    assert len(rows(db)) == 1


def test_logs_never_contain_secrets_signatures_or_bodies(db, caplog):
    caplog.set_level(logging.DEBUG, logger="bbreview.service.intake")
    body = payload(repo="ws/very-private-repo")
    forged = sign("wrong", body)
    with IntakeServer(db, default_secret=SECRET) as server:
        c = Client(server.port)
        assert c.post(body, {**headers(body), "X-Hub-Signature": forged})[0] == 401
        assert c.post(b"{broken", headers(b"{broken", request_uuid="{r-2}"))[0] == 400
        assert c.post(body, headers(body, request_uuid="{r-3}"))[0] == 200
        c.close()
    text = caplog.text
    assert "refused" in text
    for leak in (SECRET, forged[7:], sign(SECRET, body)[7:], "very-private-repo", "{broken"):
        assert leak not in text


def test_repr_never_shows_secrets(db):
    server = IntakeServer(db, default_secret="top-secret-1", hook_secrets={HOOK: "top-secret-2"})
    text = repr(server)
    assert "top-secret" not in text
    assert "default_secret=set" in text and "hook_secrets=1" in text
    server.stop()
