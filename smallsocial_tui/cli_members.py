"""Members on the command line: ``smallsocial role``, and ``members`` drawn as the invite tree.

``role CIRCLE KEY member|admin`` writes a signed ``role`` roster record
(:func:`protocol.actions.change_role`), through the running node when one runs, else
straight into the profile's outbox; only admins may, never for the founder or a key
that is not a member. :func:`invite_tree` draws ``members``' rows as who invited whom,
each member indented under their inviter, in the order they joined.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from protocol.identity import peer_id
from protocol.node import api
from smallsocial_tui import cli_kit
from smallsocial_tui.text import safe_name

Add = Callable[[str, Any, str], argparse.ArgumentParser]
Row = dict[str, Any]


def invite_tree(rows: list[Row], line: Callable[[Row], str]) -> str:
    """``rows`` (each with ``key`` and ``invited_by``, as ``members --json`` prints them) as a tree.

    A member whose inviter is no longer in the circle (left, removed) starts a tree of their own,
    with the inviter named; a cycle in bad data is cut, so every row is shown once.
    """
    keys = {r["key"] for r in rows}
    kids: dict[str | None, list[Row]] = {}
    for r in rows:
        parent = r["invited_by"] if r["invited_by"] in keys and r["invited_by"] != r["key"] else None
        kids.setdefault(parent, []).append(r)
    out: list[str] = []
    seen: set[str] = set()

    def walk(parent: str | None, prefix: str) -> None:
        items = [r for r in kids.get(parent, []) if r["key"] not in seen]
        for i, r in enumerate(items):
            seen.add(r["key"])
            last = i == len(items) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            gone = ""
            if parent is None and r["invited_by"] and r["invited_by"] not in keys:
                gone = f"  (invited by {r['invited_by']}, no longer here)"
            out.append(f"{prefix}{branch}{line(r)}{gone}")
            walk(r["key"], prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    for r in rows:  # only a cycle in bad data leaves rows unreached
        if r["key"] not in seen:
            seen.add(r["key"])
            out.append(line(r))
    return "\n".join(out)


def cmd_role(args: argparse.Namespace) -> None:
    profile = cli_kit.open_profile(args)
    c = cli_kit.find_circle(profile, args.circle)
    target = cli_kit.key_of(profile, args.key)
    if cli_kit.via_node(profile, api.ChangeRole(c.id, target, args.role)) is None:
        profile.change_role(c.id, target, args.role)
    who = "You are" if target == profile.me else f"{cli_kit.who(profile, target)} is"
    role = "an admin" if args.role == "admin" else "a member"
    cli_kit.emit(
        args,
        {"circle": c.id.hex(), "member": peer_id(target), "role": args.role},
        f"{who} now {role} of {safe_name(c.name)}.",
    )


def register(add: Add) -> None:
    """Add ``role`` to the parser (``add`` is ``build_parser``'s helper)."""
    sp = add("role", cmd_role, "make a member an admin or a plain member (admins only)")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("key", metavar="KEY", help="a member's peer ID or petname")
    sp.add_argument("role", choices=["member", "admin"], metavar="member|admin")
