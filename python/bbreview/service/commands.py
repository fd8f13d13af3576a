"""Talking to the bot: what a comment that mentions it asks for.

``@bot review``, ``@bot full review``, ``@bot pause`` ... are commands; any
other text after the mention is a question. Parsing is pure and strict: a
command is the whole first line after the mention (case and trailing
punctuation aside), so "@bot review the error handling please" is a question,
not a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bbreview.service.events import BotIdentity, mentions

__all__ = ["COMMANDS", "Command", "parse_command", "help_text", "description_disables_reviews"]

#: Command -> what it does (the ``help`` reply lists these in order).
COMMANDS: dict[str, str] = {
    "review": "review the commits pushed since the last review",
    "full review": "review the whole pull request again, not only the new commits; a finding whose comment is "
                   "still open is not posted twice, and one whose comment was resolved but is still in the code "
                   "is posted again",
    "pause": "stop automatic reviews on this pull request",
    "resume": "restart automatic reviews on this pull request",
    "resolve": "resolve all of the bot's comments",
    "summary": "regenerate the summary comment",
    "configuration": "show the effective configuration as YAML",
    "help": "list these commands",
}
_ALIASES = {"fullreview": "full review", "config": "configuration", "re-review": "review", "rereview": "review"}


@dataclass(frozen=True)
class Command:
    """``name`` is a key of :data:`COMMANDS`, ``"question"`` or ``"unknown"``; ``text`` the words after the mention."""

    name: str
    text: str


def parse_command(bot: BotIdentity, raw: str) -> Command | None:
    """The command in a comment, or None when the comment does not mention the bot."""
    m = mentions(bot, raw)
    if m is None:
        return None
    after = raw[m.end():].strip()
    first = after.split("\n", 1)[0].strip()
    word = re.sub(r"[\s.!?]+$", "", first).strip().lower()
    word = re.sub(r"\s+", " ", word)
    word = _ALIASES.get(word, word)
    if word in COMMANDS:
        return Command(word, after)
    if not after:
        return Command("help", after)
    # One unknown word looks like a mistyped command; anything longer is a question.
    if re.fullmatch(r"[a-z-]+", word):
        return Command("unknown", after)
    return Command("question", after)


def help_text(bot: BotIdentity, *, prefix: str = "") -> str:
    """The command list, addressed the way the bot is mentioned."""
    who = f"@{bot.nickname}" if bot.nickname else "@bot"
    lines = [prefix] if prefix else []
    lines += ["Mention me with one of these commands:", ""]
    lines += [f"- `{who} {name}`: {what}" for name, what in COMMANDS.items()]
    lines += ["", f"Anything else after `{who}` is a question about this pull request, which I answer in the thread."]
    return "\n".join(lines)


def description_disables_reviews(bot: BotIdentity, description: str) -> bool:
    """True when the PR description mentions the bot together with ``ignore``
    (e.g. ``@bbreview ignore``): automatic reviews are then off for that PR."""
    for line in (description or "").splitlines():
        m = mentions(bot, line)
        if m is not None and re.search(r"\bignore\b", line[m.end():], re.I):
            return True
    return False
