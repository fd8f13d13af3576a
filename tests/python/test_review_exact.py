"""A pull request gets exactly the expected review: summary, inline comments, anchors, Code Insights.

The review is made with the rules only (no LLM) against FakeBitbucket, read
back from the emulator as Bitbucket would show it, and compared in full with
the golden files in ``tests/python/golden/review/``:

* ``summary.md``: the summary comment's markdown;
* ``inline-comments.md``: every inline comment's anchor (``path``, ``from``,
  ``to``, ``start_from``, ``start_to``) and markdown, in diff order;
* ``code-insights.json``: the Code Insights report and its annotations.

Only what legitimately differs between two identical runs is normalised:
commit hashes (named ``<base>`` and ``<head>``), timestamps, uuids, the
emulator's port and the package version. Comment ids are not compared (inline
comments are posted concurrently, so their ids are in no fixed order); the
annotations are compared in (path, line, external_id) order, which Bitbucket
does not define either.

To regenerate the golden files after an intended change (scripts/regen-golden
writes the diff samples of tests/data/diffs only)::

    BBREVIEW_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/python/test_review_exact.py

then read the diff of ``tests/python/golden/review/`` before committing it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bbreview import __version__
from bbreview.bitbucket import Client
from bbreview.review import BitbucketPublisher, PullRequest, Reviewer, load_change_config
from bbreview.review.render import parse_markers
from bbreview.testing import BOT_SCOPES, FakeBitbucket

GOLDEN = Path(__file__).resolve().parent / "golden" / "review"
REGEN = os.environ.get("BBREVIEW_REGEN_GOLDEN") == "1"
REPORT_ID = "bbreview-review"

# On the destination branch: the configuration (unchanged by the pull request), a file the
# pull request deletes and a binary file it changes.
BASE = {
    ".bbreview.yaml": "reviews:\n  path_filters: ['!vendor/**']\n  max_comments: 3\n",
    "README.md": "# app\n",
    "app.py": (
        "import os\n\n\ndef greet(name):\n    return 'Hello, ' + name\n\n\n"
        "def legacy():\n    return os.getcwd()\n"
    ),
    "old_tool.py": "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n",
    "logo.png": bytes(range(256)),
}
# The pull request: a modified file with findings, an added file with a secret, a deleted
# file, a changed binary file and an added file excluded by reviews.path_filters. Four rule
# findings against max_comments: 3 put the least severe one in the summary.
FEATURE: dict[str, str | bytes | None] = {
    "app.py": (
        "import os\n\n\ndef greet(name):\n    print('greeting', name)\n    return 'Hello, ' + name\n\n\n"
        "def run(expr):\n    return eval(expr)\n"
    ),
    "settings.py": 'DEBUG = True\nAWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n',
    "old_tool.py": None,
    "logo.png": bytes(reversed(range(256))),
    "vendor/lib.py": "print('vendored')\nx = eval('1')\n",
}

ANCHOR_KEYS = ("path", "from", "to", "start_from", "start_to")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
UUID = re.compile(r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?")
PORT = re.compile(r"(//(?:127\.0\.0\.1|localhost)):\d+")
FULL_HASH = re.compile(r"\b[0-9a-f]{40}\b")


@dataclass
class Published:
    """What the pull request shows after the review, normalised, as golden file texts."""

    summary: str
    inline: str
    insights: str

    def files(self) -> dict[str, str]:
        return {"summary.md": self.summary, "inline-comments.md": self.inline, "code-insights.json": self.insights}


class Normaliser:
    """Replaces what legitimately differs between runs with named placeholders."""

    def __init__(self, commits: dict[str, str]) -> None:
        # Longest first, so that a full hash is replaced before its 12-digit prefix.
        self.commits = sorted(commits.items(), key=lambda kv: -len(kv[0]))

    def text(self, s: str) -> str:
        for value, name in self.commits:
            s = s.replace(value, name)
        s = TIMESTAMP.sub("<timestamp>", s)
        s = UUID.sub("<uuid>", s)
        s = PORT.sub(r"\1:<port>", s)
        s = s.replace(f"_bbreview {__version__} ·", "_bbreview <version> ·")
        assert not FULL_HASH.search(s), f"an unknown commit hash is left after normalising: {s!r:.300}"
        return s

    def json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def publish_review(seed: int) -> Published:
    """Sets up the repository and pull request on a fresh emulator, reviews it with the rules
    and publishes it, then reads back what Bitbucket shows."""
    with FakeBitbucket(seed=seed) as bb:
        bot = bb.add_user("review-bot", "Review Bot", email="bot@example.com")
        dev = bb.add_user("dev", "Dev Eloper", email="dev@example.com")
        ws = bb.add_workspace("acme", "Acme", owners=[bot])
        bb.add_member(ws, dev, "member")
        token = bb.add_api_token(bot, BOT_SCOPES, name="bot")
        repo = bb.add_repository(ws, "app", admins=[bot], writers=[dev])
        bb.commit(repo, "main", BASE, message="base", author=dev, notify=False)
        bb.commit(repo, "feature", FEATURE, message="feature", author=dev, notify=False)
        pr = bb.create_pull_request(repo, "feature", title="Greeting", author=dev)

        client = Client(email=bot.email, token=token.token, base_url=bb.base_url, backoff=0.01)
        change = PullRequest(client, "acme", "app", pr.id)
        rv = Reviewer(load_change_config(change)).review(change)
        result = BitbucketPublisher(client).publish(rv, change)
        assert result.errors == [], result.errors

        head = client.full_hash("acme", "app", rv.head_commit)
        base = client.full_hash("acme", "app", rv.base_commit)
        assert len(head) == len(base) == 40
        norm = Normaliser({head: "<head>", head[:12]: "<head>", base: "<base>", base[:12]: "<base>"})

        posted = [c for c in client.comments("acme", "app", pr.id) if not c.get("deleted")]
        # Only the bot commented, each comment is top-level and published (not a draft).
        assert {c["user"]["uuid"] for c in posted} == {bot.uuid}
        assert not [c for c in posted if c.get("parent") or c.get("pending")]
        summaries = [c for c in posted if not c.get("inline")]
        inline = [c for c in posted if c.get("inline")]
        assert len(summaries) == 1, f"expected one summary comment, got {len(summaries)}"
        assert ("summary", []) in parse_markers(summaries[0]["content"]["raw"])
        assert len(inline) == len(rv.comments) == result.posted

        def anchor(c: dict[str, Any]) -> dict[str, Any]:
            return {k: c["inline"].get(k) for k in ANCHOR_KEYS}

        def order(c: dict[str, Any]) -> tuple[Any, ...]:
            a = anchor(c)
            return (a["path"], a["to"] or 0, a["from"] or 0, a["start_to"] or 0, a["start_from"] or 0,
                    c["content"]["raw"])

        blocks = []
        for c in sorted(inline, key=order):
            a = json.dumps(norm.json(anchor(c)), ensure_ascii=False)
            blocks.append(f"=== inline {a}\n{norm.text(c['content']['raw'])}\n")

        report = client.report("acme", "app", head, REPORT_ID)
        annotations = sorted(client.annotations("acme", "app", head, REPORT_ID),
                             key=lambda a: (a.get("path") or "", a.get("line") or 0, a.get("external_id") or ""))
        insights = norm.json({"report": report, "annotations": annotations})
        return Published(
            summary=norm.text(summaries[0]["content"]["raw"]) + "\n",
            inline="\n".join(blocks),
            insights=json.dumps(insights, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
        )


def unified(expected: str, actual: str, fromfile: str, tofile: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                        fromfile=fromfile, tofile=tofile))


def mismatch(name: str, expected: str, actual: str) -> str:
    diff = unified(expected, actual, f"golden/review/{name} (expected)", f"{name} (published)")
    return (f"the published review differs from tests/python/golden/review/{name}:\n{diff}\n"
            "If the change is intended, regenerate with BBREVIEW_REGEN_GOLDEN=1 "
            "(see this module's docstring) and review the golden diff.")


def test_a_pull_request_gets_exactly_the_expected_review():
    published = publish_review(seed=11)
    # A second, identical pull request on another emulator (other ids, port and uuids) must
    # publish the same thing: a difference here is non-determinism, not a golden file to update.
    again = publish_review(seed=12)
    for name, text in published.files().items():
        other = again.files()[name]
        if text != other:
            pytest.fail(f"{name} is not deterministic: two identical pull requests published:\n"
                        + unified(text, other, f"{name} (seed 11)", f"{name} (seed 12)"), pytrace=False)
    if REGEN:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, text in published.files().items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
    problems = []
    for name, text in published.files().items():
        path = GOLDEN / name
        if not path.is_file():
            pytest.fail(f"tests/python/golden/review/{name} is missing; create it with BBREVIEW_REGEN_GOLDEN=1")
        expected = path.read_text(encoding="utf-8")
        if expected != text:
            problems.append(mismatch(name, expected, text))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
