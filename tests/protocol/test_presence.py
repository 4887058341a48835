"""Presence announcements: only members, only fresh, only their own addresses."""

from __future__ import annotations

import pytest

from protocol import actions, circle, presence, records
from protocol.chain import ChainPos
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.view import CircleView

NOW = 1_800_000_000_000
ALICE, BOB, MALLORY = (Identity.from_seed(bytes([n]) * 32) for n in (1, 2, 9))


def _circle() -> CircleView:
    c = circle.create(ALICE, "friends", NOW)
    v = CircleView(c.genesis)
    inv = actions.invite(ALICE, v.roster, v.next_pos(ALICE.public_key), BOB.public_key, NOW)
    v.add(inv)
    v.add(actions.join(BOB, inv, ChainPos(), NOW))
    return v


def addr(who: Identity) -> str:
    return f"/ip4/127.0.0.1/tcp/4001/p2p/{who.peer_id}"


def test_a_member_announcement_is_believed_and_round_trips() -> None:
    v = _circle()
    rec = presence.announce(BOB, v.id, [addr(BOB)], NOW)
    assert records.parse(rec.raw).body == rec.body
    assert rec.seq == 0 and not rec.is_roster
    assert presence.check(rec, v.roster, NOW + 1000) is None


def test_bad_announcements_each_have_a_reason() -> None:
    v = _circle()

    def why(who: Identity, circle_id: bytes, a: str, now: int = NOW) -> str:
        return str(presence.check(presence.announce(who, circle_id, [a], NOW), v.roster, now))

    assert "not a member" in why(MALLORY, v.id, addr(MALLORY))
    assert "too old" in why(BOB, v.id, addr(BOB), NOW + 10**7)
    assert "not the author's own" in why(BOB, v.id, addr(ALICE))
    assert "another circle" in why(BOB, b"\x01" * 32, addr(BOB))


def test_a_presence_record_is_never_a_chain_record() -> None:
    v = _circle()
    rec = presence.announce(BOB, v.id, [addr(BOB)], NOW)
    before = dict(v.records)
    v.add(rec)
    assert v.records == before


def test_the_announced_display_name_is_signed_and_cut_to_64() -> None:
    v = _circle()
    rec = presence.announce(BOB, v.id, [addr(BOB)], NOW, "Bob the Builder " * 10)
    assert records.parse(rec.raw).body["nm"] == ("Bob the Builder " * 10)[:64]
    assert presence.check(rec, v.roster, NOW) is None
    tampered = rec.raw.replace(b"Bob the Builder", b"Bob the Burglar", 1)
    with pytest.raises(ProtocolError):  # a changed name breaks the signature
        records.parse(tampered)
