"""What the subtree commands (:class:`api.LeaveSubtree`, :class:`api.RemoveFromSubtree`,
:class:`api.SetNotify`) mean to the node: the profile's actions, then the events and
publishing that follow (one ``MemberLeft`` or ``MemberRemoved`` per circle, as the
one-circle commands send)."""

from __future__ import annotations

from protocol.node import api, subtree
from protocol.node.events import Effect, Emit, KickOutbox
from protocol.node.profile import Profile

SubtreeCommand = api.LeaveSubtree | api.RemoveFromSubtree | api.SetNotify


def subtree_effects(p: Profile, cmd: SubtreeCommand) -> list[Effect]:
    """Carry out a subtree command on the profile; its answer and what follows."""
    rid = cmd.request_id
    if isinstance(cmd, api.LeaveSubtree):
        left = subtree.leave_subtree(p, cmd.circle)
        return [
            Emit(api.SubtreeLeft(rid, tuple(left))),
            *(Emit(api.MemberLeft(c, p.me)) for c in left),
            KickOutbox(),
        ]
    if isinstance(cmd, api.RemoveFromSubtree):
        done = subtree.remove_subtree(p, cmd.circle, cmd.member)
        return [
            Emit(api.SubtreeRemoved(rid, cmd.member, done.removed, done.skipped)),
            *(Emit(api.MemberRemoved(c, cmd.member)) for c in done.removed),
            KickOutbox(),
        ]
    circles = subtree.set_level(p, cmd.circle, cmd.level, subtree=cmd.subtree)
    return [Emit(api.NotifySet(rid, tuple(circles), cmd.level))]
