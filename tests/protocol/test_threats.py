"""One test per THREATS.md case the protocol core is responsible for (1-13, 17-19).

Each test drives the attack through the same entry points the node uses
(``records.parse``, ``CircleView.receive``/``add``, ``roster.fold``,
``invitation.open_token``) and asserts the specific refusal, so removing the
corresponding check in ``protocol/`` makes it fail. Cases 14-16 and 20-22 need
the network/store layer and are tested there.
"""

from __future__ import annotations

import base64
import itertools

import msgpack
import pytest
from proto_kit import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    MALLORY,
    NOW_MS,
    NOW_S,
    World,
    new_world,
    nonce16,
    raw_record,
    roster_body,
    stored,
)

from protocol import actions, crypto, fork, invitation, messages, records, wire
from protocol.chain import ChainPos, ChainTracker, Delivered, Duplicate
from protocol.errors import (
    DecodeError,
    DecryptError,
    MalformedError,
    NonCanonicalError,
    OversizeError,
    ProtocolError,
    RosterError,
    SchemaError,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenMalformed,
    TokenMangled,
    TokenNotForYou,
    TokenReused,
    TokenTruncated,
    TokenVersionError,
    VerifyError,
)
from protocol.roster import fold
from protocol.sync import Range, plan
from protocol.view import CircleView, Dropped, Held, Stored


def _one_sentence(msg: str) -> None:
    assert msg[:1].isupper(), msg
    assert msg.endswith("."), msg
    assert ". " not in msg, msg


# ---- 1: invitation signed by a non-member or a random key -------------------------------


def test_threat_01_invite_signed_by_non_member_is_rejected(world3: World) -> None:
    w = world3
    body = roster_body(
        MALLORY, w.cid, records.INVITE, heads=w.roster.heads, k=DAVE.public_key, r="member",
        x=NOW_S + 3600, n=nonce16(), e=w.cid,
    )  # fmt: skip
    forged = records.sign(MALLORY, body)  # a perfectly valid signature, by the wrong key

    # The roster fold refuses it, so dave gets nothing from it.
    state = fold(w.genesis, [*w.history, forged])
    assert state.rejected[forged.id] == "the author is not a member"
    assert forged.id not in state.invites
    assert DAVE.public_key not in state.epochs[w.cid].holders

    # The validator drops it: not stored, not forwarded.
    out = w.view.receive(forged.raw)
    assert out == Dropped("the author is not a member of this circle")
    assert forged.id not in w.view.records

    # A join built on it goes nowhere either.
    join = actions.join(DAVE, forged, ChainPos(), NOW_MS)
    assert not isinstance(w.view.receive(join.raw), Stored)
    state = fold(w.genesis, [*w.history, forged, join])
    assert not state.is_member(DAVE.public_key)
    assert join.id not in state.accepted


def test_threat_01_token_from_non_member_does_not_chain_to_founder(world3: World) -> None:
    w = world3
    # Mallory signs an invite for dave, and "proves" membership with a join of her own
    # citing an invite she also signed herself: the chain loops instead of reaching alice.
    self_inv = records.sign(
        MALLORY,
        roster_body(
            MALLORY, w.cid, records.INVITE, heads=[w.cid], k=MALLORY.public_key, r="admin",
            x=NOW_S + 3600, n=nonce16(), e=w.cid,
        ),
    )  # fmt: skip
    self_join = actions.join(MALLORY, self_inv, ChainPos(2, self_inv.id), NOW_MS)
    inv = records.sign(
        MALLORY,
        roster_body(
            MALLORY, w.cid, records.INVITE, heads=[self_join.id], seq=3, prev=self_join.id,
            k=DAVE.public_key, r="member", x=NOW_S + 3600, n=nonce16(), e=w.cid,
        ),
    )  # fmt: skip
    for chain in ([], [self_inv, self_join]):
        token = invitation.make_token(inv, w.genesis, chain, w.cid, b"\x07" * 32, "friends")
        with pytest.raises(TokenInvalid, match="does not link back to the circle's founder") as e:
            invitation.open_token(token, DAVE, NOW_S)
        assert MALLORY.peer_id in str(e.value)


def test_threat_01_token_from_member_needs_its_chain(world3: World) -> None:
    w = world3
    bob_inv, bob_join = w.history[0], w.history[1]
    assert (bob_inv.type, bob_join.type, bob_join.author) == ("invite", "join", BOB.public_key)
    inv = w.invite(BOB, DAVE)
    # With the chain alice -> bob it opens; without it, bob does not link to alice.
    assert invitation.open_token(w.token(inv, [bob_inv, bob_join]), DAVE, NOW_S).circle_id == w.cid
    with pytest.raises(TokenInvalid, match="does not link back"):
        invitation.open_token(w.token(inv), DAVE, NOW_S)


# ---- 2: invitation for key A presented by key B -------------------------------------------


def test_threat_02_invite_for_another_key_is_rejected(world3: World) -> None:
    w = world3
    inv = w.invite(ALICE, DAVE)

    # The builder refuses to make the join at all.
    with pytest.raises(RosterError, match="not for your key"):
        actions.join(MALLORY, inv, ChainPos(), NOW_MS)

    # A hand-made join by mallory citing dave's invite: the fold refuses it ...
    join = records.sign(MALLORY, roster_body(MALLORY, w.cid, records.JOIN, heads=[inv.id], i=inv.id))
    state = fold(w.genesis, [*w.history, join])
    assert state.rejected[join.id] == "the invitation is for another key"
    assert not state.is_member(MALLORY.public_key)
    assert state.invites[inv.id].used_by is None  # dave can still use it

    # ... and the validator drops it rather than keeping it.
    assert w.view.receive(join.raw) == Dropped("the join cites an invitation for another key")
    assert join.id not in w.view.records

    # The token is bound to dave: mallory is told so and cannot open the sealed key.
    token = w.token(inv)
    with pytest.raises(TokenNotForYou):
        invitation.open_token(token, MALLORY, NOW_S)
    with pytest.raises(DecryptError):
        MALLORY.unseal(invitation.decode_token(token).sealed)
    assert invitation.open_token(token, DAVE, NOW_S).epoch_key == w.keys[w.cid]


# ---- 3: the same invitation used twice -----------------------------------------------------


def test_threat_03_second_join_with_same_invite_is_rejected(world: World) -> None:
    w = world
    inv = w.invite(ALICE, BOB)
    j1 = actions.join(BOB, inv, ChainPos(), NOW_MS)
    j2 = actions.join(BOB, inv, ChainPos(), NOW_MS + 1)  # same invite, concurrent
    state = fold(w.genesis, [inv, j1, j2])
    assert state.is_member(BOB.public_key)
    first, second = sorted([j1.id, j2.id])  # concurrent siblings: the smaller id goes first
    assert first in state.accepted
    assert state.rejected[second] == "the invitation was already used"
    assert state.invites[inv.id].used_by == first


def test_threat_03_invite_cannot_be_reused_after_leaving(world: World) -> None:
    w = world
    inv, j1 = w.invite_and_join(ALICE, BOB)
    w.add(actions.leave(BOB, w.roster, w.pos(BOB), NOW_MS))
    assert not w.roster.is_member(BOB.public_key)
    # Bob rejoins with his old invite, citing the roster as it is after his leave (so the
    # join is not merely concurrent with the leave): the used invite is what stops him.
    pos = w.pos(BOB)
    rejoin = records.sign(
        BOB,
        roster_body(BOB, w.cid, records.JOIN, heads=w.roster.heads, seq=pos.seq, prev=pos.prev, i=inv.id),
    )
    out = w.view.add(rejoin)
    assert isinstance(out, Stored)
    assert out.note == "the invitation was already used"
    assert not w.view.roster.is_member(BOB.public_key)
    assert w.roster.invites[inv.id].used_by == j1.id


def test_threat_03_token_used_before_is_refused(world: World) -> None:
    w = world
    inv = w.invite(ALICE, BOB)
    token = w.token(inv)
    used = {inv.id}
    with pytest.raises(TokenReused, match="already been used"):
        invitation.open_token(token, BOB, NOW_S, used)
    assert used == {inv.id}
    assert invitation.open_token(token, BOB, NOW_S, {b"\x00" * 32}).circle_id == w.cid


# ---- 4: an invite for circle X used in circle Y, or in a child of X -------------------------


def _join_elsewhere(who, inv, cid):  # type: ignore[no-untyped-def]
    return records.sign(who, roster_body(who, cid, records.JOIN, heads=[inv.id], i=inv.id))


def test_threat_04_invite_from_another_circle_is_rejected(world3: World) -> None:
    x = world3
    y = new_world(ALICE, "other")
    inv_x = x.invite(ALICE, DAVE)
    join_y = _join_elsewhere(DAVE, inv_x, y.cid)

    state = fold(y.genesis, [inv_x, join_y])
    assert state.rejected[inv_x.id] == "belongs to another circle"
    assert join_y.id not in state.accepted
    assert not state.is_member(DAVE.public_key)

    assert y.view.receive(inv_x.raw) == Dropped("the record belongs to another circle")
    assert not isinstance(y.view.receive(join_y.raw), Stored)
    assert not y.view.roster.is_member(DAVE.public_key)

    # A token pairing X's invite with Y's genesis is refused outright.
    token = invitation.make_token(inv_x, y.genesis, [], y.cid, y.keys[y.cid], "other")
    with pytest.raises(TokenInvalid, match="different circle"):
        invitation.open_token(token, DAVE, NOW_S)


def test_threat_04_invite_from_parent_is_rejected_in_child(world3: World) -> None:
    x = world3
    inv_x = x.invite(ALICE, DAVE)
    made = fork.create(ALICE, x.roster, x.pos(ALICE), "side", [BOB.public_key], NOW_MS)
    child = made.child.genesis
    join_child = _join_elsewhere(DAVE, inv_x, child.id)

    state = fold(child, [*made.invites, inv_x, join_child])
    assert state.rejected[inv_x.id] == "belongs to another circle"
    assert not state.is_member(DAVE.public_key)
    view = CircleView(child, made.invites)
    assert not isinstance(view.receive(join_child.raw), Stored)

    token = invitation.make_token(inv_x, child, [], child.id, made.child.epoch_key, "side")
    with pytest.raises(TokenInvalid, match="different circle"):
        invitation.decode_token(token)


# ---- 5: expired invitation -----------------------------------------------------------------


def test_threat_05_expired_token_says_when(world: World) -> None:
    w = world
    inv = w.invite(ALICE, BOB, ttl_s=3600)
    expires = NOW_S + 3600
    assert inv.body["x"] == expires
    token = w.token(inv)
    assert invitation.open_token(token, BOB, expires).epoch_key == w.keys[w.cid]  # last valid second
    with pytest.raises(TokenExpired) as e:
        invitation.open_token(token, BOB, expires + 1)
    assert str(e.value) == "This invitation expired on 2026-09-21 15:13 UTC; ask for a new one."
    assert invitation.when(expires) in str(e.value)


def test_threat_05_join_after_expiry_is_rejected_by_fold(world: World) -> None:
    w = world
    inv = w.invite(ALICE, BOB, ttl_s=60)
    limit_ms = (NOW_S + 60) * 1000
    on_time = actions.join(BOB, inv, ChainPos(), limit_ms)
    late = actions.join(BOB, inv, ChainPos(), limit_ms + 1)
    assert fold(w.genesis, [inv, on_time]).is_member(BOB.public_key)
    state = fold(w.genesis, [inv, late])
    assert state.rejected[late.id] == "joined after the invitation expired"
    assert not state.is_member(BOB.public_key)

    # The validator keeps the late join for chain completeness but notes it, and bob's
    # messages are not accepted as a member's.
    out = w.view.add(late)
    assert isinstance(out, Stored)
    assert out.note == "joined after the invitation expired"
    msg = w.message(BOB, "let me in")
    out2 = w.view.add(msg)
    assert isinstance(out2, Held)
    assert msg.id not in w.view.records


# ---- 6: removed member keeps reading --------------------------------------------------------


def test_threat_06_removed_member_gets_no_new_key(world3: World) -> None:
    w = world3
    old_id, old_key = w.current()
    _rm, rk = w.remove(ALICE, CAROL)
    sealed = {bytes(k): bytes(v) for k, v in rk.record.body["ks"]}
    assert list(sealed) == sorted([ALICE.public_key, BOB.public_key])
    for box in sealed.values():
        with pytest.raises(DecryptError):
            CAROL.unseal(box)
    assert BOB.unseal(sealed[BOB.public_key]) == rk.key

    cur = w.roster.current_epoch
    assert cur is not None
    assert (cur.id, cur.number) == (rk.record.id, 1)
    assert cur.holders == frozenset({ALICE.public_key, BOB.public_key})
    assert old_id != cur.id

    # What bob sends now opens with the new key and not with the old one carol has.
    msg = w.post(BOB, "carol cannot read this")
    assert bytes(msg.body["e"]) == rk.record.id
    with pytest.raises(DecryptError):
        messages.open_message(msg, old_key)
    assert messages.open_message(msg, rk.key).text == "carol cannot read this"


def test_threat_06_rekey_to_removed_member_is_rejected(world3: World) -> None:
    w = world3
    _, rk = w.remove(ALICE, CAROL)
    leaky = actions.rekey(
        ALICE, w.roster, w.pos(ALICE), NOW_MS,
        recipients=[ALICE.public_key, BOB.public_key, CAROL.public_key],
    )  # fmt: skip
    state = fold(w.genesis, [*w.history, leaky.record])
    assert state.rejected[leaky.record.id] == "a recipient is not a member"
    assert state.current_epoch is not None and state.current_epoch.id == rk.record.id
    # A new invitee after the removal is handed the new epoch, not the one carol holds.
    inv = w.invite(ALICE, DAVE)
    assert bytes(inv.body["e"]) == rk.record.id
    assert invitation.open_token(w.token(inv), DAVE, NOW_S).epoch_key == rk.key


# ---- 7: removed member keeps posting with the old epoch --------------------------------------


def test_threat_07_removed_member_posting_is_dropped(world3: World) -> None:
    w = world3
    old = w.current()
    before = w.message(CAROL, "sent before the removal")  # seq 2, still in flight
    w.add(before)
    rm, _rk = w.remove(ALICE, CAROL)
    assert rm.body["s"] == 2  # everything alice held from carol

    after = w.message(CAROL, "still here", epoch=old)
    out = w.view.receive(after.raw)
    assert out == Dropped("the author was removed from the circle; records after that are refused")
    assert after.id not in w.view.records

    # A validator that had not yet seen carol's last pre-removal message still takes it.
    late_view = CircleView(w.genesis, [r for r in w.history if r.id != before.id])
    assert isinstance(late_view.receive(before.raw), Stored)
    assert isinstance(late_view.receive(after.raw), Dropped)


def test_threat_07_message_under_an_epoch_the_author_does_not_hold(world3: World) -> None:
    w = world3
    inv = w.invite(ALICE, DAVE)  # names epoch 0
    rk = w.rekey(ALICE)  # concurrent with dave's join: sealed to alice, bob, carol only
    w.join(DAVE, inv)
    assert DAVE.public_key not in w.roster.epochs[rk.record.id].holders
    forged = w.message(DAVE, "guessing", epoch=(rk.record.id, b"\x00" * 32))
    assert w.view.receive(forged.raw) == Dropped("signed under an epoch the author does not hold")
    assert w.roster.needs_rekey


# ---- 8: a non-member publishes a validly signed record ----------------------------------------


def test_threat_08_non_member_records_are_dropped(world3: World) -> None:
    w = world3
    before = dict(w.view.records)
    msg = messages.seal(
        MALLORY, w.cid, ChainPos(), w.cid, w.keys[w.cid], messages.Content("text", NOW_MS, "hi")
    )
    rm = records.sign(
        MALLORY,
        roster_body(MALLORY, w.cid, records.REMOVE, heads=w.roster.heads, k=BOB.public_key, s=0, sh=None),
    )
    made = fork.create(ALICE, w.roster, ChainPos(), "side", [BOB.public_key], NOW_MS)
    fork_body = {**made.fork_record.body, "a": MALLORY.public_key}
    fork_rec = raw_record(MALLORY, fork_body)
    for raw in (msg.raw, rm.raw, fork_rec):
        assert w.view.receive(raw) == Dropped("the author is not a member of this circle")
    assert w.view.records == before
    assert MALLORY.public_key not in w.view.chains.vector()
    # The fold agrees for the roster record.
    assert fold(w.genesis, [*w.history, rm]).rejected[rm.id] == "the author is not a member"


def test_threat_08_pinned_relay_cannot_post(world3: World) -> None:
    w = world3
    w.add(actions.pin(ALICE, w.roster, w.pos(ALICE), MALLORY.public_key, ["/ip4/127.0.0.1/tcp/9"], NOW_MS))
    assert w.roster.role(MALLORY.public_key) == "relay"
    msg = w.message(MALLORY, "relays never post", pos=ChainPos())
    assert w.view.receive(msg.raw) == Dropped("the author is not a member of this circle")


def test_threat_08_invitee_who_has_not_joined_cannot_post(world3: World) -> None:
    w = world3
    w.invite(ALICE, DAVE)
    msg = w.message(DAVE, "early", pos=ChainPos())
    out = w.view.receive(msg.raw)
    assert isinstance(out, Held)
    assert msg.id not in w.view.records


# ---- 9: record claims author alice but is signed by bob ----------------------------------------


def test_threat_09_wrong_signer_is_rejected(world3: World) -> None:
    w = world3
    good = w.message(ALICE, "from alice")
    forged = raw_record(BOB, dict(good.body))  # same body (author alice), bob's signature
    with pytest.raises(VerifyError, match="does not verify for its author"):
        records.parse(forged)
    out = w.view.receive(forged)
    assert isinstance(out, Dropped)
    assert out.reason.startswith("VerifyError")
    # The builder will not even produce it.
    with pytest.raises(SchemaError, match="author field must be the signing key"):
        records.sign(BOB, dict(good.body))
    assert records.parse(good.raw).author == ALICE.public_key


# ---- 10: a field left out of the signature -------------------------------------------------------


def _resign_body(rec: records.Record, **changes: object) -> bytes:
    """``rec``'s original signature on a body with ``changes`` applied."""
    body = {**rec.body, **changes}
    return wire.encode([wire.encode(body), rec.sig])


@pytest.mark.parametrize(
    ("field", "value"),
    [("c", b"\x11" * 32), ("e", b"\x22" * 32), ("q", 3), ("a", MALLORY.public_key), ("n", b"\x00" * 24)],
)
def test_threat_10_changed_field_breaks_signature(world3: World, field: str, value: object) -> None:
    msg = world3.message(BOB, "covered")
    assert msg.seq == 2
    with pytest.raises(VerifyError):
        records.parse(_resign_body(msg, **{field: value}))


@pytest.mark.parametrize("new_type", ["pin", "fork", "join", "invite"])
def test_threat_10_changed_type_is_refused(world3: World, new_type: str) -> None:
    msg = world3.message(BOB, "covered")
    with pytest.raises((VerifyError, DecodeError)):
        records.parse(_resign_body(msg, t=new_type))


def test_threat_10_every_byte_is_covered(world3: World) -> None:
    # Flip each bit of one byte at every position of an encoded record: nothing parses.
    rec = world3.message(BOB, "x")
    raw = rec.raw
    for i, mask in itertools.product(range(len(raw)), (0x01, 0x80)):
        bad = raw[:i] + bytes([raw[i] ^ mask]) + raw[i + 1 :]
        with pytest.raises((VerifyError, DecodeError)):
            records.parse(bad)
    assert records.parse(raw).id == rec.id


def test_threat_10_signature_is_over_the_exact_carried_bytes(world3: World) -> None:
    rec = world3.message(BOB, "x")
    assert crypto.verify(BOB.public_key, rec.sig, records.DOMAINS["msg"] + rec.body_bytes)
    # Same values, different bytes (seq as a uint8 instead of a fixint): not re-encoded, refused.
    body = rec.body_bytes
    q_at = body.index(b"\xa1q\x02")
    loose = body[: q_at + 2] + b"\xcc\x02" + body[q_at + 3 :]
    assert msgpack.unpackb(loose, raw=False) == dict(rec.body)
    outer = b"\x92" + b"\xc4" + bytes([len(loose)]) + loose if len(loose) < 256 else None
    assert outer is not None
    outer += b"\xc4\x40" + rec.sig
    with pytest.raises(NonCanonicalError):
        records.parse(outer)


# ---- 11: an invite or roster record presented as a chat message ----------------------------------


def _all_kinds(w: World) -> list[records.Record]:
    inv = w.invite(ALICE, DAVE)
    return [w.genesis, inv, w.message(BOB, "m")]


def test_threat_11_signature_from_one_domain_fails_in_another(world3: World) -> None:
    w = world3
    for rec in _all_kinds(w):
        signer = {ALICE.public_key: ALICE, BOB.public_key: BOB}[rec.author]
        for other in records.TYPES:
            if other == rec.type:
                continue
            # The author's genuine signature over these exact bytes, but made in another domain.
            raw = raw_record(signer, dict(rec.body), sign_type=other)
            with pytest.raises(VerifyError):
                records.parse(raw)
        assert records.parse(raw_record(signer, dict(rec.body))).id == rec.id


def test_threat_11_domains_are_distinct_and_prefix_free() -> None:
    doms = list(records.DOMAINS.values())
    assert len(set(doms)) == len(records.TYPES)
    assert records.DOMAINS["msg"] == b"smallsocial/v1/msg\x00"
    for a, b in itertools.permutations(doms, 2):
        assert not b.startswith(a)


def test_threat_11_roster_record_is_not_a_chat_message(world3: World) -> None:
    w = world3
    inv = w.invite(ALICE, DAVE)
    with pytest.raises(SchemaError, match="not a chat message"):
        messages.open_message(inv, w.keys[w.cid])
    # Relabelling an invite as a msg keeps no valid signature and no valid schema.
    with pytest.raises((VerifyError, SchemaError)):
        records.parse(_resign_body(inv, t="msg"))


# ---- 12: replay ---------------------------------------------------------------------------------


def test_threat_12_replay_is_a_duplicate(world3: World) -> None:
    w = world3
    msg = w.post(BOB, "once")
    n = len(w.view.records)
    roster_hash = w.roster.roster_hash
    for raw in (msg.raw, w.history[0].raw, w.genesis.raw):
        assert w.view.receive(raw) == Duplicate()
    assert len(w.view.records) == n
    assert w.roster.roster_hash == roster_hash

    # After a restart from the store, a replay is still recognised.
    restarted = CircleView(w.genesis, w.history)
    assert restarted.receive(msg.raw) == Duplicate()
    assert len(restarted.records) == n


def test_threat_12_chain_tracker_dedups_delivered_and_buffered(world3: World) -> None:
    w = world3
    m2 = w.post(BOB, "a")
    m3 = w.post(BOB, "b")
    t = ChainTracker({BOB.public_key: {1: w.history[1].id}})
    buffered = t.feed(m3)
    assert not isinstance(buffered, Delivered)
    assert t.feed(m3) == Duplicate()  # replay of a buffered record
    assert t.feed(m2) == Delivered((m2, m3))
    assert t.feed(m2) == Duplicate()
    assert t.feed(m3) == Duplicate()


# ---- 13: gaps and reordering in an author's chain ------------------------------------------------


def test_threat_13_gap_is_buffered_counted_and_asked_for(world3: World) -> None:
    w = world3
    msgs = [w.post(BOB, f"m{i}") for i in range(4)]  # bob's seqs 2..5
    fresh = CircleView(w.genesis, [r for r in w.history if r.type != records.MSG])
    m2, m3, m4, m5 = msgs

    assert stored(fresh.receive(m2.raw)).delivered == (m2,)
    out = stored(fresh.receive(m4.raw))
    assert (out.delivered, out.missing) == ((), 1)
    out = stored(fresh.receive(m5.raw))
    assert (out.delivered, out.missing) == ((), 1)
    assert fresh.chains.missing(BOB.public_key) == 1
    assert fresh.chains.vector()[BOB.public_key] == 2

    held = {BOB.public_key: {1, 2, 4, 5}}
    theirs = {BOB.public_key: 5}
    assert plan(held, theirs).ask == (Range(BOB.public_key, 3, 3),)

    out = stored(fresh.receive(m3.raw))
    assert out.delivered == (m3, m4, m5)
    assert out.missing == 0
    assert fresh.chains.vector()[BOB.public_key] == 5


def test_threat_13_any_arrival_order_delivers_in_order(world3: World) -> None:
    w = world3
    msgs = [w.post(BOB, f"m{i}") for i in range(4)]
    join = w.history[1]
    for order in itertools.permutations([join, *msgs]):
        t = ChainTracker()
        delivered: list[records.Record] = []
        for r in order:
            out = t.feed(r)
            if isinstance(out, Delivered):
                delivered.extend(out.records)
        assert delivered == [join, *msgs]
        assert t.missing(BOB.public_key) == 0


# ---- 17: malformed msgpack --------------------------------------------------------------------


def _variants(rec: records.Record) -> dict[str, tuple[bytes, type[DecodeError]]]:
    raw, body, sig = rec.raw, rec.body_bytes, rec.sig

    def outer(b: bytes, s: bytes = sig) -> bytes:
        return wire.encode([b, s])

    bad_utf8 = body.replace(b"\xa1t\xa3msg", b"\xa1t\xa3\xff\xfe\xfd")
    assert bad_utf8 != body
    return {
        "truncated": (raw[:-1], MalformedError),
        "truncated-half": (raw[: len(raw) // 2], MalformedError),
        "trailing": (raw + b"\x00", MalformedError),
        "ext": (msgpack.packb([body, msgpack.ExtType(1, sig)]), MalformedError),
        "timestamp": (msgpack.packb([body, msgpack.Timestamp(1, 0)]), MalformedError),
        "body-ext": (outer(msgpack.packb({**rec.body, "x": msgpack.ExtType(2, b"x")})), MalformedError),
        "bad-utf8": (outer(bad_utf8), MalformedError),
        "float": (outer(msgpack.packb({**rec.body, "q": 2.0})), MalformedError),
        "dup-key": (outer(body[:1] + body[1:] + b"\xa1q\x02"), MalformedError),
        "non-canonical": (
            b"\x92\xc5" + len(body).to_bytes(2, "big") + body + b"\xc4\x40" + sig,
            NonCanonicalError,
        ),
        "body-trailing": (outer(body + b"\xc0"), MalformedError),
        "not-a-pair": (wire.encode([body]), SchemaError),
        "short-sig": (outer(body, sig[:63]), SchemaError),
        "body-not-bytes": (wire.encode([dict(rec.body), sig]), SchemaError),
        "unknown-field": (outer(wire.encode({**rec.body, "zz": 1})), SchemaError),
        "missing-field": (outer(wire.encode({k: v for k, v in rec.body.items() if k != "n"})), SchemaError),
        "version-1": (outer(wire.encode({**rec.body, "v": 1})), SchemaError),  # msg is v2 (AEAD)
        "version-3": (outer(wire.encode({**rec.body, "v": 3})), SchemaError),
        "empty": (b"", MalformedError),
    }


def test_threat_17_malformed_msgpack_is_refused_with_a_reason(world3: World) -> None:
    w = world3
    rec = w.message(BOB, "x")
    n = len(w.view.records)
    for name, (raw, cls) in _variants(rec).items():
        with pytest.raises(cls) as e:
            records.parse(raw)
        assert str(e.value), name
        out = w.view.receive(raw)
        assert isinstance(out, Dropped), name
        assert out.reason.startswith(type(e.value).__name__ + ": "), (name, out.reason)
    assert len(w.view.records) == n


# ---- 18: an oversized record --------------------------------------------------------------------


def test_threat_18_oversized_record_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch, world3: World
) -> None:
    def boom(*args: object, **kwargs: object) -> object:
        pytest.fail("an oversized record reached the decoder or the verifier")

    monkeypatch.setattr(msgpack, "unpackb", boom)
    monkeypatch.setattr(crypto, "verify", boom)
    monkeypatch.setattr(crypto, "box_decrypt", boom)
    big = b"\x92\xc6" + (records.MAX_RECORD_SIZE).to_bytes(4, "big") + b"\x00" * records.MAX_RECORD_SIZE
    assert len(big) == records.MAX_RECORD_SIZE + 6
    with pytest.raises(OversizeError, match="over the limit of 262144"):
        records.parse(big)
    out = world3.view.receive(big)
    assert isinstance(out, Dropped)
    assert out.reason.startswith("OversizeError")


def test_threat_18_oversized_token_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> object:
        pytest.fail("an oversized token reached the base32 decoder")

    monkeypatch.setattr(base64, "b32decode", boom)
    with pytest.raises(TokenMangled, match="far too long"):
        invitation.decode_token("ssi1" + "a" * 100_000)


def test_threat_18_oversized_plaintext_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(msgpack, "unpackb", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(OversizeError):
        messages.Content.decode(b"\xc0" * 20_000)


# ---- 19: a mangled or truncated invitation token ---------------------------------------------------


@pytest.fixture(params=[1, 2], ids=["format1", "format2"])
def token_case(world3: World, request: pytest.FixtureRequest) -> tuple[World, records.Record, str]:
    inv = world3.invite(ALICE, DAVE, ttl_s=3600)
    return world3, inv, world3.token(inv) if request.param == 1 else world3.short_token(ALICE, inv)


def _mangle(token: str, at: int) -> str:
    ch = token[at]
    return token[:at] + ("b" if ch != "b" else "c") + token[at + 1 :]


def test_threat_19_each_token_failure_has_its_own_sentence(
    token_case: tuple[World, records.Record, str],
) -> None:
    _w, _inv, token = token_case
    half = len(token) // 2
    cases: list[tuple[str, type[TokenError], str]] = [
        (_mangle(token, half), TokenMangled, "checksum does not match"),
        (token[:-10], TokenTruncated, "cut short"),
        (token[:half], TokenTruncated, "cut short"),
        (token[:12], TokenTruncated, "cut short"),
        (token + "a" * 8, TokenMangled, "extra characters"),
        (token[:half] + "!" + token[half:], TokenMangled, "'!'"),
        ("ssi3" + token[4:], TokenVersionError, "format 3"),
        ("ssi1", TokenTruncated, "cut short"),
        ("hello, can I join?", TokenMalformed, "not a smallsocial invitation"),
        (DAVE.peer_id, TokenMalformed, "not a smallsocial invitation"),
        ("", TokenMalformed, "empty"),
        ("ssi", TokenMalformed, "not a smallsocial invitation"),
    ]
    for text, cls, words in cases:
        with pytest.raises(TokenError) as e:
            invitation.open_token(text, DAVE, NOW_S)
        assert type(e.value) is cls, (text[:20], e.value)
        assert words in str(e.value)
        _one_sentence(str(e.value))


def test_threat_19_token_for_someone_else(token_case: tuple[World, records.Record, str]) -> None:
    _, _, token = token_case
    with pytest.raises(TokenNotForYou) as e:
        invitation.open_token(token, MALLORY, NOW_S)
    assert MALLORY.peer_id in str(e.value)
    assert (DAVE.peer_id in str(e.value)) == token.startswith("ssi1")  # format 2 names nobody in clear
    _one_sentence(str(e.value))


def test_threat_19_reused_and_expired_tokens(token_case: tuple[World, records.Record, str]) -> None:
    _, inv, token = token_case
    with pytest.raises(TokenReused) as e1:
        invitation.open_token(token, DAVE, NOW_S, used={inv.id})
    _one_sentence(str(e1.value))
    with pytest.raises(TokenExpired) as e2:
        invitation.open_token(token, DAVE, NOW_S + 3601)
    _one_sentence(str(e2.value))


def test_threat_19_intact_but_invalid_token(token_case: tuple[World, records.Record, str]) -> None:
    w, _inv, _ = token_case
    # A checksum-correct token whose "invite" is a genesis record.
    body = wire.encode({"v": 1, "inv": w.genesis.raw, "gen": w.genesis.raw, "ch": [], "sl": b"x", "ad": []})
    framed = len(body).to_bytes(4, "big") + body
    text = (
        "ssi1" + base64.b32encode(framed + crypto.checksum(b"ssi1" + framed, 5)).decode().rstrip("=").lower()
    )
    with pytest.raises(TokenInvalid, match="does not hold an invite and a circle") as e:
        invitation.open_token(text, DAVE, NOW_S)
    _one_sentence(str(e.value))


def test_threat_19_wrapped_and_uppercased_token_still_opens(
    token_case: tuple[World, records.Record, str],
) -> None:
    w, inv, token = token_case
    wrapped = "\n".join(token[i : i + 60] for i in range(0, len(token), 60)).upper()
    opened = invitation.open_token(f"  {wrapped}\n", DAVE, NOW_S)
    assert (opened.circle_id, opened.name, opened.epoch_key) == (w.cid, "friends", w.keys[w.cid])
    assert opened.token.invite_id == inv.id


def test_threat_19_every_single_character_change_is_caught(
    token_case: tuple[World, records.Record, str],
) -> None:
    _, _, token = token_case
    # (The last character is skipped: some of its bits are base32 padding.)
    for at in range(4, len(token) - 1, 7):
        with pytest.raises(ProtocolError) as e:
            invitation.open_token(_mangle(token, at), DAVE, NOW_S)
        assert isinstance(e.value, TokenError)
