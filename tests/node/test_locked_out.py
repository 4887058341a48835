"""A member whose current epoch key was sealed to a private prekey of theirs that is gone (deleted
three days after it was replaced, and a member who saw no newer one sealed to it anyway) is not
stuck: its next send, or its node's rekey round, rekeys, and everyone reads on. Real profiles,
real SQLite, an injected clock (the helpers of test_forward_secrecy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.node import rekeying
from protocol.node.profile import Profile
from tests.node.test_forward_secrecy import Clock, circle_of, sync

pytestmark = pytest.mark.timeout(120)


def lock_out(alice: Profile, bob: Profile, cid: bytes) -> None:
    """alice rekeys to bob's published prekey after bob's node deleted its private half."""
    bob.refresh_prekeys()
    sync(alice, bob, cid)
    (public, *_), *_ = bob.store.prekeys()
    assert alice.view(cid).roster.prekeys[bob.me].key == public
    bob.store.drop_prekey(public)
    rekeying.rekey(alice, cid)
    sync(alice, bob, cid)
    assert bob.locked_out(cid) and not alice.locked_out(cid)


def texts(p: Profile, cid: bytes) -> list[str]:
    return [e.text for e in p.log(cid)]


def test_a_locked_out_member_rekeys_when_it_sends(tmp_path: Path) -> None:
    clock = Clock()
    (alice, bob), cid = circle_of(tmp_path, clock, ["alice", "bob"])
    lock_out(alice, bob, cid)
    alice.send_text(cid, "can you read this")
    sync(alice, bob, cid)
    assert "can you read this" not in texts(bob, cid)
    bob.send_text(cid, "now I can")  # a rekey of bob's first, then the message under it
    assert not bob.locked_out(cid)
    sync(alice, bob, cid)
    assert "now I can" in texts(alice, cid)
    alice.send_text(cid, "and so can I")
    sync(alice, bob, cid)
    assert "and so can I" in texts(bob, cid)
    alice.close()
    bob.close()


def test_a_locked_out_members_node_rekeys_in_its_round(tmp_path: Path) -> None:
    clock = Clock()
    (alice, bob), cid = circle_of(tmp_path, clock, ["alice", "bob"])
    lock_out(alice, bob, cid)
    rekeyer = rekeying.Rekeyer(bob)
    (done,) = rekeyer.due(clock())
    assert done.circle == cid and not bob.locked_out(cid)
    assert rekeyer.due(clock()) == []  # once
    sync(alice, bob, cid)
    alice.send_text(cid, "welcome back")
    sync(alice, bob, cid)
    assert "welcome back" in texts(bob, cid)
    alice.close()
    bob.close()
