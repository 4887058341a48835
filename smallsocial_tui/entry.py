"""The ``smallsocial`` command's entry point: the TUI straight away, or the full command line.

``smallsocial`` alone in a terminal opens the TUI, and the first paint waits on every import
before it. The command line's parser and commands pull in the store, the carry and fork code
and more, none of which the TUI's first frame needs; so the plain TUI start goes straight to
:func:`smallsocial_tui.app.run_app`, and everything else (a subcommand, ``--help``,
``--json``, output to a pipe) to :func:`smallsocial_tui.cli.main`, which parses it all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _tui_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """``--data-dir``/``--profile`` when ``argv`` asks for nothing but the TUI, else None."""
    ap = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    ap.add_argument("--data-dir")
    ap.add_argument("--profile")
    try:
        args, rest = ap.parse_known_args(list(argv))
    except SystemExit:  # e.g. --profile without a value: the full parser says so
        return None
    return None if rest else args


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    tui = _tui_args(args) if sys.stdin.isatty() and sys.stdout.isatty() else None
    if tui is not None:
        from smallsocial_tui.app import run_app

        return run_app(tui.data_dir, tui.profile)
    from smallsocial_tui.cli import main as cli_main

    return cli_main(args)
