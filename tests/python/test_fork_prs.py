"""Pull requests from forks: the emulator's forks, and reviewing a fork PR end to end.

A fork PR's source commit lives in the fork (``source.repository``). Its diff is
served by the destination with the fork-prefixed spec (§6.4), while files at its
head are the fork's, which the bot may not be allowed to read.
"""

from __future__ import annotations

import json

import pytest

from bbreview.bitbucket import Client
from bbreview.review import BitbucketPublisher, PullRequest, Reviewer, load_change_config
from bbreview.review.render import parse_markers
from bbreview.testing import BOT_SCOPES, EmulatorError, FakeBitbucket

#: The configuration on main when the fork is made: settings.py is not reviewed.
CONFIG_AT_FORK = 'reviews:\n  path_filters:\n    - "!settings.py"\n'
#: main's configuration after the fork was made (the pull request does not change it): app.py is not reviewed.
CONFIG_LATER = 'reviews:\n  path_filters:\n    - "!app.py"\n'
BASE = {
    "app.py": "import os\n\n\ndef greet(name):\n    return 'Hello, ' + name\n",
    "README.md": "# app\n",
    ".bbreview.yaml": CONFIG_AT_FORK,
}
FEATURE = {
    "app.py": (
        "import os\n\n\ndef greet(name):\n    print('greeting', name)\n    return 'Hello, ' + name\n\n\n"
        "def run(expr):\n    return eval(expr)\n"
    ),
    "settings.py": 'DEBUG = True\nAWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n',
}


class World:
    """acme/app (the bot is its admin) and dev/app, a fork of it by a contributor."""

    def __init__(self, bb: FakeBitbucket, *, bot_reads_fork: bool = True) -> None:
        self.bb = bb
        self.bot = bb.add_user("review-bot", "Review Bot", email="bot@example.com")
        self.dev = bb.add_user("dev", "Dev Eloper", email="dev@example.com")
        self.ws = bb.add_workspace("acme", "Acme", owners=[self.bot])
        self.dev_ws = bb.add_workspace("dev", "Dev", owners=[self.dev])
        self.token = bb.add_api_token(self.bot, BOT_SCOPES, name="bot")
        self.repo = bb.add_repository(self.ws, "app", admins=[self.bot], readers=[self.dev])
        bb.commit(self.repo, "main", BASE, message="base", author=self.bot, notify=False)
        self.fork = bb.fork_repository(self.repo, self.dev_ws, owner=self.dev,
                                       readers=[self.bot] if bot_reads_fork else ())
        bb.commit(self.repo, "main", {".bbreview.yaml": CONFIG_LATER}, message="cfg", author=self.bot, notify=False)
        bb.commit(self.fork, "feature", FEATURE, message="feature", author=self.dev, notify=False)

    def client(self) -> Client:
        return Client(email=self.bot.email, token=self.token.token, base_url=self.bb.base_url, backoff=0.01)

    def open_pr(self):
        return self.bb.create_pull_request(self.repo, "feature", source_repo=self.fork, title="Greeting",
                                           author=self.dev)

    def comments(self, pr, *, user=None):
        return [c for c in self.client().comments("acme", "app", pr.id) if not c.get("deleted")
                and (user is None or c["user"]["uuid"] == user.uuid)]


@pytest.fixture()
def world():
    with FakeBitbucket(seed=5, webhook_backoff=0.01) as bb:
        yield World(bb)


@pytest.fixture()
def hidden_fork():
    """The fork is private and the bot is no member of its workspace."""
    with FakeBitbucket(seed=6) as bb:
        yield World(bb, bot_reads_fork=False)


def run_review(world, pr, *, since=None):
    client = world.client()
    change = PullRequest(client, "acme", "app", pr.id)
    rv = Reviewer(load_change_config(change)).review(change, since=since)
    result = BitbucketPublisher(client).publish(rv, change)
    return change, rv, result


def get(world, path):
    return world.bb.request("GET", path, auth=world.token)


# -- the emulator -------------------------------------------------------------------------


def test_a_fork_has_its_parent_and_the_parents_branches(world):
    fork = get(world, "/repositories/dev/app").json()
    assert fork["full_name"] == "dev/app" and fork["parent"]["full_name"] == "acme/app"
    assert set(fork["parent"]) == {"type", "full_name", "name", "uuid", "links"}  # condensed
    assert "parent" not in get(world, "/repositories/acme/app").json()
    branches = get(world, "/repositories/dev/app/refs/branches").json()["values"]
    assert {b["name"] for b in branches} == {"main", "feature"}
    # The fork was made before main's configuration changed: it keeps the old one.
    assert get(world, "/repositories/dev/app/src/main/.bbreview.yaml").text == CONFIG_AT_FORK
    assert get(world, "/repositories/acme/app/src/main/.bbreview.yaml").text == CONFIG_LATER


def test_a_private_repository_cannot_have_a_public_fork(world):
    with pytest.raises(EmulatorError) as err:
        world.bb.fork_repository(world.repo, world.dev_ws, slug="public-app", private=False)
    assert err.value.status == 400


def test_a_fork_pr_names_the_fork_as_its_source(world):
    pr = world.open_pr()
    data = get(world, f"/repositories/acme/app/pullrequests/{pr.id}").json()
    assert data["source"]["repository"]["full_name"] == "dev/app"
    assert data["source"]["branch"]["name"] == "feature"
    assert data["source"]["commit"]["links"]["self"]["href"].endswith(f"/repositories/dev/app/commit/{pr.source_commit[:12]}")
    assert data["destination"]["repository"]["full_name"] == "acme/app"
    spec = f"dev/app:{pr.source_commit[:12]}%0D{pr.destination_commit[:12]}"
    assert data["links"]["diff"]["href"].endswith(f"/repositories/acme/app/diff/{spec}?from_pullrequest_id=1&topic=true")


@pytest.mark.parametrize("kind", ["diff", "diffstat"])
def test_the_pr_diff_redirects_to_the_fork_prefixed_spec_which_the_destination_serves(world, kind):
    pr = world.open_pr()
    moved = get(world, f"/repositories/acme/app/pullrequests/{pr.id}/{kind}")
    assert moved.status == 302
    spec = f"dev/app:{pr.source_commit[:12]}%0D{pr.destination_commit[:12]}"
    assert moved.headers["location"] == (
        f"{world.bb.base_url}/repositories/acme/app/{kind}/{spec}?from_pullrequest_id={pr.id}&topic=true")
    answer = get(world, moved.headers["location"])
    assert answer.status == 200
    if kind == "diff":
        assert "+def run(expr):" in answer.text and ".bbreview.yaml" not in answer.text  # three-dot: main's later change is not in it
    else:
        entries = {e["new"]["path"]: e for e in answer.json()["values"]}
        assert set(entries) == {"app.py", "settings.py"}
        # The new side's files are the fork's.
        assert f"/repositories/dev/app/src/{pr.source_commit}/" in entries["app.py"]["new"]["links"]["self"]["href"]
        assert "/repositories/acme/app/src/" in entries["app.py"]["old"]["links"]["self"]["href"]


def test_the_destination_does_not_find_a_fork_commit_without_the_prefix_unless_told(world):
    pr = world.open_pr()
    head = pr.source_commit[:12]
    assert get(world, f"/repositories/acme/app/src/{head}/app.py").status == 404
    assert get(world, f"/repositories/acme/app/commit/{head}").status == 404
    assert get(world, f"/repositories/acme/app/diff/{head}..{pr.destination_commit[:12]}").status == 404
    assert get(world, f"/repositories/dev/app/src/{head}/app.py").text == FEATURE["app.py"]
    world.bb.quirks.fork_commits_visible_in_parent = True
    assert get(world, f"/repositories/acme/app/src/{head}/app.py").text == FEATURE["app.py"]
    assert get(world, f"/repositories/acme/app/commit/{head}").json()["hash"] == pr.source_commit


def test_a_prefix_names_only_a_repository_of_the_fork_network(world):
    pr = world.open_pr()
    other = world.bb.add_repository(world.ws, "other", admins=[world.bot], files={"x": "1\n"})
    head, base = pr.source_commit[:12], pr.destination_commit[:12]
    assert get(world, f"/repositories/acme/other/diff/dev/app:{head}..{base}").status == 404
    assert get(world, f"/repositories/acme/app/diff/acme/other:{head}..{base}").status == 404
    assert get(world, f"/repositories/acme/app/diff/dev/app:{head}..acme/app:{base}").status == 200
    assert other.parent is None


def test_a_fork_prefix_on_the_base_side_is_refused_unless_told(world):
    first = world.open_pr().source_commit
    second = world.bb.commit(world.fork, "feature", {"README.md": "# app, forked\n"}, author=world.dev)
    spec = f"dev/app:{second[:12]}..dev/app:{first[:12]}"
    assert get(world, f"/repositories/acme/app/diff/{spec}").status == 404
    world.bb.quirks.fork_prefix_on_base_side = True
    answer = get(world, f"/repositories/acme/app/diff/{spec}")
    assert answer.status == 200 and "+# app, forked" in answer.text and "app.py" not in answer.text


def test_a_private_fork_the_bot_cannot_read_answers_403_or_404_but_its_pr_diff_works(hidden_fork):
    world = hidden_fork
    pr = world.open_pr()
    head = pr.source_commit[:12]
    assert get(world, "/repositories/dev/app").status == 403
    assert get(world, f"/repositories/dev/app/src/{head}/app.py").status == 403
    world.bb.quirks.hidden_repository_status = 404
    assert get(world, f"/repositories/dev/app/src/{head}/app.py").status == 404
    moved = get(world, f"/repositories/acme/app/pullrequests/{pr.id}/diff")
    assert get(world, moved.headers["location"]).status == 200
    commits = get(world, f"/repositories/acme/app/pullrequests/{pr.id}/commits").json()["values"]
    assert [c["hash"] for c in commits] == [pr.source_commit]


def test_a_push_to_the_fork_moves_the_pr_and_notifies_the_destination(world, webhook_receiver):
    bb = world.bb
    bb.add_hook(world.repo, webhook_receiver.url, ["pullrequest:created", "pullrequest:updated", "repo:push"])
    bb.add_hook(world.fork, webhook_receiver.url + "-fork", ["repo:push"])
    pr = world.open_pr()
    new = bb.commit(world.fork, "feature", {"README.md": "# app 2\n"}, author=world.dev)
    assert pr.source_commit == new
    received = webhook_receiver.wait_for(3)
    by_key = {("fork" if r.path.endswith("-fork") else "parent", r.event_key): json.loads(r.body) for r in received}
    assert set(by_key) == {("parent", "pullrequest:created"), ("parent", "pullrequest:updated"), ("fork", "repo:push")}
    updated = by_key[("parent", "pullrequest:updated")]
    assert updated["repository"]["full_name"] == "acme/app" and updated["repository"]["parent"] is None
    assert updated["pullrequest"]["source"]["repository"]["full_name"] == "dev/app"
    assert updated["pullrequest"]["source"]["commit"]["hash"] == new[:12]
    push = by_key[("fork", "repo:push")]
    assert push["repository"]["full_name"] == "dev/app" and push["repository"]["parent"]["full_name"] == "acme/app"
    # A push to the destination's branch of the same name is not a push to the PR.
    bb.commit(world.repo, "feature", {"README.md": "# elsewhere\n"}, author=world.bot, notify=False)
    assert pr.source_commit == new


def test_a_fork_pr_can_be_opened_through_the_api_and_merged(world):
    dev_token = world.bb.add_api_token(world.dev, BOT_SCOPES, name="dev")
    world.bb.grant(world.repo, world.dev, "write")
    body = {"title": "From my fork", "source": {"branch": {"name": "feature"}, "repository": {"full_name": "dev/app"}}}
    created = world.bb.request("POST", "/repositories/acme/app/pullrequests", auth=dev_token, json_body=body)
    assert created.status == 201 and created.json()["source"]["repository"]["full_name"] == "dev/app"
    body["source"]["repository"]["full_name"] = "acme/nope"
    refused = world.bb.request("POST", "/repositories/acme/app/pullrequests", auth=dev_token, json_body=body)
    assert refused.status == 400
    pr = world.bb.pull_request(world.repo, created.json()["id"])
    world.bb.merge_pull_request(pr, world.bot)
    assert get(world, "/repositories/acme/app/src/main/app.py").text == FEATURE["app.py"]
    # The fork's commit is now the destination's too.
    assert get(world, f"/repositories/acme/app/commit/{pr.source_commit[:12]}").status == 200


# -- reviewing a fork PR --------------------------------------------------------------------


def test_a_fork_pr_is_reviewed_with_the_forks_head_files(world):
    pr = world.open_pr()
    change, rv, result = run_review(world, pr)
    assert change.from_fork and change.source_repository == ("dev", "app")
    # .bbreview.yaml is read at the head, in the fork: its copy excludes settings.py (main's later copy would exclude app.py).
    assert [p for p, _ in rv.coverage.skipped] == ["settings.py"]
    config_reads = [r.path for r in world.bb.requests if r.path.endswith("/.bbreview.yaml")]
    assert config_reads and all(p.startswith(f"/2.0/repositories/dev/app/src/{pr.source_commit[:12]}") for p in config_reads)
    assert change.notes == []
    # Inline comments anchored on lines of the PR's diff, and a summary.
    posted = world.comments(pr, user=world.bot)
    inline = sorted((c["inline"]["path"], c["inline"]["to"]) for c in posted if c.get("inline"))
    assert inline == [("app.py", 5), ("app.py", 10)]
    for path, line in inline:
        assert line in world.bb.diff_lines(pr, path)[0]
    summaries = [c for c in posted if ("summary", []) in parse_markers(c["content"]["raw"])]
    assert len(summaries) == 1 and "| `app.py` | modified |" in summaries[0]["content"]["raw"]
    # The diff came through the destination with the fork-prefixed spec.
    assert any(r.path.startswith(f"/2.0/repositories/acme/app/diff/dev/app:{pr.source_commit[:12]}") for r in world.bb.requests)
    # Code Insights: posted on the destination, which by default does not know the fork's
    # commit (Quirks.fork_commits_visible_in_parent): a note, not an error.
    assert result.errors == []
    assert len(result.notes) == 1 and "Code Insights report not posted" in result.notes[0]
    assert change.full_head() == pr.source_commit


def test_code_insights_of_a_fork_pr_when_the_destination_knows_the_forks_commits(world):
    world.bb.quirks.fork_commits_visible_in_parent = True
    pr = world.open_pr()
    _, rv, result = run_review(world, pr)
    assert result.errors == []
    report = world.client().report("acme", "app", pr.source_commit, "bbreview-review")
    assert report["result"] == "FAILED"


@pytest.mark.parametrize("base_prefix", [False, True], ids=["fork-own-diff", "destination-diff"])
def test_a_push_to_the_fork_is_reviewed_incrementally(world, base_prefix):
    world.bb.quirks.fork_prefix_on_base_side = base_prefix
    pr = world.open_pr()
    _, first, _ = run_review(world, pr)
    fixed = FEATURE["app.py"].replace("    print('greeting', name)\n", "") + "\n\ndef dump(x):\n    print(x)\n"
    world.bb.commit(world.fork, "feature", {"app.py": fixed}, message="fix", author=world.dev, notify=False)
    world.bb.requests.clear()
    change, second, result = run_review(world, pr, since=first.head_commit)
    assert second.since == first.head_commit and change.notes == []
    assert result.resolved == 1  # the print in greet() is gone
    open_prints = [c["inline"]["to"] for c in world.comments(pr, user=world.bot)
                   if c.get("inline") and "python-print" in c["content"]["raw"] and not c.get("resolution")]
    assert open_prints == [13]
    spec_diffs = [(r.path, r.status) for r in world.bb.requests if "/diff/" in r.path and "%0D" not in r.path
                  and "\r" not in r.path]
    head, since = pr.source_commit[:12], first.head_commit[:12]
    on_destination = (f"/2.0/repositories/acme/app/diff/dev/app:{head}..dev/app:{since}", 200 if base_prefix else 404)
    assert spec_diffs[0] == on_destination
    if not base_prefix:  # the destination refuses the prefixed base: the fork's own diff
        assert spec_diffs[1:] == [(f"/2.0/repositories/dev/app/diff/{head}..{since}", 200)]


def test_a_fork_the_bot_cannot_read_is_reviewed_with_the_destinations_configuration(hidden_fork):
    world = hidden_fork
    pr = world.open_pr()
    change, rv, result = run_review(world, pr)
    # Nothing at the fork's head could be read: main's .bbreview.yaml applies (it excludes app.py).
    assert [p for p, _ in rv.coverage.skipped] == ["app.py"]
    assert len(change.notes) == 1 and "`dev/app` (a fork) could not be read (HTTP 403)" in change.notes[0]
    assert "destination branch `main`" in change.notes[0]
    # Still reviewed: the diff needs no access to the fork.
    posted = world.comments(pr, user=world.bot)
    inline = sorted((c["inline"]["path"], c["inline"]["to"]) for c in posted if c.get("inline"))
    assert inline == [("settings.py", 1), ("settings.py", 2)]
    summary = next(c for c in posted if ("summary", []) in parse_markers(c["content"]["raw"]))
    assert "(a fork) could not be read (HTTP 403)" in summary["content"]["raw"]  # the note is on the PR
    assert result.errors == []
    # A file the pull request changes has no readable head copy; one it does not change is main's.
    assert change.read_file("app.py") is None
    assert change.read_file("README.md") == b"# app\n"
    # The full head hash comes from the PR's commits on the destination.
    assert change.full_head() == pr.source_commit


def test_a_hidden_fork_answering_404_is_told_apart_from_a_missing_file(hidden_fork):
    world = hidden_fork
    world.bb.quirks.hidden_repository_status = 404
    pr = world.open_pr()
    change = PullRequest(world.client(), "acme", "app", pr.id)
    assert change.read_file(".bbreview.yaml") == CONFIG_LATER.encode()
    assert "(HTTP 404)" in change.notes[0]


def test_a_missing_file_in_a_readable_fork_is_just_missing(world):
    pr = world.open_pr()
    change = PullRequest(world.client(), "acme", "app", pr.id)
    assert change.read_file("nope.txt") is None
    assert change.read_file(".bbreview.yaml") == CONFIG_AT_FORK.encode()
    assert change.notes == []


@pytest.mark.parametrize("base_prefix", [False, True], ids=["whole-pr-again", "destination-diff"])
def test_a_push_to_a_fork_the_bot_cannot_read(hidden_fork, base_prefix):
    world = hidden_fork
    world.bb.quirks.fork_prefix_on_base_side = base_prefix
    pr = world.open_pr()
    _, first, _ = run_review(world, pr)
    world.bb.commit(world.fork, "feature", {"settings.py": "DEBUG = False\n"}, message="fix", author=world.dev,
                    notify=False)
    change, second, result = run_review(world, pr, since=first.head_commit)
    assert second.since == first.head_commit
    assert result.resolved == 2  # both findings in settings.py are gone
    again = [n for n in change.notes if "reviewed again" in n]
    if base_prefix:
        assert again == []
    else:  # neither the destination nor the fork gives the incremental diff: the whole PR, said so
        assert len(again) == 1 and first.head_commit[:12] in again[0]
        assert {f.path for f in change.diff_since(first.head_commit)} == {"app.py", "settings.py"}


def test_the_payload_builder_makes_fork_pr_events():
    from bbreview.testing import payloads

    event = payloads.pullrequest_event("pullrequest:updated", source_repository="dev/app", source_hash="a" * 40)
    assert event["repository"]["full_name"] == "acme/app"
    assert event["pullrequest"]["source"]["repository"]["full_name"] == "dev/app"
    assert event["pullrequest"]["destination"]["repository"]["full_name"] == "acme/app"
    assert "/repositories/acme/app/diff/dev/app:aaaaaaaaaaaa%0D" in event["pullrequest"]["links"]["diff"]["href"]
    plain = payloads.pullrequest_event("pullrequest:updated")
    assert plain["pullrequest"]["source"]["repository"]["full_name"] == "acme/app"


def test_a_fork_of_a_fork_can_open_a_pr_into_the_original(world):
    third = world.bb.add_workspace("third", owners=[world.bot])
    grandchild = world.bb.fork_repository(world.fork, third, slug="app-2")
    assert [r.full_name for r in world.repo.network] == ["acme/app", "dev/app", "third/app-2"]
    assert get(world, "/repositories/third/app-2").json()["parent"]["full_name"] == "dev/app"
    world.bb.commit(grandchild, "feature", {"README.md": "# third\n"}, author=world.bot)
    pr = world.bb.create_pull_request(world.repo, "feature", source_repo=grandchild, title="t", author=world.bot)
    location = get(world, f"/repositories/acme/app/pullrequests/{pr.id}/diff").headers["location"]
    assert "/diff/third/app-2:" in location
    text = get(world, location).text
    assert "+# third" in text and "+def run(expr):" in text  # dev/app's feature commit came along
    outsider = world.bb.add_repository(world.ws, "unrelated", admins=[world.bot], files={"x": "1\n"})
    with pytest.raises(EmulatorError):
        world.bb.create_pull_request(outsider, "feature", source_repo=world.fork, title="t", author=world.bot)
