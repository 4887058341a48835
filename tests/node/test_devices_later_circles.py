"""A linked device is brought into circles its person makes or enters after the link
(protocol/node/selfcircle.py), on real profiles and SQLite files, records carried by hand.

The person's device writes the device's ``device`` record in each such circle and hands the
circle over in the hidden self circle; the device opens it from there and reads it. A linked
device does not found or join circles in its own name; an unlinked device is brought into
nothing more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import circle, messages, records, wire
from protocol.errors import RosterError
from protocol.identity import Identity
from protocol.node import devices, selfcircle
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile

CHEAP = {"opslimit": 1, "memlimit": 8192}
pytestmark = pytest.mark.timeout(60)


def make(tmp: Path, name: str, n: int) -> Profile:
    return Profile.create(
        ProfilePaths(tmp / name), name, identity=Identity.from_seed(bytes([n]) * 32), **CHEAP
    )


def carry(src: Profile, dst: Profile, *circles: bytes) -> None:
    """What gossip and sync would do: every record of ``circles`` from ``src`` to ``dst``."""
    dst.import_bundle(src.export(list(circles)))
    dst.forget_views()


def linked(tmp: Path) -> tuple[Profile, Profile, bytes]:
    alice, laptop = make(tmp, "alice", 1), make(tmp, "laptop", 41)
    friends = alice.new_circle("friends").circle_id
    bundle, circles = devices.add(alice, devices.request(laptop, "laptop"))
    assert circles == [friends]  # the self circle is not told as one of the user's circles
    assert devices.accept(laptop, bundle) == [friends]
    return alice, laptop, friends


def test_a_circle_made_after_the_link_reaches_the_device(tmp_path: Path) -> None:
    alice, laptop, _ = linked(tmp_path)
    own = selfcircle.circle_id(alice)
    assert own is not None and selfcircle.circle_id(laptop) == own
    assert [c.name for c in alice.circles()] == ["friends"] == [c.name for c in laptop.circles()]
    later = alice.new_circle("later").circle_id
    alice.send_text(later, "made after the link")
    roster = alice.view(later).roster
    assert roster.person_of(laptop.me) == alice.me
    assert laptop.me in roster.prekeys  # its record carries its prekey: nobody seals to its key
    assert selfcircle.take(laptop) == []  # nothing handed over yet
    carry(alice, laptop, own)
    assert selfcircle.take(laptop) == [later]
    assert selfcircle.take(laptop) == []  # once
    carry(alice, laptop, later)
    assert [e.text for e in laptop.log(later)] == ["made after the link"]
    assert {c.name for c in laptop.circles()} == {"friends", "later"}
    laptop.send_text(later, "from the laptop")
    carry(laptop, alice, later)
    assert [e.text for e in alice.log(later)] == ["made after the link", "from the laptop"]


def test_a_circle_the_person_joins_later_reaches_the_device(tmp_path: Path) -> None:
    alice, laptop, _ = linked(tmp_path)
    carol = make(tmp_path, "carol", 3)
    cid = carol.new_circle("carol's").circle_id
    carol.send_text(cid, "welcome")
    alice.join_token(carol.invite(cid, alice.me))
    # a short token: the roster confirms the join only once carol's records come (sync)
    carry(carol, alice, cid)
    carry(alice, carol, cid)
    assert alice.me in alice.view(cid).roster.members
    assert selfcircle.reconcile(alice) == [cid]  # the node's round, or its roster-change hook
    carry(alice, carol, cid)
    assert carol.view(cid).roster.person_of(laptop.me) == alice.me
    carry(alice, laptop, selfcircle.circle_id(alice) or b"")
    assert selfcircle.take(laptop) == [cid]
    carry(carol, laptop, cid)
    assert [e.text for e in laptop.log(cid)] == ["welcome"]


def test_a_fork_after_the_link_reaches_the_device_and_bob_sees_it_as_alices(tmp_path: Path) -> None:
    alice, laptop, friends = linked(tmp_path)
    bob = make(tmp_path, "bob", 2)
    bob.join_token(alice.invite(friends, bob.me))
    carry(alice, bob, friends)
    carry(bob, alice, friends)
    kids = alice.fork(friends, "kids", [bob.me])
    alice.send_text(kids, "in the fork")
    carry(alice, bob, friends)
    bob.accept_fork(kids)
    carry(alice, bob, kids)
    assert bob.view(kids).roster.person_of(laptop.me) == alice.me
    carry(alice, laptop, friends, selfcircle.circle_id(alice) or b"")
    assert selfcircle.take(laptop) == [kids]
    carry(alice, laptop, kids)
    carry(bob, laptop, kids)
    assert [e.text for e in laptop.log(kids)] == ["in the fork"]


def test_a_linked_device_founds_and_joins_nothing_in_its_own_name(tmp_path: Path) -> None:
    alice, laptop, friends = linked(tmp_path)
    for act in (
        lambda: laptop.new_circle("mine"),
        lambda: laptop.fork(friends, "sub", [alice.me]),
        lambda: laptop.join_token("ssi2whatever"),
    ):
        with pytest.raises(RosterError, match="linked device of"):
            act()
    assert [c.name for c in laptop.circles()] == ["friends"]


def test_an_unlinked_device_is_brought_into_nothing_more(tmp_path: Path) -> None:
    alice, laptop, friends = linked(tmp_path)
    own = selfcircle.circle_id(alice)
    assert own is not None
    assert devices.revoke(alice, laptop.me) == [friends]  # and in the self circle, not counted
    assert laptop.me in alice.view(own).roster.departed
    after = alice.new_circle("after").circle_id
    assert laptop.me not in alice.view(after).roster.members
    # nothing handed over in the self circle: its only handoffs are those the laptop held
    handoffs = [
        r
        for r in alice.store.load_records(own, records.MSG)
        if messages.open_message(r, alice.epoch_keys(own)[bytes(r.body["e"])], handoff=True).kind
        == messages.CIRCLE
    ]
    assert handoffs == []


def test_a_device_unlinked_in_one_circle_is_brought_into_no_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, laptop, friends = linked(tmp_path)
    monkeypatch.setattr(devices, "_my_circles", lambda p: [friends])  # unlinked there only
    devices.revoke(alice, laptop.me)
    monkeypatch.undo()
    own = selfcircle.circle_id(alice)
    assert own is not None and laptop.me in alice.view(own).roster.members  # still in the self circle
    assert laptop.me not in alice.view(alice.new_circle("after").circle_id).roster.members


def test_only_the_persons_handoffs_open_circles(tmp_path: Path) -> None:
    alice, laptop, _ = linked(tmp_path)
    tablet = make(tmp_path, "tablet", 43)
    bundle, _ = devices.add(alice, devices.request(tablet, "tablet"))
    devices.accept(tablet, bundle)
    own = selfcircle.circle_id(alice)
    assert own is not None
    carry(alice, laptop, own)
    # the tablet (say, stolen) makes a circle behind its node's back and hands it over itself
    made = circle.create(tablet.identity, "bait", int(tablet.clock() * 1000))
    with tablet.store.tx():
        tablet.ledger.open_circle(made.genesis, None, tablet.ledger.seal(b"bait"), "member")
        tablet.ledger.keep_key(made.circle_id, made.circle_id, made.epoch_key)
    tablet.send(own, selfcircle.handoff(tablet, made.circle_id))
    carry(tablet, laptop, own)
    assert tablet.me in laptop.view(own).roster.members
    assert selfcircle.take(laptop) == []  # only alice's own handoffs count
    assert laptop.store.circle(made.circle_id) is None


def test_a_malformed_handoff_is_dropped_with_a_reason_and_opens_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice, laptop, _ = linked(tmp_path)
    own = selfcircle.circle_id(alice)
    assert own is not None
    before = {c.id for c in laptop.store.circles()}
    for junk in (b"\xc1", wire.encode(["not", "a", "handoff"]), wire.encode([b"x" * 40, None, "n", [], []])):
        alice.send(own, messages.Content(messages.CIRCLE, int(alice.clock() * 1000), circle=junk))
    later = alice.new_circle("later").circle_id  # and a good one after them
    carry(alice, laptop, own)
    with caplog.at_level("WARNING", logger="smallsocial.selfcircle"):
        assert selfcircle.take(laptop) == [later]
    assert sum("dropped a handoff" in r.getMessage() for r in caplog.records) == 3
    assert {c.id for c in laptop.store.circles()} == before | {later}


def test_a_handoff_is_read_nowhere_but_a_self_circle(tmp_path: Path) -> None:
    alice, _, friends = linked(tmp_path)
    content = selfcircle.handoff(alice, friends)
    rec = alice.send(friends, content)  # posted where it does not belong
    key = alice.epoch_keys(friends)[bytes(rec.body["e"])]
    with pytest.raises(Exception, match="self circle"):
        messages.open_message(rec, key)
    assert "friends" not in [e.text for e in alice.log(friends)]
