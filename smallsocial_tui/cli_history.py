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

Add = Callable[[str, Any, str], argparse.ArgumentParser]


def cmd_history(args: argparse.Namespace) -> None:
    from protocol.node import history

    profile = cli_kit.open_profile(args, create=False)
    if args.mode is None:
        mode = history.mode(profile.store)
        text = {
            history.KEEP: "History is kept: old messages stay readable here "
            "(`smallsocial history forget` to change).",
            history.FORGET: "History is forgotten: an epoch's key is deleted "
            "3 days after the next epoch begins.",
        }[mode]
        cli_kit.emit(args, {"history": mode}, text)
        return
    history.set_mode(profile.store, args.mode)
    gone = history.forget_old(profile)
    text = (
        "History is kept from now on: the keys still here stay."
        if args.mode == history.KEEP
        else f"History is forgotten from now on; {gone} old epoch key(s) deleted now."
    )
    cli_kit.emit(args, {"history": args.mode, "deleted": gone}, text)


def register(add: Add) -> None:
    """Add ``history`` to the parser (``add`` is build_parser's)."""
    sp = add("history", cmd_history, "keep old messages readable (keep, the default) or forget them")
    sp.add_argument("mode", nargs="?", choices=["keep", "forget"], metavar="keep|forget")
