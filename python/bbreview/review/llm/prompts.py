"""The prompt templates shipped in ``bbreview/prompts/`` and their version.

Templates are markdown files rendered with :class:`string.Template`
(``$name`` placeholders, ``$$`` for a literal dollar). Values are substituted
once and never re-parsed, so untrusted text containing ``$`` is safe.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from string import Template

__all__ = ["PROMPTS_DIR", "PROMPT_VERSION", "load_prompt", "render_prompt", "prompt_names"]

#: Where the templates live: ``python/bbreview/prompts/*.md`` (shipped in the wheel).
PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


def prompt_names() -> list[str]:
    """Names of the available templates (file names without ``.md``), sorted."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.md"))


@functools.cache
def load_prompt(name: str) -> Template:
    """The template ``<name>.md``; FileNotFoundError names the directory searched."""
    path = PROMPTS_DIR / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"prompt template {name!r} not found in {PROMPTS_DIR}; available: {', '.join(prompt_names())}"
        ) from None
    return Template(text)


def render_prompt(name: str, **values: object) -> str:
    """``<name>.md`` with every placeholder replaced; KeyError names a missing one."""
    try:
        return load_prompt(name).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise KeyError(f"prompt template {name!r} needs a value for ${exc.args[0]}") from None


def _version() -> str:
    h = hashlib.sha256()
    for path in sorted(PROMPTS_DIR.glob("*.md")):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:12]


#: A 12-hex-digit hash of every template: changes whenever any prompt changes,
#: so stored reviews can tell which prompts produced them.
PROMPT_VERSION = _version()
