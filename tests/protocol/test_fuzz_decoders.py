"""Fuzzing every decoder that takes bytes or text from outside, and round trips of every record type.

The promise (THREATS.md 15, 17; DESIGN.md invariant 5): bad input never crashes.
Every decoder raises only :class:`ProtocolError` subclasses, and
``CircleView.receive`` never raises at all: it returns ``Dropped`` with a reason.
"""

from __future__ import annotations

import base64
import functools

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from proto_kit import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    MALLORY,
    NOW_MS,
    NOW_S,
    World,
    ident,
    new_world,
    nonce16,
    roster_body,
)

from protocol import (
    actions,
    carry,
    crypto,
    devicecert,
    fork,
    invitation,
    messages,
    presence,
    records,
    sync,
    wire,
)
from protocol.chain import ChainPos, Duplicate
from protocol.errors import DecodeError, ProtocolError, SchemaError, TokenError
from protocol.records import Record
from protocol.roster import fold
from protocol.view import CircleView, Dropped, Held, Outcome, Stored

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def sample() -> tuple[World, dict[str, Record], str]:
    """A circle with one record of every type, and a token (built once, never mutated)."""
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    w.invite_and_join(ALICE, CAROL)
    out: dict[str, Record] = {"genesis": w.genesis, "invite": w.history[0], "join": w.history[1]}
    out["role"] = actions.change_role(ALICE, w.roster, w.pos(ALICE), BOB.public_key, "admin", NOW_MS)
    w.add(out["role"])
    out["pin"] = actions.pin(
        ALICE, w.roster, w.pos(ALICE), MALLORY.public_key, ["/ip4/127.0.0.1/tcp/1"], NOW_MS
    )
    w.add(out["pin"])
    out["softcap"] = actions.set_soft_cap(ALICE, w.roster, w.pos(ALICE), 12, NOW_MS)
    w.add(out["softcap"])
    out["filecap"] = actions.set_file_cap(ALICE, w.roster, w.pos(ALICE), 10 * 2**20, NOW_MS)
    w.add(out["filecap"])
    out["rekeyevery"] = actions.set_rekey_schedule(ALICE, w.roster, w.pos(ALICE), 3, 500, NOW_MS)
    w.add(out["rekeyevery"])
    phone = ident(40)
    cert = devicecert.make(BOB, phone.public_key, "phone", NOW_MS, nonce=bytes(16))
    out["device"] = actions.link_device(BOB, w.roster, w.pos(BOB), cert.raw, NOW_MS)
    w.add(out["device"])
    out["unlink"], rk = actions.unlink(BOB, w.roster, w.pos(BOB), phone.public_key, 0, NOW_MS)
    w.add(out["unlink"])
    w.add(rk.record)
    w.keys[rk.record.id] = rk.key
    out["prekey"] = actions.prekey(BOB, w.roster, w.pos(BOB), crypto.prekey_pair()[0], NOW_MS)
    w.add(out["prekey"])
    out["msg"] = w.post(BOB, "hello fuzz")
    out["presence"] = presence.announce(
        BOB, w.cid, [f"/ip4/127.0.0.1/tcp/9/p2p/{BOB.peer_id}"], NOW_MS, "bob", b"e" * 32, b"k" * 32
    )
    made = fork.create(ALICE, w.roster, w.pos(ALICE), "side", [BOB.public_key], NOW_MS)
    out["fork"] = made.fork_record
    w.add(made.fork_record)
    child, last = made.child, made.invites[-1]
    reveal = carry.reveal_key(w.keys[w.cid], out["msg"])
    (out["carry"],) = carry.seal(
        ALICE, child.circle_id, ChainPos(last.seq + 1, last.id), child.circle_id, child.epoch_key,
        w.cid, [(out["msg"], reveal)], NOW_MS,
    )  # fmt: skip
    rm, rk = w.remove(ALICE, CAROL)
    out["remove"], out["rekey"] = rm, rk.record
    out["leave"] = actions.leave(BOB, w.roster, w.pos(BOB), NOW_MS)
    inv = w.invite(ALICE, DAVE)
    token = w.token(inv)
    return w, out, token


def fresh_view() -> CircleView:
    w, _, _ = sample()
    return CircleView(w.genesis, w.history)


RECORD_TYPES = [
    "genesis", "invite", "join", "remove", "leave", "role", "rekey", "pin", "fork", "msg", "presence",
    "softcap",
    "carry",
    "filecap",
    "device",
    "unlink",
    "prekey",
    "rekeyevery",
]  # fmt: skip


# ---- round trips ----------------------------------------------------------------------------


def test_sample_covers_every_record_type() -> None:
    _, recs, _ = sample()
    assert sorted(recs) == sorted(RECORD_TYPES) == sorted(records.TYPES)
    assert all(recs[t].type == t for t in RECORD_TYPES)


@pytest.mark.parametrize("kind", RECORD_TYPES)
def test_record_round_trip(kind: str) -> None:
    _, recs, _ = sample()
    rec = recs[kind]
    parsed = records.parse(rec.raw)
    assert parsed.type == kind
    assert dict(parsed.body) == dict(rec.body)
    assert parsed.id == rec.id == crypto.blake2b256(rec.raw)
    assert (parsed.raw, parsed.body_bytes, parsed.sig) == (rec.raw, rec.body_bytes, rec.sig)
    assert (parsed.author, parsed.circle, parsed.seq, parsed.prev, parsed.heads) == (
        rec.author,
        rec.circle,
        rec.seq,
        rec.prev,
        rec.heads,
    )
    assert parsed.is_roster == (kind in records.ROSTER_TYPES)
    # The wire form is exactly [body bytes, signature], and re-encoding changes nothing.
    assert wire.decode(rec.raw, records.MAX_RECORD_SIZE) == [rec.body_bytes, rec.sig]
    assert wire.encode(dict(parsed.body)) == rec.body_bytes
    assert kind in repr(parsed) and rec.id.hex()[:12] in repr(parsed)


def test_genesis_record_properties() -> None:
    _, recs, _ = sample()
    g = recs["genesis"]
    assert (g.circle, g.seq, g.prev, g.heads) == (g.id, 0, None, ())


def test_sync_messages_round_trip() -> None:
    w, _, _ = sample()
    vec = {ALICE.public_key: 7, BOB.public_key: 1}
    assert sync.decode_vector(sync.encode_vector(w.cid, vec)) == (w.cid, vec)
    ranges = [sync.Range(BOB.public_key, 2, 9), sync.Range(ALICE.public_key, 1, 1)]
    assert sync.decode_want(sync.encode_want(w.cid, ranges)) == (w.cid, sorted(ranges))


def test_token_round_trip() -> None:
    w, _, token = sample()
    t = invitation.decode_token(token)
    assert t.invite.type == "invite" and t.genesis.id == w.cid
    assert t.invitee == DAVE.public_key
    assert t.addrs == ("/ip4/127.0.0.1/tcp/4001",)
    assert token.startswith("ssi1") and token == token.lower()


# ---- mutations -------------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with bit flips, a truncation, an insertion or a deletion; always different."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "set"]))
        if how == "flip" and out:
            i = draw(st.integers(0, len(out) - 1))
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif how == "truncate" and out:
            del out[draw(st.integers(0, len(out) - 1)) :]
        elif how == "insert":
            i = draw(st.integers(0, len(out)))
            out[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif how == "delete" and out:
            i = draw(st.integers(0, len(out) - 1))
            del out[i : i + draw(st.integers(1, 8))]
        elif how == "set" and out:
            out[draw(st.integers(0, len(out) - 1))] = draw(st.sampled_from([0x00, 0xFF, 0xC1, 0xD4, 0xC7]))
    assume(bytes(out) != data)
    return bytes(out)


@st.composite
def mutated_record(draw: st.DrawFn) -> bytes:
    _, recs, _ = sample()
    rec = recs[draw(st.sampled_from(RECORD_TYPES))]
    return draw(mutated(rec.raw))


def _parse_fails_cleanly(data: bytes) -> None:
    try:
        records.parse(data)
    except ProtocolError as e:
        assert str(e)
        return
    pytest.fail("a mutated or random record parsed")


def _receive(view: CircleView, data: bytes) -> Outcome:
    out = view.receive(data)
    assert isinstance(out, (Stored, Held, Dropped, Duplicate))
    return out


@FUZZ
@given(mutated_record())
def test_mutated_records_never_parse(data: bytes) -> None:
    _parse_fails_cleanly(data)


@FUZZ
@given(mutated_record())
def test_mutated_records_are_dropped_by_the_view(data: bytes) -> None:
    view = fresh_view()
    n = len(view.records)
    out = _receive(view, data)
    assert isinstance(out, Dropped)
    assert out.reason
    assert len(view.records) == n


@FUZZ
@given(st.binary(max_size=600))
@example(b"")
@example(b"\x92\xc4\x00\xc4\x00")
@example(b"\x92\xc4\x01\xc0" + b"\xc4\x40" + b"\x00" * 64)
def test_random_bytes_never_parse(data: bytes) -> None:
    _parse_fails_cleanly(data)
    out = fresh_view().receive(data)
    assert isinstance(out, Dropped)


@pytest.mark.parametrize("bad_type", [[], {}, [1, 2], {"x": 1}, b"msg", None, 3])
def test_unhashable_or_non_text_record_type_is_a_schema_error(bad_type: object) -> None:
    # Regression: a body whose "t" was a list or map raised TypeError (unhashable) out of
    # records.parse, and so out of CircleView.receive: one crafted record crashed a node.
    raw = wire.encode([wire.encode({"t": bad_type, "v": 1}), b"\x00" * 64])
    with pytest.raises(SchemaError, match="unknown record type"):
        records.parse(raw)
    out = fresh_view().receive(raw)
    assert isinstance(out, Dropped) and out.reason.startswith("SchemaError")


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_into_wire_decode(data: bytes) -> None:
    try:
        value = wire.decode(data, 1 << 16)
    except DecodeError:
        return
    assert wire.encode(value) == data  # whatever decodes is canonical


wire_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(wire_values)
def test_wire_round_trip_of_random_values(value: object) -> None:
    try:
        data = wire.encode(value)
    except DecodeError:
        return  # nested too deep for the wire: refused on the way out, too
    assert wire.decode(data, 1 << 20) == value


@FUZZ
@given(
    st.dictionaries(st.sampled_from(["v", "t", "a", "c", "q", "p", "h", "ts", "e", "k", "x"]), wire_values)
)
def test_random_bodies_never_parse(body: dict[str, object]) -> None:
    body.setdefault("t", "msg")
    try:
        raw = wire.encode([wire.encode(body), b"\x00" * 64])
    except DecodeError:
        return
    _parse_fails_cleanly(raw)


@FUZZ
@given(st.sampled_from(RECORD_TYPES), st.sampled_from(["a", "c", "q", "p", "h", "ts", "v", "t"]), wire_values)
def test_resigned_bodies_with_a_bad_field_are_refused_or_valid(kind: str, field: str, value: object) -> None:
    # A properly signed body with one field replaced: either the schema refuses it, or it
    # is a well-formed record (and then it round-trips); never any other exception.
    _, recs, _ = sample()
    rec = recs[kind]
    signer = {ALICE.public_key: ALICE, BOB.public_key: BOB}[rec.author]
    body = {**rec.body, field: value}
    if field == "a":
        body["a"] = signer.public_key if not isinstance(value, bytes) else value
    try:
        raw = wire.encode(
            [wire.encode(body), signer.sign(records.domain(str(body.get("t"))) + wire.encode(body))]
        )
    except (DecodeError, TypeError):
        return
    try:
        parsed = records.parse(raw)
    except ProtocolError:
        return
    assert dict(parsed.body) == body


# ---- tokens ----------------------------------------------------------------------------------


def _frame(body: bytes) -> str:
    """Wrap arbitrary body bytes in a well-formed token frame (right length and checksum)."""
    framed = len(body).to_bytes(4, "big") + body
    payload = framed + crypto.checksum(b"ssi1" + framed, 5)
    return "ssi1" + base64.b32encode(payload).decode().rstrip("=").lower()


def _token_fails_cleanly(text: str) -> TokenError:
    try:
        invitation.open_token(text, DAVE, NOW_S)
    except TokenError as e:
        msg = str(e)
        assert msg.endswith(".") and msg[:1].isupper(), msg
        return e
    pytest.fail("a broken token opened")


@st.composite
def mutated_token(draw: st.DrawFn) -> str:
    _, _, token = sample()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    chars = list(token)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["sub", "del", "ins", "cut"]))
        if len(chars) < 6:
            break
        i = draw(st.integers(4, len(chars) - 2))  # the very last char partly holds padding bits
        if how == "sub":
            chars[i] = draw(st.sampled_from(alphabet.replace(chars[i], "")))
        elif how == "del":
            del chars[i]
        elif how == "ins":
            chars.insert(i, draw(st.sampled_from(alphabet)))
        else:
            del chars[i:]
    text = "".join(chars)
    assume(text != token)
    return text


@FUZZ
@given(mutated_token())
def test_mutated_tokens_fail_with_a_token_error(text: str) -> None:
    _token_fails_cleanly(text)


@FUZZ
@given(st.text(max_size=200))
@example("ssi")
@example("ssi1")
@example("ssi99999999999")
@example("SSI1AAAA")
@example("ssi1" + "a" * 8)
@example("ssi1" + "7" * 16)
def test_random_text_is_not_a_token(text: str) -> None:
    _token_fails_cleanly(text)


@FUZZ
@given(st.binary(max_size=400))
def test_well_framed_garbage_is_invalid(body: bytes) -> None:
    # Right frame and checksum, so the decoder gets past the text layer into msgpack and records.
    _token_fails_cleanly(_frame(body))


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "v": st.sampled_from([1, 2, "1"]),
            "inv": st.sampled_from([b"x", b""]) | st.just(b"I"),
            "gen": st.sampled_from([b"x", b"G"]),
            "ch": st.lists(st.sampled_from([b"x", b"J", b"I"]), max_size=3),
            "sl": st.binary(max_size=60),
            "ad": st.lists(st.text(max_size=10), max_size=3),
        },
    )
)
def test_well_framed_token_bodies_with_wrong_parts(body: dict[str, object]) -> None:
    _, recs, _ = sample()
    real = {b"I": recs["invite"].raw, b"G": recs["genesis"].raw, b"J": recs["join"].raw}

    def sub(v: object) -> object:
        if isinstance(v, bytes):
            return real.get(v, v)
        if isinstance(v, list):
            return [sub(x) for x in v]
        return v

    _token_fails_cleanly(_frame(wire.encode({k: sub(v) for k, v in body.items()})))


# ---- sync and message plaintext ---------------------------------------------------------------


def _sync_decodes_cleanly(data: bytes) -> int:
    """Feed ``data`` to both sync decoders; whatever decodes must be well-formed. Returns #decoded."""
    ok = 0
    try:
        cid, vec = sync.decode_vector(data)
    except ProtocolError:
        pass
    else:
        ok += 1
        assert all(q >= 1 for q in vec.values())
        assert sync.encode_vector(cid, vec) == data  # one canonical form
    try:
        cid, ranges = sync.decode_want(data)
    except ProtocolError:
        pass
    else:
        ok += 1
        assert all(1 <= r.first <= r.last for r in ranges)
        assert sum(len(r) for r in ranges) <= sync.MAX_BATCH * (1 << 20)
    return ok


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_into_sync_decoders(data: bytes) -> None:
    assert _sync_decodes_cleanly(data) <= 1  # no message is both a vector and a want


@FUZZ
@given(st.sampled_from(["vector", "want"]), st.data())
def test_mutated_sync_messages(kind: str, data: st.DataObject) -> None:
    w, _, _ = sample()
    if kind == "vector":
        good = sync.encode_vector(w.cid, {ALICE.public_key: 3, BOB.public_key: 9})
    else:
        good = sync.encode_want(w.cid, [sync.Range(BOB.public_key, 2, 5)])
    assert _sync_decodes_cleanly(good) == 1
    assert _sync_decodes_cleanly(data.draw(mutated(good))) <= 1


@FUZZ
@given(
    st.fixed_dictionaries(
        {"v": st.just(1), "c": st.binary(min_size=32, max_size=32)},
        optional={
            "vec": st.lists(
                st.tuples(st.binary(min_size=31, max_size=33), st.integers(-1, 2**64 - 1)), max_size=3
            ),
            "want": st.lists(
                st.tuples(st.binary(min_size=32, max_size=32), st.lists(st.integers(-1, 2**40), max_size=3)),
                max_size=3,
            ),
        },
    )
)
def test_structured_sync_messages(obj: dict[str, object]) -> None:
    assert _sync_decodes_cleanly(wire.encode(obj)) <= 1


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_into_message_content(data: bytes) -> None:
    try:
        c = messages.Content.decode(data)
    except ProtocolError:
        return
    assert c.encode() == data


@FUZZ
@given(
    st.fixed_dictionaries(
        {
            "k": st.sampled_from([*messages.KINDS, "fork", "TEXT", 1]),
            "ts": st.integers(-1, 2**64 - 1),
            "tx": st.none() | st.text(max_size=80) | st.binary(max_size=4),
            "re": st.none() | st.binary(min_size=31, max_size=33),
        }
    )
)
def test_structured_message_content(obj: dict[str, object]) -> None:
    try:
        c = messages.Content.decode(wire.encode(obj))
    except ProtocolError:
        return
    assert c.encode() == wire.encode(obj)


# ---- validly signed nonsense into the validator -------------------------------------------------


@st.composite
def signed_nonsense(draw: st.DrawFn) -> Record:
    """A correctly signed, schema-valid record with arbitrary (mostly unauthorised) content."""
    w, recs, _ = sample()
    who = draw(st.sampled_from([ALICE, BOB, CAROL, DAVE, MALLORY]))
    known_ids = [w.cid, *(r.id for r in w.history), b"\x00" * 32]
    some_id = st.sampled_from(known_ids)
    some_key = st.sampled_from([i.public_key for i in (ALICE, BOB, CAROL, DAVE, MALLORY)])
    seq = draw(st.integers(1, 6))
    prev = None if seq == 1 else draw(some_id)
    heads = draw(st.lists(some_id, min_size=1, max_size=3, unique=True))
    kind = draw(st.sampled_from(["invite", "join", "remove", "leave", "role", "rekey", "pin", "msg", "fork"]))
    if kind == "msg":
        body: dict[str, object] = {
            "t": "msg", "a": who.public_key, "c": w.cid, "q": seq, "p": prev,
            "e": draw(some_id), "n": b"\x01" * 24, "x": draw(st.binary(min_size=16, max_size=40)),
        }  # fmt: skip
        return records.sign(who, body)
    if kind == "fork":
        body = {
            "t": "fork", "a": who.public_key, "c": w.cid, "q": seq, "p": prev, "ts": NOW_MS,
            "g": draw(st.sampled_from([recs["genesis"].raw, b"junk"])),
            "iv": [draw(st.sampled_from([recs["invite"].raw, b"junk"]))],
            "sl": [[draw(some_key), b"sealed"]],
        }  # fmt: skip
        return records.sign(who, body)
    fields: dict[str, object] = {
        "invite": {"k": draw(some_key), "r": "member", "x": NOW_S + draw(st.integers(-5, 5)), "n": nonce16(),
                   "e": draw(some_id)},
        "join": {"i": draw(some_id)},
        "remove": (lambda cut: {"k": draw(some_key), "s": cut, "sh": draw(some_id) if cut else None})(
            draw(st.integers(0, 5))
        ),
        "leave": {},
        "role": {"k": draw(some_key), "r": draw(st.sampled_from(["member", "admin"]))},
        "rekey": {"e": draw(st.integers(1, 3)), "pe": draw(some_id),
                  "ks": [[k, b"\x00" * 80] for k in sorted(draw(st.sets(some_key, min_size=1)))]},
        "pin": {"k": draw(some_key), "ad": []},
    }[kind]  # fmt: skip
    body = roster_body(who, w.cid, kind, heads=heads, seq=seq, prev=prev, **fields)
    return records.sign(who, body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(signed_nonsense(), min_size=1, max_size=6))
def test_validator_never_raises_on_signed_nonsense(batch: list[Record]) -> None:
    w, _, _ = sample()
    view = fresh_view()
    for rec in batch:
        out = _receive(view, rec.raw)
        if isinstance(out, Stored):
            assert rec.id in (view.conflicts if out.conflict else view.records)
        else:
            assert rec.id not in view.records or isinstance(out, Duplicate)
    # The roster stays a function of the stored set, and strangers never become members.
    held = [*view.roster_records.values(), *view.conflicts.values()]
    assert view.roster == fold(w.genesis, [r for r in held if r.is_roster])
    assert not view.roster.is_member(MALLORY.public_key)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("their_seq", [10**7, 2**63 - 1])
def test_sync_plan_for_a_huge_vector_seq_is_immediate(their_seq: int) -> None:
    # Regression (found by scripts/fuzz): sync.plan listed every seq up to a peer's claimed
    # latest seq, so one sync request with a vector {author: 2**63 - 1} (valid on the wire)
    # made the serving node build a list of 2**63 ints: a hang, then MemoryError.
    w, _, _ = sample()
    theirs = sync.decode_vector(sync.encode_vector(w.cid, {BOB.public_key: their_seq}))[1]
    p = sync.plan({BOB.public_key: {1, 2, 5}}, theirs)
    assert p.ask == (sync.Range(BOB.public_key, 3, 4), sync.Range(BOB.public_key, 6, their_seq))
    assert p.send == ()
