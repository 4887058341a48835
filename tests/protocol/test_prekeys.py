"""Prekeys (issue 15 part A): a member key's ``prekey`` record and what rekeys and forks seal to.

A rekey or a fork seals each member's secret to that member's newest prekey (expired or not),
and to the key derived from their identity key only when the roster holds none for them; a
genesis or join of format 2 carries its author's first prekey (roster rule 8,
docs/protocol.md section 8.6). Forged, expired, unusable and other-author prekeys are refused
or ignored.
"""

from __future__ import annotations

import pytest
from proto_kit import ALICE, BOB, CAROL, MALLORY, NOW_MS, World, new_world, raw_record, roster_body

from protocol import actions, circle, crypto, fork, records
from protocol.chain import ChainPos
from protocol.errors import DecryptError, RosterError, SchemaError, VerifyError
from protocol.fold import RosterIndex
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import fold
from protocol.view import CircleView

DAY_MS = 24 * 3600 * 1000


def world() -> World:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    w.invite_and_join(ALICE, CAROL)
    return w


def publish(
    w: World, who: Identity, *, ts: int = NOW_MS, ttl_ms: int = actions.PREKEY_TTL_MS
) -> tuple[bytes, Record]:
    public, private = crypto.prekey_pair()
    rec = actions.prekey(who, w.roster, w.pos(who), public, ts, ttl_ms=ttl_ms)
    w.add(rec)
    return private, rec


def sealed_for(rec: Record, who: Identity) -> bytes:
    return next(bytes(s) for k, s in rec.body["ks"] if bytes(k) == who.public_key)


def test_a_rekey_seals_to_the_newest_prekey_and_the_identity_key_opens_nothing() -> None:
    w = world()
    old, _ = publish(w, BOB)
    new, _ = publish(w, BOB, ts=NOW_MS + 1)
    rk = actions.rekey(ALICE, w.roster, w.pos(ALICE), NOW_MS + 2)
    box = sealed_for(rk.record, BOB)
    assert crypto.unseal_with_prekey(new, box) == rk.key
    with pytest.raises(DecryptError):
        crypto.unseal_with_prekey(old, box)
    with pytest.raises(DecryptError):
        BOB.unseal(box)  # a thief with bob's identity key alone
    assert fork.open_sealed(box, BOB, [new, old]) == rk.key
    with pytest.raises(DecryptError):
        fork.open_sealed(box, BOB, [old])
    # carol published none: her box is sealed to her identity key, as before prekeys
    assert CAROL.unseal(sealed_for(rk.record, CAROL)) == rk.key
    assert fork.open_sealed(sealed_for(rk.record, CAROL), CAROL, [new]) == rk.key


def test_an_expired_prekey_is_still_sealed_to_while_it_is_the_newest() -> None:
    # Its owner has been away; their node keeps the private key until a newer one replaces it.
    # Sealing to the identity key instead would hand the epoch to a thief of that key.
    w = world()
    private, rec = publish(w, BOB, ttl_ms=DAY_MS)
    expires = int(rec.body["ex"])
    assert w.roster.prekey_of(BOB.public_key, expires + 30 * DAY_MS) == bytes(rec.body["pk"])
    rk = actions.rekey(ALICE, w.roster, w.pos(ALICE), expires + 30 * DAY_MS)
    assert crypto.unseal_with_prekey(private, sealed_for(rk.record, BOB)) == rk.key
    with pytest.raises(DecryptError):
        BOB.unseal(sealed_for(rk.record, BOB))


def test_a_genesis_and_a_join_carry_their_authors_first_prekey() -> None:
    # Format 2: whoever counts a key a member holds a prekey for it, so nothing is ever sealed
    # to the founder's or a joiner's identity key (the gap a late prekey record left).
    a_pub, a_priv = crypto.prekey_pair()
    new = circle.create(ALICE, "friends", NOW_MS, prekey=(a_pub, NOW_MS + DAY_MS))
    assert new.genesis.body["v"] == 2 and records.parse(new.genesis.raw).body["pk"] == a_pub
    w = World(new, CircleView(new.genesis))
    w.keys[new.circle_id] = new.epoch_key
    b_pub, b_priv = crypto.prekey_pair()
    inv = w.invite(ALICE, BOB)
    join = actions.join(BOB, inv, w.pos(BOB), NOW_MS, prekey=(b_pub, NOW_MS + DAY_MS))
    assert join.body["v"] == 2
    w.add(join)
    for st in (w.roster, fold(w.genesis, w.history), RosterIndex(w.genesis, w.history).state()):
        assert st.prekeys[ALICE.public_key].key == a_pub and st.prekeys[BOB.public_key].key == b_pub
    rk = actions.rekey(BOB, w.roster, w.pos(BOB), NOW_MS + 1)
    assert crypto.unseal_with_prekey(a_priv, sealed_for(rk.record, ALICE)) == rk.key
    assert crypto.unseal_with_prekey(b_priv, sealed_for(rk.record, BOB)) == rk.key
    for who in (ALICE, BOB):
        with pytest.raises(DecryptError):
            who.unseal(sealed_for(rk.record, who))
    # a later prekey record replaces the join's; the join's stays if it is the newer
    c_pub, _ = crypto.prekey_pair()
    later = actions.prekey(BOB, w.roster, w.pos(BOB), c_pub, NOW_MS + 5, ttl_ms=DAY_MS)
    w.add(later)
    assert w.roster.prekeys[BOB.public_key].key == c_pub


def test_format_1_genesis_and_join_are_still_read() -> None:
    w = world()  # proto_kit writes format 1: no prekey
    assert w.genesis.body["v"] == 1 and "pk" not in w.genesis.body
    assert ALICE.public_key not in w.roster.prekeys and BOB.public_key not in w.roster.prekeys
    assert records.parse(w.genesis.raw).id == w.cid


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"v": 1}, "unknown field 'ex'"),  # a format-1 body has no place for a prekey
        ({"pk": b"\x00" * 32}, "not an X25519 key"),
        ({"ex": NOW_MS}, "field 'ex' must be after 'ts'"),
        ({"ex": NOW_MS + 61 * DAY_MS}, "field 'ex' must be after 'ts'"),
        ({"v": 3}, "unsupported record version"),
    ],
)
def test_a_bad_prekey_in_a_genesis_join_or_device_record_is_refused(
    change: dict[str, object], why: str
) -> None:
    pub, _ = crypto.prekey_pair()
    new = circle.create(ALICE, "friends", NOW_MS, prekey=(pub, NOW_MS + DAY_MS))
    w = World(new, CircleView(new.genesis))
    inv = w.invite(ALICE, BOB)
    join = actions.join(BOB, inv, w.pos(BOB), NOW_MS, prekey=(pub, NOW_MS + DAY_MS))
    from proto_kit import ident

    from protocol import devicecert

    c = devicecert.make(ALICE, ident(41).public_key, "laptop", NOW_MS, nonce=bytes(16)).raw
    dev = actions.link_device(ALICE, w.roster, w.pos(ALICE), c, NOW_MS, prekey=(pub, NOW_MS + DAY_MS))
    for rec, who in ((new.genesis, ALICE), (join, BOB), (dev, ALICE)):
        body = {**rec.body, **change}
        with pytest.raises(SchemaError, match=why):
            records.parse(raw_record(who, body))


def test_the_newest_prekey_wins_whatever_the_arrival_order() -> None:
    w = world()
    _, newer = publish(w, BOB, ts=NOW_MS + 5)
    _, older = publish(w, BOB, ts=NOW_MS + 1)  # later in bob's chain, older by its time
    for recs in (w.history, list(reversed(w.history))):
        for st in (fold(w.genesis, recs), RosterIndex(w.genesis, recs).state()):
            assert st.prekeys[BOB.public_key].record == newer.id
            assert older.id in st.accepted
    assert w.roster.prekeys[BOB.public_key].key == bytes(newer.body["pk"])


def test_a_departed_members_prekey_is_dropped() -> None:
    w = world()
    publish(w, CAROL)
    assert CAROL.public_key in w.roster.prekeys
    w.remove(ALICE, CAROL)
    assert CAROL.public_key not in w.roster.prekeys
    assert CAROL.public_key not in fold(w.genesis, w.history).prekeys


def test_a_non_members_prekey_is_refused() -> None:
    w = world()
    public, _ = crypto.prekey_pair()
    body = roster_body(MALLORY, w.cid, records.PREKEY, heads=w.roster.heads, pk=public, ex=NOW_MS + DAY_MS)
    rec = records.parse(raw_record(MALLORY, body))
    st = fold(w.genesis, [*w.history, rec])
    assert st.rejected[rec.id] == "the author is not a member" and MALLORY.public_key not in st.prekeys
    with pytest.raises(RosterError):
        actions.prekey(MALLORY, w.roster, w.pos(MALLORY), public, NOW_MS)


def test_a_prekey_signed_by_another_key_than_its_author_is_refused() -> None:
    w = world()
    public, _ = crypto.prekey_pair()
    p = w.pos(BOB)
    body = roster_body(BOB, w.cid, records.PREKEY, heads=w.roster.heads, seq=p.seq, prev=p.prev)
    body |= {"pk": public, "ex": NOW_MS + DAY_MS}
    with pytest.raises(VerifyError):
        records.parse(raw_record(MALLORY, body))  # mallory forging bob's prekey


@pytest.mark.parametrize(
    ("pk", "ex", "why"),
    [
        (bytes(32), NOW_MS + DAY_MS, "not an X25519 key"),
        (bytes([1]) + bytes(31), NOW_MS + DAY_MS, "not an X25519 key"),
        (None, NOW_MS, "must be after 'ts'"),
        (None, NOW_MS - 1, "must be after 'ts'"),
        (None, NOW_MS + records.MAX_PREKEY_TTL_MS + 1, "at most 60 days"),
    ],
)
def test_unusable_or_expired_prekeys_are_refused(pk: bytes | None, ex: int, why: str) -> None:
    w = world()
    pk = pk or crypto.prekey_pair()[0]
    p = w.pos(BOB)
    body = roster_body(BOB, w.cid, records.PREKEY, heads=w.roster.heads, seq=p.seq, prev=p.prev, pk=pk, ex=ex)
    with pytest.raises(SchemaError, match=why):
        records.parse(raw_record(BOB, body))
    ok = crypto.prekey_pair()[0]
    body |= {"pk": ok, "ex": NOW_MS + records.MAX_PREKEY_TTL_MS}
    assert records.parse(raw_record(BOB, body)).type == records.PREKEY  # the edge itself is fine


def test_a_fork_seals_to_the_invitees_prekeys() -> None:
    w = world()
    bob_private, _ = publish(w, BOB)
    made = fork.create(ALICE, w.roster, w.pos(ALICE), "side", [BOB.public_key, CAROL.public_key], NOW_MS + 1)
    w.add(made.fork_record)
    opened = fork.open_fork(made.fork_record, BOB, [bob_private])
    assert opened.epoch_key == made.child.epoch_key
    with pytest.raises(RosterError):
        fork.open_fork(made.fork_record, BOB)  # bob's identity key alone does not open it
    assert fork.open_fork(made.fork_record, CAROL).epoch_key == made.child.epoch_key


def test_a_device_record_of_format_2_carries_the_devices_first_prekey() -> None:
    from proto_kit import ident

    from protocol import devicecert

    laptop = ident(41)
    w = world()
    pub, priv = crypto.prekey_pair()
    c = devicecert.make(ALICE, laptop.public_key, "laptop", NOW_MS, nonce=bytes(16)).raw
    rec = actions.link_device(ALICE, w.roster, w.pos(ALICE), c, NOW_MS, prekey=(pub, NOW_MS + DAY_MS))
    assert rec.body["v"] == 2
    w.add(rec)
    for st in (w.roster, fold(w.genesis, w.history), RosterIndex(w.genesis, w.history).state()):
        assert st.prekeys[laptop.public_key].key == pub  # the device's, though alice signed it
        assert ALICE.public_key not in st.prekeys  # and not alice's (format-1 genesis)
    rk = actions.rekey(BOB, w.roster, w.pos(BOB), NOW_MS + 1)
    assert crypto.unseal_with_prekey(priv, sealed_for(rk.record, laptop)) == rk.key
    with pytest.raises(DecryptError):
        laptop.unseal(sealed_for(rk.record, laptop))
    old = actions.link_device(ALICE, world().roster, ChainPos(), c, NOW_MS)
    assert old.body["v"] == 1 and "pk" not in old.body and records.parse(old.raw).id == old.id
