"""The Textual TUI of smallsocial: :func:`run_app` is what ``smallsocial`` (no subcommand) runs.

Importing this package never loads libp2p; the real node (and libp2p with it)
is imported when :class:`~smallsocial_tui.app.node_client.ThreadNode` starts, on a
worker thread, after the main screen's first paint.
"""

from __future__ import annotations

import gc
import sys

from protocol.node.paths import PathError, resolve


def run_app(data_dir: str | None, profile: str | None) -> int:
    """Run the TUI for a profile until the user quits; the exit code."""
    from smallsocial_tui.app.app import SmallSocialApp

    try:
        paths = resolve(data_dir, profile)
    except PathError as e:
        print(e, file=sys.stderr)
        return 2
    _alt_digits_as_keys()
    from smallsocial_tui import imagepreview

    imagepreview.detect()  # asks the terminal, which only works before Textual reads the keyboard
    app = SmallSocialApp(paths)
    # What start-up imported (Textual, the protocol) lives as long as the process: frozen, no
    # full collection walks it again, which took 15-20 ms off the first paint. Node.run freezes
    # what the node holds the same way once it listens.
    gc.freeze()
    code = app.run()
    return code or 0


def _alt_digits_as_keys() -> None:
    """Let alt+1…9 reach the app as keys in terminals that send ESC + digit (xterm, tmux, …).

    Textual maps ESC + digit to the characters macOS's option key types in WezTerm
    (``\x1b2`` → "™"), so alt+2 never arrives as ``alt+2``. Without those entries the
    parser reports ``alt+<digit>``, which is how weechat and irssi users switch windows.
    """
    from textual import _ansi_sequences

    for digit in "123456789":
        _ansi_sequences.ANSI_SEQUENCES_KEYS.pop(f"\x1b{digit}", None)  # type: ignore[attr-defined]


__all__ = ["run_app"]
