"""The Textual TUI of smallsocial: :func:`run_app` is what ``smallsocial`` (no subcommand) runs.

Importing this package never loads libp2p; the real node (and libp2p with it)
is imported when :class:`~smallsocial_tui.app.node_client.ThreadNode` starts.
"""

from __future__ import annotations

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
    app = SmallSocialApp(paths)
    code = app.run()
    return code or 0


__all__ = ["run_app"]
