"""The ``smallsocial`` commands of circles as a family: ``circle cap``, ``circle split``, ``tree``.

Also the hint ``invite`` prints at a circle's soft cap (:func:`invite_hint`). The soft cap is
advice: an invitation at or past it is still made (the token is printed as usual, on stdout);
the hint, on stderr (under ``fork_hint`` with ``--json``), names the fork command to run
instead. Reads go to the profile, as ``members`` and ``log`` do; setting the cap goes through
the running node when there is one (it owns the chain positions), else to the profile.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from protocol.identity import peer_id
from protocol.node import api
from smallsocial_tui.text import local_time, safe_name

if TYPE_CHECKING:
    from protocol.node.profile import CircleInfo, Profile

Add = Callable[..., argparse.ArgumentParser]


@dataclass(frozen=True)
class Kit:
    """What these commands use of ``cli.py``, handed over by ``cli.build_parser`` (cli imports
    this module, never the reverse)."""

    open: Callable[[argparse.Namespace], Profile]
    circle: Callable[[Profile, str], CircleInfo]
    emit: Callable[[argparse.Namespace, Any, str], None]
    me_cmd: Callable[[argparse.Namespace], str]
    via_node: Callable[[Profile, api.Command], Any]
    who: Callable[[Profile, bytes], str]


def _fork_cmd(me_cmd: str, c: CircleInfo, name: str, members: list[bytes]) -> str:
    """The exact ``fork`` command for ``members`` (a placeholder KEY when none)."""
    keys = [peer_id(k) for k in members] or ["KEY"]
    return f"{me_cmd} fork {c.id.hex()[:12]} {shlex.quote(name)} " + " ".join(f"--member {k}" for k in keys)


def _child_name(c: CircleInfo, n: int) -> str:
    return f"{safe_name(c.name, 28)}-{n}"


def invite_hint(profile: Profile, me_cmd: str, c: CircleInfo) -> str | None:
    """At or past the soft cap: one line offering the fork to make instead (None below it)."""
    from protocol.node import family

    members, cap = family.at_cap(profile, c.id)
    if members < cap:
        return None
    groups = family.suggestion(profile, 0, c.id).groups
    mine = next((g for g in groups if profile.me in g), ()) if len(groups) > 1 else ()
    cmd = _fork_cmd(me_cmd, c, _child_name(c, 2), [k for k in mine if k != profile.me])
    return (
        f"{safe_name(c.name)} has {members} members, its soft cap is {cap}: "
        f"rather than grow it, fork a smaller circle and invite them there: {cmd}"
    )


def cmd_circle_cap(kit: Kit, args: argparse.Namespace) -> None:
    from protocol.node import family

    profile = kit.open(args)
    c = kit.circle(profile, args.circle)
    if args.cap is not None:
        if kit.via_node(profile, api.SetSoftCap(c.id, args.cap)) is None:
            family.set_soft_cap(profile, c.id, args.cap)
        profile.forget_views()
    roster = profile.view(c.id).roster
    by = roster.soft_cap_by
    data = {
        "circle": c.id.hex(),
        "soft_cap": roster.soft_cap,
        "set_by": peer_id(by) if by else None,
        "members": len(roster.members),
    }
    who = f"set by {kit.who(profile, by)}" if by else "the default"
    verb = "is now" if args.cap is not None else "is"
    kit.emit(
        args,
        data,
        f"{safe_name(c.name)}: soft cap {verb} {roster.soft_cap} ({who}); {len(roster.members)} members.",
    )


def cmd_circle_split(kit: Kit, args: argparse.Namespace) -> None:
    from protocol.node import family

    profile = kit.open(args)
    c = kit.circle(profile, args.circle)
    s = family.suggestion(profile, 0, c.id)
    rows: list[dict[str, Any]] = []
    for i, g in enumerate(s.groups, 1):
        others = [k for k in g if k != profile.me]
        cmd = (
            _fork_cmd(kit.me_cmd(args), c, _child_name(c, i), others)
            if len(s.groups) > 1 and others
            else None
        )
        rows.append({"members": [peer_id(k) for k in g], "fork": cmd})
    data = {"circle": c.id.hex(), "members": s.size, "soft_cap": s.soft_cap, "groups": rows}
    head = f"{safe_name(c.name)}: {s.size} members, soft cap {s.soft_cap}."
    if len(s.groups) < 2:
        kit.emit(args, data, head + " No split to suggest: not enough replies and reactions to group by.")
        return
    lines = [
        head + f" By who replies to and reacts to whom, {len(s.groups)} groups"
        " (you found each fork you make):"
    ]
    for i, (g, row) in enumerate(zip(s.groups, rows, strict=True), 1):
        lines.append(f"group {i}: " + ", ".join(_name(kit, profile, k) for k in g))
        lines.append(f"  {row['fork'] or '(only you: nothing to fork)'}")
    kit.emit(args, data, "\n".join(lines))


def _name(kit: Kit, profile: Profile, key: bytes) -> str:
    """A petname, else the name they announced, else the short key (``you`` for me)."""
    if key != profile.me and key not in profile.store.contacts():
        announced = profile.store.names().get(key)
        if announced:
            return safe_name(announced)
    return kit.who(profile, key)


def _when(ms: int) -> str:
    return local_time(ms).strftime("%Y-%m-%d %H:%M") if ms else "never"


def cmd_tree(kit: Kit, args: argparse.Namespace) -> None:
    from protocol.node import family

    profile = kit.open(args)
    c = kit.circle(profile, args.circle) if args.circle else None
    fam = family.family(profile, 0, c.id if c else None)
    names = {x.id: x.name for x in fam.circles}
    depth: dict[bytes, int] = {}
    rows, lines = [], []
    for x in fam.circles:
        depth[x.id] = depth[x.parent] + 1 if x.parent in depth else 0
        rows.append(
            {
                "id": x.id.hex(),
                "name": x.name,
                "parent": x.parent.hex() if x.parent else None,
                "depth": depth[x.id],
                "status": x.status,
                "members": x.members,
                "soft_cap": x.soft_cap,
                "founder": peer_id(x.founder) if x.founder else None,
                "created": x.created,
                "last_activity": x.last_activity,
                "unread": x.unread,
                "unread_below": x.unread_below,
            }
        )
        how = "forked" if x.parent else "founded"
        by = f"{how} by {_name(kit, profile, x.founder)} {_when(x.created)}" if x.founder else x.status
        unread = f", {x.unread_below} unread" if x.unread_below else ""
        over = " (at its soft cap)" if x.members >= x.soft_cap else ""
        lines.append(
            f"{'   ' * depth[x.id]}{safe_name(x.name)}  {x.id.hex()[:12]}  {by}; "
            f"{x.members} member{'' if x.members == 1 else 's'}{over}{unread}; "
            f"last message {_when(x.last_activity)}"
        )
    data: dict[str, Any] = {"circles": rows}
    if c is not None:
        links = [
            {
                "member": peer_id(link.member),
                "invited_by": peer_id(link.invited_by) if link.invited_by else None,
                "role": link.role,
                "verified": link.verified,
                "path": [peer_id(k) for k in link.path],
                "other_circles": [o.hex() for o in link.others],
            }
            for link in fam.links
        ]
        data["circle"] = c.id.hex()
        data["invitations"] = links
        lines += ["", f"Who invited whom in {safe_name(c.name)}:"]
        at: dict[bytes, int] = {}
        for link in fam.links:
            at[link.member] = at[link.invited_by] + 1 if link.invited_by in at else 0
            check = "verified" if link.verified else "NOT verified back to the founder"
            role = f" ({link.role})" if link.role == "admin" else ""
            if link.invited_by is None:
                how = f"founder{role}"
            else:
                how = f"invited by {_name(kit, profile, link.invited_by)}{role}, {check}"
            also = ", ".join(safe_name(names.get(o, o.hex()[:12])) for o in link.others)
            lines.append(
                f"{'   ' * at[link.member]}{_name(kit, profile, link.member)}: {how}"
                + (f"; also in {also}" if also else "")
            )
    kit.emit(args, data, "\n".join(lines) if lines else "No circles yet.")


def register(sub: Any, csub: Any, add: Add, kit: Kit) -> None:
    """Add this module's commands to ``smallsocial`` (``sub``) and ``smallsocial circle`` (``csub``)."""
    what = "show or set (admins) the soft cap: inviting past it suggests a fork"
    sp = add("cap", partial(cmd_circle_cap, kit), what, csub)
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("cap", metavar="N", nargs="?", type=int, help="the new soft cap (2 to 1024)")
    sp = add(
        "split", partial(cmd_circle_split, kit), "how the circle could split, by who talks with whom", csub
    )
    sp.add_argument("circle", metavar="CIRCLE")
    sp = add(
        "tree", partial(cmd_tree, kit), "circles as a family tree; with CIRCLE, who invited whom in it", sub
    )
    sp.add_argument("circle", metavar="CIRCLE", nargs="?")
