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
  message), charges the forwarder of a message with a bad libp2p signature, and cannot
  raise. Inbound RPC frames are capped at :data:`MAX_RPC` (one record at the protocol's
  size limit and its envelope), and outbound RPCs are split to that size, so honest
  batches (IWANT answers) still fit.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue
from libp2p.pubsub.validators import signature_validator

from protocol import records

LOG = logging.getLogger("smallsocial.node.guard")

MAX_RPC = records.MAX_RECORD_SIZE + 8 * 1024
"""Largest pubsub RPC frame taken in or sent: one record at its limit plus the libp2p envelope
(originator, seqno, topic, signature, key, signed peer record: under 1 KiB in practice)."""

Charge = Callable[[ID, str], None]
"""Called with a peer and what it did wrong; the node counts it toward graylisting."""


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


class _CappedQueues(dict[ID, RpcQueue]):
    """``Pubsub.peer_queues`` whose queues split outbound RPCs at :data:`MAX_RPC`."""

    def __setitem__(self, peer: ID, queue: RpcQueue) -> None:
        queue.max_message_size = MAX_RPC
        super().__setitem__(peer, queue)


class GuardedPubsub(Pubsub):
    """py-libp2p's Pubsub that bounds RPC frames and never formats or raises on a peer's message."""

    def __init__(self, *args: Any, charge: Charge, **kwargs: Any) -> None:
        kwargs.setdefault("max_inbound_rpc_size", MAX_RPC)
        super().__init__(*args, **kwargs)
        self.peer_queues = _CappedQueues()
        self._charge = charge

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        try:
            await self._push(msg_forwarder, msg)
        except Exception as e:
            LOG.warning("dropped a pubsub message from %s: %s", msg_forwarder, _short(e))
            self._charge(msg_forwarder, "a pubsub message that broke its handler")

    async def _push(self, forwarder: ID, msg: rpc_pb2.Message) -> None:
        """``Pubsub.push_msg`` of py-libp2p 0.8.1, in its order, less the eager formatting.

        Blacklist, seen cache, libp2p signature, our (synchronous) topic validator, then
        mark seen, refuse a replay of my own message, deliver and forward. Peer scoring
        is left out: its invalid-message penalty has the wrong sign (LIBP2P.md), and our
        validator charges forwarders itself.
        """
        if self.is_peer_blacklisted(forwarder) or self._is_msg_seen(msg):
            return
        if self.strict_signing and not signature_validator(msg):
            self._charge(forwarder, "a pubsub message with a bad libp2p signature")
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
