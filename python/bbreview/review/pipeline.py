"""The review pipeline: a change in, a :class:`Review` out.

``Reviewer(config, checks, llm).review(change, since=None)``:

1. load the diff (the whole change, and the part since ``since`` for an
   incremental review);
2. apply the path filters (excluded files are flagged in the coverage, never
   dropped silently);
3. run the checks: the rules engine and Python checks over the whole change
   (they are cheap and deterministic, so their findings always describe the
   current head), the LLM reviewer over the new part only;
4. merge and deduplicate the findings (by fingerprint, then by place);
5. anchor each finding against the diff: a finding on commentable lines
   becomes an inline comment (a range uses ``start_to`` + ``to``), anything
   else goes into the summary with the reason. Nothing is dropped silently:
   findings under ``reviews.min_severity`` and over ``reviews.max_comments``
   are kept, flagged and counted.

Publishing is separate (:mod:`bbreview.review.publisher`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bbreview import __version__
from bbreview.diff import FileDiff, PatchSet
from bbreview.errors import ConfigError, Error, LLMError, NotFound
from bbreview.review.checks import Check, CheckContext, PythonCheck, RulesCheck
from bbreview.review.config import ReviewConfig
from bbreview.review.model import SEVERITIES, SEVERITY_RANK, ReviewFinding, severity_at_least
from bbreview.review.source import CONFIG_FILE, Change, PatchSetChange

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "Reviewer",
    "Review",
    "InlineComment",
    "Deferred",
    "Coverage",
    "FileRow",
    "Usage",
    "load_change_config",
    "LLMScope",
]

log = logging.getLogger("bbreview.review")

Progress = Callable[[str, int, int], None]

# Why a finding is in the summary instead of on a line.
NOT_IN_DIFF = "its file is not in this diff"
FILE_LEVEL = "it is about the whole file"
OUTSIDE = "its lines are not changed by this pull request"
OVER_CAP = "over reviews.max_comments"
BELOW_MIN = "below reviews.min_severity"
EXCLUDED = "excluded by reviews.path_filters"


@dataclass(frozen=True)
class InlineComment:
    """A finding anchored to commentable lines of the diff.

    ``start``..``end`` is the anchored range on ``side`` (``new``: Bitbucket's
    ``to``/``start_to``; ``old``: ``from``/``start_from``). ``original`` holds
    the code of the anchored new-side lines when the finding's range was
    anchored exactly, so a suggestion can be shown as a diff.
    """

    finding: ReviewFinding
    path: str
    side: str
    start: int
    end: int
    exact: bool
    original: tuple[str, ...] = ()

    def inline(self) -> dict[str, Any]:
        """The ``inline`` object of Bitbucket's create-comment body (§6.5)."""
        out: dict[str, Any] = {"path": self.path}
        if self.side == "new":
            out["to"] = self.end
            if self.end != self.start:
                out["start_to"] = self.start
        else:
            out["from"] = self.end
            if self.end != self.start:
                out["start_from"] = self.start
        return out


@dataclass(frozen=True)
class Deferred:
    """A finding shown in the summary, not on a line, and why."""

    finding: ReviewFinding
    reason: str


@dataclass(frozen=True)
class FileRow:
    path: str
    status: str
    added: int
    removed: int
    summary: str
    old_path: str | None = None


@dataclass
class Coverage:
    """Which files every configured check looked at, and why the others were skipped."""

    total: int = 0
    reviewed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def text(self) -> str:
        """E.g. ``reviewed 37 of 40 files; skipped 3: 2 binary, 1 over the token budget``."""
        head = f"reviewed {len(self.reviewed)} of {self.total} file{'s' if self.total != 1 else ''}"
        if not self.skipped:
            return head
        counts = Counter(_reason_group(reason) for _, reason in self.skipped)
        parts = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
        return f"{head}; skipped {len(self.skipped)}: {parts}"


def _reason_group(reason: str) -> str:
    # "LLM error: HTTP 500 ..." groups as "LLM error"; other reasons are short already.
    return reason.split(":", 1)[0]


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0


@dataclass
class Review:
    """A finished review: what to post and what was found.

    ``findings`` are all merged findings; ``comments`` the ones anchored to
    lines and kept for posting; ``deferred`` the ones shown in the summary
    (with the reason); ``filtered`` the ones under ``min_severity`` (counted,
    not shown). Renderers: :meth:`to_markdown`, :meth:`summary_markdown`,
    :meth:`to_dict`, :meth:`to_sarif`, :meth:`to_frame`, :meth:`to_text`.
    """

    label: str
    title: str
    base_commit: str | None
    head_commit: str | None
    since: str | None
    files: list[FileRow]
    findings: list[ReviewFinding]
    comments: list[InlineComment]
    deferred: list[Deferred]
    filtered: list[Deferred]
    coverage: Coverage
    usage: Usage
    config: ReviewConfig
    errors: list[str] = field(default_factory=list)
    overview: str = ""
    dropped_injection: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    incremental_files: list[str] = field(default_factory=list)
    #: Which earlier LLM comments this run re-checked (see :class:`LLMScope`); None: none.
    llm_scope: LLMScope | None = field(default=None, repr=False)
    #: The whole change's diff the review was made from (to_text's context lines); None when not kept.
    patchset: PatchSet | None = field(default=None, repr=False, compare=False)

    # -- counts ---------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Posted findings (inline + summary) by severity, most severe first."""
        c = Counter(f.severity for f in self.posted_findings())
        return {s: c.get(s, 0) for s in reversed(SEVERITIES)}

    def posted_findings(self) -> list[ReviewFinding]:
        return [c.finding for c in self.comments] + [d.finding for d in self.deferred]

    @property
    def fingerprints(self) -> set[str]:
        return {f.fingerprint for f in self.findings}

    # -- renderers ----------------------------------------------------------------------
    def summary_markdown(self, **kw: Any) -> str:
        from bbreview.review import render

        return render.summary(self, **kw)

    def comment_markdown(self, comment: InlineComment) -> str:
        from bbreview.review import render

        return render.inline_comment(comment, suggestions=self.config.reviews.suggestions)

    def to_markdown(self) -> str:
        """The summary, then each inline comment under its file and line: the
        review as a person reads it on Bitbucket."""
        from bbreview.review import render

        return render.full_markdown(self)

    def to_text(self, *, color: bool = False, context: int = 2, patchset: PatchSet | None = None) -> str:
        """Plain text for a terminal. Each inline comment shows its lines and
        ``context`` lines either side, read from ``patchset`` (default: the
        diff the review was made from); only lines in the diff's hunks can be
        shown, and lines of secret findings never are. Raises ValueError for a
        negative ``context``."""
        from bbreview.review import render

        if isinstance(context, bool) or not isinstance(context, int) or context < 0:
            raise ValueError(f"to_text(context=...) takes a whole number of lines of at least 0, not {context!r}")
        if patchset is not None and not isinstance(patchset, PatchSet):
            raise TypeError(f"to_text(patchset=...) takes a PatchSet or None, not {type(patchset).__name__}")
        return render.terminal(self, color=color, context=context,
                               patchset=patchset if patchset is not None else self.patchset)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "title": self.title,
            "base_commit": self.base_commit,
            "head_commit": self.head_commit,
            "since": self.since,
            "overview": self.overview,
            "counts": self.counts(),
            "coverage": {
                "total": self.coverage.total,
                "reviewed": list(self.coverage.reviewed),
                "skipped": [{"path": p, "reason": r} for p, r in self.coverage.skipped],
                "text": self.coverage.text(),
            },
            "usage": vars(self.usage).copy(),
            "files": [vars(f).copy() for f in self.files],
            "comments": [
                {"inline": c.inline(), "exact": c.exact, "finding": c.finding.to_dict()} for c in self.comments
            ],
            "summary_findings": [{"reason": d.reason, "finding": d.finding.to_dict()} for d in self.deferred],
            "filtered": [{"reason": d.reason, "finding": d.finding.to_dict()} for d in self.filtered],
            "errors": list(self.errors),
            "dropped_injection": self.dropped_injection,
            "metadata": dict(self.metadata),
        }

    def to_sarif(self) -> dict[str, Any]:
        from bbreview.review import render

        return render.sarif(self)

    def code_insights(self, *, report_id: str = "bbreview") -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The Code Insights report and its annotations (rule findings), §6.9."""
        from bbreview.review import render

        return render.code_insights(self, report_id=report_id)

    def to_frame(self) -> pandas.DataFrame:
        """One row per finding: its fields plus where it went (``inline``,
        ``summary`` or ``filtered``), the reason and the anchored lines."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the dev extras
            raise ImportError("to_frame() needs pandas; install it with `pip install bbreview[frames]`") from exc
        rows = []
        for c in self.comments:
            rows.append({**_row(c.finding), "placement": "inline", "reason": "", "anchor_start": c.start,
                         "anchor_end": c.end})
        for kind, items in (("summary", self.deferred), ("filtered", self.filtered)):
            for d in items:
                rows.append({**_row(d.finding), "placement": kind, "reason": d.reason, "anchor_start": None,
                             "anchor_end": None})
        columns = [*ReviewFinding.__dataclass_fields__, "placement", "reason", "anchor_start", "anchor_end"]
        columns.remove("extra")
        frame = pd.DataFrame.from_records(rows, columns=columns)
        for col in ("line", "end_line", "anchor_start", "anchor_end"):
            frame[col] = frame[col].astype("Int64")
        return frame

    def __repr__(self) -> str:
        return (
            f"<Review {self.label} {len(self.comments)} inline, {len(self.deferred)} in summary, "
            f"{len(self.filtered)} filtered; {self.coverage.text()}>"
        )


def _row(finding: ReviewFinding) -> dict[str, Any]:
    d = finding.to_dict()
    d.pop("extra")
    return d


#: LLM keys that only the service (or the user running the CLI) may set: a
#: repository that could choose both where requests go and which environment
#: variable holds the key could send the service's secrets to its own server.
SERVICE_ONLY_LLM_KEYS = ("base_url", "api_key_env")


def config_reader(change: Change) -> Callable[[str], bytes | None]:
    """How the review reads ``.bbreview.yaml`` and its rule files for ``change``.

    A file the change itself modifies (added, edited, renamed or deleted) is
    read from the destination commit when the change can do that (a Bitbucket
    :class:`~bbreview.review.source.PullRequest`), so that a pull request
    cannot silence or steer its own review; every other file is read at the
    change's head. Changes without a destination (a local branch, a bare diff)
    read everything at the head: there the author runs the review themselves.
    """
    read_base = getattr(change, "read_base_file", None)
    if read_base is None:
        return change.read_file
    changed: set[str] | None = None

    def read(path: str) -> bytes | None:
        nonlocal changed
        if changed is None:
            changed = set()
            for f in change.diff():
                changed.add(f.path)
                if f.old_path:
                    changed.add(f.old_path)
            for u in _unavailable(change):
                changed.update(p for p in (u.path, u.old_path) if p)
        return read_base(path) if path in changed else change.read_file(path)

    return read


def _changed_by(change: Change, path: str) -> bool:
    """Whether ``change`` (a pull request) changes ``path`` from what is in force on its
    destination: touched by its diff, and its copy differs from the destination's (a file
    merged into both branches is in the three-dot diff, yet changes nothing)."""
    read_base = getattr(change, "read_base_file", None)
    if read_base is None:
        return False
    touched = any(path in (f.path, f.old_path) for f in change.diff()) or any(
        path in (u.path, u.old_path) for u in _unavailable(change)
    )
    return touched and change.read_file(path) != read_base(path)


def _unavailable(change: Change, attr: str = "unavailable") -> list[Any]:
    """The changed files ``change`` could not diff (``UnavailableFile``s; see
    :class:`~bbreview.review.source.PullRequest`); read after its diff() ran."""
    return list(getattr(change, attr, None) or ())


def load_change_config(change: Change, defaults: ReviewConfig | None = None) -> ReviewConfig:
    """The change's ``.bbreview.yaml`` merged over ``defaults``, validated with its rule files.

    The file is read at the change's head, except that a pull request which
    changes ``.bbreview.yaml`` (or a rule file it lists) is reviewed with the
    destination branch's copy (:func:`config_reader`); the effective
    configuration's ``notes`` say so. A missing file gives ``defaults``.

    Raises ConfigError naming the key and line when the file is invalid, when
    a ``rules.files`` entry is missing or not a valid rule file, or when the
    repository sets ``llm.base_url`` or ``llm.api_key_env``
    (:data:`SERVICE_ONLY_LLM_KEYS`). A repository's ``llm.max_tokens_per_review``
    above the one the service defaults set is capped to it (noted in ``notes``).
    """
    read = config_reader(change)
    notes: list[str] = []
    data = read(CONFIG_FILE)
    if _changed_by(change, CONFIG_FILE):
        where = getattr(change, "destination_branch", None)
        where = f"the destination branch `{where}`" if where else "the destination branch"
        notes.append(
            f"This pull request changes `{CONFIG_FILE}`; it was reviewed with the copy on {where}. "
            "The change takes effect once it is merged."
        )
    base = defaults or ReviewConfig.default()
    if notes:
        problem = _head_config_problem(change, base)
        if problem:
            notes.append(f"The pull request's own `{CONFIG_FILE}` is invalid and would fail once merged: {problem}")
    if data is not None and notes:
        # The pull request changes the file: a broken copy on the destination branch must not
        # block the very pull request that may fix it. The service defaults apply instead.
        try:
            _repository_config(data, base)
        except ConfigError as exc:
            notes[0] = (f"This pull request changes `{CONFIG_FILE}`, and the copy on {where} is invalid "
                        f"({str(exc).splitlines()[0]}); it was reviewed with the service defaults. The change "
                        "takes effect once it is merged.")
            data = None
    if data is None:
        merged = base
    else:
        merged = _repository_config(data, base)
        cap = _service_budget(defaults)
        if cap is not None and merged.llm.max_tokens_per_review > cap:
            notes.append(
                f"`llm.max_tokens_per_review` ({merged.llm.max_tokens_per_review:,}) is above the service's "
                f"budget; {cap:,} tokens were used."
            )
            merged = dataclasses.replace(merged, llm=dataclasses.replace(merged.llm, max_tokens_per_review=cap))
    changed_rules = [p for p in merged.rules.files if _changed_by(change, p)]
    if changed_rules:
        notes.append(
            "This pull request changes the rule file(s) " + ", ".join(f"`{p}`" for p in changed_rules)
            + "; the destination branch's copies were used."
        )
    if merged.rules.files:
        # Raises ConfigError naming rules.files[i]: the service posts it on the PR like any config error.
        _ruleset_for(merged, read)
    if notes or merged.notes:
        merged = dataclasses.replace(merged, notes=(*merged.notes, *notes))
    return merged


def _repository_config(data: bytes | str, base: ReviewConfig) -> ReviewConfig:
    """A repository's ``.bbreview.yaml`` over ``base``; raises ConfigError (key, line) when it
    is invalid or sets a key only the service may set (:data:`SERVICE_ONLY_LLM_KEYS`)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    merged = ReviewConfig.from_yaml(text, source=CONFIG_FILE, defaults=base)
    for key in SERVICE_ONLY_LLM_KEYS:
        if getattr(merged.llm, key) != getattr(base.llm, key):
            raise ConfigError(
                "a repository cannot set this key", f"llm.{key}", source=CONFIG_FILE,
                line=merged.lines.get(f"llm.{key}"),
                hint="set it in the service defaults (bbreview serve --review-defaults, or bbreview review "
                "--config), or through BBREVIEW_LLM_BASE_URL; the repository may choose llm.provider and llm.model",
            )
    return merged


def _head_config_problem(change: Change, base: ReviewConfig) -> str | None:
    """Why the change's own copy of ``.bbreview.yaml`` is invalid, or None."""
    data = change.read_file(CONFIG_FILE)
    if data is None:
        return None
    try:
        ReviewConfig.from_yaml(data, source=CONFIG_FILE, defaults=base)
    except ConfigError as exc:
        return str(exc).split("\n", 1)[0]
    return None


def _service_budget(defaults: ReviewConfig | None) -> int | None:
    """The LLM budget the service defaults set, or None when they leave the built-in default."""
    if defaults is None:
        return None
    budget = defaults.llm.max_tokens_per_review
    explicit = "llm.max_tokens_per_review" in defaults.lines
    return budget if explicit or budget != ReviewConfig.default().llm.max_tokens_per_review else None


def _ruleset_for(cfg: ReviewConfig, read: Callable[[str], bytes | None]) -> Any:
    """The configuration's rules, with ``rules.files`` read through ``read``; raises ConfigError."""
    if not cfg.rules.files:
        return _cached_ruleset(cfg)
    try:
        contents = tuple(read(path) for path in cfg.rules.files)
    except (OSError, LookupError, NotFound):
        return cfg.ruleset(read_file=read)  # raises ConfigError naming the file that cannot be read
    return _cached_file_ruleset(cfg, contents)


@functools.lru_cache(maxsize=32)
def _cached_file_ruleset(cfg: ReviewConfig, contents: tuple[bytes | str | None, ...]) -> Any:
    # load_change_config validates the rule files and the review compiles them: the same work once.
    table = dict(zip(cfg.rules.files, contents))
    return cfg.ruleset(read_file=table.__getitem__)


class Reviewer:
    """Runs the pipeline. One Reviewer may review many changes, from many threads.

    Args:
        config: the effective :class:`ReviewConfig` (default: the defaults),
            or a dict in the shape of ``.bbreview.yaml`` (any key may be left
            out), read with :meth:`ReviewConfig.from_dict` (ConfigError names a
            wrong key). Anything else raises TypeError.
        checks: a list of extra checks (``@bbreview.check`` functions, plain
            functions ``f(file) -> findings``, or any Check); anything else
            raises TypeError naming the item.
            The rules of ``config.rules`` always run unless ``rules=False``.
        llm: an LLMReviewer, a Provider (wrapped with the config's settings)
            or None; when None and ``config.llm.provider`` is set, a provider
            is made from the configuration and the environment.
    """

    def __init__(
        self,
        config: ReviewConfig | None = None,
        checks: Iterable[Check | Callable[..., Any]] = (),
        llm: Any = None,
        *,
        rules: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = _as_config(config)
        self.checks: list[Check] = _as_checks(checks)
        self.rules = rules
        self._env = env
        self._llm = llm
        self._llm_ready = False

    # -- LLM -------------------------------------------------------------------------------
    def llm(self) -> Any:
        """The LLMReviewer in use, or None."""
        if not self._llm_ready:
            self._llm = self._make_llm(self._llm)
            self._llm_ready = True
        return self._llm

    def _make_llm(self, llm: Any) -> Any:
        import os

        cfg = self.config
        env = self._env if self._env is not None else os.environ
        if llm is None and not cfg.llm.enabled and not env.get("BBREVIEW_LLM_PROVIDER"):
            return None  # no provider configured: rules and checks only
        from bbreview.review import llm as llm_mod

        # Every `llm:` key of the configuration that the runtime settings share, by name (the
        # environment's overrides apply in make_provider, and only without a configured provider).
        shared = {f.name for f in dataclasses.fields(llm_mod.LLMSettings)} & {
            f.name for f in dataclasses.fields(cfg.llm)
        }
        settings = llm_mod.LLMSettings(**{name: getattr(cfg.llm, name) for name in shared})
        if llm is None:
            provider = llm_mod.make_provider(settings, env)
            if provider is None:
                return None
        elif isinstance(llm, llm_mod.LLMReviewer):
            return llm
        else:
            provider = llm
        return llm_mod.LLMReviewer(
            provider, settings, profile=cfg.reviews.profile, language=cfg.language,
            tone_instructions=cfg.tone_instructions,
            path_instructions=[(p.path, p.instructions) for p in cfg.reviews.path_instructions],
        )

    # -- the pipeline --------------------------------------------------------------------
    def review(
        self,
        change: Change | PatchSet | str | bytes,
        *,
        since: str | None = None,
        progress: Progress | None = None,
    ) -> Review:
        """Reviews ``change`` (a Change, a PatchSet or diff text).

        With ``since`` (a commit of the change's history), the LLM reviews only
        what changed after it; the deterministic checks still cover the whole
        change, so the summary describes the whole pull request.

        Diff text is parsed leniently: a malformed file is skipped and the
        parser's warning is listed in the review's ``errors`` (and summary).
        Raises TypeError for anything that is not a change, a PatchSet or text,
        ValueError for empty text and DiffParseError for text with no file diff
        in it (e.g. a file name, or a log without patches).
        """
        started = time.monotonic()
        change = _as_change(change)
        cfg = self.config
        note = progress or (lambda stage, done, total: None)

        note("diff", 0, 1)
        full = change.diff()
        if full.stats_only:
            raise Error("the review needs a full diff, not a diffstat() PatchSet")
        if since and change.head_commit and since[:12] == change.head_commit[:12]:
            new_part: PatchSet | None = None  # nothing new since the last review
        else:
            new_part = change.diff_since(since) if since else full
        note("diff", 1, 1)
        # Files Bitbucket could not diff even alone (555): listed as skipped, never silently missing.
        unavailable = _unavailable(change)
        unavailable_since = _unavailable(change, "unavailable_since") if since and new_part is not None else []

        coverage = Coverage(total=len(full) + len(unavailable))
        coverage.skipped.extend((u.path, u.reason) for u in unavailable)
        # Files the lenient parser skipped are said, not silently missing.
        errors: list[str] = [f"the diff: {w}" for w in getattr(full, "warnings", None) or ()]
        included: list[FileDiff] = []
        for f in full:
            if not cfg.reviews.includes(f.path):
                coverage.skipped.append((f.path, EXCLUDED))
            elif f.is_binary:
                coverage.skipped.append((f.path, "binary"))
            else:
                included.append(f)
        included_paths = {f.path for f in included}
        context = CheckContext(config=cfg, title=change.title, description=change.description)

        # Deterministic checks: the whole change.
        findings: list[ReviewFinding] = []
        checks: list[Check] = list(self.checks)
        ruleset = None
        if self.rules:
            # Compiling 69+ rules costs ~15 ms; equal configurations (and rule files) share one.
            ruleset = _ruleset_for(cfg, config_reader(change))
            exact = {rid: cfg.rules.review_severity(rid) for rid in cfg.rules.severity}
            checks.insert(0, RulesCheck(ruleset, review_severity={k: v for k, v in exact.items() if v}))
        failed_checks: list[str] = []
        for i, chk in enumerate(checks):
            note("checks", i, len(checks))
            try:
                findings.extend(chk.run(included, context))
            except Exception as exc:  # noqa: BLE001 - a user's check must not stop the review
                errors.append(f"check {chk.name!r} failed: {type(exc).__name__}: {exc}")
                failed_checks.append("rules" if isinstance(chk, RulesCheck) else f"check:{chk.name}")
        note("checks", len(checks), len(checks))

        # The LLM: the new part only.
        usage = Usage()
        dropped = 0
        file_summaries: dict[str, str] = {}
        llm_meta: dict[str, Any] = {}
        incremental_files: list[str] = []
        llm_unavailable: str | None = None
        try:
            reviewer = self.llm()
        except LLMError as exc:
            # An LLM that cannot be set up (no key, unknown provider...) must not cost the whole
            # review: the rules and checks still run, and the summary says why the LLM did not.
            from bbreview.review.llm.redact import public_error

            log.warning("%s: the LLM reviewer could not be set up: %s", change.label, exc)
            reviewer, llm_unavailable = None, public_error(exc)
        llm_skipped: dict[str, str] = {}
        shown: dict[str, set[int]] = {}
        if new_part is not None:
            incremental_files = [f.path for f in new_part if f.path in included_paths]
        if reviewer is not None and new_part is not None:
            from bbreview.review.llm.redact import Redactor, secret_findings

            todo = [f for f in new_part if f.path in included_paths]
            # Secrets never reach the provider: the built-in secret rules (whatever the configuration
            # disables) and the configuration's own secret rules mask them in what is sent.
            redactor = Redactor.from_findings(todo, secret_findings(todo, _extra_secret_rules(ruleset)))
            result = reviewer.review(
                todo, title=change.title, description=change.description,
                progress=(lambda done, total: note("llm", done, total)), redactor=redactor,
            )
            shown = result.shown
            # A model finding on a secret's line must never show that line (e.g. in a suggestion's diff).
            findings.extend(
                f.with_(extra={**f.extra, "secret": True}) if _on_secret(f, redactor) else f for f in result.findings
            )
            file_summaries = dict(result.file_summaries)
            usage = Usage(result.usage.input_tokens, result.usage.output_tokens, result.usage.requests)
            dropped = result.dropped_injection
            errors.extend(result.errors)
            llm_skipped = {p: r for p, r in result.skipped}
            llm_meta = {
                "model": result.model,
                "prompt_version": result.prompt_version,
                "llm_inputs_hash": result.inputs_hash,
                "invalid_findings": result.invalid_findings,
                "over_cap_findings": result.over_cap_findings,
                "llm_deadline_reached": result.deadline_reached,
                "llm_breaker_tripped": result.breaker_tripped,
            }
        if reviewer is not None:
            for u in unavailable_since:  # in the whole diff, but not in the part the LLM was to review
                if u.path in included_paths:
                    llm_skipped.setdefault(u.path, f"{u.reason} (the commits since the last review)")
        for f in included:
            if f.path in llm_skipped:
                coverage.skipped.append((f.path, llm_skipped[f.path]))
            else:
                coverage.reviewed.append(f.path)

        merged = _merge(findings)
        comments, deferred, filtered = self._place(merged, full, included_paths)
        rows = [_file_row(f, file_summaries.get(f.path)) for f in full]
        rows += [
            FileRow(u.path, u.status, u.added, u.removed, f"not reviewed: {u.reason}", u.old_path)
            for u in unavailable
        ]
        # What the change source had to work around (e.g. a fork the bot cannot read) is said in
        # the summary with the configuration notes.
        extra = tuple(n for n in getattr(change, "notes", ()) or () if n not in cfg.notes)
        if extra:
            cfg = dataclasses.replace(cfg, notes=(*cfg.notes, *extra))
        review = Review(
            label=change.label, title=change.title, base_commit=change.base_commit,
            head_commit=change.head_commit, since=since, files=rows, findings=merged, comments=comments,
            deferred=deferred, filtered=filtered, coverage=coverage, usage=usage, config=cfg, errors=errors,
            dropped_injection=dropped, incremental_files=incremental_files,
            llm_scope=LLMScope.build(since, full, new_part if reviewer is not None else None, shown),
            patchset=full,
        )
        review.overview = _overview(review, full)
        review.metadata = {
            "bbreview_version": __version__,
            "inputs_hash": _inputs_hash(full, cfg, checks, llm_meta),
            "model": llm_meta.get("model"),
            "prompt_version": llm_meta.get("prompt_version"),
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "llm_requests": usage.requests,
            "checks": [c.name for c in checks] + (["llm"] if reviewer is not None else []),
            "failed_checks": failed_checks,
            "llm_unavailable": llm_unavailable,
            "llm_deadline_reached": False,
            "llm_breaker_tripped": False,
            "seconds": round(time.monotonic() - started, 3),
            **{k: v for k, v in llm_meta.items() if k not in ("model", "prompt_version")},
        }
        return review

    def _place(
        self, findings: list[ReviewFinding], full: PatchSet, included: set[str]
    ) -> tuple[list[InlineComment], list[Deferred], list[Deferred]]:
        cfg = self.config
        minimum = cfg.effective_min_severity()
        files = {f.path: f for f in full}
        for f in full:  # a finding may name a renamed file by its old path
            if f.old_path and f.old_path not in files:
                files[f.old_path] = f
        comments: list[InlineComment] = []
        deferred: list[Deferred] = []
        filtered: list[Deferred] = []
        ordered = sorted(findings, key=lambda x: (-SEVERITY_RANK[x.severity], x.path, x.line or 0))
        for finding in ordered:
            if not severity_at_least(finding.severity, minimum):
                filtered.append(Deferred(finding, BELOW_MIN))
                continue
            placed = anchor(finding, files.get(finding.path))
            if isinstance(placed, str):
                deferred.append(Deferred(finding, placed))
            elif len(comments) >= cfg.reviews.max_comments:
                deferred.append(Deferred(finding, OVER_CAP))
            else:
                comments.append(placed)
        comments.sort(key=lambda c: (c.path, c.start))
        return comments, deferred, filtered


def _type_name(value: Any) -> str:
    return type(value).__name__


def _as_config(config: Any) -> ReviewConfig:
    """``Reviewer``'s ``config`` argument as a ReviewConfig; raises TypeError or ConfigError."""
    from collections.abc import Mapping

    if config is None:
        return ReviewConfig.default()
    if isinstance(config, ReviewConfig):
        return config
    if isinstance(config, Mapping):
        return ReviewConfig.from_dict(config, source="Reviewer(config=...)")
    raise TypeError(
        f"Reviewer(config=...) takes a ReviewConfig, a dict of .bbreview.yaml keys or None, not "
        f"{_type_name(config)} ({config!r:.60}); read a file with bbreview.review.load_config(path) "
        "or text with ReviewConfig.from_yaml(text)"
    )


_CHECK_HELP = (
    "a check is a function f(file) -> findings (decorate it with @bbreview.check) or an object "
    "with a name and run(patchset, context)"
)


def _as_checks(checks: Any) -> list[Check]:
    """``Reviewer``'s ``checks`` argument as a list of Checks; raises TypeError naming the bad item."""
    if checks is None:
        return []
    if isinstance(checks, (str, bytes)) or callable(checks) or hasattr(checks, "run"):
        raise TypeError(
            f"Reviewer(checks=...) takes a list of checks, not one {_type_name(checks)}; "
            f"wrap it in a list: checks=[{getattr(checks, '__name__', 'check')}]"
        )
    try:
        items = list(checks)
    except TypeError:
        raise TypeError(
            f"Reviewer(checks=...) takes a list of checks, not {_type_name(checks)} ({checks!r:.60}); {_CHECK_HELP}"
        ) from None
    out: list[Check] = []
    for i, c in enumerate(items):
        if callable(getattr(c, "run", None)) and isinstance(getattr(c, "name", None), str):
            out.append(c)
        elif callable(c) and not isinstance(c, type):
            out.append(PythonCheck(c))
        else:
            raise TypeError(
                f"Reviewer(checks=...): checks[{i}] is {_type_name(c)} ({c!r:.60}), not a check; {_CHECK_HELP}"
            )
    return out


def _as_change(change: Any) -> Change:
    """``Reviewer.review``'s argument as a Change (see there for what it raises)."""
    if isinstance(change, (str, bytes, bytearray)):
        from bbreview.diff import parse_diff
        from bbreview.errors import DiffParseError

        text = bytes(change) if isinstance(change, bytearray) else change
        if not text.strip():
            raise ValueError(
                "review() was given empty diff text: there is nothing to review; pass the output of "
                "`git diff` (or a PatchSet, or a Change such as GitChange or PullRequest)"
            )
        patchset = parse_diff(text, strict=False)
        if len(patchset) == 0:
            first = (text.decode("utf-8", "replace") if isinstance(text, bytes) else text).strip().splitlines()[0]
            error = DiffParseError(1, first[:120], "no file diff found")
            # DiffParseError's own hint (strict=False) does not apply: this text was parsed leniently.
            error.args = (
                f"review() was given text that is not a diff: no file diff found (line 1: {first[:120]!r}); "
                "expected unified diff text with 'diff --git' or '---'/'+++' headers, e.g. the output of "
                "`git diff`. To review a file of diff text, pass its contents, not its name",
            )
            raise error
        return PatchSetChange(patchset)
    if isinstance(change, PatchSet):
        return PatchSetChange(change)
    if isinstance(change, Change):
        return change
    raise TypeError(
        f"review() takes a Change (PullRequest, GitChange, PatchSetChange), a PatchSet or diff text "
        f"(str or bytes), not {_type_name(change)} ({change!r:.60}); for a pull request by number use "
        "PullRequest(client, workspace, repo, number), or PullRequest.from_url(client, url)"
    )


def anchor(finding: ReviewFinding, file: FileDiff | None) -> InlineComment | str:
    """``finding`` anchored to commentable lines of ``file``, or why it cannot be.

    Only lines in the diff are used (never a nearby line: a comment on the
    wrong line is worse than one in the summary). A range that overlaps the
    diff partially is narrowed to the overlapping commentable lines.
    """
    if file is None:
        return NOT_IN_DIFF
    if finding.line is None:
        return FILE_LEVEL
    if file.is_binary or not file.hunks:
        return OUTSIDE
    found = file.nearest_anchor(finding.line, finding.end_line, side=finding.side, max_distance=0)
    if found is None:
        return OUTSIDE
    original: tuple[str, ...] = ()
    exact = found.exact and found.start == finding.line and found.end == finding.end_line
    if exact and finding.side == "new":
        lines = {ln.new_lineno: ln.content for ln in found.hunk.lines if ln.new_lineno is not None}
        original = tuple(lines.get(n, "") for n in range(found.start, found.end + 1))
    return InlineComment(finding, file.path, found.side, found.start, found.end, exact, original)


@dataclass
class LLMScope:
    """What this run's LLM re-checked, to decide which earlier LLM comments are gone.

    The model sees only the reviewed diff (``since..head`` in an incremental
    run), so an earlier LLM comment that it did not reproduce is gone only when
    its lines were inside hunks the model was shown and answered, or when its
    lines left the pull request's diff. Anything else stays open: a commit
    elsewhere in the file says nothing about it.

    Attributes:
        since: the commit the reviewed diff starts at (None: the whole change;
            earlier comments' lines are then read as head lines).
        shown: path -> head-side lines shown to the model in answered requests.
        reviewed: path -> the file of the diff the model reviewed.
        full_lines: path -> head-side lines of the whole change's diff.
    """

    since: str | None
    shown: dict[str, set[int]]
    reviewed: dict[str, FileDiff]
    full_lines: dict[str, set[int]]

    @classmethod
    def build(cls, since: str | None, full: PatchSet, reviewed: PatchSet | None,
              shown: dict[str, set[int]]) -> LLMScope:
        full_lines = {
            f.path: {ln.new_lineno for h in f.hunks for ln in h.lines if ln.new_lineno is not None} for f in full
        }
        files = {f.path: f for f in reviewed} if reviewed is not None else {}
        return cls(since, {p: set(n) for p, n in shown.items()}, files, full_lines)

    def gone(self, path: str | None, start: int | None, end: int | None) -> bool:
        """Whether an earlier LLM comment on ``path`` lines ``start..end`` (as
        posted) no longer stands, assuming this run did not reproduce it."""
        if path is None or end is None:
            return False
        if path not in self.full_lines:
            return True  # the file left the pull request's diff
        start = end if start is None or start > end else start
        lines = range(start, end + 1)
        shown = self.shown.get(path, set())
        file = self.reviewed.get(path)
        if self.since is None:
            if file is not None and shown and all(n in shown for n in lines):
                return True
            return not any(n in self.full_lines[path] for n in lines)
        if file is None:  # not touched since the last review; only the diff's edges can have moved
            return not any(n in self.full_lines[path] for n in lines)
        covered = True
        now: list[int] = []
        for n in lines:
            kind, new = _follow(file, n)
            if kind == "removed":
                covered = covered and path in self.shown
            elif kind == "hunk":
                covered = covered and new in shown
                now.append(new)
            else:
                covered = False
                now.append(new)
        if covered:
            return True
        return bool(now) and not any(n in self.full_lines[path] for n in now)


def _follow(file: FileDiff, line: int) -> tuple[str, int]:
    """Where old-side ``line`` of ``file`` went: ``("removed", 0)``, ``("hunk", n)``
    for a context line of a hunk, or ``("moved", n)`` for a line no hunk touches."""
    delta = 0
    for hunk in file.hunks:
        first = hunk.old_start if hunk.old_count else hunk.old_start + 1
        if line < first:
            break
        if line < hunk.old_start + hunk.old_count:
            for ln in hunk.lines:
                if ln.old_lineno == line:
                    return ("removed", 0) if ln.kind == "-" else ("hunk", ln.new_lineno)
        delta += hunk.new_count - hunk.old_count
    return "moved", line + delta


def _on_secret(finding: ReviewFinding, redactor: Any) -> bool:
    spans = redactor.spans.get(finding.path, {})
    return finding.line is not None and any(n in spans for n in range(finding.line, (finding.end_line or 0) + 1))


def _extra_secret_rules(ruleset: Any) -> Any:
    """The configuration's secret rules that the built-in secrets pack lacks, as a RuleSet, or None."""
    if ruleset is None:
        return None
    from bbreview.review.llm.redact import builtin_secret_rules

    builtin = {r.id for r in builtin_secret_rules()}
    extra = [r for r in ruleset if r.category == "secrets" and r.id not in builtin]
    return _compiled_rules(tuple(extra)) if extra else None


@functools.lru_cache(maxsize=16)
def _compiled_rules(rules: tuple[Any, ...]) -> Any:
    from bbreview.rules import RuleSet

    return RuleSet(list(rules))


def _merge(findings: list[ReviewFinding]) -> list[ReviewFinding]:
    """Dedup by fingerprint, then by place: the same category on the same first
    line from two sources keeps the more severe (rules win ties: they are exact)."""
    by_fp: dict[str, ReviewFinding] = {}
    for f in findings:
        kept = by_fp.get(f.fingerprint)
        if kept is None or SEVERITY_RANK[f.severity] > SEVERITY_RANK[kept.severity]:
            by_fp[f.fingerprint] = f
    by_place: dict[tuple[Any, ...], ReviewFinding] = {}
    out: list[ReviewFinding] = []
    for f in by_fp.values():
        if f.line is None:
            out.append(f)
            continue
        key = (f.path, f.side, f.line, f.category)
        kept = by_place.get(key)
        if kept is None:
            by_place[key] = f
            continue
        better = SEVERITY_RANK[f.severity] > SEVERITY_RANK[kept.severity] or (
            f.severity == kept.severity and f.source == "rules" and kept.source != "rules"
        )
        winner, loser = (f, kept) if better else (kept, f)
        who = f"rule {loser.rule_id}" if loser.source == "rules" and loser.rule_id else loser.source
        also = sorted({*winner.extra.get("also_found_by", ()), who})
        by_place[key] = winner.with_(extra={**winner.extra, "also_found_by": also})
    out.extend(by_place.values())
    out.sort(key=lambda x: (x.path, x.line or 0, -SEVERITY_RANK[x.severity]))
    return out


def _file_row(f: FileDiff, summary: str | None) -> FileRow:
    if summary:
        text = summary
    elif f.is_binary:
        text = "binary file"
    elif f.status == "added":
        text = f"new file, {f.added} line{'s' if f.added != 1 else ''}"
    elif f.status == "deleted":
        text = "deleted"
    elif f.status in ("renamed", "copied"):
        text = f"{f.status} from `{f.old_path}`" + (f", +{f.added} −{f.removed}" if f.added or f.removed else "")
    else:
        text = f"+{f.added} −{f.removed}"
    return FileRow(f.path, f.status, f.added, f.removed, text, f.old_path if f.old_path != f.path else None)


def _overview(review: Review, full: PatchSet) -> str:
    statuses = Counter(r.status for r in review.files)
    parts = [f"{n} {s}" for s, n in statuses.most_common()]
    what = f"This change touches {len(review.files)} file{'s' if len(review.files) != 1 else ''}"
    what += f" ({', '.join(parts)}; +{full.added} −{full.removed})." if parts else "."
    posted = review.posted_findings()
    if not posted:
        return what + " No problems found."
    worst = max(posted, key=lambda f: SEVERITY_RANK[f.severity])
    return what + f" {len(posted)} finding{'s' if len(posted) != 1 else ''}; the most severe is {worst.severity}."


@functools.lru_cache(maxsize=32)
def _cached_ruleset(cfg: ReviewConfig) -> Any:
    return cfg.ruleset()


def _inputs_hash(full: PatchSet, cfg: ReviewConfig, checks: Sequence[Check], llm_meta: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(bytes(full))
    h.update(cfg.to_yaml().encode())
    for c in checks:
        h.update(c.name.encode())
        rules = getattr(c, "rules", None)
        if rules is not None:
            h.update(json.dumps([r.to_dict() for r in rules], sort_keys=True, default=str).encode())
    h.update(str(llm_meta.get("model")).encode())
    h.update(str(llm_meta.get("prompt_version")).encode())
    return h.hexdigest()
