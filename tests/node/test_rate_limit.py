"""Threat 20: a member who floods is held to a per-author rate; everyone else gets through."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from protocol import circle
from protocol.identity import Identity
from protocol.node.limits import RateLimit
from protocol.node.node import Node
from protocol.node.paths import resolve
from protocol.node.profile import Profile

pytestmark = pytest.mark.timeout(120)


def test_threat_20_a_member_sending_1000_a_second_is_limited_and_others_get_through(
    tmp_path: Path,
) -> None:
    alice, bob, carol = (Profile.create(resolve(str(tmp_path), n), n) for n in ("alice", "bob", "carol"))
    c = alice.new_circle("friends").circle_id
    for friend in (bob, carol):
        friend.join_token(alice.invite(c, friend.me))
        alice.import_bundle(friend.export([c]))
    flood = [bob.send_text(c, f"spam {i}") for i in range(1000)]
    honest = carol.send_text(c, "hello, is anyone there?")

    now = [0.0]
    node = Node(alice, lambda ev: None)
    node.core.rate = RateLimit(clock=lambda: now[0])
    topic = circle.topic(c)
    node._topics[topic] = c
    node.host = SimpleNamespace(get_id=lambda: ID(b"alice's own host"))  # type: ignore[assignment]
    forwarder = ID.from_base58(Identity.generate().peer_id)

    def gossip(raw: bytes) -> bool:
        return node._validator(forwarder, rpc_pb2.Message(data=raw, topicIDs=[topic]))

    passed = sum(gossip(r.raw) for r in flood)  # all 1000 within the same second
    assert passed == int(RateLimit().burst)  # the burst, then nothing more this second
    assert gossip(honest.raw)  # carol is not slowed down by bob
    now[0] += 1.0
    # refills at the rate (the records it let through are stored: those would be duplicates now)
    assert sum(gossip(r.raw) for r in flood[passed : passed + 200]) == int(RateLimit().rate)
    # valid records: the forwarder is not punished
    assert not node.core.refused(forwarder.to_base58(), time.monotonic())
    for p in (alice, bob, carol):
        p.close()
