"""The ``bbreview`` command line."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

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


def _fail(prog: str, message: str, code: int) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def _run_git(args: list[str], prog: str = "bbreview diff", code: int = 1) -> bytes:
    try:
        proc = subprocess.run(["git", *args], capture_output=True, check=False)
    except FileNotFoundError:
        _fail(prog, "`git` was not found on PATH; install git or pass a diff file instead", code)
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip()
        _fail(prog, f"`git {' '.join(args)}` failed: {detail}", code)
    return proc.stdout


def _read_diff_input(ns: argparse.Namespace, prog: str, code: int) -> tuple[bytes, str]:
    """The diff bytes the FILE / - / --git [--history] arguments name, and a label for messages."""
    if ns.git is not None:
        common = ["--no-color", "--no-ext-diff", "-M"]
        if ns.history:
            return _run_git(["log", "-p", *common, ns.git, "--"], prog, code), f"git log -p {ns.git}"
        return _run_git(["diff", *common, ns.git, "--"], prog, code), f"git diff {ns.git}"
    if ns.file == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    if ns.file is None:
        _fail(prog, "give a diff FILE, `-` for standard input, or --git REV_RANGE", code)
    try:
        with open(ns.file, "rb") as fh:
            return fh.read(), ns.file
    except OSError as exc:
        _fail(prog, f"cannot read {ns.file}: {exc.strerror}", code)


def _cmd_diff(ns: argparse.Namespace, out: TextIO) -> int:
    data, source = _read_diff_input(ns, "bbreview diff", 1)

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


# ---- bbreview scan ---------------------------------------------------------------

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
SCAN_EXIT_CLEAN, SCAN_EXIT_FINDINGS, SCAN_EXIT_ERROR = 0, 1, 2
SCAN_EPILOG = """\
rules: by default every built-in pack (secrets, hygiene, security, ml); --packs
narrows that list (--packs none: no built-in rules), and --rules (bbreview YAML)
and --gitleaks (gitleaks TOML) add rules. Each of these may be repeated.

exit status: 0 when no finding has a severity at or above --fail-on (default:
error); 1 when some finding does; 2 when the input, the rules or the arguments
are bad (nothing was scanned). Findings below --min-severity are neither shown
nor counted.

suppress a finding with a `bbreview: ignore[rule-id]` comment on the line or the
line above it.
"""


def _load_rules(ns: argparse.Namespace) -> Any:
    from bbreview.rules import RuleSet, available_packs

    if ns.packs is None:
        packs: list[str] | None = None
    else:
        packs = [p.strip() for chunk in ns.packs for p in chunk.split(",") if p.strip()]
        if packs == ["none"]:
            packs = []
        elif "all" in packs:
            packs = available_packs()
    rules = RuleSet() if packs == [] else RuleSet.builtin(packs)
    for path in ns.rules or ():
        rules = rules + RuleSet.from_yaml(Path(path))
    for path in ns.gitleaks or ():
        rules = rules + RuleSet.from_gitleaks(Path(path), severity=ns.gitleaks_severity)
    return rules


def _caret_line(snippet: str, start: int, end: int) -> str:
    """Spaces (tabs kept, so the carets line up) under snippet[:start-1], then ^ under the match."""
    prefix = "".join("\t" if c == "\t" else " " for c in snippet[: max(start - 1, 0)])
    return prefix + "^" * max(1, end - start)


def _print_findings_text(findings: list[Any], out: TextIO, rule_count: int, file_count: int) -> None:
    width = 100
    for f in findings:
        where = f.path if f.line is None else f"{f.path}:{f.line}:{f.column_start}"
        side = " (removed line)" if f.side == "old" else ""
        commit = f" (commit {f.commit[:10]})" if f.commit else ""
        print(f"{where}: {f.severity} [{f.rule_id}]{side}{commit}", file=out)
        if f.side != "path":
            print(f"    {f.snippet}", file=out)
            print(f"    {_caret_line(f.snippet, f.column_start, f.column_end)}", file=out)
        for line in textwrap.wrap(" ".join(f.message.split()), width - 4):
            print(f"    {line}", file=out)
        if f.suggestion is not None:
            print(f"    suggestion: {f.suggestion}", file=out)
        print(file=out)
    counts = Counter(f.severity for f in findings)
    files = len({f.path for f in findings})
    if findings:
        parts = ", ".join(_plural(counts[s], s, s + ("s" if s != "info" else "")) for s in ("error", "warning", "info")
                          if counts[s])
        print(f"{_plural(len(findings), 'finding', 'findings')} ({parts}) in {_plural(files, 'file', 'files')}; "
              f"{_plural(rule_count, 'rule', 'rules')}, {_plural(file_count, 'file', 'files')} scanned", file=out)
    else:
        print(f"no findings; {_plural(rule_count, 'rule', 'rules')}, "
              f"{_plural(file_count, 'file', 'files')} scanned", file=out)


def _cmd_scan(ns: argparse.Namespace, out: TextIO) -> int:
    from bbreview.diff import parse_diff
    from bbreview.errors import RuleError

    prog = "bbreview scan"
    try:
        rules = _load_rules(ns)
    except RuleError as exc:
        _fail(prog, f"bad rules: {exc}", SCAN_EXIT_ERROR)
    except OSError as exc:
        _fail(prog, f"cannot read rules file {exc.filename}: {exc.strerror}", SCAN_EXIT_ERROR)
    except UnicodeDecodeError as exc:
        _fail(prog, f"a rules file is not UTF-8 text ({exc.reason} at byte {exc.start})", SCAN_EXIT_ERROR)
    for warning in rules.warnings:
        print(f"{prog}: warning: {warning}", file=sys.stderr)

    if ns.list_rules:
        for rule in rules:
            first = " ".join(rule.message.split()).split(". ")[0].rstrip(".")
            print(f"{rule.id:<44} {rule.severity:<8} {first}", file=out)
        return SCAN_EXIT_CLEAN

    data, source = _read_diff_input(ns, prog, SCAN_EXIT_ERROR)
    try:
        ps = parse_diff(data, strict=not ns.lenient)
    except DiffParseError as exc:
        print(f"{prog}: error: {source}:{exc.line}: {exc.reason}: {exc.text!r}", file=sys.stderr)
        print("hint: rerun with --lenient to skip malformed files and report them as warnings", file=sys.stderr)
        return SCAN_EXIT_ERROR
    for warning in ps.warnings:
        print(f"{prog}: warning: {source}: {warning}", file=sys.stderr)

    floor = SEVERITY_RANK[ns.min_severity]
    # Paths keep undecodable bytes as lone surrogates, which no UTF-8 output can carry: show them as U+FFFD.
    findings = [
        f._replace(path=f.path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        for f in rules.scan(ps)
        if SEVERITY_RANK[f.severity] >= floor
    ]

    target = out
    if ns.output:
        try:
            target = open(ns.output, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            _fail(prog, f"cannot write {ns.output}: {exc.strerror}", SCAN_EXIT_ERROR)
    try:
        if ns.format == "sarif":
            from bbreview.sarif import write_sarif

            write_sarif(findings, target, rules=rules)
        elif ns.format == "json":
            doc = {
                "source": source,
                "rules": len(rules),
                "files": len(ps),
                "summary": {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")},
                "findings": [f.to_dict() for f in findings],
                "warnings": ps.warnings,
            }
            json.dump(doc, target, indent=2, ensure_ascii=False)
            target.write("\n")
        else:
            _print_findings_text(findings, target, len(rules), len(ps))
    finally:
        if target is not out:
            target.close()

    if ns.fail_on == "never":
        return SCAN_EXIT_CLEAN
    failing = any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK[ns.fail_on] for f in findings)
    return SCAN_EXIT_FINDINGS if failing else SCAN_EXIT_CLEAN


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

    sc = sub.add_parser(
        "scan",
        help="run review rules over a diff and report the findings",
        description="Scan the added lines of a diff with review rules (built-in packs, YAML and gitleaks rules) "
        "and report findings as text, JSON or SARIF 2.1.0.",
        epilog=SCAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sc.add_argument("file", nargs="?", metavar="DIFF", help="diff file to scan, or - for standard input")
    sc.add_argument("--git", metavar="REV_RANGE", help="scan `git diff REV_RANGE` of the current repository instead")
    sc.add_argument("--history", action="store_true",
                    help="with --git: scan every commit of `git log -p REV_RANGE`")
    sc.add_argument("--rules", action="append", metavar="FILE", help="add rules from a bbreview YAML file (repeatable)")
    sc.add_argument("--packs", action="append", metavar="LIST",
                    help="built-in packs to use, comma-separated (default: all; `none` for no built-in rules)")
    sc.add_argument("--gitleaks", action="append", metavar="FILE", help="add rules from a gitleaks TOML config (repeatable)")
    sc.add_argument("--gitleaks-severity", choices=list(SEVERITY_RANK), default="error",
                    help="severity of gitleaks rules (default: error)")
    sc.add_argument("--format", choices=["text", "json", "sarif"], default="text", help="output format (default: text)")
    sc.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of standard output")
    sc.add_argument("--min-severity", choices=list(SEVERITY_RANK), default="info",
                    help="drop findings below this severity (default: info, i.e. keep all)")
    sc.add_argument("--fail-on", choices=[*SEVERITY_RANK, "never"], default="error",
                    help="exit with 1 when a finding has this severity or higher (default: error)")
    sc.add_argument("--lenient", action="store_true", help="skip malformed files in the diff, reporting them as warnings")
    sc.add_argument("--list-rules", action="store_true", help="list the selected rules and exit")
    sc.set_defaults(func=_cmd_scan)

    from bbreview._commands import review as review_commands
    from bbreview._commands import service as service_commands

    review_commands.add_parsers(sub)
    service_commands.add_parsers(sub)
    from bbreview._commands import setup as setup_commands

    setup_commands.add_parsers(sub)

    # Listed for --help only: main() hands its arguments to the emulator's own parser.
    sub.add_parser(
        "fake-bitbucket",
        help="run the local Bitbucket Cloud emulator (bbreview fake-bitbucket --help)",
        add_help=False,
    )
    return p


def _fake_bitbucket(argv: Sequence[str]) -> int:
    from bbreview.testing.__main__ import main as emulator_main

    return emulator_main(list(argv), prog="bbreview fake-bitbucket")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["fake-bitbucket"]:
        return _fake_bitbucket(args[1:])
    parser = _parser()
    ns = parser.parse_args(args)
    if ns.command is None:
        parser.print_help()
        return 2
    if getattr(ns, "history", False) and ns.git is None:
        parser.error("--history needs --git REV_RANGE")
    if getattr(ns, "git", None) is not None and getattr(ns, "file", None) is not None:
        parser.error("give either a diff FILE or --git REV_RANGE, not both")
    try:
        return ns.func(ns, out or sys.stdout)
    except BrokenPipeError:
        # The reader went away (`bbreview scan ... | head`): not an error worth a traceback.
        # Point stdout at devnull so that the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
