"""Carried history (docs/protocol.md, "Carried history"): what a fork's child member checks.

A carry record holds parent message records and one reveal key each; a child member opens it
with the child's epoch key and checks every carried record's signature and that the revealed
key opens what its author signed. Every way to forge one is refused whole, and only the
child's founder may post one, only in a fork.
"""

from __future__ import annotations

import pytest

from protocol import carry, crypto, fork, messages, records, wire
from protocol.errors import DecryptError, ProtocolError, SchemaError, VerifyError
from protocol.identity import Identity
from protocol.records import Record
from protocol.view import CircleView, Dropped
from tests.protocol.proto_kit import ALICE, BOB, CAROL, NOW_MS, World, new_world, nonce24, stored

DAY = 86_400_000


def _post(w: World, who: Identity, text: str) -> Record:
    """A message with a random nonce, as every node sends (proto_kit's are counters, whose first
    16 bytes agree: :func:`carry.select` would refuse to carry them)."""
    eid, key = w.current()
    rec = messages.seal(who, w.cid, w.pos(who), eid, key, messages.Content(messages.TEXT, NOW_MS, text))
    w.add(rec)
    return rec


def _parent() -> tuple[World, list[Record]]:
    w = new_world(ALICE)
    w.invite_and_join(ALICE, BOB)
    w.invite_and_join(ALICE, CAROL)
    posts = [
        _post(w, who, f"{who.public_key.hex()[:4]} {i}") for i, who in enumerate([ALICE, BOB, CAROL, BOB])
    ]
    return w, posts


def _child(w: World) -> tuple[fork.ForkCreated, CircleView]:
    f = fork.create(ALICE, w.roster, w.pos(ALICE), "side", [BOB.public_key], NOW_MS)
    view = CircleView(f.child.genesis)
    for inv in f.invites:
        stored(view.add(inv))
    return f, view


def _items(w: World, posts: list[Record]) -> list[tuple[Record, bytes]]:
    key = w.keys[w.cid]
    return [(r, carry.reveal_key(key, r)) for r in posts]


def _seal(f: fork.ForkCreated, view: CircleView, parent: bytes, items: list[tuple[Record, bytes]]) -> Record:
    (rec,) = carry.seal(
        ALICE,
        f.child.circle_id,
        view.next_pos(ALICE.public_key),
        f.child.circle_id,
        f.child.epoch_key,
        parent,
        items,
        NOW_MS,
    )
    return rec


def test_history_choices_parse_and_bad_ones_get_one_sentence() -> None:
    assert carry.HistoryChoice.parse("none") == carry.NO_HISTORY
    assert carry.HistoryChoice.parse(" ALL ") == carry.HistoryChoice("all")
    assert carry.HistoryChoice.parse("last:20") == carry.HistoryChoice("last", 20)
    assert carry.HistoryChoice.parse("days:7") == carry.HistoryChoice("days", 7)
    assert str(carry.HistoryChoice("last", 3)) == "last:3" and str(carry.NO_HISTORY) == "none"
    for bad in ("", "some", "last", "last:", "last:x", "last:-1", "weeks:2", "days:1.5"):
        with pytest.raises(ValueError, match="not a history choice"):
            carry.HistoryChoice.parse(bad)
    for bad in ("last:0", f"last:{carry.MAX_CARRIED + 1}", "days:0", f"days:{carry.MAX_DAYS + 1}"):
        with pytest.raises(ValueError, match="takes a number from 1"):
            carry.HistoryChoice.parse(bad)
    assert carry.HistoryChoice.parse(f"last:{carry.MAX_CARRIED}").count == carry.MAX_CARRIED
    assert carry.HistoryChoice.parse(f"days:{carry.MAX_DAYS}").count == carry.MAX_DAYS


def test_hchacha20_matches_the_xchacha_draft_vector_and_opens_one_message_only() -> None:
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    assert crypto.hchacha20(key, nonce).hex() == (
        "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    )
    w, posts = _parent()
    a, b = posts[0], posts[1]
    reveal_a = carry.reveal_key(w.keys[w.cid], a)

    def opens(rec: Record, k: bytes) -> bytes:
        aad = messages.associated_data(rec.author, rec.circle, rec.seq, rec.prev, bytes(rec.body["e"]))
        return crypto.xchacha_subkey_decrypt(k, bytes(rec.body["x"]), bytes(rec.body["n"]), aad)

    assert messages.Content.decode(opens(a, reveal_a)) == messages.open_message(a, w.keys[w.cid])
    with pytest.raises(DecryptError):
        opens(b, reveal_a)  # another message of the same epoch stays closed
    with pytest.raises(ValueError):
        crypto.hchacha20(key[:31], nonce)
    with pytest.raises(ValueError):
        crypto.hchacha20(key, nonce[:15])


def test_select_takes_the_last_n_readable_then_their_reactions_and_edits() -> None:
    w, posts = _parent()
    key = w.keys[w.cid]
    opened = [(r, messages.open_message(r, key)) for r in posts]
    ts = [NOW_MS + i for i in range(4)]
    opened = [(r, messages.Content(c.kind, t, c.text)) for (r, c), t in zip(opened, ts, strict=True)]
    react = _post(w, BOB, "x")
    edit = _post(w, CAROL, "x")
    extra = [
        (react, messages.Content(messages.REACT, NOW_MS + 10, "👍", posts[3].id)),
        (
            edit,
            messages.Content(messages.EDIT, NOW_MS + 11, "edited", posts[0].id),
        ),  # not carried: its target is not
    ]
    picked = carry.select(opened + extra, [], carry.HistoryChoice("last", 2), NOW_MS)
    assert [r.id for r, _ in picked] == [posts[2].id, posts[3].id, react.id]
    assert carry.select(opened, [posts[3].id], carry.HistoryChoice("last", 2), NOW_MS) == opened[1:3]
    assert carry.select(opened, [], carry.NO_HISTORY, NOW_MS) == []
    assert carry.select(opened, [], carry.HistoryChoice("all"), NOW_MS) == opened
    old = [(r, messages.Content(c.kind, c.ts - 3 * DAY, c.text)) for r, c in opened[:2]]
    assert carry.select(old + opened[2:], [], carry.HistoryChoice("days", 2), NOW_MS + 5) == opened[2:]
    assert carry.select(old + opened[2:], [], carry.HistoryChoice("days", 4), NOW_MS + 5) == old + opened[2:]
    # A reaction to a deleted message is not carried; an edit of a carried one is.
    assert carry.select(opened + extra, [posts[3].id], carry.HistoryChoice("all"), NOW_MS) == [
        *opened[:3],
        extra[1],
    ]


def test_a_child_member_reads_the_carried_messages_as_their_authors_wrote_them() -> None:
    w, posts = _parent()
    f, view = _child(w)
    rec = _seal(f, view, w.cid, _items(w, posts))
    assert rec.type == records.CARRY and stored(view.add(rec))
    got = carry.open_carry(rec, f.child.epoch_key, w.cid)
    assert [c.record.raw for c in got] == [r.raw for r in posts]
    assert [c.content for c in got] == [messages.open_message(r, w.keys[w.cid]) for r in posts]
    assert [c.record.author for c in got] == [
        ALICE.public_key,
        BOB.public_key,
        CAROL.public_key,
        BOB.public_key,
    ]
    # The carry record opens only in its own place, under the child's key, for this parent.
    with pytest.raises(DecryptError):
        carry.open_carry(rec, w.keys[w.cid], w.cid)
    with pytest.raises(SchemaError, match="another circle"):
        carry.open_carry(rec, f.child.epoch_key, f.child.circle_id)
    with pytest.raises(SchemaError, match="not carried history"):
        carry.open_carry(posts[0], f.child.epoch_key, w.cid)


def _forged(f: fork.ForkCreated, view: CircleView, parent: bytes, items: list[tuple[bytes, bytes]]) -> Record:
    """A carry record holding exactly ``items`` (raw, key) as the founder signs it."""
    pos = view.next_pos(ALICE.public_key)
    plain = wire.encode({"pc": parent, "it": [[raw, k] for raw, k in items]})
    n = nonce24()
    aad = carry.associated_data(ALICE.public_key, f.child.circle_id, pos.seq, pos.prev, f.child.circle_id)
    body = {
        "t": records.CARRY,
        "a": ALICE.public_key,
        "c": f.child.circle_id,
        "q": pos.seq,
        "p": pos.prev,
        "ts": NOW_MS,
        "e": f.child.circle_id,
        "n": n,
        "x": crypto.aead_encrypt(f.child.epoch_key, plain, n, aad),
    }
    return records.sign(ALICE, body)


def test_forged_carried_records_are_refused_whole() -> None:
    w, posts = _parent()
    f, view = _child(w)
    good = _items(w, posts)
    raw0, key0 = posts[0].raw, good[0][1]
    body_bytes, sig = wire.decode(raw0, records.MAX_RECORD_SIZE)
    bad_sig = wire.encode([body_bytes, bytes([sig[0] ^ 1]) + sig[1:]])
    other = new_world(BOB, "elsewhere")
    stranger = other.post(BOB, "from another circle")
    cases: list[tuple[list[tuple[bytes, bytes]], type[ProtocolError], str]] = [
        ([(bad_sig, key0)], VerifyError, "signature"),  # a forged author signature
        ([(raw0, bytes(32))], DecryptError, "revealed key"),  # a key that does not open it
        ([(raw0, good[1][1])], DecryptError, "revealed key"),  # another message's key
        ([(posts[1].raw, key0), (raw0, key0)], DecryptError, "revealed key"),  # one bad item spoils all
        ([(stranger.raw, carry.reveal_key(other.keys[other.cid], stranger))], SchemaError, "parent circle"),
        ([(w.history[1].raw, key0)], SchemaError, "parent circle"),  # a roster record, not a message
        ([(b"\x92\x01", key0)], ProtocolError, "."),  # not a record at all
    ]
    for items, err, words in cases:
        rec = _forged(f, view, w.cid, items)
        with pytest.raises(err, match=words):
            carry.open_carry(rec, f.child.epoch_key, w.cid)
    assert len(carry.open_carry(_forged(f, view, w.cid, [(raw0, key0)]), f.child.epoch_key, w.cid)) == 1


def test_tampered_carried_text_fails_against_the_signed_ciphertext() -> None:
    """Only the author's ciphertext is signed: a forker who re-encrypts other words under the
    revealed key cannot make the record verify, and one who keeps the record cannot change them."""
    w, posts = _parent()
    f, view = _child(w)
    r = posts[1]
    key = carry.reveal_key(w.keys[w.cid], r)
    body = dict(r.body)
    body["x"] = bytes(body["x"])[:-1] + bytes([bytes(body["x"])[-1] ^ 1])
    tampered = wire.encode([wire.encode(body), r.sig])
    with pytest.raises(VerifyError):
        carry.open_carry(_forged(f, view, w.cid, [(tampered, key)]), f.child.epoch_key, w.cid)


def test_malformed_carried_plaintext_is_refused() -> None:
    w, _ = _parent()
    f, view = _child(w)
    pos = view.next_pos(ALICE.public_key)
    for plain in (
        b"\xc1",
        wire.encode({"pc": w.cid}),
        wire.encode({"pc": w.cid, "it": []}),
        wire.encode([1]),
    ):
        n = nonce24()
        aad = carry.associated_data(ALICE.public_key, f.child.circle_id, pos.seq, pos.prev, f.child.circle_id)
        body = {
            "t": records.CARRY,
            "a": ALICE.public_key,
            "c": f.child.circle_id,
            "q": pos.seq,
            "p": pos.prev,
            "ts": NOW_MS,
            "e": f.child.circle_id,
            "n": n,
            "x": crypto.aead_encrypt(f.child.epoch_key, plain, n, aad),
        }
        with pytest.raises(SchemaError):
            carry.open_carry(records.sign(ALICE, body), f.child.epoch_key, w.cid)


def test_only_the_founder_of_a_fork_carries_history() -> None:
    w, posts = _parent()
    f, view = _child(w)
    # bob joins the child, then tries to carry history himself: dropped.
    join = stored(view.add(_join(view, f)))
    assert join
    (by_bob,) = carry.seal(
        BOB,
        f.child.circle_id,
        view.next_pos(BOB.public_key),
        f.child.circle_id,
        f.child.epoch_key,
        w.cid,
        _items(w, posts),
        NOW_MS,
    )
    out = view.add(by_bob)
    assert isinstance(out, Dropped) and "only the founder" in out.reason
    # ...and nobody carries history into a circle that is not a fork.
    (in_root,) = carry.seal(ALICE, w.cid, w.pos(ALICE), w.cid, w.keys[w.cid], w.cid, _items(w, posts), NOW_MS)
    out = w.view.add(in_root)
    assert isinstance(out, Dropped) and "only the founder" in out.reason
    stored(view.add(_seal(f, view, w.cid, _items(w, posts))))


def _join(view: CircleView, f: fork.ForkCreated) -> Record:
    from protocol import actions

    inv = next(i for i in f.invites if bytes(i.body["k"]) == BOB.public_key)
    return actions.join(BOB, inv, view.next_pos(BOB.public_key), NOW_MS)


def test_long_history_is_chunked_under_the_record_size_limit() -> None:
    w = new_world(ALICE)
    w.invite_and_join(ALICE, BOB)
    big = "x" * (16 * 1024 - 16)
    posts = [_post(w, ALICE, f"{i} {big}") for i in range(30)]
    f, view = _child(w)
    recs = carry.seal(
        ALICE,
        f.child.circle_id,
        view.next_pos(ALICE.public_key),
        f.child.circle_id,
        f.child.epoch_key,
        w.cid,
        _items(w, posts),
        NOW_MS,
    )
    assert len(recs) >= 2
    assert all(len(r.raw) <= records.MAX_RECORD_SIZE for r in recs)
    assert all(len(bytes(r.body["x"])) <= records.MAX_CARRY_BYTES for r in recs)
    got = []
    for r in recs:
        stored(view.add(r))
        got += carry.open_carry(r, f.child.epoch_key, w.cid)
    assert [c.record.id for c in got] == [r.id for r in posts]
    assert recs[1].prev == recs[0].id and recs[1].seq == recs[0].seq + 1


def test_a_message_whose_nonce_prefix_is_shared_is_never_carried() -> None:
    """Its reveal key would open the other message too: neither is carried."""
    w, posts = _parent()
    key = w.keys[w.cid]
    twins = [w.post(BOB, "twin one"), w.post(CAROL, "twin two")]  # proto_kit's counter nonces
    assert bytes(twins[0].body["n"])[:16] == bytes(twins[1].body["n"])[:16]
    opened = [(r, messages.open_message(r, key)) for r in [*posts, *twins]]
    picked = carry.select(opened, [], carry.HistoryChoice("all"), NOW_MS)
    assert sorted(r.id for r, _ in picked) == sorted(r.id for r in posts)


def test_boundaries_of_choices_days_and_the_carried_total(monkeypatch: pytest.MonkeyPatch) -> None:
    assert carry.HistoryChoice.parse("last:1").count == 1 and carry.HistoryChoice.parse("days:1").count == 1
    assert carry.HistoryChoice().count == 0 and carry.HistoryChoice().mode == "none"
    w, posts = _parent()
    key = w.keys[w.cid]
    opened = [(r, messages.open_message(r, key)) for r in posts]
    at = [(r, messages.Content(c.kind, NOW_MS - i * DAY, c.text)) for i, (r, c) in enumerate(opened)]
    # A message written exactly D days ago is in "the last D days"; one a millisecond older is not.
    assert [r.id for r, _ in carry.select(at, [], carry.HistoryChoice("days", 2), NOW_MS)] == [
        posts[2].id,
        posts[1].id,
        posts[0].id,
    ]
    assert len(carry.select(at, [], carry.HistoryChoice("days", 2), NOW_MS + 1)) == 2
    # The total is capped, readable messages first, their reactions after them as room allows.
    monkeypatch.setattr(carry, "MAX_CARRIED", 3)
    reacts = [
        (_post(w, BOB, "r"), messages.Content(messages.REACT, NOW_MS + 9, "+1", posts[3].id))
        for _ in range(3)
    ]
    picked = carry.select(opened[2:] + reacts, [], carry.HistoryChoice("all"), NOW_MS)
    assert len(picked) == 3 and {r.id for r, _ in picked[:2]} == {posts[2].id, posts[3].id}
    assert picked[2][0].id == reacts[0][0].id


def test_the_nonce_prefix_is_exactly_the_first_16_bytes() -> None:
    w, _ = _parent()
    eid, key = w.current()

    def post(nonce: bytes) -> tuple[Record, messages.Content]:
        c = messages.Content(messages.TEXT, NOW_MS, nonce.hex())
        rec = messages.seal(ALICE, w.cid, w.pos(ALICE), eid, key, c, nonce=nonce)
        w.add(rec)
        return rec, c

    base = bytes(range(1, 25))
    differ_at_15 = [post(base), post(base[:15] + b"\xff" + base[16:])]
    differ_at_16 = [post(base[:16] + b"\xee" + base[17:]), post(base[:16] + b"\xdd" + base[17:])]
    everything = carry.HistoryChoice("all")
    assert len(carry.select(differ_at_15, [], everything, NOW_MS)) == 2
    assert carry.select(differ_at_16, [], everything, NOW_MS) == []


def test_a_signed_message_whose_plaintext_is_malformed_is_refused() -> None:
    w, _ = _parent()
    f, view = _child(w)
    eid, key = w.current()
    pos = w.pos(BOB)
    n = crypto.random_bytes(crypto.NONCE_SIZE)
    aad = messages.associated_data(BOB.public_key, w.cid, pos.seq, pos.prev, eid)
    body = {
        "t": records.MSG,
        "a": BOB.public_key,
        "c": w.cid,
        "q": pos.seq,
        "p": pos.prev,
        "e": eid,
        "n": n,
        "x": crypto.aead_encrypt(key, wire.encode({"k": "shout"}), n, aad),
    }
    bad = records.sign(BOB, body)
    rec = _forged(f, view, w.cid, [(bad.raw, carry.reveal_key(key, bad))])
    with pytest.raises(SchemaError, match="content is malformed"):
        carry.open_carry(rec, f.child.epoch_key, w.cid)


def test_chunks_fill_a_record_exactly_to_its_budget_and_no_further() -> None:
    """240 KiB of ciphertext a carry record: 16 for the tag, 64 for the map's keys and the parent
    id, 80 an item beyond its record's bytes (framing and the 32-byte key), greedily."""
    budget = 240 * 1024 - 16 - 64
    half = (budget - 2 * 80) // 2
    key = bytes(32)
    exact = [(b"a" * half, key), (b"b" * (budget - 2 * 80 - half), key)]
    assert [len(c) for c in carry.chunks(exact)] == [2]
    over = [exact[0], (exact[1][0] + b"b", key)]
    assert [len(c) for c in carry.chunks(over)] == [1, 1]
    for group in carry.chunks(exact):  # what the budget promises: the sealed map fits
        plain = wire.encode({"pc": bytes(32), "it": [[r, k] for r, k in group]})
        assert len(plain) + crypto.AEAD_OVERHEAD <= records.MAX_CARRY_BYTES
    tiny = [(b"x", key)] * (2 * 2048 + 1)
    assert [len(c) for c in carry.chunks(tiny)] == [2048, 2048, 1]
    assert carry.chunks([]) == []


def test_limits_are_the_documented_numbers() -> None:
    assert (carry.MAX_CARRIED, carry.MAX_DAYS, carry.MAX_ITEMS) == (5000, 3650, 2048)
    assert carry.MAX_PLAIN == 240 * 1024 - 16
    w, _ = _parent()
    f, view = _child(w)
    with pytest.raises(SchemaError):
        carry.open_carry(_forged(f, view, w.cid, [(b"", bytes(32))]), f.child.epoch_key, w.cid)
    with pytest.raises(SchemaError, match="a record is a pair"):  # one byte: the record's own check
        carry.open_carry(_forged(f, view, w.cid, [(b"x", bytes(32))]), f.child.epoch_key, w.cid)
