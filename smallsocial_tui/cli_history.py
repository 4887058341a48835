"""``smallsocial history [keep|forget]``: whether this profile keeps old messages readable.

``keep`` (the default): the keys of past epochs stay, sealed under the profile's storage key,
so old messages stay readable here. ``forget``: an epoch's key is deleted three days after a
later epoch's key came (:mod:`protocol.node.history`), with that epoch's messages in the search
index: a copy of the profile taken later cannot read them, nor can this profile. The setting
is the profile's (its store); a running node applies it within ten minutes, this command at
once. Without an argument it shows the setting.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from smallsocial_tui import cli_kit
from smallsocial_tui.text import history_line

Add = Callable[[str, Any, str], argparse.ArgumentParser]


def cmd_history(args: argparse.Namespace) -> None:
    from protocol.node import history

    profile = cli_kit.open_profile(args, create=False)
    mode, gone = history.choose(profile, args.mode)
    data = {"history": mode} if args.mode is None else {"history": mode, "deleted": gone}
    cli_kit.emit(args, data, history_line(mode, gone, asked=args.mode is None))


def register(add: Add) -> None:
    """Add ``history`` to the parser (``add`` is build_parser's)."""
    sp = add("history", cmd_history, "keep old messages readable (keep, the default) or forget them")
    sp.add_argument("mode", nargs="?", choices=["keep", "forget"], metavar="keep|forget")
