"""Forwarding a message without a Python step per connected peer (py-libp2p 0.8.1).

``GossipSub.publish`` sends a message to its mesh and then, for the "identify race", queues
it for **every connected peer not subscribed to its topic**: each such peer's pending queue
(up to 100 messages, 30 s) is filtered again by a list comprehension, the message appended,
a debug line called. On a member that is a handful of peers; on a relay it is every member
of every other circle, 199 with the issue's 100 circles: O(connected members) per relayed
message, 8% of a relay's time in an earlier profile (docs/performance.md, "Relay").

The queue is flushed to a peer once, when its subscription arrives, and what it holds is
dropped when it did not subscribe. A peer whose hello (its subscriptions) has not been read
yet is one that joined pubsub moments ago; a peer that subscribes later (it joined the
circle later, or its subscription waited for the roster, guard.py) gets the topic's recent
messages from the message cache anyway (``Pubsub._replay_recent_messages``), and the rest
by sync. :class:`LeanGossipSub` keeps py-libp2p's queue for peers that joined pubsub less
than ``FRESH_S`` ago (the race it exists for) and for the topic's peers not yet identified,
and skips it for the others: the loop runs over the few fresh peers, not all of them.

Its ``publish`` also stops appending a timestamp per message to
``recent_message_deliveries``, a list only the adaptive-gossip heartbeat prunes: with
adaptive gossip off (host.py) it grew by a float per forwarded message for the node's
life (about 0.5 GB a day on a relay at 200 msg/s).
"""

from __future__ import annotations

import time

import libp2p.pubsub.gossipsub
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub

FRESH_S = 10.0
"""How long after a peer joins pubsub its subscriptions count as possibly not read yet."""


class LeanGossipSub(GossipSub):
    """GossipSub whose ``publish`` queues for the identify race only peers that may be in it.

    ``lean = False`` keeps py-libp2p's ``publish`` (the benchmarks' bare gossipsub).
    """

    lean = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._joined: dict[ID, float] = {}
        """Peers that joined pubsub within ``FRESH_S``, and when (pruned as ``publish`` runs)."""

    def add_peer(self, peer_id: ID, protocol_id: TProtocol | None) -> None:
        super().add_peer(peer_id, protocol_id)
        self._joined[peer_id] = time.monotonic()

    def remove_peer(self, peer_id: ID) -> None:
        self._joined.pop(peer_id, None)
        super().remove_peer(peer_id)

    def fresh_peers(self) -> list[ID]:
        """Peers that joined pubsub less than ``FRESH_S`` ago (the others are forgotten here)."""
        horizon = time.monotonic() - FRESH_S
        for peer in [p for p, t in self._joined.items() if t < horizon]:
            del self._joined[peer]
        return list(self._joined)

    async def publish(self, msg_forwarder: ID, pubsub_msg: rpc_pb2.Message) -> None:
        """``GossipSub.publish`` of py-libp2p 0.8.1, in its order; the pending queue as above."""
        if not self.lean:
            await super().publish(msg_forwarder, pubsub_msg)
            return
        if not self._check_spam_protection(msg_forwarder, pubsub_msg):
            return
        if not self._check_equivocation(pubsub_msg):
            return
        self.mcache.put(pubsub_msg)
        pubsub = self.pubsub
        msg_id = (
            pubsub.get_message_id(pubsub_msg) if pubsub is not None else pubsub_msg.from_id + pubsub_msg.seqno
        )
        origin = ID(pubsub_msg.from_id)
        peers = self._get_peers_to_send(
            pubsub_msg.topicIDs, msg_forwarder=msg_forwarder, origin=origin, msg_id=msg_id
        )
        rpc_msg = rpc_pb2.RPC(publish=[pubsub_msg])
        if isinstance(pubsub, Pubsub):
            # looked up in py-libp2p's module, where rpccost.py may have put its own
            rpc_msg.senderRecord = libp2p.pubsub.gossipsub.env_to_send_in_RPC(pubsub.host)[0]  # type: ignore[attr-defined]
        await self._emit_idontwant_for_message(msg_id, pubsub_msg.topicIDs)
        await self._notify_observers(pubsub_msg.topicIDs, msg_id)
        if pubsub is None:
            return
        for peer_id in peers:
            if peer_id not in pubsub.peers:
                continue
            if self.scorer is not None and not self.scorer.allow_publish(peer_id, list(pubsub_msg.topicIDs)):
                continue
            self.send_rpc(peer_id, rpc_msg)
        skip = {msg_forwarder, origin}
        queued: set[ID] = set()
        now = time.time()
        for topic in pubsub_msg.topicIDs:
            subscribed = pubsub.peer_topics.get(topic, set())
            # The topic's peers whose protocol is not known yet (py-libp2p's first case).
            for peer_id in subscribed:
                if peer_id in skip or peer_id in queued:
                    continue
                if peer_id not in self.peer_protocol and peer_id not in self.direct_peers:
                    self._queue_pending(peer_id, now, rpc_msg)
                    queued.add(peer_id)
            # Fresh peers whose subscription may not have been read yet (its second case).
            for peer_id in self.fresh_peers():
                if peer_id in skip or peer_id in queued or peer_id in self.direct_peers:
                    continue
                if peer_id in pubsub.peers and peer_id not in subscribed:
                    self._queue_pending(peer_id, now, rpc_msg)
                    queued.add(peer_id)
        for topic in pubsub_msg.topicIDs:
            self.time_since_last_publish[topic] = int(now)
            if self.adaptive_gossip_enabled:  # only its heartbeat prunes the list: else a leak
                self.recent_message_deliveries[topic].append(now)

    def _queue_pending(self, peer_id: ID, now: float, rpc_msg: rpc_pb2.RPC) -> None:
        self._prune_pending_messages(peer_id)
        self._pending_messages[peer_id].append((now, rpc_msg))


__all__ = ["FRESH_S", "LeanGossipSub"]
