"""A pull request whose diff Bitbucket cannot generate whole (555, reference §6.4).

FakeBitbucket(diff_size_limit=N) answers 555 for every diff, diffstat and patch
larger than N bytes, as Bitbucket does for huge diffs. The review fetches the
diff in parts by ``path`` and lists a file it cannot have even alone as skipped.
"""

from __future__ import annotations

import pytest

from bbreview.bitbucket import Client
from bbreview.errors import ServerError
from bbreview.review import BitbucketPublisher, PullRequest, Reviewer, load_change_config
from bbreview.review.render import parse_markers
from bbreview.review.source import DIFF_TOO_LARGE
from bbreview.testing import BOT_SCOPES, FakeBitbucket

LIMIT = 20_000
HUGE = "".join(f"row_{i} = {i}\n" for i in range(5000))  # ~60 kB: over LIMIT on its own

BASE = {"app.py": "import os\n\n\ndef greet(name):\n    return 'Hello, ' + name\n", "README.md": "# app\n"}
FEATURE = {
    "app.py": BASE["app.py"] + "\n\ndef run(expr):\n    return eval(expr)\n",
    "pkg/util.py": "def debug(x):\n    print(x)\n",
    "pkg/data/generated.py": HUGE,
}


class World:
    def __init__(self, bb: FakeBitbucket) -> None:
        self.bb = bb
        self.bot = bb.add_user("review-bot", "Review Bot", email="bot@example.com")
        self.dev = bb.add_user("dev", "Dev Eloper", email="dev@example.com")
        ws = bb.add_workspace("acme", "Acme", owners=[self.bot])
        bb.add_member(ws, self.dev, "member")
        self.token = bb.add_api_token(self.bot, BOT_SCOPES, name="bot")
        self.repo = bb.add_repository(ws, "app", admins=[self.bot], writers=[self.dev])
        bb.commit(self.repo, "main", BASE, message="base", author=self.dev, notify=False)
        bb.commit(self.repo, "feature", FEATURE, message="feature", author=self.dev, notify=False)

    def client(self) -> Client:
        return Client(email=self.bot.email, token=self.token.token, base_url=self.bb.base_url, backoff=0.01)

    def bot_comments(self, pr) -> list[dict]:
        return [c for c in self.client().comments("acme", "app", pr.id)
                if not c.get("deleted") and c["user"]["uuid"] == self.bot.uuid]


@pytest.fixture()
def world():
    with FakeBitbucket(seed=5, diff_size_limit=LIMIT) as bb:
        yield World(bb)


def test_the_emulator_refuses_the_whole_diff_and_diffstat(world):
    pr = world.bb.create_pull_request(world.repo, "feature", title="Big", author=world.dev)
    client = world.client()
    data = client.pull_request("acme", "app", pr.id)
    for attempt in (lambda: client.run(client.calls.pr_diff(data)), lambda: client.pr_diffstat(data)):
        with pytest.raises(ServerError) as err:
            attempt()
        assert err.value.status == 555


def test_a_pull_request_too_large_to_diff_is_still_reviewed(world):
    pr = world.bb.create_pull_request(world.repo, "feature", title="Big", author=world.dev)
    client = world.client()
    change = PullRequest(client, "acme", "app", pr.id)
    change.prefetch(".bbreview.yaml")
    rv = Reviewer(load_change_config(change)).review(change)

    assert sorted(f.path for f in change.diff()) == ["app.py", "pkg/util.py"]
    assert [(u.path, u.reason) for u in change.unavailable] == [("pkg/data/generated.py", DIFF_TOO_LARGE)]
    assert rv.coverage.total == 3
    assert sorted(rv.coverage.reviewed) == ["app.py", "pkg/util.py"]
    assert rv.coverage.skipped == [("pkg/data/generated.py", DIFF_TOO_LARGE)]
    assert {(c.path, c.start) for c in rv.comments} >= {("app.py", 9), ("pkg/util.py", 2)}

    result = BitbucketPublisher(client).publish(rv, change)
    assert result.errors == []
    posted = world.bot_comments(pr)
    inline = {(c["inline"]["path"], c["inline"]["to"]) for c in posted if c.get("inline")}
    assert ("app.py", 9) in inline and ("pkg/util.py", 2) in inline
    [summary] = [c["content"]["raw"] for c in posted if ("summary", []) in parse_markers(c["content"]["raw"])]
    assert f"- `pkg/data/generated.py`: {DIFF_TOO_LARGE}" in summary
    assert "reviewed 2 of 3 files; skipped 1" in summary
    assert "| `pkg/data/generated.py` |" in summary  # still in the files table, saying why


def test_parts_that_are_too_large_are_split_down_to_single_files(world, monkeypatch):
    # One part for all files: it answers 555 and is halved until the huge file is alone.
    monkeypatch.setattr("bbreview.review.source.DIFF_PATHS_PER_REQUEST", 100)
    pr = world.bb.create_pull_request(world.repo, "feature", title="Big", author=world.dev)
    change = PullRequest(world.client(), "acme", "app", pr.id)
    assert sorted(f.path for f in change.diff()) == ["app.py", "pkg/util.py"]
    assert [u.path for u in change.unavailable] == ["pkg/data/generated.py"]


def test_when_only_the_diff_is_too_large_the_diffstat_names_the_files(world):
    world.bb.diff_size_limit = None
    pr = world.bb.create_pull_request(world.repo, "feature", title="Big", author=world.dev)
    change = PullRequest(world.client(), "acme", "app", pr.id)
    world.bb.fail_next(1, status=555)  # the whole diff only; the diffstat and the parts answer
    ps = change.diff()
    assert sorted(f.path for f in ps) == ["app.py", "pkg/data/generated.py", "pkg/util.py"]
    assert change.unavailable == []


def test_an_incremental_diff_that_is_too_large_is_fetched_in_parts(world):
    pr = world.bb.create_pull_request(world.repo, "feature", title="Big", author=world.dev)
    client = world.client()
    first = PullRequest(client, "acme", "app", pr.id)
    before = first.head_commit
    bigger = HUGE + "".join(f"more_{i} = {i}\n" for i in range(1000))
    world.bb.commit(world.repo, "feature", {"pkg/data/generated.py": bigger,
                                            "pkg/util.py": FEATURE["pkg/util.py"] + "print('x')\n"},
                    message="more", author=world.dev, notify=False)
    world.bb.diff_size_limit = 3_000  # the since-diff (~15 kB) is too large whole
    change = PullRequest(client, "acme", "app", pr.id)
    since = change.diff_since(before)
    assert [f.path for f in since] == ["pkg/util.py"]
    assert [(u.path, u.reason) for u in change.unavailable_since] == [("pkg/data/generated.py", DIFF_TOO_LARGE)]
