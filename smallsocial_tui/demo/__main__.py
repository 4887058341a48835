"""``python -m smallsocial_tui.demo``: the demo without the ``smallsocial`` front door.

``python -m smallsocial_tui.demo [--friends N] [--keep] [--no-tui] [--interval MIN MAX] [--fork-after S]``
runs the demo; ``python -m smallsocial_tui.demo node ARGS…`` is how the demo starts
each friend's node: the ``smallsocial`` command line (``ARGS`` as given), in a
process that gets SIGTERM if the demo dies without cleaning up (Linux).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the demo process goes away; a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the demo died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    if argv[:1] == ["node"]:
        _die_with_parent()
        from smallsocial_tui.cli import main as cli_main

        return cli_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m smallsocial_tui.demo", description="smallsocial demo")
    p.add_argument("--friends", type=int, default=3, choices=range(1, 6), metavar="N")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--no-tui", action="store_true", help="print the conversation instead of opening the TUI")
    p.add_argument("--interval", type=float, nargs=2, default=None, metavar=("MIN", "MAX"))
    p.add_argument("--fork-after", type=float, default=None, metavar="S")
    args = p.parse_args(argv)
    from smallsocial_tui.demo import run_demo

    interval = (args.interval[0], args.interval[1]) if args.interval else (5.0, 15.0)
    fork_after = (args.fork_after, args.fork_after) if args.fork_after is not None else (20.0, 40.0)
    tui = False if args.no_tui else None
    return run_demo(args.friends, args.keep, tui=tui, interval=interval, fork_after=fork_after)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
