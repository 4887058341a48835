"""Forwarding one message costs no step per connected peer outside its topic (fwdcost.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import trio
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11
from libp2p.pubsub.pb import rpc_pb2

from protocol.identity import Identity
from protocol.node import fwdcost
from protocol.node.host import make_gossipsub

pytestmark = pytest.mark.timeout(30)
TOPIC = "circle"


def _peer() -> ID:
    return ID.from_base58(Identity.generate().peer_id)


class _Queue:
    max_message_size = 1 << 20

    def __init__(self) -> None:
        self.sent: list[rpc_pb2.RPC] = []

    def split_rpc(self, rpc: rpc_pb2.RPC) -> list[rpc_pb2.RPC]:
        return [rpc]

    def push(self, rpc: rpc_pb2.RPC, priority: bool = False) -> bool:
        self.sent.append(rpc)
        return True


def _relay(others: int) -> tuple[object, ID, ID, list[ID], dict[ID, _Queue]]:
    """A router with two members of the topic in its mesh and ``others`` peers of other topics."""
    me, a, b = _peer(), _peer(), _peer()
    strangers = [_peer() for _ in range(others)]
    everyone = [a, b, *strangers]
    queues = {p: _Queue() for p in everyone}
    gs = make_gossipsub(degree=24)
    gs.pubsub = SimpleNamespace(  # type: ignore[assignment]
        my_id=me,
        peer_topics={TOPIC: {a, b}, "other": set(strangers)},
        peers=dict.fromkeys(everyone),
        peer_queues=queues,
        get_message_id=lambda m: bytes(m.data),
    )
    for p in everyone:
        gs.add_peer(p, PROTOCOL_ID_V11)
    gs.mesh[TOPIC] = {a, b}
    return gs, a, b, strangers, queues


def _forward(gs: object, forwarder: ID, n: int = 1) -> None:
    async def go() -> None:
        for i in range(n):
            msg = rpc_pb2.Message(
                from_id=forwarder.to_bytes(),
                seqno=i.to_bytes(8, "big"),
                data=b"record %d" % i,
                topicIDs=[TOPIC],
            )
            await gs.publish(forwarder, msg)  # type: ignore[attr-defined]

    trio.run(go)


def test_a_forwarded_message_is_queued_for_no_settled_peer_of_another_topic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gs, a, b, strangers, queues = _relay(others=50)
    monkeypatch.setattr(fwdcost, "FRESH_S", 0.0)  # everyone joined pubsub long ago
    _forward(gs, a, n=3)
    assert len(queues[b].sent) == 3  # the mesh still gets it
    assert not any(queues[p].sent for p in strangers)
    assert not gs._pending_messages  # type: ignore[attr-defined]  # py-libp2p queued 3 for each of the 50


def test_a_peer_that_just_joined_pubsub_still_gets_it_queued_until_its_subscription_is_read() -> None:
    gs, a, _, strangers, _ = _relay(others=3)  # all of them joined just now
    _forward(gs, a)
    assert set(gs._pending_messages) == set(strangers)  # type: ignore[attr-defined]


def test_forwarding_keeps_no_timestamp_per_message_when_adaptive_gossip_is_off() -> None:
    gs, a, *_ = _relay(others=0)
    _forward(gs, a, n=5)
    assert not gs.adaptive_gossip_enabled  # type: ignore[attr-defined]
    assert sum(map(len, gs.recent_message_deliveries.values())) == 0  # type: ignore[attr-defined]
