"""``smallsocial leave``, ``remove`` and ``mute``/``notify``, for one circle or a whole subtree.

``leave CIRCLE --subtree`` leaves the circle and every descendant I am in, deepest
first; without ``--subtree`` the text says which descendants I am still in and how to
leave them too. ``remove CIRCLE KEY --subtree`` also removes the member from each
descendant where I am an admin, and names those skipped. ``mute CIRCLE [--subtree]
[--off]`` and ``notify CIRCLE LEVEL [--subtree]`` set how loudly circles notify (the
level is in the profile's store, where the TUI reads it). Like every command, each
goes through the running node when there is one, else acts on the profile.
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from protocol.identity import peer_id
from protocol.node import api
from smallsocial_tui.cli_kit import CliError
from smallsocial_tui.cli_kit import emit as _emit
from smallsocial_tui.cli_kit import find_circle as _circle
from smallsocial_tui.cli_kit import key_of as _key
from smallsocial_tui.cli_kit import me_cmd as _me_cmd
from smallsocial_tui.cli_kit import open_profile as _open
from smallsocial_tui.cli_kit import via_node as _via_node
from smallsocial_tui.cli_kit import who as _who
from smallsocial_tui.text import safe_name

if TYPE_CHECKING:  # not at the top: `smallsocial` (the TUI) paints without the profile
    from protocol.node.profile import Profile

LEVELS = ("loud", "quiet", "muted")


def _name(profile: Profile, cid: bytes) -> str:
    row = profile.store.circle(cid)
    return safe_name(profile.circle_name(row)) if row else cid.hex()[:12]


def _json(profile: Profile, cids: tuple[bytes, ...] | list[bytes]) -> list[dict[str, str]]:
    return [{"id": c.hex(), "name": _name(profile, c)} for c in cids]


def cmd_leave(args: argparse.Namespace) -> None:
    from protocol.node import subtree

    profile = _open(args)
    c = _circle(profile, args.circle)
    if args.subtree:
        reply = _via_node(profile, api.LeaveSubtree(c.id))
        left = list(reply.circles) if reply is not None else subtree.leave_subtree(profile, c.id)
        _emit(
            args,
            {"circle": c.id.hex(), "left": _json(profile, left)},
            "\n".join(f"You left {_name(profile, cid)}." for cid in left),
        )
        return
    under = subtree.descendants_in(profile, c.id)  # before leaving: what stays
    if _via_node(profile, api.LeaveCircle(c.id)) is None:
        profile.leave(c.id)
    text = f"You left {safe_name(c.name)}."
    if under:
        names = ", ".join(_name(profile, cid) for cid in under)
        text += (
            f"\nYou are still in {len(under)} circle(s) under it: {names}."
            f"\nLeave them too with: {_me_cmd(args)} leave {shlex.quote(c.id.hex()[:12])} --subtree"
        )
    _emit(args, {"circle": c.id.hex(), "left": True, "still_in": _json(profile, under)}, text)


def cmd_remove(args: argparse.Namespace) -> None:
    from protocol.node import subtree

    profile = _open(args)
    c = _circle(profile, args.circle)
    target = _key(profile, args.key)
    if args.subtree:
        reply = _via_node(profile, api.RemoveFromSubtree(c.id, target))
        if reply is not None:
            removed, skipped = tuple(reply.removed), tuple(reply.skipped)
        else:
            done = subtree.remove_subtree(profile, c.id, target)
            removed, skipped = done.removed, done.skipped
        who = _who(profile, target)
        lines = [f"Removed {who} from {_name(profile, cid)}; it has a new key." for cid in removed]
        lines += [f"Skipped {_name(profile, cid)}: you are not an admin there." for cid in skipped]
        data: dict[str, Any] = {
            "circle": c.id.hex(),
            "removed": peer_id(target),
            "from": _json(profile, removed),
            "skipped": _json(profile, skipped),
        }
        _emit(args, data, "\n".join(lines))
        return
    if _via_node(profile, api.RemoveMember(c.id, target)) is None:
        profile.remove(c.id, target)
    _emit(
        args,
        {"circle": c.id.hex(), "removed": peer_id(target)},
        f"Removed {_who(profile, target)} from {safe_name(c.name)}; the circle has a new key.",
    )


def _set_level(args: argparse.Namespace, level: str) -> None:
    from protocol.node import subtree

    profile = _open(args)
    c = _circle(profile, args.circle)
    reply = _via_node(profile, api.SetNotify(c.id, level, args.subtree))
    if reply is not None:
        circles = list(reply.circles)
    else:
        try:
            circles = subtree.set_level(profile, c.id, level, subtree=args.subtree)
        except ValueError as e:
            raise CliError(str(e)) from None
    what = {
        "muted": "muted: no notifications, and its unread messages do not count in the circles above it",
        "quiet": "quiet: only mentions notify",
        "loud": "loud: every message notifies",
    }[level]
    _emit(
        args,
        {"level": level, "circles": _json(profile, circles)},
        "\n".join(f"{_name(profile, cid)} is {what}." for cid in circles),
    )


def cmd_mute(args: argparse.Namespace) -> None:
    _set_level(args, "quiet" if args.off else "muted")


def cmd_notify(args: argparse.Namespace) -> None:
    _set_level(args, args.level)


def register(add: Any) -> None:
    """Add ``leave``, ``remove``, ``mute`` and ``notify`` to the parser (``add`` is build_parser's)."""
    sp = add("remove", cmd_remove, "remove a member (admins); the circle gets a new key")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("key", metavar="KEY")
    sp.add_argument(
        "--subtree", action="store_true", help="also from every circle under it where you are an admin"
    )

    sp = add("leave", cmd_leave, "leave a circle")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("--subtree", action="store_true", help="also every circle under it you are in")

    sp = add("mute", cmd_mute, "mute a circle: no notifications, no unread counted in the circles above")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("--subtree", action="store_true", help="every circle under it too")
    sp.add_argument("--off", action="store_true", help="unmute (back to quiet: only mentions notify)")

    sp = add("notify", cmd_notify, "how loudly a circle notifies: loud, quiet (mentions only) or muted")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("level", choices=LEVELS, metavar="LEVEL", help="loud, quiet or muted")
    sp.add_argument("--subtree", action="store_true", help="every circle under it too")
