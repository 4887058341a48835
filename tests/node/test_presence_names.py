"""Presence between real nodes: members learn each other's chosen names from sealed presence."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(120)


def test_a_member_learns_the_name_another_chose(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    alice.cli("id", "--name", "Alice Liddell")
    alice.json("circle", "new", "friends")
    alice.start()
    assert alice.addr is not None
    bob.start(alice.addr)
    token = alice.json("invite", "friends", bob.key)["token"]
    bob.json("join", token)
    wait_until(lambda: bob.saw("NameChanged", name="Alice Liddell"), 45, what="bob to learn alice's name")
    members = {m["key"]: m for m in bob.json("members", "friends")}
    assert "Alice Liddell" in str(members.get(alice.key)), members
