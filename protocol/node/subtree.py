"""Acting on a circle and its descendants at once: leave, remove a member, set how loudly they notify.

The CLI (offline) and the node (:mod:`protocol.node.commands`) both call these; each
circle's action is the profile's own (:meth:`Profile.leave`, :meth:`Profile.remove`),
one transaction per circle, so what is reported as done is on disk. The tree comes
from the parent links in the store (:func:`protocol.subtree.descendants`).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import subtree
from protocol.errors import RosterError
from protocol.node.profile import Profile

LEVELS = ("loud", "quiet", "muted")
"""How loudly a circle notifies: every message, mentions only (the default), never."""


def descendants(profile: Profile, circle_id: bytes) -> list[bytes]:
    """Every circle under ``circle_id`` that the store knows, deepest first."""
    parents = {row.id: row.parent for row in profile.store.circles()}
    return subtree.descendants(circle_id, parents)


def descendants_in(profile: Profile, circle_id: bytes) -> list[bytes]:
    """The descendants of ``circle_id`` whose roster lists me, deepest first."""
    out = []
    for cid in descendants(profile, circle_id):
        row = profile.store.circle(cid)
        if row is not None and row.status == "member" and profile.view(cid).roster.is_member(profile.me):
            out.append(cid)
    return out


def leave_subtree(profile: Profile, circle_id: bytes) -> list[bytes]:
    """Leave every descendant I am in, deepest first, then the circle itself; the circles left.

    The circle itself must list me (else nothing is left, and the error says why).
    """
    if not profile.view(circle_id).roster.is_member(profile.me):
        raise RosterError("You are not a member of this circle.")
    left = [*descendants_in(profile, circle_id), circle_id]
    with profile.store.tx():  # all or nothing
        for cid in left:
            profile.leave(cid)
    return left


@dataclass(frozen=True)
class Removal:
    """Where a subtree removal took the member out, and where it could not (I am not an admin)."""

    removed: tuple[bytes, ...]
    skipped: tuple[bytes, ...]


def remove_subtree(profile: Profile, circle_id: bytes, target: bytes) -> Removal:
    """Remove ``target`` from the circle, then from each descendant where they are a member
    and I may remove them (an admin there); the others are reported as skipped.

    The circle itself goes first: if I cannot remove them there, nothing is done.
    """
    removed, skipped = [circle_id], []
    with profile.store.tx():  # all or nothing
        profile.remove(circle_id, target)
        for cid in reversed(descendants(profile, circle_id)):  # nearest first: the tree's order
            row = profile.store.circle(cid)
            if row is None or row.status != "member":
                continue
            roster = profile.view(cid).roster
            if target not in roster.members or not roster.is_member(profile.me):
                continue
            if not roster.may_admin(profile.me) or target == roster.founder:
                skipped.append(cid)
                continue
            profile.remove(cid, target)
            removed.append(cid)
    return Removal(tuple(removed), tuple(skipped))


def set_level(profile: Profile, circle_id: bytes, level: str, *, subtree: bool = False) -> list[bytes]:
    """Set how loudly the circle (and with ``subtree`` every circle under it) notifies me."""
    if level not in LEVELS:
        raise ValueError(f"{level[:20]!r} is not a notification level; use loud, quiet or muted.")
    circles = [circle_id, *(reversed(descendants(profile, circle_id)) if subtree else ())]
    now = int(profile.clock())
    with profile.store.tx():
        for cid in circles:
            profile.store.set_notify_level(cid, level, now)
    return circles
