"""What the node does for each command from the UI or the CLI (the bridge's ``api`` commands).

:func:`handle` turns one command into profile actions, topic joins and
publishing, and answers with its event; failures become ``CommandFailed``
by the node.
"""

from __future__ import annotations

import multiaddr
from libp2p.peer.peerinfo import info_from_p2p_addr

from protocol import messages
from protocol.node import api, queries, reach
from protocol.node.ports import NodePort


async def handle(node: NodePort, cmd: api.Command) -> None:
    """Carry out one command; its answer is an event (errors become ``CommandFailed`` in the node)."""
    p = node.profile
    if isinstance(cmd, api.SendMessage):
        rec = p.send_text(cmd.circle, cmd.text, reply_to=cmd.reply_to)
        node.emit(api.MessageSent(cmd.request_id, cmd.circle, rec.id, rec.seq))
        await node.send_now(rec)  # an idle outbox publishes now, with no wake-up delay
    elif isinstance(cmd, (api.ReactTo, api.EditMessage, api.DeleteMessage)):
        kind, text = {
            api.ReactTo: (messages.REACT, getattr(cmd, "emoji", None)),
            api.EditMessage: (messages.EDIT, getattr(cmd, "text", None)),
            api.DeleteMessage: (messages.DELETE, None),
        }[type(cmd)]
        rec = p.send(cmd.circle, messages.Content(kind, int(p.clock() * 1000), text, cmd.target))
        node.emit(api.MessageSent(cmd.request_id, cmd.circle, rec.id, rec.seq))
        node.kick_outbox()
    elif isinstance(cmd, api.MarkRead):
        p.store.set_read_marker(cmd.circle, cmd.record, int(p.clock()))
        node.emit(api.CommandDone(cmd.request_id))
    elif isinstance(cmd, api.SetDisplayName):
        p.set_display_name(cmd.name)
        node.emit(api.CommandDone(cmd.request_id))
    elif isinstance(cmd, api.SetPetname):
        p.store.set_contact(cmd.key, cmd.petname, int(p.clock()))
        node.emit(api.CommandDone(cmd.request_id))
    elif isinstance(cmd, api.PinRelay):
        p.pin(cmd.circle, cmd.addr)
        node.emit(api.CommandDone(cmd.request_id))
        node.kick_outbox()
        node.start_soon(_reach_relay, node, cmd.circle, cmd.addr.strip())
    elif isinstance(cmd, api.LoadOverview):
        connected = [pid.to_base58() for pid in node.connected]
        node.emit(queries.overview(p, cmd.request_id, node.public_addrs(), connected))
    elif isinstance(cmd, api.LoadHistory):
        node.emit(queries.history(p, cmd.request_id, cmd.circle, cmd.limit))
    elif isinstance(cmd, api.LoadMembers):
        connected = [pid.to_base58() for pid in node.connected]
        node.emit(queries.members(p, cmd.request_id, cmd.circle, connected))
    elif isinstance(cmd, api.CreateCircle):
        c = p.new_circle(cmd.name)
        await node.join_topic(c.circle_id)
        node.emit(api.CircleCreated(cmd.request_id, c.circle_id, c.name))
    elif isinstance(cmd, api.InviteKey):
        token = p.invite(
            cmd.circle,
            cmd.invitee,
            role=cmd.role,
            ttl_s=cmd.ttl_s,
            addrs=reach.for_token(node.public_addrs()),
        )
        node.emit(api.InviteCreated(cmd.request_id, cmd.circle, token))
        node.kick_outbox()
        node.reconsider_peers()  # the invitee, if connected, may now learn I am in the circle
    elif isinstance(cmd, api.AcceptInvite):
        cid = p.join_token(cmd.token)
        await node.join_topic(cid)
        node.emit(api.CircleJoined(cmd.request_id, cid, _name(node, cid)))
        node.kick_outbox()
        for addr in p.store.peer_addrs(cid):
            node.start_soon(node.connect, addr)
    elif isinstance(cmd, api.AcceptFork):
        cid = p.accept_fork(cmd.circle)
        await node.join_topic(cid)
        node.emit(api.CircleJoined(cmd.request_id, cid, _name(node, cid)))
        node.kick_outbox()
    elif isinstance(cmd, api.ForkCircle):
        cid = p.fork(cmd.circle, cmd.name, list(cmd.members))
        await node.join_topic(cid)
        node.emit(api.CircleForked(cmd.request_id, cid, cmd.circle, cmd.name, invited=False))
        node.kick_outbox()
    elif isinstance(cmd, api.RemoveMember):
        p.remove(cmd.circle, cmd.member)
        node.emit(api.CommandDone(cmd.request_id))
        node.emit(api.MemberRemoved(cmd.circle, cmd.member))
        node.kick_outbox()
    elif isinstance(cmd, api.LeaveCircle):
        p.leave(cmd.circle)
        node.emit(api.CommandDone(cmd.request_id))
        node.emit(api.MemberLeft(cmd.circle, p.me))
        node.kick_outbox()
    elif isinstance(cmd, api.ConnectPeer):
        if not await node.connect(cmd.addr):
            raise ValueError(f"Could not reach {cmd.addr}.")
        node.extra_peers.append(cmd.addr)
        node.emit(api.CommandDone(cmd.request_id))
    elif isinstance(cmd, api.SyncNow):
        for pid in list(node.connected):
            node.want_sync(pid, None)
        node.emit(api.CommandDone(cmd.request_id))
    elif isinstance(cmd, api.Shutdown):
        node.emit(api.CommandDone(cmd.request_id))
        node.stop()


async def _reach_relay(node: NodePort, circle_id: bytes, addr: str) -> None:
    """After a pin: connect to the relay (which offers it our circles), or offer this one now."""
    info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
    already = bool(node.host.get_network().get_connections(info.peer_id))
    if await node.connect(addr) and already:
        await node.offer_pins(info.peer_id, only=circle_id)


def _name(node: NodePort, circle_id: bytes) -> str:
    row = node.profile.store.circle(circle_id)
    return node.profile.circle_name(row) if row else ""
