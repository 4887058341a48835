"""Prekeys (issue 15 part A): a member key's ``prekey`` record and what rekeys and forks seal to.

A rekey or a fork seals each member's secret to that member's newest unexpired prekey, and to
the key derived from their identity key only when they published none (roster rule 8,
docs/protocol.md section 8.6). Forged, expired, unusable and other-author prekeys are refused
or ignored.
"""

from __future__ import annotations

import pytest
from proto_kit import ALICE, BOB, CAROL, MALLORY, NOW_MS, World, new_world, raw_record, roster_body

from protocol import actions, crypto, fork, records
from protocol.errors import DecryptError, RosterError, SchemaError, VerifyError
from protocol.fold import RosterIndex
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import fold

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


def test_an_expired_prekey_is_ignored_when_sealing() -> None:
    w = world()
    private, rec = publish(w, BOB, ttl_ms=DAY_MS)
    expires = int(rec.body["ex"])
    assert w.roster.prekey_of(BOB.public_key, expires - 1) is not None
    assert w.roster.prekey_of(BOB.public_key, expires) is None
    rk = actions.rekey(ALICE, w.roster, w.pos(ALICE), expires)
    assert BOB.unseal(sealed_for(rk.record, BOB)) == rk.key
    with pytest.raises(DecryptError):
        crypto.unseal_with_prekey(private, sealed_for(rk.record, BOB))


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
