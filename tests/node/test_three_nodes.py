"""Three member nodes as separate processes: invite and join over the network, chat both ways."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(180)


def test_three_nodes_invite_join_and_chat(make_peer: Callable[[str], Peer]) -> None:
    alice, bob, carol = make_peer("alice"), make_peer("bob"), make_peer("carol")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.start()
    carol.start()

    # alice (running) invites bob; bob's node joins and finds alice from the token's addresses.
    token = alice.json("invite", "friends", bob.key)["token"]
    assert bob.json("join", token)["name"] == "friends"
    wait_until(
        lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 30, what="alice sees bob join"
    )

    # bob (a member, not the founder) invites carol: the token chains back to alice.
    token = bob.json("invite", "friends", carol.key)["token"]
    carol.json("join", token)
    for p in (alice, bob):
        wait_until(
            lambda p=p: p.saw("MemberJoined", circle=circle, member=carol.key), 30, what="carol's join"
        )

    sent = {}
    for p in (alice, bob, carol):
        for i in range(3):
            text = f"{p.name} says {i}"
            sent[text] = p.json("send", "friends", text)["id"]
    expected = sorted(sent)
    for p in (alice, bob, carol):
        wait_until(
            lambda p=p: sorted(p.texts(circle)) == expected, 45, what=f"{p.name} to have every message"
        )

    sets = [p.record_ids(circle) for p in (alice, bob, carol)]
    assert sets[0] == sets[1] == sets[2]
    assert set(sent.values()) <= sets[0]
    for p in (alice, bob, carol):
        members = {m["key"] for m in p.json("members", "friends")}
        assert members == {alice.key, bob.key, carol.key}
        assert p.stop() == 0


def test_members_announce_where_they_are(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.start()
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 30, what="bob's join")
    # alice moves to a new port; bob learns it from her signed presence announcement.
    assert alice.stop() == 0
    new_addr = alice.start(bob.addr or "")
    assert new_addr != ""

    def announced() -> bool:
        with bob._db() as db:
            rows = db.execute(
                "SELECT addr, source FROM peer_addrs WHERE circle = ?", (bytes.fromhex(circle),)
            )
            return (new_addr, "presence") in {(str(a), str(s)) for a, s in rows}

    wait_until(announced, 30, what="bob to learn alice's new address from her presence")
    # The same signed announcement carries the display name alice chose.
    names = {m["key"]: m["name"] for m in bob.json("members", "friends")}
    assert names == {alice.key: "alice", bob.key: "bob"}


def test_a_friend_already_connected_is_seen_joining_within_seconds(make_peer: Callable[[str], Peer]) -> None:
    """alice invites bob while their nodes are already connected: her node tells bob's at once
    that she is in the circle, so his join reaches her by gossip or sync within seconds (it
    used to wait for the 20 s repair backstop, ``peers.REPAIR_S``)."""
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    bob.start(alice.start())
    wait_until(lambda: alice.saw("PeerConnected", peer_id=bob.key), 30, what="bob to connect")
    token = alice.json("invite", "friends", bob.key)["token"]
    bob.json("join", token)
    joined = bob.find("CircleJoined", circle=circle)
    assert joined is not None
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 30, what="bob's join")
    seen = alice.find("MemberJoined", circle=circle, member=bob.key)
    assert seen is not None and seen["_t"] - joined["_t"] < 10.0
