"""A fork of a pinned circle reaches the relay with no second pin: the child's roster
inherits the parent's pin records, the forker's node hands it over, and the relay stores
and forwards the child's messages for a member who was offline."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.node.harness import Peer, wait_until
from tests.relay.kit import RelayPeer, block

pytestmark = pytest.mark.timeout(240)


def test_a_fork_of_a_pinned_circle_is_served_by_its_relay(
    make_peer: Callable[[str], Peer], make_relay: Callable[..., RelayPeer]
) -> None:
    relay = make_relay()
    relay.start()
    assert relay.addr is not None
    alice, bob = make_peer("alice"), make_peer("bob")
    friends = str(alice.json("circle", "new", "friends")["id"])
    alice.json("circle", "pin", "friends", relay.addr)
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.start(alice.start())
    wait_until(lambda: relay.status.get("circles") == 1, 30, what="the relay to take friends")
    wait_until(lambda: alice.saw("MemberJoined", circle=friends, member=bob.key), 45, what="bob's join")

    # The fork carries the parent's pin: the relay takes it with no `circle pin` for it.
    side = str(alice.json("fork", "friends", "side", "--member", bob.key)["id"])
    wait_until(lambda: relay.status.get("circles") == 2, 45, what="the relay to take the fork unasked")
    wait_until(lambda: bob.saw("CircleForked", circle=side, invited=True), 45, what="bob's invitation")
    bob.json("join", side)
    wait_until(lambda: alice.saw("MemberJoined", circle=side, member=bob.key), 45, what="bob in side")

    # alice goes offline; what bob writes in the fork waits at the relay, and reaches alice
    # when she comes back unable to reach bob: only the relay can have brought it.
    assert alice.stop() == 0
    sent = bob.json("send", "side", "kept for you by the relay")["id"]
    wait_until(lambda: sent in relay.record_ids(side), 45, what="the relay to store bob's message")
    block(alice, bob)
    alice.start()
    wait_until(lambda: alice.texts(side) == ["kept for you by the relay"], 45, what="the message at alice")
    for p in (alice, bob, relay):
        assert p.stop() == 0


def test_an_invitee_who_reaches_only_the_relay_gets_into_the_fork(
    make_peer: Callable[[str], Peer], make_relay: Callable[..., RelayPeer]
) -> None:
    """bob and alice never reach each other: bob learns of the fork, joins it and talks in it
    through the relay alone, with the parent's relay as the child's until its pins arrive."""
    relay = make_relay()
    relay.start()
    assert relay.addr is not None
    alice, bob = make_peer("alice"), make_peer("bob")
    friends = str(alice.json("circle", "new", "friends")["id"])
    alice.json("circle", "pin", "friends", relay.addr)
    bob.json("join", alice.json("invite", "friends", bob.key, "--addr", relay.addr)["token"])
    block(alice, bob)
    block(bob, alice)
    alice.start()
    bob.start()
    wait_until(lambda: alice.saw("MemberJoined", circle=friends, member=bob.key), 60, what="bob's join")

    side = str(alice.json("fork", "friends", "side", "--member", bob.key)["id"])
    wait_until(lambda: bob.saw("CircleForked", circle=side, invited=True), 45, what="bob's invitation")
    bob.json("join", side)
    wait_until(lambda: alice.saw("MemberJoined", circle=side, member=bob.key), 45, what="bob in side")
    sent = bob.json("send", "side", "through the relay only")["id"]
    wait_until(lambda: sent in relay.record_ids(side), 45, what="the relay to store bob's message")
    wait_until(lambda: alice.texts(side) == ["through the relay only"], 45, what="the message at alice")
    for p in (alice, bob, relay):
        assert p.stop() == 0
