"""`bbreview demo`: the main job on the embedded default, end to end."""

from __future__ import annotations

import io

from bbreview.cli import main
from bbreview.service.demo import run_demo


def test_the_demo_reviews_a_pull_request_and_answers_a_question():
    out = io.StringIO()
    result = run_demo(out, timeout=60)
    text = out.getvalue()
    assert "## bbreview review" in result.summary
    rules = {c["content"]["raw"].split("`")[1] for c in result.inline}
    assert rules == {"secrets/stripe-key", "security/eval-dynamic", "security/subprocess-shell-true",
                     "hygiene/python-print"}
    assert "eval" in result.reply
    # The conversation is printed as a person reads it, and the secret never is.
    assert "bbreview commented on payments/api.py line 8:" in text
    assert "sk_live_" not in text
    assert "Done in" in text


def test_the_demo_command(capsys):
    assert main(["demo", "--timeout", "60"]) == 0
    assert "Dana Developer replied" in capsys.readouterr().out
