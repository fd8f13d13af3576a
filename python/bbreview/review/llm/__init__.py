"""LLM review: providers, prompts and the reviewer.

- :class:`Provider` is the seam: :class:`OpenAIProvider` speaks the
  OpenAI-compatible chat completions API (OpenAI, Azure, vLLM, Ollama,
  llama.cpp), :class:`AnthropicProvider` the Anthropic Messages API;
  :func:`make_provider` builds one from configuration (None when no LLM is
  configured).
- :class:`LLMReviewer` reviews a pull request's files and answers questions in
  its threads.
- Prompts are template files in ``bbreview/prompts/``; :data:`PROMPT_VERSION`
  is a hash of them.

Offline, point a provider at :class:`bbreview.testing.FakeLLM`::

    with FakeLLM() as llm:
        provider = OpenAIProvider(llm.openai_base_url, "fake-model")
        result = LLMReviewer(provider, LLMSettings()).review(parse_diff(text).files)
"""

from __future__ import annotations

from bbreview.review.llm.chunks import CHARS_PER_TOKEN, LOCK_FILES, estimate_tokens, skip_reason
from bbreview.review.llm.parse import ParsedAnswer, parse_review_json
from bbreview.review.llm.prompts import PROMPT_VERSION, load_prompt, render_prompt
from bbreview.review.llm.providers import (
    AnthropicProvider,
    Completion,
    LLMSettings,
    OpenAIProvider,
    Provider,
    RetryPolicy,
    make_provider,
)
from bbreview.review.llm.reviewer import Answer, LLMReviewer, LLMReviewResult, Usage

__all__ = [
    "AnthropicProvider",
    "Answer",
    "CHARS_PER_TOKEN",
    "Completion",
    "LLMReviewResult",
    "LLMReviewer",
    "LLMSettings",
    "LOCK_FILES",
    "OpenAIProvider",
    "PROMPT_VERSION",
    "ParsedAnswer",
    "Provider",
    "RetryPolicy",
    "Usage",
    "estimate_tokens",
    "load_prompt",
    "make_provider",
    "parse_review_json",
    "render_prompt",
    "skip_reason",
]
