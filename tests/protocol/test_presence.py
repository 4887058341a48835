"""Presence announcements: only members, only fresh, only their own addresses, readable by members only."""

from __future__ import annotations

import pytest

from protocol import actions, circle, crypto, presence, records
from protocol.chain import ChainPos
from protocol.errors import DecryptError, ProtocolError, SchemaError
from protocol.identity import Identity
from protocol.view import CircleView

NOW = 1_800_000_000_000
ALICE, BOB, MALLORY = (Identity.from_seed(bytes([n]) * 32) for n in (1, 2, 9))
KEY = b"k" * 32
EPOCH = b"e" * 32


def _circle() -> CircleView:
    c = circle.create(ALICE, "friends", NOW)
    v = CircleView(c.genesis)
    inv = actions.invite(ALICE, v.roster, v.next_pos(ALICE.public_key), BOB.public_key, NOW)
    v.add(inv)
    v.add(actions.join(BOB, inv, ChainPos(), NOW))
    return v


def addr(who: Identity) -> str:
    return f"/ip4/127.0.0.1/tcp/4001/p2p/{who.peer_id}"


def announce(
    who: Identity, circle_id: bytes, addrs: list[str], name: str = "", ts: int = NOW
) -> records.Record:
    return presence.announce(who, circle_id, addrs, NOW, name, EPOCH, KEY)


def test_a_member_announcement_is_believed_opened_and_round_trips() -> None:
    v = _circle()
    rec = announce(BOB, v.id, [addr(BOB)], "Bob")
    assert records.parse(rec.raw).body == rec.body
    assert rec.seq == 0 and not rec.is_roster
    assert presence.check(rec, v.roster, NOW + 1000) is None
    assert presence.open_presence(rec, KEY) == presence.Presence((addr(BOB),), "Bob")


def test_what_a_relay_or_stranger_sees_is_sealed() -> None:
    v = _circle()
    rec = announce(BOB, v.id, [addr(BOB)], "Bob the Builder")
    assert b"Bob the Builder" not in rec.raw and b"127.0.0.1" not in rec.raw
    assert set(rec.body) == {"v", "t", "a", "c", "ts", "e", "n", "x"}
    with pytest.raises(DecryptError):  # another key (an old epoch's, a guess) opens nothing
        presence.open_presence(rec, b"j" * 32)


def test_bad_announcements_each_have_a_reason() -> None:
    v = _circle()

    def why(who: Identity, circle_id: bytes, a: str, now: int = NOW) -> str:
        return str(presence.check(announce(who, circle_id, [a]), v.roster, now))

    assert "not a member" in why(MALLORY, v.id, addr(MALLORY))
    assert "too old" in why(BOB, v.id, addr(BOB), NOW + 10**7)
    assert "another circle" in why(BOB, b"\x01" * 32, addr(BOB))
    with pytest.raises(SchemaError, match="not the author's own"):
        presence.open_presence(announce(BOB, v.id, [addr(ALICE)]), KEY)


def test_the_sealed_content_is_bound_to_author_circle_time_and_epoch() -> None:
    """Re-signing another member's sealed content under my key (or another time) opens nothing."""
    v = _circle()
    bob = announce(BOB, v.id, [addr(BOB)], "Bob")
    for field, value in (("a", ALICE.public_key), ("ts", NOW + 1), ("c", b"\x02" * 32), ("e", b"f" * 32)):
        body = {k: val for k, val in bob.body.items() if k != "v"}
        body[field] = value
        signer = ALICE if field == "a" else BOB
        moved = records.sign(signer, body)
        with pytest.raises(DecryptError):
            presence.open_presence(moved, KEY)


@pytest.mark.parametrize(
    ("addrs", "name", "ok"),
    [
        (["x/p2p/{}"], "", True),
        ([], "", False),
        (["x" * 190 + "/p2p/{}"], "", True),
        (["x" * 300 + "/p2p/{}"], "", False),
        (["x/p2p/{}"] * 8, "", True),
        (["x/p2p/{}"] * 9, "", False),
        (["x/p2p/{}"], "é" * 64, True),
    ],
)
def test_the_sealed_content_keeps_the_limits(addrs: list[str], name: str, ok: bool) -> None:
    v = _circle()
    rec = presence.announce(BOB, v.id, [a.format(BOB.peer_id) for a in addrs], NOW, name, EPOCH, KEY)
    if ok:
        assert presence.open_presence(rec, KEY).name == name
    else:
        with pytest.raises(SchemaError):
            presence.open_presence(rec, KEY)


def test_a_presence_record_is_never_a_chain_record() -> None:
    v = _circle()
    rec = announce(BOB, v.id, [addr(BOB)])
    before = dict(v.records)
    v.add(rec)
    assert v.records == before


def test_the_announced_display_name_is_cut_to_64_and_tampering_breaks_the_signature() -> None:
    v = _circle()
    rec = announce(BOB, v.id, [addr(BOB)], "Bob the Builder " * 10)
    assert presence.open_presence(rec, KEY).name == ("Bob the Builder " * 10)[:64]
    raw = bytearray(rec.raw)
    raw[len(raw) // 2] ^= 1
    with pytest.raises(ProtocolError):
        records.parse(bytes(raw))


def test_the_box_size_is_bounded_before_anything_is_opened() -> None:
    v = _circle()
    body = {k: val for k, val in announce(BOB, v.id, [addr(BOB)]).body.items() if k != "v"}
    body["x"] = b"\0" * (presence.schema.MAX_PRESENCE_CONTENT + crypto.BOX_OVERHEAD + 1)
    with pytest.raises(SchemaError):
        records.sign(BOB, body)
