"""A join with a short token over the network: the first sync brings the circle's history.

bob joins and writes with his node stopped: his circle is listed and named, waiting for the
circle. Started, his node meets alice's at the token's address, pulls the genesis and the
roster past (an empty vector asks for the genesis, protocol.md 14.1), the roster takes his
join, and what he wrote before goes out.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(180)


def test_a_short_token_join_is_confirmed_by_the_first_sync(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.json("send", "friends", "before bob")
    alice.start()
    token = alice.json("invite", "friends", bob.key)["token"]
    assert token.startswith("ssi2") and len(token) <= 600

    joined = bob.json("join", token)
    assert joined["name"] == "friends" and joined["waiting"]
    bob.json("send", "friends", "written before meeting anyone")  # kept until the roster takes bob
    (listed,) = bob.json("circle", "list")
    assert listed["waiting"] and listed["members"] == 0

    bob.start()
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 30, what="bob's join")
    wait_until(
        lambda: "written before meeting anyone" in alice.texts(circle),
        30,
        what="bob's early message at alice",
    )
    wait_until(lambda: "before bob" in bob.texts(circle), 30, what="the circle's history at bob")
    (listed,) = bob.json("circle", "list")
    assert listed["waiting"] is None and listed["members"] == 2
    bob.json("send", "friends", "and after")
    wait_until(lambda: "and after" in alice.texts(circle), 30, what="bob's later message")
    assert alice.stop() == 0 and bob.stop() == 0
