"""What each command from the UI or the CLI (:mod:`protocol.node.api`) means, sans-IO.

:func:`decide` carries out a command's profile actions (synchronous, on the profile's
SQLite store) and returns the effects the node carries out in order: the answer
(:class:`~protocol.node.events.Emit`), topic joins, publishing, dials. It raises
what the profile raises; :meth:`protocol.node.core.NodeCore.command` turns that
into ``CommandFailed``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from protocol import carry, messages
from protocol.node import api, family, history, queries, rekeying, search, selfcircle
from protocol.node.events import (
    Dial,
    Effect,
    Emit,
    JoinTopic,
    KickOutbox,
    LinkStep,
    Publish,
    Pull,
    ReachRelay,
    Reconsider,
    Stop,
)
from protocol.node.file_commands import file_effects
from protocol.node.profile import Profile
from protocol.node.subtree_commands import subtree_effects


class Context(Protocol):
    """What a command may read of the node (:class:`protocol.node.core.NodeCore` is one)."""

    profile: Profile
    stats: dict[str, int]

    @property
    def connected(self) -> Collection[str]: ...

    def public_addrs(self) -> list[str]: ...
    def token_addrs(self) -> list[str]: ...


def decide(ctx: Context, cmd: api.Command) -> list[Effect]:
    """Carry out ``cmd``'s profile actions; what the node does next, the answer first or last."""
    p, rid = ctx.profile, cmd.request_id
    done: list[Effect] = [Emit(api.CommandDone(rid))]
    if isinstance(cmd, api.SendMessage):
        rec = p.send_text(cmd.circle, cmd.text, reply_to=cmd.reply_to)
        # An idle outbox publishes it now, with no wake-up delay.
        return [Emit(api.MessageSent(rid, cmd.circle, rec.id, rec.seq)), Publish(rec)]
    if isinstance(cmd, (api.ReactTo, api.EditMessage, api.DeleteMessage)):
        kind, text = {
            api.ReactTo: (messages.REACT, getattr(cmd, "emoji", None)),
            api.EditMessage: (messages.EDIT, getattr(cmd, "text", None)),
            api.DeleteMessage: (messages.DELETE, None),
        }[type(cmd)]
        rec = p.send(cmd.circle, messages.Content(kind, int(p.clock() * 1000), text, cmd.target))
        return [Emit(api.MessageSent(rid, cmd.circle, rec.id, rec.seq)), KickOutbox()]
    if isinstance(cmd, api.MarkRead):
        p.store.set_read_marker(cmd.circle, cmd.record, int(p.clock()))
        return done
    if isinstance(cmd, api.SetDisplayName):
        p.set_display_name(cmd.name)
        return done
    if isinstance(cmd, api.SetPetname):
        p.store.set_contact(cmd.key, cmd.petname, int(p.clock()))
        return done
    if isinstance(cmd, api.PinRelay):
        p.pin(cmd.circle, cmd.addr)
        return [*done, KickOutbox(), ReachRelay(cmd.circle, cmd.addr.strip())]
    if isinstance(cmd, api.LoadOverview):
        return [Emit(queries.overview(p, rid, ctx.public_addrs(), sorted(ctx.connected)))]
    if isinstance(cmd, api.LoadHistory):
        return [Emit(queries.history(p, rid, cmd.circle, cmd.limit, cmd.around))]
    if isinstance(cmd, api.SearchMessages):
        return [Emit(search.answer(p, rid, cmd.text, cmd.circle, cmd.limit))]
    if isinstance(cmd, api.LoadMembers):
        return [Emit(queries.members(p, rid, cmd.circle, sorted(ctx.connected)))]
    if isinstance(cmd, api.CreateCircle):
        c = p.new_circle(cmd.name)
        return [JoinTopic(c.circle_id), Emit(api.CircleCreated(rid, c.circle_id, c.name))]
    if isinstance(cmd, api.InviteKey):
        addrs = ctx.token_addrs()
        token = p.invite(cmd.circle, cmd.invitee, role=cmd.role, ttl_s=cmd.ttl_s, addrs=addrs)
        # The invitee, if connected, may now learn I am in the circle.
        return [Emit(api.InviteCreated(rid, cmd.circle, token)), KickOutbox(), Reconsider(cmd.circle)]
    if isinstance(cmd, api.AcceptInvite):
        cid = p.join_token(cmd.token)
        joined: list[Effect] = [JoinTopic(cid), Emit(api.CircleJoined(rid, cid, _name(p, cid))), KickOutbox()]
        return joined + [Dial(a) for a in p.store.peer_addrs(cid)]
    if isinstance(cmd, (api.AcceptFork, api.ForkCircle)):
        if isinstance(cmd, api.AcceptFork):
            cid = p.accept_fork(cmd.circle)
            answer: api.Event = api.CircleJoined(rid, cid, _name(p, cid))
        else:
            chosen = carry.HistoryChoice.parse(cmd.history)
            cid = p.fork(cmd.circle, cmd.name, list(cmd.members), history=chosen)
            answer = api.CircleForked(rid, cid, cmd.circle, cmd.name, invited=False)
        relays = [ReachRelay(cid, r.addrs[0]) for r in p.view(cid).roster.relays.values() if r.addrs]
        return [JoinTopic(cid), Emit(answer), KickOutbox(), *relays]
    if isinstance(cmd, api.RemoveMember):
        p.remove(cmd.circle, cmd.member)
        return [*done, Emit(api.MemberRemoved(cmd.circle, cmd.member)), KickOutbox()]
    if isinstance(cmd, api.ChangeRole):
        p.change_role(cmd.circle, cmd.member, cmd.role)
        return [*done, Emit(api.MemberRoleChanged(cmd.circle, cmd.member, cmd.role)), KickOutbox()]
    if isinstance(cmd, api.LeaveCircle):
        p.leave(cmd.circle)
        return [*done, Emit(api.MemberLeft(cmd.circle, p.me)), KickOutbox()]
    if isinstance(cmd, api.SetSoftCap):
        family.set_soft_cap(p, cmd.circle, cmd.cap)
        return [*done, KickOutbox()]
    if isinstance(cmd, (api.LinkDevice, api.UnlinkDevice)):
        from protocol.node import devices

        if isinstance(cmd, api.LinkDevice):
            devices.add_to_file(p, cmd.code, cmd.out)
            own = selfcircle.circle_id(p)  # the first link made it
            relays = [ReachRelay(c, a) for c, a in selfcircle.reach(p)]
            # The device is in every circle of mine now: connected peers may know more everywhere.
            joined = [JoinTopic(own)] if own is not None else []
            return [*done, *joined, KickOutbox(), *relays, Reconsider()]
        devices.revoke(p, cmd.device)
        return [*done, KickOutbox()]
    if isinstance(cmd, (api.AwaitLink, api.StartLink, api.ConfirmLink)):
        return [LinkStep(cmd)]  # the link stream's (protocol/node/linking.py)
    if isinstance(cmd, api.LoadFamily):
        return [Emit(family.family(p, rid, cmd.circle))]
    if isinstance(cmd, api.LoadSplit):
        return [Emit(family.suggestion(p, rid, cmd.circle))]
    if isinstance(cmd, (api.LeaveSubtree, api.RemoveFromSubtree, api.SetNotify)):
        return subtree_effects(p, cmd)
    if isinstance(cmd, (api.Rekey, api.SetRekeySchedule)):
        if isinstance(cmd, api.SetRekeySchedule):
            rekeying.set_schedule(p, cmd.circle, cmd.days, cmd.messages)
            return [*done, KickOutbox()]
        got = rekeying.rekey_all(p) if cmd.circle is None else (rekeying.rekey(p, cmd.circle),)
        return [Emit(api.Rekeyed(rid, got)), KickOutbox()]
    if isinstance(cmd, api.SetHistory):
        return [Emit(api.HistorySetting(rid, *history.choose(p, cmd.mode)))]
    if isinstance(cmd, (api.SendFile, api.FetchFile, api.SetFileCap)):
        return file_effects(p, cmd)
    if isinstance(cmd, api.ConnectPeer):
        return [Dial(cmd.addr, rid)]  # answered when the dial ends (NodeCore, on Dialled)
    if isinstance(cmd, api.SyncNow):
        return [*(Pull(peer, None) for peer in sorted(ctx.connected)), *done]
    if isinstance(cmd, api.GetStatus):
        status = (tuple(ctx.public_addrs()), len(ctx.connected), dict(ctx.stats))
        return [Emit(api.NodeStatus(rid, p.identity.peer_id, *status))]
    if isinstance(cmd, api.Shutdown):
        return [*done, Stop()]
    raise ValueError(f"Unknown command {type(cmd).__name__}.")


def _name(p: Profile, circle_id: bytes) -> str:
    row = p.store.circle(circle_id)
    return p.circle_name(row) if row else ""
