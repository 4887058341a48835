"""Rekeys on the command line: ``smallsocial rekey CIRCLE`` or ``--all``, and ``rekey-every``.

``rekey CIRCLE`` gives the circle a new epoch key, sealed to every member key (each device);
``rekey --all`` does so in every circle I am a member of ("rotate everything", after a lost
laptop or a suspected compromise). ``rekey-every CIRCLE [--days N] [--messages N]`` shows how
often the circle rekeys on its own, or sets it (admins: a signed ``rekeyevery`` record). Each
goes through the running node when one runs, else straight into the profile's outbox
(published when the node next runs).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from protocol.identity import peer_id
from protocol.node import api
from smallsocial_tui import cli_kit
from smallsocial_tui.text import rekeyed_line, safe_name

Add = Callable[[str, Any, str], argparse.ArgumentParser]


def cmd_rekey(args: argparse.Namespace) -> None:
    from protocol.node import rekeying

    if (args.circle is None) == (not args.all):
        raise cli_kit.CliError("Name a circle to rekey, or --all for every circle you are in.")
    profile = cli_kit.open_profile(args)
    cid = None if args.all else cli_kit.find_circle(profile, args.circle).id
    reply = cli_kit.via_node(profile, api.Rekey(cid))
    if reply is not None:
        results = tuple(reply.results)
    else:
        results = rekeying.rekey_all(profile) if cid is None else (rekeying.rekey(profile, cid),)
    if args.all and not results:
        raise cli_kit.CliError("You are not a member of any circle yet; nothing to rekey.")
    data = [{"circle": r.circle.hex(), "name": r.name, "epoch": r.epoch, "keys": r.keys} for r in results]
    cli_kit.emit(args, data if args.all else data[0], "\n".join(rekeyed_line(r) for r in results))


def cmd_rekey_every(args: argparse.Namespace) -> None:
    from protocol.node import rekeying

    profile = cli_kit.open_profile(args)
    circle = cli_kit.find_circle(profile, args.circle)
    setting = args.days is not None or args.messages is not None
    if setting:
        now = profile.view(circle.id).roster
        days = args.days if args.days is not None else now.rekey_days
        messages = args.messages if args.messages is not None else now.rekey_messages
        if cli_kit.via_node(profile, api.SetRekeySchedule(circle.id, days, messages)) is None:
            rekeying.set_schedule(profile, circle.id, days, messages)
        profile.forget_views()
    roster = profile.view(circle.id).roster
    by = roster.rekey_by
    data = {
        "circle": circle.id.hex(),
        "days": roster.rekey_days,
        "messages": roster.rekey_messages,
        "set_by": peer_id(by) if by else None,
    }
    who = f"set by {cli_kit.who(profile, by)}" if by else "the default"
    verb = "now rekeys" if setting else "rekeys"
    days = "day" if roster.rekey_days == 1 else f"{roster.rekey_days} days"
    cli_kit.emit(
        args,
        data,
        f"{safe_name(circle.name)} {verb} at least every {days} and every "
        f"{roster.rekey_messages:,} messages ({who}).",
    )


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    return n


def register(add: Add) -> None:
    """Add ``rekey`` and ``rekey-every`` to the parser (``add`` is ``build_parser``'s helper)."""
    sp = add("rekey", cmd_rekey, "give a circle a new key now (or --all: every circle you are in)")
    sp.add_argument("circle", metavar="CIRCLE", nargs="?")
    sp.add_argument("--all", action="store_true", help="rotate everything: every circle you are a member of")
    sp = add("rekey-every", cmd_rekey_every, "show how often a circle rekeys on its own, or set it (admins)")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("--days", type=_count, metavar="N", help="at least every N days (1 to 365; default 7)")
    sp.add_argument(
        "--messages", type=_count, metavar="N", help="and every N messages (1 to 1,000,000; default 1,000)"
    )
