"""A node greets a newly connected peer only in the circles they share as members.

The greeting waits (polling pubsub) for the peer's subscription to each circle, up to
15 s. Waiting in every circle of mine made a relay serving 10 circles spend 8% of a
core on each connection's greetings for nothing; it announces nothing (it is no member).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from libp2p.peer.id import ID

from protocol import pinning
from protocol.identity import peer_id
from protocol.node.paths import resolve
from protocol.node.peers import Peers
from protocol.node.profile import Profile

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def people(tmp_path: Path) -> Iterator[dict[str, Profile]]:
    names = ("alice", "bob", "carol", "dave", "relay")
    ps = {n: Profile.create(resolve(str(tmp_path), n), n) for n in names}
    yield ps
    for p in ps.values():
        p.close()


def _greets(p: Profile, who: Profile) -> list[bytes]:
    peers = Peers(SimpleNamespace(profile=p))  # type: ignore[arg-type]
    return peers.greeted_circles(ID.from_base58(peer_id(who.me)))


def test_a_greeting_goes_to_shared_circles_only(people: dict[str, Profile]) -> None:
    alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
    with_bob = alice.new_circle("with bob").circle_id
    with_carol = alice.new_circle("with carol").circle_id
    for friend, c in ((bob, with_bob), (carol, with_carol)):
        friend.join_token(alice.invite(c, friend.me))
        alice.import_bundle(friend.export([c]))
    alice.invite(with_carol, dave.me)  # invited, not joined yet: may know of the circle
    assert _greets(alice, bob) == [with_bob]
    assert _greets(alice, carol) == [with_carol]
    assert _greets(alice, dave) == [with_carol]
    assert _greets(alice, people["relay"]) == []  # a stranger: nothing


def test_a_relay_greets_nobody(people: dict[str, Profile]) -> None:
    alice, bob, relay = people["alice"], people["bob"], people["relay"]
    c = alice.new_circle("pinned").circle_id
    bob.join_token(alice.invite(c, bob.me))
    alice.import_bundle(bob.export([c]))
    alice.pin(c, f"/ip4/127.0.0.1/tcp/4001/p2p/{peer_id(relay.me)}")
    offer = pinning.check_offer(pinning.offer_records(alice.view(c)), relay.me)  # what adopt() takes
    relay.ledger.open_circle(offer.genesis, None, relay.ledger.seal(b""), "relay")
    for r in offer.accepted:
        relay.ledger.commit(r)
    assert relay.view(c).roster.may_know(alice.me) and not relay.view(c).roster.is_member(relay.me)
    assert _greets(alice, relay) == [c]  # members greet their relay (it forwards presence)
    assert _greets(relay, alice) == []
