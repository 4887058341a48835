"""Message contents, the anti-entropy sync plan, and forks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proto_kit import ALICE, BOB, CAROL, DAVE, MALLORY, NOW_MS, World, nonce24, raw_record, stored

from protocol import actions, circle, fork, messages, records, schema, sync, wire
from protocol.chain import ChainPos
from protocol.errors import (
    DecryptError,
    MalformedError,
    NonCanonicalError,
    OversizeError,
    RosterError,
    SchemaError,
)
from protocol.messages import Content
from protocol.sync import Range
from protocol.view import CircleView, Dropped

REF = b"\x42" * 32

# ---- messages -------------------------------------------------------------------------------

GOOD = [
    Content("text", NOW_MS, "hello"),
    Content("text", NOW_MS, "x" * schema.MAX_TEXT_BYTES),
    Content("text", NOW_MS, "\x1b[31mred\x1b[0m [b]bold[/b] <i>"),  # kept literally, never interpreted
    Content("reply", NOW_MS, "re: hello", REF),
    Content("react", NOW_MS, "👍", REF),
    Content("react", NOW_MS, "x" * messages.MAX_REACTION_BYTES, REF),
    Content("edit", NOW_MS, "hello, fixed", REF),
    Content("delete", NOW_MS, None, REF),
]


@pytest.mark.parametrize("content", GOOD, ids=lambda c: f"{c.kind}-{len(c.text or '')}")
def test_content_round_trip(content: Content) -> None:
    data = content.encode()
    assert Content.decode(data) == content
    assert set(wire.decode(data, 1 << 20)) == {"k", "ts", "tx", "re"}  # all four keys, always


@pytest.mark.parametrize("content", GOOD, ids=lambda c: f"{c.kind}-{len(c.text or '')}")
def test_message_seal_and_open(world3: World, content: Content) -> None:
    w = world3
    eid, key = w.current()
    rec = messages.seal(BOB, w.cid, w.pos(BOB), eid, key, content, nonce=nonce24())
    stored(w.view.receive(rec.raw))
    assert messages.open_message(records.parse(rec.raw), key) == content
    # Nothing a person wrote is in clear.
    if content.text and len(content.text) > 4:
        assert content.text.encode() not in rec.raw
    assert set(rec.body) == {"v", "t", "a", "c", "q", "p", "e", "n", "x"}


def test_message_nonce_is_fresh_by_default(world3: World) -> None:
    w = world3
    eid, key = w.current()
    c = Content("text", NOW_MS, "same")
    a = messages.seal(BOB, w.cid, ChainPos(), eid, key, c)
    b = messages.seal(BOB, w.cid, ChainPos(), eid, key, c)
    assert a.body["n"] != b.body["n"] and a.body["x"] != b.body["x"]


BAD = [
    (Content("fork", NOW_MS, "side", REF), "unknown message kind"),
    (Content("shout", NOW_MS, "hi"), "unknown message kind"),
    (Content("text", NOW_MS, "hi", REF), "wrong fields"),
    (Content("text", NOW_MS, None), "wrong fields"),
    (Content("reply", NOW_MS, "hi"), "wrong fields"),
    (Content("react", NOW_MS, None, REF), "wrong fields"),
    (Content("delete", NOW_MS, "gone", REF), "wrong fields"),
    (Content("delete", NOW_MS, None), "wrong fields"),
    (Content("text", NOW_MS, ""), "cannot be empty"),
    (Content("text", NOW_MS, " \n\t "), "cannot be empty"),
    (Content("edit", NOW_MS, "  ", REF), "cannot be empty"),
    (Content("react", NOW_MS, "", REF), "1 to 64 bytes"),
    (Content("react", NOW_MS, "é" * 33, REF), "1 to 64 bytes"),
    (Content("text", NOW_MS, "x" * (schema.MAX_TEXT_BYTES + 1)), "at most 16384 bytes"),
]


@pytest.mark.parametrize(("content", "reason"), BAD, ids=[f"{c.kind}-{r}" for c, r in BAD])
def test_bad_content_is_refused_on_both_paths(world3: World, content: Content, reason: str) -> None:
    with pytest.raises(SchemaError, match=reason):
        content.encode()
    with pytest.raises(SchemaError):
        messages.seal(BOB, world3.cid, ChainPos(), world3.cid, b"\x00" * 32, content)
    # A peer that skips the check still cannot get it past a receiver.
    raw = wire.encode({"k": content.kind, "ts": content.ts, "tx": content.text, "re": content.ref})
    with pytest.raises(SchemaError):
        Content.decode(raw)


@pytest.mark.parametrize(
    "obj",
    [
        {"k": "text", "ts": 1, "tx": "a"},  # "re" missing
        {"k": "text", "ts": 1, "tx": "a", "re": None, "extra": 1},
        {"k": "text", "ts": -1, "tx": "a", "re": None},
        {"k": "text", "ts": 1, "tx": b"bytes", "re": None},
        {"k": "reply", "ts": 1, "tx": "a", "re": b"short"},
        {"k": 1, "ts": 1, "tx": "a", "re": None},
        ["text", 1, "a", None],
    ],
)
def test_bad_plaintext_shapes(obj: object) -> None:
    with pytest.raises(SchemaError):
        Content.decode(wire.encode(obj))


def test_plaintext_limits() -> None:
    with pytest.raises(OversizeError):
        Content.decode(b"\x00" * (schema.MAX_TEXT_BYTES + 257))
    loose = b"\x84\xa1k\xa4text\xa2re\xc0\xa2ts\xcc\x01\xa2tx\xa1a"  # ts 1 as uint8: not canonical
    with pytest.raises(NonCanonicalError):
        Content.decode(loose)


def test_open_message_with_the_wrong_key_or_tampered_ciphertext(world3: World) -> None:
    w = world3
    _eid, key = w.current()
    rec = w.message(BOB, "secret")
    with pytest.raises(DecryptError):
        messages.open_message(rec, b"\x01" * 32)
    # Bob re-signs a flipped ciphertext: the signature is fine, the box is not.
    body = dict(rec.body)
    body["x"] = bytes([body["x"][0] ^ 1]) + body["x"][1:]
    tampered = records.parse(raw_record(BOB, body))
    with pytest.raises(DecryptError):
        messages.open_message(tampered, key)


def test_open_message_refuses_other_record_types(world3: World) -> None:
    with pytest.raises(SchemaError, match="not a chat message"):
        messages.open_message(world3.genesis, world3.keys[world3.cid])


# ---- sync plan ------------------------------------------------------------------------------

A, B, C = b"\xaa" * 32, b"\xbb" * 32, b"\xcc" * 32


def test_vector_and_contiguous() -> None:
    assert sync.contiguous({1, 2, 3, 5}) == 3
    assert sync.contiguous({2, 3}) == 0
    assert sync.contiguous(set()) == 0
    assert sync.vector({A: {1, 2, 4}, B: {2, 3}, C: set()}) == {A: 2}


@pytest.mark.parametrize(
    ("held", "theirs", "send", "ask"),
    [
        ({}, {}, [], []),
        ({A: {1, 2, 3}}, {A: 3}, [], []),
        ({A: {1, 2, 3, 4, 5}}, {A: 3}, [Range(A, 4, 5)], []),
        ({A: {1, 2, 3}}, {A: 5}, [], [Range(A, 4, 5)]),
        ({A: {1, 2, 4, 5}}, {A: 5}, [], [Range(A, 3, 3)]),
        ({A: {1, 2, 4, 7}}, {A: 2}, [Range(A, 4, 4), Range(A, 7, 7)], []),
        ({A: {1, 5}}, {A: 7}, [], [Range(A, 2, 4), Range(A, 6, 7)]),
        ({A: {1, 2}}, {}, [Range(A, 1, 2)], []),
        ({}, {B: 3}, [], [Range(B, 1, 3)]),
        (
            {A: {1, 2, 3}, B: {1}, C: {1, 2, 3, 4}},
            {A: 1, B: 4, C: 4},
            [Range(A, 2, 3)],
            [Range(B, 2, 4)],
        ),
        ({B: {1, 2}, A: {1}}, {}, [Range(A, 1, 1), Range(B, 1, 2)], []),
    ],
)
def test_plan_exact_ranges(
    held: dict[bytes, set[int]], theirs: dict[bytes, int], send: list[Range], ask: list[Range]
) -> None:
    p = sync.plan(held, theirs)
    assert p.send == tuple(send)
    assert p.ask == tuple(ask)
    assert p.in_sync == (not send and not ask)


def test_plans_of_two_peers_fill_each_other() -> None:
    mine = {A: {1, 2, 3, 4}, B: {1}}
    theirs = {A: {1, 2}, B: {1, 2, 3}}
    p = sync.plan(mine, sync.vector(theirs))
    q = sync.plan(theirs, sync.vector(mine))
    assert p.send == (Range(A, 3, 4),) and p.ask == (Range(B, 2, 3),)
    assert q.send == (Range(B, 2, 3),) and q.ask == (Range(A, 3, 4),)


def test_range_len_and_order() -> None:
    assert len(Range(A, 3, 7)) == 5
    assert sorted([Range(B, 1, 1), Range(A, 5, 6), Range(A, 1, 2)]) == [
        Range(A, 1, 2),
        Range(A, 5, 6),
        Range(B, 1, 1),
    ]


def test_batches_split_at_the_limit() -> None:
    out = list(sync.batches([Range(B, 1, 10), Range(A, 1, 300)], limit=256))
    assert out == [[Range(A, 1, 256)], [Range(A, 257, 300), Range(B, 1, 10)]]
    assert list(sync.batches([])) == []
    assert list(sync.batches([Range(A, 1, 3)], limit=1)) == [
        [Range(A, 1, 1)],
        [Range(A, 2, 2)],
        [Range(A, 3, 3)],
    ]
    assert list(sync.batches([Range(A, 1, 256)])) == [[Range(A, 1, 256)]]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([A, B, C]), st.integers(1, 500), st.integers(0, 400)), max_size=6),
    st.integers(1, 300),
)
def test_batches_cover_exactly_and_stay_bounded(spec: list[tuple[bytes, int, int]], limit: int) -> None:
    ranges = [Range(a, first, first + extra) for a, first, extra in spec]
    out = list(sync.batches(ranges, limit))
    assert all(0 < sum(len(r) for r in batch) <= limit for batch in out)
    assert all(sum(len(r) for r in batch) == limit for batch in out[:-1])  # only the last is short
    flat = [(r.author, q) for batch in out for r in batch for q in range(r.first, r.last + 1)]
    want = [(r.author, q) for r in sorted(ranges) for q in range(r.first, r.last + 1)]
    assert flat == want


def test_sync_messages_refuse_bad_content() -> None:
    cid = b"\x01" * 32
    with pytest.raises(SchemaError, match="empty or too long"):
        sync.decode_want(wire.encode({"v": 1, "c": cid, "want": [[A, [5, 4]]]}))
    with pytest.raises(SchemaError, match="empty or too long"):
        sync.decode_want(wire.encode({"v": 1, "c": cid, "want": [[A, [1, 1 << 21]]]}))
    with pytest.raises(SchemaError, match="sorted"):
        sync.decode_vector(wire.encode({"v": 1, "c": cid, "vec": [[B, 1], [A, 1]]}))
    with pytest.raises(SchemaError, match="sorted"):
        sync.decode_vector(wire.encode({"v": 1, "c": cid, "vec": [[A, 1], [A, 2]]}))
    with pytest.raises(SchemaError, match="'vec'"):
        sync.decode_vector(wire.encode({"v": 1, "c": cid, "vec": [[A, 0]]}))
    with pytest.raises(SchemaError, match="'v'"):
        sync.decode_vector(wire.encode({"v": 2, "c": cid, "vec": []}))
    too_many = [[A, [i, i]] for i in range(1, sync.MAX_BATCH + 2)]
    with pytest.raises(SchemaError, match="'want'"):
        sync.decode_want(wire.encode({"v": 1, "c": cid, "want": too_many}))
    with pytest.raises(OversizeError):
        sync.decode_vector(b"\x00" * (sync.MAX_SYNC_MESSAGE + 1))


# ---- forks ----------------------------------------------------------------------------------


def test_fork_create_and_open(world3: World) -> None:
    w = world3
    made = fork.create(ALICE, w.roster, w.pos(ALICE), "side", [BOB.public_key, CAROL.public_key], NOW_MS)
    child = made.child
    assert circle.parent_of(child.genesis) == w.cid
    assert child.genesis.body["par"] == {"c": w.cid, "r": w.roster.roster_hash}
    assert child.genesis.author == ALICE.public_key
    assert circle.open_name(child.epoch_key, child.genesis) == "side"

    out = stored(w.view.add(made.fork_record))
    assert out.record.type == "fork"
    c = fork.contents(made.fork_record)
    assert c.genesis.id == child.circle_id
    assert c.invitees == tuple(sorted([BOB.public_key, CAROL.public_key]))
    assert [i.id for i in c.invites] == [i.id for i in made.invites]
    assert fork.check_against(w.roster, made.fork_record) is None

    for me in (BOB, CAROL):
        opened = fork.open_fork(made.fork_record, me)
        assert opened.circle_id == child.circle_id
        assert (opened.name, opened.epoch_key) == ("side", child.epoch_key)
        assert opened.invite.body["k"] == me.public_key
        assert opened.invite.body["e"] == child.circle_id


def test_fork_cannot_be_opened_by_a_non_invitee(world3: World) -> None:
    w = world3
    made = fork.create(ALICE, w.roster, w.pos(ALICE), "side", [BOB.public_key], NOW_MS)
    for outsider in (CAROL, DAVE, MALLORY):
        with pytest.raises(RosterError, match="did not invite you"):
            fork.open_fork(made.fork_record, outsider)
    # Nor is the sealed key readable with their key.
    sealed = dict((bytes(k), bytes(v)) for k, v in made.fork_record.body["sl"])
    with pytest.raises(DecryptError):
        CAROL.unseal(sealed[BOB.public_key])
    # The child key and name are not in clear anywhere in the fork record.
    assert made.child.epoch_key not in made.fork_record.raw
    assert b"side" not in made.fork_record.raw


def test_fork_refuses_bad_member_lists(world3: World) -> None:
    w = world3
    with pytest.raises(RosterError, match="at least one other member"):
        fork.create(ALICE, w.roster, w.pos(ALICE), "side", [ALICE.public_key], NOW_MS)
    with pytest.raises(RosterError, match="not a member of the parent"):
        fork.create(ALICE, w.roster, w.pos(ALICE), "side", [BOB.public_key, DAVE.public_key], NOW_MS)
    with pytest.raises(RosterError, match="Only members"):
        fork.create(MALLORY, w.roster, ChainPos(), "side", [BOB.public_key], NOW_MS)
    with pytest.raises(SchemaError, match="needs a name"):
        fork.create(ALICE, w.roster, w.pos(ALICE), "   ", [BOB.public_key], NOW_MS)


def test_fork_invitee_joins_the_child(world3: World) -> None:
    w = world3
    made = fork.create(ALICE, w.roster, w.pos(ALICE), "side", [BOB.public_key, CAROL.public_key], NOW_MS)
    opened = fork.open_fork(made.fork_record, BOB)
    view = CircleView(made.child.genesis)
    for inv in made.invites:
        stored(view.receive(inv.raw))
    join = records.sign(
        BOB,
        {
            "t": "join",
            "a": BOB.public_key,
            "c": opened.circle_id,
            "q": 1,
            "p": None,
            "h": [opened.invite.id],
            "ts": NOW_MS,
            "i": opened.invite.id,
        },
    )
    stored(view.receive(join.raw))
    s = view.roster
    assert set(s.members) == {ALICE.public_key, BOB.public_key}
    assert s.members[BOB.public_key].invited_by == ALICE.public_key
    assert s.current_epoch is not None and s.current_epoch.id == made.child.circle_id
    assert not s.is_member(CAROL.public_key)  # invited, not joined yet
    # Bob can talk in the child with the key from the fork, and alice can read it.
    msg = messages.seal(
        BOB, opened.circle_id, view.next_pos(BOB.public_key), opened.circle_id, opened.epoch_key,
        Content("text", NOW_MS, "in the side circle"),
    )  # fmt: skip
    stored(view.receive(msg.raw))
    assert messages.open_message(msg, made.child.epoch_key).text == "in the side circle"
    # A record of the child is not accepted in the parent, and vice versa.
    assert w.view.receive(msg.raw) == Dropped("the record belongs to another circle")
    assert view.receive(w.history[0].raw) == Dropped("the record belongs to another circle")


def test_nested_forks_and_ancestry(world3: World) -> None:
    w = world3
    made = fork.create(ALICE, w.roster, w.pos(ALICE), "side", [BOB.public_key], NOW_MS)
    child_view = CircleView(made.child.genesis, made.invites)
    opened = fork.open_fork(made.fork_record, BOB)
    stored(child_view.add(actions.join(BOB, opened.invite, ChainPos(), NOW_MS)))
    grand = fork.create(
        BOB, child_view.roster, child_view.next_pos(BOB.public_key), "inner", [ALICE.public_key], NOW_MS
    )
    stored(child_view.add(grand.fork_record))
    assert grand.child.genesis.body["par"] == {"c": made.child.circle_id, "r": child_view.roster.roster_hash}
    assert fork.open_fork(grand.fork_record, ALICE).name == "inner"

    geneses = {g.id: g for g in (w.genesis, made.child.genesis, grand.child.genesis)}
    gc, ch, root = grand.child.circle_id, made.child.circle_id, w.cid
    assert circle.ancestry(gc, geneses) == [gc, ch, root]
    assert circle.ancestry(ch, geneses) == [ch, root]
    assert circle.ancestry(root, geneses) == [root]
    # An ancestor whose genesis is unknown is still listed, and the walk stops there.
    assert circle.ancestry(gc, {gc: grand.child.genesis}) == [gc, ch]
    assert circle.ancestry(b"\x00" * 32, geneses) == [b"\x00" * 32]


def test_fork_contents_refuses_mismatched_parts(world3: World) -> None:
    w = world3
    made = fork.create(ALICE, w.roster, w.pos(ALICE), "side", [BOB.public_key, CAROL.public_key], NOW_MS)
    body = dict(made.fork_record.body)
    other = fork.create(ALICE, w.roster, w.pos(ALICE), "other", [BOB.public_key], NOW_MS)

    def variant(**changes: object) -> records.Record:
        return records.sign(ALICE, {**body, **changes})

    cases: dict[str, tuple[records.Record, type[Exception], str]] = {
        "genesis of another fork, invites of this one": (
            variant(g=other.child.genesis.raw),
            SchemaError,
            "a fork invite does not belong to the child circle",
        ),
        "a root genesis instead of a child": (
            variant(g=w.genesis.raw),
            SchemaError,
            "the child genesis does not belong to this fork",
        ),
        "invites and sealed keys disagree": (
            variant(sl=body["sl"][:1]),
            SchemaError,
            "the fork's invites and sealed keys name different people",
        ),
        "an invite that is not an invite": (
            variant(iv=[w.history[1].raw]),
            SchemaError,
            "a fork invite does not belong to the child circle",
        ),
        "garbage genesis": (variant(g=b"\xc1"), MalformedError, "not valid msgpack"),
    }
    for name, (rec, cls, why) in cases.items():
        with pytest.raises(cls, match=why):
            fork.contents(rec)
        reason = fork.check_against(w.roster, rec)
        assert reason is not None and why in reason, name
    # A fork of somebody else's genesis: bob re-posts alice's child as his own.
    bobs = records.sign(BOB, {**body, "a": BOB.public_key})
    with pytest.raises(SchemaError, match="does not belong to this fork"):
        fork.contents(bobs)


def test_fork_with_an_invitee_outside_the_parent_gets_a_note(world3: World) -> None:
    w = world3
    # Alice forks from a view in which dave has joined; a validator that never saw dave's
    # join stores the fork (alice's chain stays whole) but notes why it does not fit.
    inv = w.invite(ALICE, DAVE)
    alice_view = CircleView(w.genesis, w.history)
    stored(alice_view.add(actions.join(DAVE, inv, ChainPos(), NOW_MS)))
    made = fork.create(ALICE, alice_view.roster, w.pos(ALICE), "side", [DAVE.public_key], NOW_MS)
    assert not w.roster.is_member(DAVE.public_key)
    out = w.view.add(made.fork_record)
    assert out.note == "a fork invitee is not a member of the parent"  # type: ignore[union-attr]
    assert fork.check_against(alice_view.roster, made.fork_record) is None
