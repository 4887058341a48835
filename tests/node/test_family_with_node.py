"""The soft cap and the family answers with running nodes: `circle cap N` goes through alice's
node (the control socket), the record reaches bob's node by sync, bob's own node refuses his,
`invite` at the cap prints the fork hint, and LoadFamily / LoadSplit answer over the socket."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocol.node import api
from smallsocial_tui import control
from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(180)


def test_the_cap_goes_through_the_node_and_reaches_members(make_peer: Callable[[str], Peer]) -> None:
    alice, bob, carol = make_peer("alice"), make_peer("bob"), make_peer("carol")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.start()
    wait_until(lambda: bob.json("circle", "cap", "friends")["members"] == 2, 45, what="bob confirmed")

    got = alice.json("circle", "cap", "friends", "2")  # alice's node signs and sends it
    assert got == {"circle": circle, "soft_cap": 2, "set_by": alice.key, "members": 2}
    wait_until(lambda: bob.json("circle", "cap", "friends")["soft_cap"] == 2, 45, what="the cap at bob")
    refused = bob.cli("circle", "cap", "friends", "9", ok=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "smallsocial: Only admins can set the circle's soft cap."

    p = alice.cli("invite", "friends", carol.key)  # at the cap: still a token, and the offer
    assert p.stdout.strip().startswith("ssi2")
    assert "friends has 2 members, its soft cap is 2" in p.stderr and " fork " in p.stderr

    fam = control.call(alice.root, api.LoadFamily(bytes.fromhex(circle)))
    assert isinstance(fam, api.FamilyLoaded)
    assert [(c.name, c.members, c.soft_cap) for c in fam.circles] == [("friends", 2, 2)]
    assert [link.verified for link in fam.links] == [True, True]
    split = control.call(alice.root, api.LoadSplit(bytes.fromhex(circle)))
    assert isinstance(split, api.SplitSuggested) and split.size == 2 and split.soft_cap == 2
    assert len(split.groups) == 1  # nothing said yet: nothing to split by
