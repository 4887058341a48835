"""What stands between the network's bytes and py-libp2p's handlers: nothing a peer sends ends a node.

py-libp2p 0.8.1 leaves some paths unguarded. A pubsub RPC that is not valid protobuf
raises ``DecodeError`` out of ``Pubsub.continuously_read_stream``, through the
connection's nursery, and the node process exits; any peer that can connect could stop
any node. This module provides:

- :func:`guard_inbound_streams`: every inbound stream, whatever its protocol (pubsub,
  identify, ping, sync, pin, relay), runs inside one guard. An exception from a handler
  resets that stream, is logged (rate-limited by the log filter) and charged to the peer;
  the node goes on.
- :class:`GuardedPubsub`: py-libp2p's ``Pubsub`` with three changes. Its ``push_msg``
  never formats a rejected message (0.8.1 renders the whole message, up to 1 MiB, into an
  exception text and a debug line, even with debug logging off: 66 of 73 ms for a 1 MB
  message), does not check pubsub's own message signature (see ``_push``), and cannot
  raise. Inbound RPC frames are capped at :data:`MAX_RPC` (one record at the protocol's
  size limit and its envelope), and outbound RPCs are split to that size, so honest
  batches (IWANT answers) still fit.
- Circle topics are told only to those who may know them. A connected stranger used to
  learn every circle topic a node is in (the hello lists all subscriptions), could
  subscribe and then receive every record and presence. :class:`GuardedPubsub` takes a
  ``may_know(peer, topic)`` predicate (the node's: a member, pending invitee or relay of
  that circle): it announces a topic only to such peers, takes a peer's subscription only
  from such a peer (others are held aside, bounded, and admitted by :meth:`reconsider`
  once the roster says so), and :class:`GuardedGossipSub` refuses their GRAFTs. So a
  stranger is never in a topic's peer set: no mesh, no fanout, no IHAVE, no forwarding.
- One peer's messages wait their turn (:class:`Turns`). py-libp2p starts one task per
  message of an RPC, and trio runs every ready task of a batch before it looks at the
  sockets again: a flooder's RPC of a hundred records was a hundred validations in one go
  (tens of ms) ahead of a member's message. Now each forwarder has one message in
  validation at a time, so another peer's message waits for one, not for the RPC.
- Gossip py-libp2p drops is told (:data:`Dropped`). Its queue per peer holds 32 RPCs and
  drops silently past that (a burst, a slow peer); the node nudges that peer to pull.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue

from protocol import records
from protocol.node.fwdcost import LeanGossipSub

LOG = logging.getLogger("smallsocial.node.guard")

MAX_RPC = records.MAX_RECORD_SIZE + 8 * 1024
"""Largest pubsub RPC frame taken in or sent: one record at its limit plus the libp2p envelope
(originator, seqno, topic, signature, key, signed peer record: under 1 KiB in practice)."""

Charge = Callable[[ID, str], None]
"""Called with a peer and what it did wrong; the node counts it toward graylisting."""
MayKnow = Callable[[ID, str], bool]
"""Whether a peer may learn that I am in a topic, and get its messages from me."""
Dropped = Callable[[ID, list[str]], None]
"""Called with a peer and the topics of messages py-libp2p dropped on their way to it."""
WITHHELD_TOPICS = 64
WITHHELD_PEERS = 2000
"""Subscriptions held aside (a peer not yet known to be a member): per peer, and peers at once."""
_hello_to: contextvars.ContextVar[ID | None] = contextvars.ContextVar("hello_to", default=None)


def anyone(peer: ID, topic: str) -> bool:
    """The ``may_know`` of a peer that keeps no secrets (test peers, benchmarks)."""
    return True


def guard_inbound_streams(host: IHost, charge: Charge) -> None:
    """Run every inbound stream's negotiation and handler inside a guard that cannot raise.

    The swarm hands each new inbound stream to one function (``common_stream_handler``):
    wrapping it covers every protocol, those py-libp2p registers itself included.
    """
    network: Any = host.get_network()
    inner = network.common_stream_handler

    async def guarded(stream: INetStream) -> None:
        try:
            await inner(stream)
        except Exception as e:  # trio.Cancelled is a BaseException and passes through
            peer = _peer_of(stream)
            LOG.warning("closed a %s stream from %s: %s", stream.get_protocol() or "new", peer, _short(e))
            await _reset_quietly(stream)
            if peer is not None:
                charge(peer, f"a {stream.get_protocol() or 'stream'} frame that broke its handler")

    network.set_stream_handler(guarded)


def ignore_drops(peer: ID, topics: list[str]) -> None:
    """The ``dropped`` of a pubsub that does not nudge (test peers, benchmarks' bare nodes)."""


class _CappedQueues(dict[ID, RpcQueue]):
    """``Pubsub.peer_queues`` whose queues split outbound RPCs at :data:`MAX_RPC` and tell
    ``dropped`` of messages a full queue refused (py-libp2p only logs them at debug level)."""

    def __init__(self, dropped: Dropped = ignore_drops) -> None:
        self.dropped = dropped

    def __setitem__(self, peer: ID, queue: RpcQueue) -> None:
        queue.max_message_size = MAX_RPC
        push = queue.push

        def watched(rpc: rpc_pb2.RPC, *args: Any, **kwargs: Any) -> bool:
            ok = push(rpc, *args, **kwargs)
            if not ok and rpc.publish and not queue.closed:  # a closed queue: the peer is gone
                topics = [t for m in rpc.publish for t in m.topicIDs]
                try:
                    self.dropped(peer, topics)
                except Exception:  # py-libp2p's send path must go on
                    LOG.exception("could not note gossip dropped on its way to %s", peer)
            return ok

        queue.push = watched  # type: ignore[method-assign]
        super().__setitem__(peer, queue)


class Turns:
    """One turn at a time per key (a forwarding peer); idle keys forgotten.

    Turns are served in the order tasks ask (trio's Lock is fair); tasks that py-libp2p
    started in one batch ask in trio's order, which is not the RPC's: records are
    chained, and the chain holds what comes early.
    """

    def __init__(self) -> None:
        self._locks: dict[object, trio.Lock] = {}

    def __len__(self) -> int:
        return len(self._locks)

    async def run(self, key: object, fn: Callable[[], Awaitable[None]]) -> None:
        """Await ``fn()`` once every earlier call for ``key`` has finished."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = trio.Lock()
        try:
            async with lock:  # acquiring yields even when free: a turn never runs inline
                await fn()
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0 and self._locks.get(key) is lock:
                del self._locks[key]


class GuardedPubsub(Pubsub):
    """py-libp2p's Pubsub that bounds RPC frames and never formats or raises on a peer's message."""

    def __init__(
        self,
        *args: Any,
        charge: Charge,
        may_know: MayKnow = anyone,
        dropped: Dropped = ignore_drops,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_inbound_rpc_size", MAX_RPC)
        super().__init__(*args, **kwargs)
        self.peer_queues = _CappedQueues(dropped)
        self._charge = charge
        self.may_know = may_know
        self._withheld: dict[ID, set[str]] = {}
        self._told: set[tuple[ID, str]] = set()
        self.turns = Turns()

    # who learns my topics -----------------------------------------------------------
    async def _handle_new_peer(self, peer_id: ID) -> None:
        _hello_to.set(peer_id)  # this task's own context: read by get_hello_packet below
        await super()._handle_new_peer(peer_id)
        # A topic joined while the hello was on its way missed both the hello and the announce
        # (the peer had no queue yet): tell it now.
        if peer_id in self.peer_queues:
            self.reconsider(peer_id)

    def get_hello_packet(self) -> rpc_pb2.RPC:
        packet = super().get_hello_packet()
        peer = _hello_to.get()
        if peer is None:  # not from _handle_new_peer: a caller we do not know; tell nobody anything
            del packet.subscriptions[:]
            return packet
        self._told = {(p, t) for p, t in self._told if p != peer}
        told = [s for s in packet.subscriptions if self.may_know(peer, s.topicid)]
        del packet.subscriptions[:]
        packet.subscriptions.extend(told)
        self._told |= {(peer, s.topicid) for s in told}
        return packet

    async def message_all_peers(self, raw_msg: bytes, announce: rpc_pb2.RPC.SubOpts | None = None) -> None:
        if announce is None:
            await super().message_all_peers(raw_msg, announce)
            return
        rpc = rpc_pb2.RPC()
        rpc.ParseFromString(raw_msg)
        for peer in tuple(self.peers):
            queue = self.peer_queues.get(peer)
            if queue is not None and self.may_know(peer, announce.topicid):
                self._told.add((peer, announce.topicid))
                self._enqueue_or_retry_announce(peer, queue, rpc, announce)

    def handle_subscription(self, origin_id: ID, sub_message: rpc_pb2.RPC.SubOpts) -> None:
        topic = sub_message.topicid
        if sub_message.subscribe and not self.may_know(origin_id, topic):
            held = self._withheld.get(origin_id)
            if held is None and len(self._withheld) < WITHHELD_PEERS:
                held = self._withheld[origin_id] = set()
            if held is not None and len(held) < WITHHELD_TOPICS:
                held.add(topic)
            return
        if not sub_message.subscribe:
            self._withheld.get(origin_id, set()).discard(topic)
        super().handle_subscription(origin_id, sub_message)

    def reconsider(self, peer: ID, topics: Iterable[str] | None = None) -> None:
        """The roster changed: admit ``peer``'s held subscriptions, tell it topics it may now know.

        ``topics``: only these (a topic just joined), not all of mine: a relay that took its
        100th circle asked every connected peer about every circle, and stalled for seconds.
        """
        only = None if topics is None else set(topics)
        for topic in sorted(self._withheld.get(peer, set())):
            if (only is None or topic in only) and self.may_know(peer, topic):
                self._withheld[peer].discard(topic)
                super().handle_subscription(peer, rpc_pb2.RPC.SubOpts(subscribe=True, topicid=topic))
        queue = self.peer_queues.get(peer)
        if queue is None:
            return
        mine = self.topic_ids  # a view of py-libp2p's dict: not copied per peer (a relay has 100s)
        for topic in sorted(mine if only is None else [t for t in only if t in mine]):
            if (peer, topic) not in self._told and self.may_know(peer, topic):
                packet, subopt = self._build_announce_rpc(topic, subscribe=True)
                self._told.add((peer, topic))
                self._enqueue_or_retry_announce(peer, queue, packet, subopt)

    def _handle_dead_peer(self, peer_id: ID) -> None:
        self._withheld.pop(peer_id, None)
        self._told = {(p, t) for p, t in self._told if p != peer_id}
        super()._handle_dead_peer(peer_id)

    # messages ------------------------------------------------------------------------

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        try:
            await self.turns.run(msg_forwarder, lambda: self._push(msg_forwarder, msg))
        except Exception as e:
            LOG.warning("dropped a pubsub message from %s: %s", msg_forwarder, _short(e))
            self._charge(msg_forwarder, "a pubsub message that broke its handler")

    async def _push(self, forwarder: ID, msg: rpc_pb2.Message) -> None:
        """``Pubsub.push_msg`` of py-libp2p 0.8.1, in its order, less the eager formatting.

        Blacklist, seen cache, our (synchronous) topic validator, then mark seen, refuse a
        replay of my own message, deliver and forward. Peer scoring is left out: its
        invalid-message penalty has the wrong sign (LIBP2P.md), and our validator charges
        forwarders itself.

        Pubsub's own message signature is not checked (54 µs a receipt, duplicates too): it
        says which peer published, which decides nothing here. The data is a record signed
        by its author, which the validator verifies; the message id is that record's hash,
        so the seen cache cannot be poisoned; a forwarder is known by its connection's
        authenticated peer ID, not by the message's ``from``. Messages are still signed
        when sent (``strict_signing``), so nodes of the first release and js-libp2p peers,
        which refuse unsigned messages, still take ours (docs/protocol.md, 14).
        """
        if self.is_peer_blacklisted(forwarder) or self._is_msg_seen(msg):
            return
        for v in self.get_msg_validators(msg):
            verdict = v.validator(forwarder, msg)
            if not (await verdict if inspect.isawaitable(verdict) else verdict):
                return
        self._mark_msg_seen(msg)
        me = self.host.get_id()
        if ID(msg.from_id) == me and forwarder != me:
            return
        self.notify_subscriptions(msg)
        await self.router.publish(forwarder, msg)


class GuardedGossipSub(LeanGossipSub):
    """GossipSub that meshes only with peers its pubsub's ``may_know`` admits for the topic.

    With ``flood_publish``, what it publishes itself goes to every peer of the topic, not
    only to its mesh (py-libp2p 0.8.1 has no flood publish): in a small circle every member
    is then one hop from the sender, and the mesh degree can stay small, since forwarding
    only repairs what a member could not get directly.
    """

    flood_publish = False

    def _get_peers_to_send(
        self, topic_ids: Iterable[str], msg_forwarder: ID, origin: ID, msg_id: bytes | None = None
    ) -> Iterable[ID]:
        topic_ids = list(topic_ids)
        peers = set(super()._get_peers_to_send(topic_ids, msg_forwarder, origin, msg_id))
        pubsub = self.pubsub
        if self.flood_publish and pubsub is not None and origin == pubsub.my_id:
            for t in topic_ids:  # the topic's peers are only those may_know admitted
                peers |= {p for p in pubsub.peer_topics.get(t, ()) if p in self.peer_protocol}
            peers.discard(origin)
        return peers

    async def handle_graft(self, graft_msg: rpc_pb2.ControlGraft, sender_peer_id: ID) -> None:
        pubsub = self.pubsub
        if isinstance(pubsub, GuardedPubsub) and not pubsub.may_know(sender_peer_id, graft_msg.topicID):
            await self.emit_prune(graft_msg.topicID, sender_peer_id, False, False)
            return
        await super().handle_graft(graft_msg, sender_peer_id)


def _peer_of(stream: INetStream) -> ID | None:
    try:
        peer: ID = stream.muxed_conn.peer_id
        return peer
    except Exception:
        return None


async def _reset_quietly(stream: INetStream) -> None:
    try:
        await stream.reset()
    except Exception as e:  # already gone
        LOG.debug("reset: %s", e)


def _short(e: BaseException) -> str:
    """An exception as one short line: a peer's bytes never reach the log in bulk."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}"
