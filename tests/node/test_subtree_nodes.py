"""Subtrees between running nodes (separate processes, 127.0.0.1): a four-deep family
friends → side → deeper → deepest; ``leave friends --subtree`` leaves all four and the
others, after sync, list the leaver in none; ``remove friends dave --subtree`` takes dave
out of every circle under it that the remover administers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(300)


def _member_keys(p: Peer, circle: str) -> set[str]:
    return {m["key"] for m in p.json("members", circle)}


def _fork(founder: Peer, parent: str, name: str, *members: Peer) -> str:
    """``founder`` forks with ``members`` through its running node; each accepts once invited."""
    args = [a for m in members for a in ("--member", m.key)]
    cid = str(founder.json("fork", parent, name, *args)["id"])
    for m in members:
        wait_until(
            lambda m=m: m.saw("CircleForked", circle=cid, invited=True), 45, what=f"{m.name}'s invitation"
        )
        m.json("join", cid)
    for m in members:
        wait_until(
            lambda m=m: founder.saw("MemberJoined", circle=cid, member=m.key), 45, what=f"{m.name} in {name}"
        )
    return cid


def test_leave_and_remove_across_a_four_deep_family(make_peer: Callable[[str], Peer]) -> None:
    alice, bob, dave = make_peer("alice"), make_peer("bob"), make_peer("dave")
    friends = str(alice.json("circle", "new", "friends")["id"])
    for p in (bob, dave):
        p.json("join", alice.json("invite", "friends", p.key)["token"])
    addr = alice.start()
    bob.start(addr)
    dave.start(addr)
    for p in (bob, dave):
        wait_until(lambda p=p: alice.saw("MemberJoined", circle=friends, member=p.key), 45, what="joins")
    family = [friends]
    for name in ("side", "deeper", "deepest"):
        family.append(_fork(alice, family[-1], name, bob, dave))

    # bob leaves the whole family in one go, deepest first.
    out = bob.json("leave", "friends", "--subtree")
    assert [c["id"] for c in out["left"]] == family[::-1]
    for cid in family:
        wait_until(lambda cid=cid: bob.key not in _member_keys(alice, cid), 45, what="alice to see bob go")
        wait_until(lambda cid=cid: bob.key not in _member_keys(dave, cid), 45, what="dave to see bob go")

    # alice removes dave from friends and everything under it she administers.
    out = alice.json("remove", "friends", dave.key, "--subtree")
    assert [c["id"] for c in out["from"]] == family and out["skipped"] == []
    for cid in family:
        assert dave.key not in _member_keys(alice, cid)
        wait_until(lambda cid=cid: dave.key not in _member_keys(dave, cid), 45, what="dave to learn it")
    for p in (alice, bob, dave):
        assert p.stop() == 0


def test_leave_without_subtree_says_how_to_leave_the_rest(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    alice.json("circle", "new", "friends")
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    addr = alice.start()
    bob.start(addr)
    friends = alice.json("circle", "list")[0]["id"]
    wait_until(lambda: alice.saw("MemberJoined", circle=friends, member=bob.key), 45, what="bob's join")
    side = _fork(alice, "friends", "side", bob)
    text = bob.cli("leave", "friends").stdout
    assert "You left friends." in text and "still in 1 circle(s) under it: side" in text
    assert f"leave {friends[:12]} --subtree" in text
    assert bob.key in _member_keys(alice, side)  # only friends was left
    assert "still in" not in bob.cli("leave", "side").stdout  # nothing under it: no hint
    # The level goes through the running node (the TUI on this profile would read it there).
    assert bob.json("mute", "friends", "--subtree")["level"] == "muted"
    with bob._db() as db:
        levels = {bytes(c).hex(): str(v) for c, v in db.execute("SELECT circle, level FROM notify_levels")}
    assert levels == {friends: "muted", side: "muted"}
    assert alice.stop() == 0 and bob.stop() == 0
