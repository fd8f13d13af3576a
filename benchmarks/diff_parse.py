"""Diff parsing throughput and peak memory: bbreview against the tools a user would pick instead.

The input is real ``git log -p`` output. The benchmark builds a git repository
with ``git fast-import`` from a seeded generator: Python, C/C++, Markdown, JSON,
SQL, YAML and binary files; its commits edit, add, delete and rename files and
change modes. It adds commits until ``git log -p -M`` is at least
``--size-mb`` MiB. Then, in one run and on that same input, it measures:

  (a) bbreview.parse_diff          full model (files, hunks, lines)
  (b) bbreview.diffstat            statistics only
  (c) python-unidiff               unidiff.PatchSet(text), and its metadata_only mode
  (d) whatthepatch                 list(whatthepatch.parse_patch(text))
  (e) git apply --numstat < diff   git's own patch reader, in a directory that is not a repository
  (f) wc -l < diff                 the floor: reading the bytes and counting newlines

The pure-Python parsers run on a slice (the first ``--slice-mb`` MiB, cut at a
commit boundary) so the run stays short. bbreview runs on that slice as well,
so the speed ratio against unidiff compares equal inputs.

Time is the best of ``--runs`` runs (5; 1 with ``--quick``); a tool that
finishes sooner repeats until it has run for REPEAT_SECONDS, so that a 10 ms
figure is not one noisy sample. Each in-process parser runs in a fresh
interpreter. It reports its peak RSS minus the RSS after the input was read
(the peak is reset through /proc/self/clear_refs where Linux allows that), so
the figure is what parsing costs on top of holding the diff. External tools
report the peak RSS of the whole process (from GNU time). Linux only: the
memory figures come from /proc.

    .venv/bin/python benchmarks/diff_parse.py            # 64 MiB, best of 5 runs
    .venv/bin/python benchmarks/diff_parse.py --quick    # 8 MiB, --runs 1: a smoke test
    .venv/bin/python benchmarks/diff_parse.py --size-mb 200

unidiff and whatthepatch come from the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1 << 20

# Targets the engine is held to (see the project plan): parse_diff at least
# SPEED_VS_UNIDIFF times python-unidiff's throughput, faster than
# `git apply --numstat`, and a peak at most MEMORY_PER_INPUT times the diff size.
SPEED_VS_UNIDIFF = 100.0
MEMORY_PER_INPUT = 3.0

# Fast tools repeat until they have run this long (and at most MAX_RUNS times).
REPEAT_SECONDS = 1.0
MAX_RUNS = 200

DEFAULT_SIZE_MB = 64
DEFAULT_SLICE_MB = 8
QUICK_SIZE_MB = 8
QUICK_SLICE_MB = 2
SEED = 20240611

WORK_ROOT = Path(__file__).resolve().parent / ".work"  # gitignored

# Git must not read the user's or the system's configuration: an external diff
# driver, colour, or diff.noprefix would change the input.
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "LC_ALL": "C",
}


# --------------------------------------------------------------------------
# A synthetic but git-real history
# --------------------------------------------------------------------------

WORDS = (
    "buffer cache client config context cursor digest encode entry event fetch field frame "
    "handle header index item key limit lock map node offset packet parse path queue reader "
    "record request result retry route scan schema session shard signal socket state stream "
    "table task token tree value window worker writer batch commit review comment anchor hunk "
    "line branch merge author status timeout payload webhook rule match filter score"
).split()
PROSE = (
    "the a this each every when if then so because while before after returns raises keeps "
    "drops reads writes checks parses builds sends receives stores loads resolves waits "
    "retries the caller the server the parser the queue the cache a request a response "
    "an entry the limit the deadline größe café naïve"
).split()

PY_LINES = (
    "    {a} = {b}.get(\"{c}\", {n})",
    "    if {a} is None:",
    "        raise ValueError(f\"{s}: {{{a}!r}}\")",
    "    for {a} in {b}:",
    "        {a}.append({b}[{n}])",
    "    # {s}",
    "    logger.debug(\"{s} %s\", {a})",
    "    {a} += len({b}) * {n}",
    "    with open({a}, \"rb\") as fh:",
    "        {a} = fh.read({n})",
    "    {a}: dict[str, int] = {{}}",
    "    {a} = [{b} for {b} in {c} if {b}.{a}]",
    "    self.{a} = {b}",
    "    return {a}.{b}({c}, timeout={n})",
    "",
)
C_LINES = (
    "    int {a} = {b}_{c}(ctx, {n});",
    "    if ({a} < 0) {{",
    "        return -E{C};",
    "    }}",
    "    /* {s} */",
    "    memcpy({a}->{b}, {c}, sizeof(*{c}) * {n});",
    "    for (size_t i = 0; i < {a}->len; ++i) {{",
    "        {a}->{b}[i] = {c}[i] ^ 0x{n:04x};",
    "    std::lock_guard<std::mutex> guard({a}_mutex_);",
    "    auto {a} = std::make_unique<{C}>({b}, {n});",
    "    {a}.{b}.push_back({c});",
    "    // {s}",
    "    assert({a} != NULL && \"{s}\");",
    "    return {a};",
    "",
)
SQL_LINES = (
    "-- {s}",
    "SELECT {a}, {b} FROM {c} WHERE {a} > {n};",
    "CREATE INDEX idx_{a}_{b} ON {c} ({a}, {b});",
    "ALTER TABLE {c} ADD COLUMN {a} INTEGER NOT NULL DEFAULT {n};",
    "UPDATE {c} SET {a} = {b} + {n} WHERE {b} IS NOT NULL;",
    "",
)
YAML_LINES = (
    "{a}:",
    "  {b}: {n}",
    "  {c}: \"{s}\"",
    "  - {a}",
    "# {s}",
)
JSON_LINES = (
    "  \"{a}\": {n},",
    "  \"{a}_{b}\": \"{c}\",",
    "  \"{a}\": [{n}, {m}, {n}],",
    "  \"{a}\": {{\"{b}\": {n}, \"{c}\": true}},",
)


class Writer:
    """Generates source-like text for one kind of file from a seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def _ident(self) -> str:
        r = self.rng
        return f"{r.choice(WORDS)}_{r.choice(WORDS)}" if r.random() < 0.6 else r.choice(WORDS)

    def _sentence(self, lo: int = 4, hi: int = 12) -> str:
        return " ".join(self.rng.choices(PROSE, k=self.rng.randint(lo, hi)))

    def _fill(self, template: str) -> str:
        r = self.rng
        return template.format(
            a=self._ident(), b=self._ident(), c=self._ident(), C=r.choice(WORDS).upper(),
            n=r.randint(0, 4096), m=r.randint(0, 65535), s=self._sentence(),
        )

    def lines(self, kind: str, count: int) -> list[str]:
        """`count` statement-like lines for a file of `kind`."""
        table = {"py": PY_LINES, "c": C_LINES, "sql": SQL_LINES, "yaml": YAML_LINES, "json": JSON_LINES}.get(kind)
        if table is None:  # markdown
            return [self._sentence(6, 16) if self.rng.random() < 0.8 else f"- {self._sentence()}" for _ in range(count)]
        return [self._fill(self.rng.choice(table)) for _ in range(count)]

    def unit(self, kind: str) -> list[str]:
        """A function, a paragraph or a block: what one edit typically adds."""
        r = self.rng
        body = self.lines(kind, r.randint(3, 18))
        if kind == "py":
            args = ", ".join(r.sample(WORDS, r.randint(0, 3)))
            return ["", "", f"def {self._ident()}({args}):", f'    """{self._sentence().capitalize()}."""', *body]
        if kind == "c":
            head = f"static int {self._ident()}(struct {r.choice(WORDS)} *{r.choice(WORDS)}, size_t n)"
            return ["", f"/* {self._sentence()}. */", head, "{", *body, "}"]
        if kind == "md":
            return ["", f"## {self._sentence(2, 5).capitalize()}", "", *body]
        return body

    def new_file(self, kind: str) -> list[str]:
        r = self.rng
        if kind == "json":
            return ["{", *self.lines("json", r.randint(20, 200)), '  "version": 1', "}"]
        head = {
            "py": ['"""' + self._sentence().capitalize() + '."""', "", "from __future__ import annotations", "",
                   "import logging", "import os", "", "logger = logging.getLogger(__name__)"],
            "c": ["// SPDX-License-Identifier: Apache-2.0", "#include <stddef.h>", "#include <string.h>",
                  f'#include "{r.choice(WORDS)}.h"'],
            "md": [f"# {self._sentence(2, 5).capitalize()}"],
            "sql": [f"-- migration: {self._sentence(3, 6)}", "BEGIN;"],
            "yaml": ["# generated settings", "---"],
        }[kind]
        out = list(head)
        goal = r.randint(60, 500)
        while len(out) < goal:
            out.extend(self.unit(kind))
        return out


KIND_OF_EXT = {".py": "py", ".c": "c", ".cpp": "c", ".h": "c", ".md": "md", ".json": "json", ".sql": "sql",
               ".yaml": "yaml"}
LAYOUT = (  # (directory, extensions, weight)
    ("src/bbcore", (".py",), 6), ("src/bbcore/net", (".py",), 3), ("src/engine", (".cpp", ".h"), 5),
    ("src/engine/io", (".c", ".h"), 2), ("docs", (".md",), 2), ("config", (".json", ".yaml"), 1),
    ("db/migrations", (".sql",), 1), ("tests", (".py",), 3),
)
AUTHORS = ("Ada Lovelace <ada@example.com>", "José Álvarez <jose@example.org>", "Grace Hopper <grace@example.com>",
           "Linus T <lt@example.net>", "Margaret H <mh@example.com>")


@dataclass
class Repo:
    """The working state of the synthetic repository, held in memory."""

    rng: random.Random
    files: dict[str, list[str]] = field(default_factory=dict)
    binaries: dict[str, bytes] = field(default_factory=dict)
    executable: set[str] = field(default_factory=set)
    commits: int = 0
    clock: int = 1_600_000_000

    def __post_init__(self) -> None:
        self.writer = Writer(self.rng)

    def _new_path(self) -> str:
        r = self.rng
        directory, exts, _ = r.choices(LAYOUT, weights=[w for *_, w in LAYOUT])[0]
        while True:
            path = f"{directory}/{r.choice(WORDS)}_{r.choice(WORDS)}{r.choice(exts)}"
            if path not in self.files and path not in self.binaries:
                return path

    def _edit(self, path: str) -> None:
        r, lines = self.rng, self.files[path]
        kind = KIND_OF_EXT[Path(path).suffix]
        for _ in range(r.choices((1, 2, 3, 5, 8), weights=(3, 3, 2, 2, 1))[0]):
            at = r.randint(1, max(1, len(lines) - 1))
            op = r.random()
            if op < 0.35 or len(lines) < 40:  # add a function/paragraph
                lines[at:at] = self.writer.unit(kind)
            elif op < 0.55 or len(lines) > 1500:  # delete a block
                del lines[at : at + r.randint(1, 20)]
            else:  # rewrite a few lines
                lines[at : at + r.randint(1, 6)] = self.writer.lines(kind, r.randint(1, 8))

    def commit(self) -> Iterator[bytes]:
        """One commit as git fast-import commands (without the `commit` line itself)."""
        r = self.rng
        self.commits += 1
        self.clock += r.randint(600, 86_400)
        ops: list[bytes] = []
        touched: set[str] = set()

        def put(path: str) -> None:
            data = ("\n".join(self.files[path]) + "\n").encode()
            mode = "100755" if path in self.executable else "100644"
            ops.append(b"M %s inline %s\ndata %d\n%s\n" % (mode.encode(), path.encode(), len(data), data))

        if self.commits == 1:  # the initial import
            for _ in range(120):
                path = self._new_path()
                self.files[path] = self.writer.new_file(KIND_OF_EXT[Path(path).suffix])
                put(path)
        else:
            size = r.choices((4, 16, 50, 150), weights=(4, 4, 3, 1))[0]
            for path in r.sample(sorted(self.files), min(size, len(self.files) // 2)):
                self._edit(path)
                touched.add(path)
            for _ in range(r.choices((0, 1, 2, 4), weights=(5, 3, 1, 1))[0]):
                path = self._new_path()
                self.files[path] = self.writer.new_file(KIND_OF_EXT[Path(path).suffix])
                touched.add(path)
            untouched = sorted(set(self.files) - touched)  # never empty: at most half the files are edited
            if r.random() < 0.2 and len(self.files) > 60:
                victim = untouched.pop(r.randrange(len(untouched)))
                del self.files[victim]
                self.executable.discard(victim)
                ops.append(b"D %s\n" % victim.encode())
            if r.random() < 0.2:
                old = r.choice(untouched)
                new = self._new_path()
                new = str(Path(new).with_suffix(Path(old).suffix))
                if new not in self.files:
                    self.files[new] = self.files.pop(old)
                    ops.append(b"D %s\n" % old.encode())  # git log -M turns D+M into a rename
                    if r.random() < 0.5:
                        self._edit(new)
                    touched.add(new)
            if r.random() < 0.04:
                script = r.choice(sorted(p for p in self.files if p.endswith(".py")))
                self.executable ^= {script}
                touched.add(script)
            if r.random() < 0.08:
                path = r.choice(sorted(self.binaries)) if self.binaries and r.random() < 0.6 else (
                    f"assets/{r.choice(WORDS)}_{self.commits}.png")
                blob = b"\x89PNG\r\n\x1a\n" + r.randbytes(r.randint(512, 8192))
                self.binaries[path] = blob
                ops.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(blob), blob))
            for path in sorted(touched):
                put(path)
        author = r.choice(AUTHORS)
        subject = f"{r.choice(('Fix', 'Add', 'Refactor', 'Speed up', 'Document', 'Test'))} {self.writer._ident()}"
        message = subject + ("\n\n" + self.writer._sentence(8, 30) + ".\n" if r.random() < 0.6 else "\n")
        msg = message.encode()
        yield b"author %s %d +0000\ncommitter %s %d +0000\ndata %d\n%s" % (
            author.encode(), self.clock, author.encode(), self.clock, len(msg), msg)
        yield from ops


def _fast_import(git_dir: Path, repo: Repo, count: int) -> None:
    # The repository is scratch: storing blobs uncompressed makes both the
    # import and the later `git log -p` faster.
    argv = ["git", "-c", "pack.compression=0", "fast-import", "--quiet"]
    proc = subprocess.Popen(argv, cwd=git_dir, stdin=subprocess.PIPE, env=GIT_ENV)
    assert proc.stdin is not None
    try:
        for i in range(count):
            proc.stdin.write(b"commit refs/heads/main\n")
            parts = repo.commit()
            proc.stdin.write(next(parts))
            if i == 0 and repo.commits > 1:  # continue the branch written by an earlier fast-import
                proc.stdin.write(b"from refs/heads/main^0\n")
            for part in parts:
                proc.stdin.write(part)
            proc.stdin.write(b"\n")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")


def build_history(work: Path, target_bytes: int, seed: int) -> tuple[Path, int]:
    """Writes `git log -p -M` of a generated repository to work/history.diff; returns (path, commits)."""
    git_dir = work / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(git_dir)], check=True, env=GIT_ENV)
    repo = Repo(random.Random(seed))
    out = work / "history.diff"
    batch = 50
    while True:
        _fast_import(git_dir, repo, batch)
        with open(out, "wb") as fh:
            subprocess.run(["git", "log", "-p", "-M", "--no-color", "--no-ext-diff", "main"],
                           cwd=git_dir, stdout=fh, check=True, env=GIT_ENV)
        size = out.stat().st_size
        if size >= target_bytes:
            return out, repo.commits
        # Extrapolate from the bytes per commit so far, with 5% to spare.
        batch = max(10, int((target_bytes - size) / (size / repo.commits) * 1.05) + 1)


def slice_at_commit(data: bytes, limit: int) -> int:
    """The largest prefix length <= limit that ends just before a commit header."""
    cut = data.rfind(b"\ncommit ", 0, limit)
    if cut < 0:
        raise ValueError("no commit boundary inside the slice; raise --slice-mb")
    return cut + 1


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------


def _rss_kib(field_name: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} missing from /proc/self/status")


def _parsers() -> dict[str, tuple[bool, Callable[[object], object], Callable[[object], tuple[int, int, int]]]]:
    """name -> (takes str, parse, (files, added, removed) of the result)."""
    import bbreview
    import unidiff
    import whatthepatch

    def wtp_counts(diffs: object) -> tuple[int, int, int]:
        added = removed = 0
        for d in diffs:  # type: ignore[attr-defined]
            for c in d.changes or ():
                added += c.old is None and c.new is not None
                removed += c.new is None and c.old is not None
        return len(diffs), added, removed  # type: ignore[arg-type]

    def counts(ps: object) -> tuple[int, int, int]:
        return len(ps), ps.added, ps.removed  # type: ignore[arg-type, attr-defined]

    return {
        "bbreview.parse_diff": (False, bbreview.parse_diff, counts),
        "bbreview.diffstat": (False, bbreview.diffstat, counts),
        "unidiff": (True, unidiff.PatchSet, counts),
        "unidiff metadata_only": (True, lambda t: unidiff.PatchSet(t, metadata_only=True), counts),
        "whatthepatch": (True, lambda t: list(whatthepatch.parse_patch(t)), wtp_counts),
    }


def child_main(name: str, path: str, length: int, runs: int) -> None:
    """Runs one parser in this (fresh) interpreter; prints a JSON result line."""
    takes_str, parse, counts = _parsers()[name]
    with open(path, "rb") as fh:
        data: object = fh.read(length)
    if takes_str:
        data = data.decode("utf-8")  # type: ignore[attr-defined]
    gc.collect()
    # Reset the high-water mark so the peak is the parser's, not the input read's.
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        reset = True
    except OSError:
        reset = False
    baseline = _rss_kib("VmRSS")
    times: list[float] = []
    summary = None
    peak = 0
    while len(times) < runs or (sum(times) < REPEAT_SECONDS and len(times) < MAX_RUNS):
        t0 = time.perf_counter()
        result = parse(data)
        times.append(time.perf_counter() - t0)
        if summary is None:  # the first run, in a fresh process, gives the peak
            peak = _rss_kib("VmHWM")
            summary = counts(result)
        del result
        gc.collect()
    print(json.dumps({"times": times, "baseline_kib": baseline, "peak_kib": peak, "reset": reset,
                      "counts": summary}))


@dataclass
class Row:
    tool: str
    input_bytes: int
    seconds: float
    peak_bytes: int | None
    note: str = ""
    counts: tuple[int, int, int] | None = None

    @property
    def mib_per_s(self) -> float:
        return self.input_bytes / MiB / self.seconds


def measure_in_process(tool: str, parser: str, path: Path, length: int, runs: int, note: str) -> Row:
    """Runs `parser` (a key of _parsers()) on the first `length` bytes of `path` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, __file__, "--child", parser, str(path), str(length), str(runs)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if not res["reset"]:
        note += "; peak not reset: includes reading the input"
    return Row(tool, length, min(res["times"]), (res["peak_kib"] - res["baseline_kib"]) * 1024, note,
               tuple(res["counts"]))


def _gnu_time() -> str | None:
    """/usr/bin/time if it is GNU time (it has -f and -o)."""
    path = shutil.which("time", path="/usr/bin:/bin")
    if path is None:
        return None
    probe = subprocess.run([path, "-f", "%M", "true"], capture_output=True, text=True)
    return path if probe.returncode == 0 and probe.stderr.strip().isdigit() else None


def measure_external(tool: str, argv: list[str], path: Path, runs: int, cwd: Path,
                     env: dict[str, str]) -> tuple[Row, bytes]:
    """Best wall time and peak RSS of `argv < path`; also returns the tool's stdout.

    The peak comes from GNU time when it is installed. A child's ru_maxrss as
    seen from Python (os.wait4) would include the image of the forked Python
    process before exec, which Linux carries over into the new program.
    """
    gnu_time = _gnu_time()
    times: list[float] = []
    peak = 0
    output = b""
    while len(times) < runs or (sum(times) < REPEAT_SECONDS and len(times) < MAX_RUNS):
        with open(path, "rb") as fin, tempfile.TemporaryFile() as fout, tempfile.NamedTemporaryFile() as tfile:
            cmd = [gnu_time, "-f", "%M", "-o", tfile.name, *argv] if gnu_time else argv
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, cwd=cwd, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}")
            fout.seek(0)
            output = fout.read()
            kib = int(Path(tfile.name).read_text().split()[-1]) if gnu_time else usage.ru_maxrss
        times.append(elapsed)
        peak = max(peak, kib * 1024)
    note = "whole-process peak RSS" + ("" if gnu_time else " (no GNU time: includes the forked Python image)")
    return Row(tool, path.stat().st_size, min(times), peak, note), output


def numstat_totals(output: bytes) -> tuple[int, int, int]:
    files = added = removed = 0
    for line in output.splitlines():
        a, r, _ = line.split(b"\t", 2)
        files += 1
        if a != b"-":  # binary files show "-"
            added += int(a)
            removed += int(r)
    return files, added, removed


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def _mib(n: float) -> str:
    return f"{n / MiB:,.1f} MiB"


def print_table(rows: list[Row]) -> None:
    head = f"{'tool':<34}{'input':>11}{'best time':>12}{'MiB/s':>10}{'peak mem':>13}{'mem/input':>11}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        mem = _mib(r.peak_bytes) if r.peak_bytes is not None else "-"
        ratio = f"{r.peak_bytes / r.input_bytes:.2f}x" if r.peak_bytes is not None else "-"
        print(f"{r.tool:<34}{_mib(r.input_bytes):>11}{r.seconds:>10.3f} s{r.mib_per_s:>10,.1f}{mem:>13}{ratio:>11}"
              f"  {r.note}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, help=f"diff size to build, MiB (default {DEFAULT_SIZE_MB})")
    ap.add_argument("--slice-mb", type=float, help=f"slice for the pure-Python parsers (default {DEFAULT_SLICE_MB})")
    ap.add_argument("--runs", type=int, help="runs per tool; the best time is reported (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke test: {QUICK_SIZE_MB} MiB, {QUICK_SLICE_MB} MiB slice, --runs 1")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    size_mb = args.size_mb or (QUICK_SIZE_MB if args.quick else DEFAULT_SIZE_MB)
    slice_mb = args.slice_mb or (QUICK_SLICE_MB if args.quick else DEFAULT_SLICE_MB)
    runs = args.runs or (1 if args.quick else 5)

    missing = [m for m in ("unidiff", "whatthepatch") if not _importable(m)]
    if missing:
        print(f"missing {', '.join(missing)}: run `{sys.executable} -m pip install -e '.[bench]'`", file=sys.stderr)
        return 2
    if shutil.which("git") is None:
        print("git is not on PATH", file=sys.stderr)
        return 2

    WORK_ROOT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK_ROOT, prefix="diff_parse-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        path, commits = build_history(work, int(size_mb * MiB), args.seed)
        built = time.perf_counter() - t0
        data = path.read_bytes()
        size = len(data)
        cut = slice_at_commit(data, int(slice_mb * MiB))
        file_diffs = data.count(b"\ndiff --git ")
        slice_files = data.count(b"\ndiff --git ", 0, cut)
        lines = data.count(b"\n")
        print(f"input: `git log -p -M` of a generated repository: {commits} commits, "
              f"{file_diffs:,} file diffs, {lines:,} lines, "
              f"{_mib(size)} ({size:,} bytes); built in {built:.1f} s")
        print(f"slice: the pure-Python parsers (and bbreview once more, for an equal-input ratio) read the first "
              f"{_mib(cut)} ({slice_files:,} file diffs), cut at a commit boundary")
        print(f"time: best of {runs} run(s), or of as many as fill {REPEAT_SECONDS:g} s; MiB = 2^20 bytes")
        print("peak mem: in-process parsers run in a fresh interpreter and report peak RSS minus RSS after "
              "reading the input; external tools report the peak RSS of the whole process")
        print()
        del data

        # git apply must run outside any repository: inside one (this project's
        # checkout, say) it ignores the paths outside the current directory.
        outside = work / "not-a-repo"
        outside.mkdir()
        outside_env = {**GIT_ENV, "GIT_CEILING_DIRECTORIES": str(work)}
        full = measure_in_process("bbreview.parse_diff", "bbreview.parse_diff", path, size, runs, "full input")
        stat = measure_in_process("bbreview.diffstat", "bbreview.diffstat", path, size, runs, "full input")
        part = measure_in_process("bbreview.parse_diff", "bbreview.parse_diff", path, cut, runs, "slice")
        uni = measure_in_process("python-unidiff", "unidiff", path, cut, runs, "slice")
        uni_meta = measure_in_process("python-unidiff metadata_only", "unidiff metadata_only", path, cut, runs,
                                      "slice")
        wtp = measure_in_process("whatthepatch", "whatthepatch", path, cut, runs, "slice")
        git, numstat = measure_external("git apply --numstat", ["git", "apply", "--numstat"], path, runs, outside,
                                        outside_env)
        wc, _ = measure_external("wc -l (floor)", ["wc", "-l"], path, runs, outside, outside_env)
        print_table([full, stat, part, uni, uni_meta, wtp, git, wc])

        print()
        git_counts = numstat_totals(numstat)
        same = full.counts is not None and full.counts[1:] == git_counts[1:] and stat.counts == full.counts
        print(f"check: bbreview (+{full.counts[1]:,} -{full.counts[2]:,}, {full.counts[0]:,} files) vs "
              f"git apply --numstat (+{git_counts[1]:,} -{git_counts[2]:,}, {git_counts[0]:,} files): "
              f"{'agree' if same else 'DIFFER'}")
        slice_same = part.counts[1:] == uni.counts[1:] == wtp.counts[1:]
        print(f"check: on the slice, bbreview, unidiff and whatthepatch line counts "
              f"{'agree' if slice_same else 'DIFFER'} "
              f"(bbreview {part.counts}, unidiff {uni.counts}, whatthepatch {wtp.counts}; (files, added, removed))")
        print()

        speed_uni = part.mib_per_s / uni.mib_per_s
        speed_git = full.mib_per_s / git.mib_per_s
        mem_ratio = full.peak_bytes / size
        print("targets")
        print(f"  full parse vs python-unidiff (same {_mib(cut)} slice): {speed_uni:,.0f}x   "
              f"target >= {SPEED_VS_UNIDIFF:.0f}x   {verdict(speed_uni >= SPEED_VS_UNIDIFF)}   "
              f"(parse_diff's full-input rate is {full.mib_per_s / uni.mib_per_s:,.0f}x unidiff's)")
        print(f"  full parse vs git apply --numstat (full input): {speed_git:.2f}x the speed   "
              f"target > 1x   {verdict(speed_git > 1)}")
        print(f"  full parse peak memory / diff size: {mem_ratio:.2f}x   "
              f"target <= {MEMORY_PER_INPUT:.0f}x   {verdict(mem_ratio <= MEMORY_PER_INPUT)}")
        print(f"  (for reference: diffstat vs unidiff metadata_only: "
              f"{stat.mib_per_s / uni_meta.mib_per_s:,.0f}x; diffstat peak / diff size: {stat.peak_bytes / size:.2f}x)")
        if not (same and slice_same):
            print("\nthe tools disagree on the counts: the figures above may compare unequal work", file=sys.stderr)
            return 1
    return 0


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(main())
