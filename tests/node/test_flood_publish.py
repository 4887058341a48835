"""A member's own messages go to every peer of the circle; forwarding stays in the small mesh."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11

from protocol.identity import Identity
from protocol.node.host import make_gossipsub
from protocol.node.node import Node
from protocol.node.relay import RelayNode

pytestmark = pytest.mark.timeout(30)
TOPIC = "circle"


def _peer() -> ID:
    return ID.from_base58(Identity.generate().peer_id)


def _router(flood: bool) -> tuple[object, ID, list[ID]]:
    me, peers = _peer(), [_peer() for _ in range(5)]
    gs = make_gossipsub(degree=2, flood_publish=flood)
    gs.pubsub = SimpleNamespace(my_id=me, peer_topics={TOPIC: set(peers)})  # type: ignore[assignment]
    gs.mesh[TOPIC] = set(peers[:2])
    for p in peers:
        gs.peer_protocol[p] = PROTOCOL_ID_V11
    return gs, me, peers


def test_my_own_message_goes_to_every_peer_of_the_topic() -> None:
    gs, me, peers = _router(flood=True)
    assert set(gs._get_peers_to_send([TOPIC], me, me)) == set(peers)  # type: ignore[attr-defined]


def test_a_forwarded_message_stays_in_the_mesh() -> None:
    gs, _, peers = _router(flood=True)
    sent = set(gs._get_peers_to_send([TOPIC], peers[0], peers[4]))  # type: ignore[attr-defined]
    assert sent == {peers[1]}  # the mesh, less the forwarder and the origin


def test_without_flood_publish_my_message_stays_in_the_mesh_too() -> None:
    gs, me, peers = _router(flood=False)
    assert set(gs._get_peers_to_send([TOPIC], me, me)) == set(peers[:2])  # type: ignore[attr-defined]


def test_a_member_keeps_a_small_mesh_and_a_relay_meshes_with_everyone() -> None:
    assert Node.mesh_degree <= 4 < 24 <= RelayNode.mesh_degree
