"""Sample data for demos, notebooks and tests: ``seed_demo(emulator)``."""

from __future__ import annotations

from dataclasses import dataclass

from bbreview.testing._model import ApiToken, PullRequest, Repository, User, Workspace

__all__ = ["Demo", "seed_demo"]

_APP_V1 = '''"""A tiny web application."""

import os


def greet(name):
    return "Hello, " + name


def port():
    return int(os.environ.get("PORT", "8080"))
'''

_APP_V2 = _APP_V1.replace(
    'def port():\n    return int(os.environ.get("PORT", "8080"))\n',
    'def port():\n    return int(os.environ.get("PORT", "8080"))\n\n\ndef debug():\n'
    '    return os.environ.get("DEBUG") == "1"\n',
)

_FEATURE = _APP_V2.replace(
    'def greet(name):\n    return "Hello, " + name\n',
    'def greet(name, excited=False):\n    greeting = f"Hello, {name}"\n'
    '    return greeting + "!" if excited else greeting\n',
) + '\n\nAPI_KEY = "sk-test-0000000000000000"\n'


@dataclass
class Demo:
    """What ``seed_demo`` created."""

    workspace: Workspace
    admin: User
    token: ApiToken
    author: User
    repository: Repository
    pull_request: PullRequest


def seed_demo(bb) -> Demo:  # bb: FakeBitbucket (not imported: avoids a cycle)
    """Creates workspace ``acme``, an admin bot account with an API token holding the
    bot's scopes (§2.8, incl. ``delete:webhook:bitbucket``), a developer, repository
    ``acme/webapp`` with history on ``main``, and an open pull request #1."""
    from bbreview.testing.fake import BOT_SCOPES

    admin = bb.add_user("review-bot", "Review Bot", email="review-bot@example.com")
    author = bb.add_user("emma", "Emma Developer", email="emma@example.com")
    ws = bb.add_workspace("acme", "Acme", owners=[admin])
    bb.add_member(ws, author, "member")
    token = bb.add_api_token(admin, BOT_SCOPES, name="review-bot")
    repo = bb.add_repository(ws, "webapp", description="Demo web application", admins=[admin], writers=[author])
    bb.commit(repo, "main", {"README.md": "# webapp\n", "app.py": _APP_V1}, message="Initial commit", author=admin,
              notify=False)
    bb.commit(repo, "main", {"app.py": _APP_V2}, message="Add debug flag", author=author, notify=False)
    bb.commit(repo, "feature/greeting", {"app.py": _FEATURE}, message="Excited greetings", author=author,
              notify=False)
    bb.commit(repo, "feature/greeting", {"docs/usage.md": "Call greet(name, excited=True).\n"},
              message="Document greetings", author=author, notify=False)
    pr = bb.create_pull_request(repo, "feature/greeting", title="Excited greetings", author=author,
                                description="Adds an `excited` flag to `greet`.", reviewers=[admin])
    return Demo(ws, admin, token, author, repo, pr)
