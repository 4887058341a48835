"""A relay that takes one more circle does work for that circle, not for every circle it serves.

Taking a circle used to ask every connected peer about every topic the relay serves (who may
know what) and to throw away every circle's cached view. A relay serving 100 circles for 200
members then spent seconds per pin offer on its own thread; stream negotiations timed out,
members were dropped, and half of them had not come back when the benchmark started sending
(scripts/bench_relay.py). These tests run a real relay node with real connected member nodes
and count the work one adoption does, as the relay's circles grow.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from protocol import circle, pinning
from protocol.identity import peer_id
from protocol.node import api
from protocol.node.ledger import Ledger
from protocol.node.node import Node
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from protocol.node.relay import RelayNode
from tests.faults.relaykit import free_port

pytestmark = pytest.mark.timeout(120)

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
CIRCLES = 12
MEMBERS = 6


def _quiet(_: api.Event) -> None:
    pass


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """alice founds CIRCLES circles pinned to the relay, each with one of MEMBERS other people in
    it, who run nodes and do not know of the pin yet (so only the test offers the circles)."""
    relay = Profile.create(resolve(str(tmp_path), "relay"), "relay")
    alice = Profile.create(resolve(str(tmp_path), "alice"), "alice")
    others = [Profile.create(resolve(str(tmp_path), f"m{k}"), f"m{k}") for k in range(MEMBERS)]
    offers = []
    relay_listen = f"/ip4/127.0.0.1/tcp/{free_port()}"  # members dial the pin's address
    for k in range(CIRCLES):
        c = alice.new_circle(f"c{k}").circle_id
        m = others[k % MEMBERS]  # each circle has one of the member nodes in it
        m.join_token(alice.invite(c, m.me))
        alice.import_bundle(m.export([c]))
        alice.pin(c, f"{relay_listen}/p2p/{peer_id(relay.me)}")
        offers.append(pinning.check_offer(pinning.offer_records(alice.view(c)), relay.me))
    yield {"relay": relay, "alice": alice, "others": others, "offers": offers, "listen": relay_listen}
    for p in (relay, alice, *others):
        p.close()


@contextlib.asynccontextmanager
async def _running(world: dict[str, Any]) -> AsyncIterator[tuple[RelayNode, list[Node]]]:
    """The relay and the member nodes, each member connected to it with its pubsub stream open
    both ways; all stopped at the end."""
    relay = RelayNode(world["relay"], _quiet, listen=[world["listen"]])
    members = [Node(p, _quiet, listen=[LOOPBACK]) for p in world["others"]]
    async with trio.open_nursery() as n:
        await n.start(relay.run)
        for m in members:
            await n.start(m.run)
            assert await m.peers.connect(relay.public_addrs()[0])
        with trio.fail_after(20):
            while len(relay.peers.connected) < MEMBERS or len(relay.pubsub.peer_queues) < MEMBERS:
                await trio.sleep(0.05)
        yield relay, members
        for node in (relay, *members):
            node.stop()
        n.cancel_scope.cancel()


def _adopt_all(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[int], list[int], int, int]:
    """Start the relay and the member nodes, connect them, then adopt each circle in turn:
    how many may-know questions and how many view builds each adoption made, and how many
    of the adopted circles' views the relay still holds at the end."""
    asked: list[int] = []
    built: list[int] = []
    counts = {"ask": 0, "build": 0}
    view = Ledger.view

    def counted_view(self: Ledger, circle_id: bytes) -> Any:
        if circle_id not in self.views:
            counts["build"] += 1
        return view(self, circle_id)

    connected = cached = 0

    async def go() -> None:
        nonlocal connected, cached
        async with _running(world) as (relay, _):
            connected = len(relay.peers.connected)
            may_know = relay.pubsub.may_know

            def counted_may_know(peer: Any, topic: str) -> bool:
                counts["ask"] += 1
                return may_know(peer, topic)

            monkeypatch.setattr(relay.pubsub, "may_know", counted_may_know)
            monkeypatch.setattr(Ledger, "view", counted_view)
            founder = next(iter(relay.peers.connected))
            for offer in world["offers"]:
                counts["ask"] = counts["build"] = 0
                assert await relay.adopt(offer, founder) is None
                asked.append(counts["ask"])
                built.append(counts["build"])
            monkeypatch.undo()
            cached = sum(o.circle_id in relay.profile.ledger.views for o in world["offers"])

    trio.run(go)
    return asked, built, connected, cached


def test_taking_a_circle_asks_each_peer_about_that_circle_only(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked, _, connected, _ = _adopt_all(world, monkeypatch)
    assert connected == MEMBERS
    # Each connected peer is asked about the new topic (its held subscription, then whether to
    # tell it), not about the relay's other circles: the last adoption asks no more than the first.
    assert max(asked) <= 3 * connected, asked
    assert asked[-1] <= asked[0] + connected, asked


def test_taking_a_circle_keeps_the_other_circles_views(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, built, _, cached = _adopt_all(world, monkeypatch)
    # The new circle's view is built (the offer, the join, the sync plan); the others stay cached
    # (dropping them all cost each circle a rebuild when its next record came).
    assert max(built) <= 2, built
    assert cached == CIRCLES


def test_a_relay_still_tells_a_member_the_topic_it_may_know(world: dict[str, Any]) -> None:
    """The narrower question still reaches the member of each new circle, both ways (guard.py).

    Here the members know the pin, so each also offers its circle when it connects (a member's
    path), racing the founder's offers and the pubsub streams' first packets.
    """
    for k, offer in enumerate(world["offers"]):
        world["others"][k % MEMBERS].import_bundle(world["alice"].export([offer.circle_id]))
    seen: list[tuple[bool, bool]] = []

    async def go() -> None:
        async with _running(world) as (relay, members):
            founder = next(iter(relay.peers.connected))
            for offer in world["offers"]:
                assert await relay.adopt(offer, founder) is None
            relay_id = relay.host.get_id()
            with trio.move_on_after(10):
                while True:
                    seen[:] = []
                    for k, offer in enumerate(world["offers"]):
                        m = members[k % MEMBERS]
                        t = circle.topic(offer.circle_id)
                        seen.append(
                            (
                                relay_id in m.pubsub.peer_topics.get(t, ()),  # the relay told the member
                                m.host.get_id() in relay.pubsub.peer_topics.get(t, ()),  # and took its
                            )
                        )
                    if all(a and b for a, b in seen):
                        break
                    await trio.sleep(0.05)

    trio.run(go)
    assert seen == [(True, True)] * CIRCLES
