"""Loads the compiled core, with an actionable message when it is missing."""

from __future__ import annotations

try:
    from bbreview import _core as core
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    raise ImportError(
        "bbreview's compiled core (bbreview._core) is missing or failed to load: "
        f"{exc}. Build it with `scripts/setup` (or `pip install -e .`) from the "
        "project root; it needs a C++20 compiler, CMake >= 3.25 and the -dev "
        "packages listed in the README."
    ) from exc

__all__ = ["core"]
