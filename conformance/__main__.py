"""Command line: ``python -m conformance <command> ...`` (also ``anthropic-conformance``).

    python -m conformance report a.json [b.json ...] -o reports/ [--previous old.json]
                                 [--fail-on-regression] [--declared cases/]

Exit codes are part of the interface, because CI gates on them: 0 done, 1 a regression
against ``--previous`` (only with ``--fail-on-regression``), 2 bad input or usage. Bad input
is one line on stderr naming the file, never a traceback.

Subcommands register themselves in :data:`COMMANDS`; to add one, write an ``_add_<name>``
function that builds its subparser and sets ``func`` to a handler returning the exit code.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance import exitcodes

# conformance/exitcodes.py: 0 done, 1 a regression (findings), 4 bad input (usage)
EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT = exitcodes.OK, exitcodes.FINDINGS, exitcodes.USAGE


def _err(command: str, message: str) -> None:
    print(f"conformance {command}: error: {message}", file=sys.stderr)


def _cmd_report(args: argparse.Namespace) -> int:
    """Merge results files, write the matrix, and gate on regressions if asked."""
    from conformance import gate
    from conformance.report import (
        ReportInputError,
        declared_matrix,
        load_results_file,
        merge,
        write_report,
    )
    from conformance.yamlfile import InputError

    try:
        docs = [load_results_file(Path(p)) for p in args.results]
        previous = load_results_file(Path(args.previous)) if args.previous else None
    except ReportInputError as exc:
        _err("report", str(exc))
        return EXIT_BAD_INPUT
    declared = None
    if args.declared:
        if not Path(args.declared).is_dir():
            _err("report", f"--declared: {args.declared} is not a directory (give the cases/ dir)")
            return EXIT_BAD_INPUT
        try:
            declared = declared_matrix(Path(args.declared))
        except InputError as exc:
            _err("report", f"--declared: {exc}")
            return EXIT_BAD_INPUT
    try:
        doc = merge(docs)
    except (ValueError, KeyError) as exc:  # schema-valid inputs that still cannot merge
        _err("report", f"cannot merge {', '.join(args.results)}: {exc}")
        return EXIT_BAD_INPUT
    try:
        paths = write_report(doc, Path(args.output), previous, declared)
    except OSError as exc:
        _err("report", f"cannot write to {args.output}: {exc.strerror or exc}")
        return EXIT_BAD_INPUT
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    if previous is None:
        if args.fail_on_regression:
            print("no --previous given: nothing to compare, no regression possible")
        return EXIT_OK
    changes = gate.compare(previous, doc)
    regressions = changes.regressions
    print(
        f"drift: {len(changes.changes)} changed rows, {len(regressions)} regressions, "
        f"{changes.improvements} improvements"
    )
    for c in regressions:
        before, after = c["before"], c["after"]
        print(
            f"regression: {c['target']} {c['id']}: {before['observed']} ({before['outcome']})"
            f" -> {after['observed']} ({after['outcome']})",
            file=sys.stderr,
        )
    if regressions and args.fail_on_regression:
        return EXIT_REGRESSION
    return EXIT_OK


def _add_report(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="merge results.json files into the support matrix (HTML + Markdown)",
        description="Merge results files (later files win for the same target and case) "
        "and write index.html, matrix.md and results.json to the output directory.",
    )
    p.add_argument("results", nargs="+", metavar="RESULTS_JSON", help="results.json files")
    p.add_argument("-o", "--output", default="reports", help="output directory (default: reports)")
    p.add_argument("--previous", metavar="JSON", help="an earlier results.json to compute drift")
    p.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 if a row that passed in --previous now fails or errors",
    )
    p.add_argument(
        "--declared",
        metavar="CASES_DIR",
        help="a cases directory (e.g. cases/): show every known target's declared column, "
        "as muted 'not run' cells where no record exists, and what changed between dated "
        "profiles of one vendor",
    )
    p.set_defaults(func=_cmd_report)


def _cmd_capture(args: argparse.Namespace) -> int:
    """Run a real client through the capture proxy and write its request shapes."""
    import os

    from conformance.capture import CaptureError, run_capture

    key = os.environ.get(args.upstream_key_env)
    if key is None and args.upstream_key_env == "LLAMACPP_API_KEY":
        key = "sk-local-llamacpp"  # the local llama-server's fake key (scripts/servers.py)
    try:
        paths = run_capture(
            args.client,
            upstream=args.upstream,
            upstream_key=key,
            upstream_model=args.upstream_model or None,
            shapes_dir=Path(args.shapes_dir),
            raw_root=Path(args.captures_dir),
            timeout=args.timeout,
            client_version=None if args.no_install else args.client_version,
            cases_file=Path(args.cases_file) if args.cases_file else None,
            settings=dict(args.setting or []),
            turns_wanted=args.turn or None,
        )
    except (CaptureError, ValueError, OSError) as exc:
        _err("capture", str(exc))
        return EXIT_BAD_INPUT
    for path in paths:
        print(f"shape: {path}")
    return EXIT_OK


def _setting(text: str) -> tuple[str, str]:
    """``VAR=VALUE`` for ``capture --setting``; argparse shows the error with the option."""
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected VAR=VALUE, e.g. CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1"
        )
    return name, value


def _add_capture(sub: Any) -> None:
    from conformance.capture import CAPTURES_DIR, SHAPES_DIR

    p = sub.add_parser(
        "capture",
        help="record what a real client sends and write its request shapes (cases/shapes/)",
        description="Start a loopback capture proxy in front of --upstream, run the client "
        "through it (Claude Code: first turn, tool round trip, streamed follow-up; SDK: "
        "defaults, tool round trip, stream) and write <client>-<version>-<turn>.json shapes. "
        "Raw captures (the clients' own prompts) stay in --captures-dir, outside the repo.",
    )
    p.add_argument("client", choices=["claude-code", "sdk"], help="which client to capture")
    p.add_argument(
        "--upstream",
        default="http://127.0.0.1:8088",
        help="where the proxy forwards (default: the local llama-server)",
    )
    p.add_argument(
        "--upstream-key-env",
        default="LLAMACPP_API_KEY",
        metavar="VAR",
        help="variable holding the upstream's key (default: LLAMACPP_API_KEY)",
    )
    p.add_argument(
        "--upstream-model",
        default="smollm2",
        help="model name sent upstream instead of the client's (default: smollm2; '' keeps it)",
    )
    p.add_argument("--shapes-dir", default=str(SHAPES_DIR), help="where shape files go")
    p.add_argument("--captures-dir", default=str(CAPTURES_DIR), help="where raw captures go")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per client run")
    p.add_argument(
        "--client-version",
        default="latest",
        help="Claude Code version to npm install before capturing (default: latest)",
    )
    p.add_argument(
        "--no-install", action="store_true", help="use the Claude Code already installed"
    )
    p.add_argument(
        "--setting",
        action="append",
        type=_setting,
        metavar="VAR=VALUE",
        help="a Claude Code environment setting to turn on for the capture (repeatable); the "
        "shapes are written as <client>-<version>-<turn>.with-<setting>.json",
    )
    p.add_argument(
        "--turn",
        action="append",
        metavar="TURN",
        help="write only this turn's shape (repeatable; Claude Code: first, stream, "
        "tool-round-trip; SDK: defaults, stream, tool-round-trip)",
    )
    p.add_argument(
        "--cases-file",
        default=str(SHAPES_DIR.parent / "clients.yaml"),
        help="case file whose rows are pointed at the new shapes ('' leaves it alone)",
    )
    p.set_defaults(func=_cmd_capture)


def _cmd_list(args: argparse.Namespace) -> int:
    """List targets, cases or oracles."""
    from conformance import catalog
    from conformance.yamlfile import InputError

    listers = {
        "targets": lambda: catalog.list_targets(Path(args.cases)),
        "cases": lambda: catalog.list_cases(Path(args.cases)),
        "oracles": catalog.list_oracles,
    }
    try:
        items = listers[args.what]()
    except InputError as exc:
        _err("list", str(exc))
        return EXIT_BAD_INPUT
    for line in catalog.format_listing(args.what, items):
        print(line)
    return EXIT_OK


def _add_list(sub: Any) -> None:
    p = sub.add_parser("list", help="list targets, cases or oracles")
    p.add_argument("what", choices=["targets", "cases", "oracles"])
    p.add_argument("--cases", default="cases", metavar="CASES_DIR", help="default: cases/")
    p.set_defaults(func=_cmd_list)


def _cmd_expectations(args: argparse.Namespace) -> int:
    from conformance.expectations.write import main as expectations_main

    return expectations_main(args.rest)


def _add_expectations(sub: Any) -> None:
    p = sub.add_parser(
        "expectations",
        help="write or check cases/expectations/<target>.yaml (known deviations)",
        add_help=False,
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_expectations)


def _cmd_cassettes(args: argparse.Namespace) -> int:
    """Convert every YAML cassette under the folders given to the JSON format, in place."""
    from conformance import recording, yamlfile

    paths = [
        p
        for folder in map(Path, args.dirs)
        for p in sorted(folder.rglob("*.yaml") if folder.is_dir() else [folder])
        if not p.name.startswith(("_", "."))
    ]
    if not paths:
        print(f"no YAML cassettes under {', '.join(args.dirs)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in paths:
        try:
            recording.convert_yaml(path)
        except (yamlfile.InputError, ValueError, KeyError, TypeError, OSError) as exc:
            print(f"{path}: not converted: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    print(f"converted {len(paths)} cassettes to {recording.cassettefile.FORMAT}")
    return EXIT_OK


def _add_cassettes(sub: Any) -> None:
    p = sub.add_parser("cassettes", help="convert YAML cassettes (before 0.2) to the JSON format")
    p.add_argument("action", choices=["convert"])
    p.add_argument("dirs", nargs="+", metavar="DIR", help="cassette folders (or files)")
    p.set_defaults(func=_cmd_cassettes)


COMMANDS: list[Callable[[Any], None]] = [
    _add_report,
    _add_capture,
    _add_list,
    _add_expectations,
    _add_cassettes,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="anthropic-conformance tools (run the cases themselves with pytest).",
    )
    version = __import__("conformance").__version__
    parser.add_argument("--version", action="version", version=f"anthropic-conformance {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return its exit code (argparse's usage errors give 4, as pytest's)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error: return, do not exit
        return EXIT_BAD_INPUT if exc.code else EXIT_OK
    return int(args.func(args))


def run_piped(argv: list[str] | None = None) -> int:
    """:func:`main`, for a shell: output into a pipe that closes early (``... | head``) ends
    quietly, as ``ls | head`` does, instead of a BrokenPipeError traceback."""
    try:
        code = main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at devnull so that flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE: what the shell reports for `ls | head`'s ls
    return code


if __name__ == "__main__":
    sys.exit(run_piped())
