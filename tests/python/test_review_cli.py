"""`bbreview review` and `bbreview config check` from the command line."""

from __future__ import annotations

import json

import pytest

from bbreview.cli import main
from bbreview.testing import BOT_SCOPES, FakeBitbucket


@pytest.fixture()
def branch(git, tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    git("add", ".")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "feature")
    (tmp_path / "a.py").write_text("def f(x):\n    print(x)\n    return eval(x)\n")
    git("commit", "-qam", "risky")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_review_of_the_current_branch_in_every_format(branch, capsys):
    assert main(["review", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "a.py:3" in text and "eval" in text and "Coverage: reviewed 1 of 1 file" in text
    assert main(["review", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {c["inline"]["to"] for c in data["comments"]} == {2, 3}
    assert main(["review", "--format", "markdown"]) == 0
    assert "## bbreview review" in capsys.readouterr().out
    assert main(["review", "--format", "sarif"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "2.1.0"
    assert main(["review", "--fail-on", "high"]) == 1


def test_review_errors_are_clear(branch, capsys, tmp_path, git):
    assert main(["review", "--base", "no-such-branch"]) == 2
    assert "no-such-branch" in capsys.readouterr().err
    assert main(["review", str(tmp_path / "missing")]) == 2
    assert "neither a git working tree nor a pull request URL" in capsys.readouterr().err
    (branch / ".bbreview.yaml").write_text("reviews:\n  profile: loud\n")
    assert main(["review"]) == 0  # the configuration is read at the reviewed head, not the working tree
    capsys.readouterr()
    git("add", ".bbreview.yaml")
    git("commit", "-qm", "config")
    assert main(["review"]) == 2
    assert ".bbreview.yaml:2: reviews.profile" in capsys.readouterr().err


def test_review_of_a_pull_request_by_url(capsys, monkeypatch):
    with FakeBitbucket(seed=12) as bb:
        bot = bb.add_user("bot", "Bot", email="bot@example.com")
        ws = bb.add_workspace("acme", owners=[bot])
        token = bb.add_api_token(bot, BOT_SCOPES)
        repo = bb.add_repository(ws, "app", admins=[bot])
        bb.commit(repo, "main", {"a.py": "x = 1\n"}, author=bot, notify=False)
        bb.commit(repo, "f", {"a.py": "x = eval(input())\n"}, author=bot, notify=False)
        pr = bb.create_pull_request(repo, "f", title="Eval", author=bot)
        monkeypatch.setenv("BITBUCKET_EMAIL", bot.email)
        monkeypatch.setenv("BITBUCKET_API_TOKEN", token.token)
        monkeypatch.setenv("BBREVIEW_BITBUCKET_URL", bb.base_url)
        url = f"https://bitbucket.org/acme/app/pull-requests/{pr.id}"
        assert main(["review", url, "--dry-run", "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert "would do:" in out and "post inline comment on a.py:1" in out
        assert not pr.comments
        assert main(["review", url, "--no-progress"]) == 0
        assert "posted 1 inline comment" in capsys.readouterr().out
        assert main(["review", url, "--no-progress"]) == 0
        assert "posted 0 inline comments, skipped 1 already posted" in capsys.readouterr().out
        assert token.token not in out


def test_review_of_a_pull_request_needs_credentials(capsys, monkeypatch, tmp_path):
    for var in ("BITBUCKET_EMAIL", "BITBUCKET_API_TOKEN", "BITBUCKET_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["review", "https://bitbucket.org/acme/app/pull-requests/1"]) == 2
    assert "bbreview token set" in capsys.readouterr().err


def test_config_check(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("reviews:\n  profile: assertive\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("reviews:\n  profile: loud\n")
    assert main(["config", "check", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["config", "check", str(bad)]) == 1
    assert "bad.yaml:2" in capsys.readouterr().err


def test_review_of_a_pull_request_honours_fail_on(capsys, monkeypatch):
    with FakeBitbucket(seed=13) as bb:
        bot = bb.add_user("bot", "Bot", email="bot@example.com")
        ws = bb.add_workspace("acme", owners=[bot])
        token = bb.add_api_token(bot, BOT_SCOPES)
        repo = bb.add_repository(ws, "app", admins=[bot])
        bb.commit(repo, "main", {"a.py": "x = 1\n"}, author=bot, notify=False)
        bb.commit(repo, "f", {"a.py": "x = eval(input())\n"}, author=bot, notify=False)  # a high finding
        pr = bb.create_pull_request(repo, "f", title="Eval", author=bot)
        monkeypatch.setenv("BITBUCKET_EMAIL", bot.email)
        monkeypatch.setenv("BITBUCKET_API_TOKEN", token.token)
        monkeypatch.setenv("BBREVIEW_BITBUCKET_URL", bb.base_url)
        url = f"https://bitbucket.org/acme/app/pull-requests/{pr.id}"
        assert main(["review", url, "--dry-run", "--no-progress", "--fail-on", "high"]) == 1
        assert main(["review", url, "--dry-run", "--no-progress", "--fail-on", "critical"]) == 0
        assert main(["review", url, "--no-progress", "--fail-on", "medium"]) == 1
        assert "posted 1 inline comment" in capsys.readouterr().out
        assert main(["review", url, "--no-progress"]) == 0  # --fail-on never, the default
