"""The ``bbreview`` command line."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from bbreview import __version__
from bbreview.diff import PatchSet, diffstat
from bbreview.errors import DiffParseError

__all__ = ["main"]


@dataclass
class _FileStat:
    name: str
    status: str
    added: int
    removed: int
    is_binary: bool
    commits: int = 1


def _display_name(old: str | None, new: str | None) -> str:
    """git --stat's rename display: "dir/{old => new}.py"."""
    if old is None or new is None or old == new:
        return new if new is not None else (old or "")
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    prefix = old.rfind("/", 0, prefix) + 1  # back up to a directory boundary
    suffix = 0
    while suffix < min(len(old), len(new)) - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    cut = old.find("/", len(old) - suffix) if suffix else -1
    suffix = len(old) - cut if cut >= prefix and cut != -1 else 0
    old_mid = old[prefix : len(old) - suffix]
    new_mid = new[prefix : len(new) - suffix]
    if not prefix and not suffix:
        return f"{old} => {new}"
    return f"{old[:prefix]}{{{old_mid} => {new_mid}}}{old[len(old) - suffix:]}"


def _stats(ps: PatchSet, merge_by_path: bool) -> list[_FileStat]:
    rows: dict[str, _FileStat] = {}
    out: list[_FileStat] = []
    for f in ps:
        name = _display_name(f.old_path, f.new_path)
        if merge_by_path and f.path in rows:
            row = rows[f.path]
            row.added += f.added
            row.removed += f.removed
            row.is_binary = row.is_binary or f.is_binary
            row.status = f.status
            row.commits += 1
            continue
        row = _FileStat(name, f.status, f.added, f.removed, f.is_binary)
        rows[f.path] = row
        out.append(row)
    return out


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _print_stat(rows: list[_FileStat], out: TextIO, width: int, commits: int | None) -> None:
    if not rows:
        print(" 0 files changed", file=out)
        return
    name_w = max(len(r.name) for r in rows)
    count_w = max(len(str(r.added + r.removed)) for r in rows)
    name_w = min(name_w, max(20, width - count_w - 15))
    graph_w = max(10, width - name_w - count_w - 6)
    biggest = max(r.added + r.removed for r in rows) or 1
    scale = min(1.0, graph_w / biggest)
    for r in rows:
        name = r.name if len(r.name) <= name_w else "..." + r.name[-(name_w - 3) :]
        if r.is_binary:
            print(f" {name:<{name_w}} | {'Bin':>{count_w}}", file=out)
            continue
        plus, minus = round(r.added * scale), round(r.removed * scale)
        if r.added and not plus:
            plus = 1
        if r.removed and not minus:
            minus = 1
        graph = "+" * plus + "-" * minus
        print(f" {name:<{name_w}} | {r.added + r.removed:>{count_w}} {graph}".rstrip(), file=out)
    added = sum(r.added for r in rows)
    removed = sum(r.removed for r in rows)
    parts = [_plural(len(rows), "file changed", "files changed")]
    if added:
        parts.append(_plural(added, "insertion(+)", "insertions(+)"))
    if removed:
        parts.append(_plural(removed, "deletion(-)", "deletions(-)"))
    summary = ", ".join(parts)
    if commits is not None:
        summary += f" in {_plural(commits, 'commit', 'commits')}"
    print(f" {summary}", file=out)


def _run_git(args: list[str]) -> bytes:
    try:
        proc = subprocess.run(["git", *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise SystemExit("bbreview diff: error: `git` was not found on PATH; install git or pass a diff file instead")
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip()
        raise SystemExit(f"bbreview diff: error: `git {' '.join(args)}` failed: {detail}")
    return proc.stdout


def _cmd_diff(ns: argparse.Namespace, out: TextIO) -> int:
    source: str
    if ns.git is not None:
        common = ["--no-color", "--no-ext-diff", "-M"]
        if ns.history:
            data = _run_git(["log", "-p", *common, ns.git, "--"])
            source = f"git log -p {ns.git}"
        else:
            data = _run_git(["diff", *common, ns.git, "--"])
            source = f"git diff {ns.git}"
    elif ns.file == "-":
        data = sys.stdin.buffer.read()
        source = "<stdin>"
    elif ns.file is None:
        raise SystemExit("bbreview diff: error: give a diff FILE, `-` for standard input, or --git REV_RANGE")
    else:
        try:
            with open(ns.file, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise SystemExit(f"bbreview diff: error: cannot read {ns.file}: {exc.strerror}")
        source = ns.file

    try:
        ps = diffstat(data, strict=not ns.lenient)
    except DiffParseError as exc:
        exc.source = source
        print(f"bbreview diff: error: {source}:{exc.line}: {exc.reason}: {exc.text!r}", file=sys.stderr)
        print("hint: rerun with --lenient to skip malformed files and report them as warnings", file=sys.stderr)
        return 1

    history = ns.history or bool(ps.commits)
    rows = _stats(ps, merge_by_path=history)
    for warning in ps.warnings:
        print(f"bbreview diff: warning: {source}: {warning}", file=sys.stderr)
    commits = len(ps.commits) if history else None
    if ns.format == "json":
        doc = {
            "source": source,
            "files": [{k: v for k, v in rec.items() if k != "hunks"} for rec in ps.to_records("file")],
            "totals": {"files": len(rows), "added": ps.added, "removed": ps.removed},
            "commits": [{"sha": c.sha, "subject": c.subject, "author": c.author, "date": c.date} for c in ps.commits],
            "warnings": ps.warnings,
        }
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        width = ns.stat_width or shutil.get_terminal_size((80, 24)).columns
        _print_stat(rows, out, width, commits)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bbreview", description="Self-hosted AI code reviewer for Bitbucket Cloud.")
    p.add_argument("--version", action="version", version=f"bbreview {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser(
        "diff",
        help="per-file statistics of a diff, like `git diff --stat`",
        description="Parse a unified diff (git or diff -u) and print per-file statistics.",
    )
    d.add_argument("file", nargs="?", help="diff file to read, or - for standard input")
    d.add_argument("--git", metavar="REV_RANGE", help="diff a revision range of the current git repository instead")
    d.add_argument(
        "--history",
        action="store_true",
        help="with --git: parse `git log -p REV_RANGE` (every commit) and sum per file",
    )
    d.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    d.add_argument("--lenient", action="store_true", help="skip malformed files, reporting them as warnings")
    d.add_argument("--stat-width", type=int, default=0, metavar="N", help="total width of the text output")
    d.set_defaults(func=_cmd_diff)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = _parser()
    ns = parser.parse_args(argv)
    if ns.command is None:
        parser.print_help()
        return 2
    if getattr(ns, "history", False) and ns.git is None:
        parser.error("--history needs --git REV_RANGE")
    if getattr(ns, "git", None) is not None and getattr(ns, "file", None) is not None:
        parser.error("give either a diff FILE or --git REV_RANGE, not both")
    return ns.func(ns, out or sys.stdout)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
