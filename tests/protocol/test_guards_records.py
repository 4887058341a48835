"""Record size limits that mutation testing found unguarded (issue 17), tested at their boundaries.

The sender-side size check in ``records.sign`` (a record whose body fits but whose
envelope does not), the genesis name box, a fork's invites and sealed parts, and a
presence record's addresses and name: each limit is hit exactly, then passed by one.
"""

from __future__ import annotations

from typing import Any

import pytest
from proto_kit import ALICE, BOB, NOW_MS, World

from protocol import crypto, records, schema, wire
from protocol.errors import DecodeError, OversizeError, SchemaError, VerifyError
from protocol.identity import Identity

MAX = records.MAX_RECORD_SIZE


def _fork_body(w: World, iv: list[int], *, g: int = 1, sl: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """A fork by alice with invite blobs and sealed parts of the given sizes (no need to open them)."""
    keys = sorted(Identity.from_seed((1000 + i).to_bytes(32, "big")).public_key for i in range(len(sl)))
    return {
        "t": records.FORK,
        "a": ALICE.public_key,
        "c": w.cid,
        "q": 1,
        "p": None,
        "ts": NOW_MS,
        "g": b"g" * g,
        "iv": [b"i" * n for n in iv],
        "sl": [[k, b"s" * n] for k, n in zip(keys, sl, strict=True)],
    }


def _body_len(body: dict[str, Any]) -> int:
    return len(wire.encode({"v": records.VERSION, **body}))


def _fork_of_body_size(w: World, size: int) -> dict[str, Any]:
    """A fork body whose canonical encoding is exactly ``size`` bytes (around 256 KiB)."""
    n = (size - 2500) // 1027  # full invite blobs (1024 bytes and a 3-byte header each)
    g = 2000  # the genesis blob takes up the rest
    for _ in range(3):
        g += size - _body_len(_fork_body(w, [1024] * n, g=g))
    body = _fork_body(w, [1024] * n, g=g)
    assert _body_len(body) == size and 256 <= g <= 4096
    return body


def test_sign_refuses_a_record_whose_envelope_is_over_the_limit(world: World) -> None:
    # [body, sig] adds 72 bytes to a body this long: 1 (array) + 5 (bin 32) + 2 + 64 (signature).
    rec = records.sign(ALICE, _fork_of_body_size(world, MAX - 72))
    assert len(rec.raw) == MAX == 262_144
    assert records.parse(rec.raw).id == rec.id
    for size in (MAX - 71, MAX):  # the body alone fits; the record does not
        with pytest.raises(SchemaError, match=f"record of {size + 72} bytes is over the limit of {MAX}"):
            records.sign(ALICE, _fork_of_body_size(world, size))
    with pytest.raises(OversizeError, match=f"{MAX + 1} bytes is over the limit of {MAX}"):
        records.sign(ALICE, _fork_of_body_size(world, MAX + 1))


@pytest.mark.parametrize(("size", "ok"), [(1, True), (296, True), (0, False), (297, False)])
def test_genesis_name_box_size(world: World, size: int, ok: bool) -> None:
    # nonce (24) + MAC (16) + 64 characters of up to 4 UTF-8 bytes each = 296
    body = {**world.genesis.body, "nm": b"n" * size}
    if ok:
        assert records.parse(records.sign(ALICE, body).raw).body["nm"] == b"n" * size
    else:
        with pytest.raises(SchemaError, match="'nm'"):
            records.sign(ALICE, body)


@pytest.mark.parametrize(
    ("kwargs", "ok"),
    [
        ({"iv": [1024]}, True),
        ({"iv": [1025]}, False),
        ({"iv": [0]}, False),
        ({"iv": []}, False),
        ({"iv": [1] * 256}, True),
        ({"iv": [1] * 257}, False),
        ({"iv": [1], "g": 4096}, True),
        ({"iv": [1], "g": 4097}, False),
        ({"iv": [1], "g": 0}, False),
        ({"iv": [1], "sl": (512,)}, True),
        ({"iv": [1], "sl": (513,)}, False),
        ({"iv": [1], "sl": (0,)}, False),
        ({"iv": [1], "sl": ()}, False),
        ({"iv": [1], "sl": (1,) * 256}, True),
        ({"iv": [1], "sl": (1,) * 257}, False),
    ],
)
def test_fork_invite_and_sealed_sizes(world: World, kwargs: dict[str, Any], ok: bool) -> None:
    body = _fork_body(world, **kwargs)
    if ok:
        rec = records.sign(ALICE, body)
        assert records.parse(rec.raw).body["iv"] == body["iv"]
    else:
        with pytest.raises(SchemaError):
            records.sign(ALICE, body)


def _presence(w: World, x: bytes, n: bytes = b"n" * crypto.NONCE_SIZE) -> dict[str, Any]:
    return {
        "t": records.PRESENCE,
        "a": BOB.public_key,
        "c": w.cid,
        "ts": NOW_MS,
        "e": b"e" * 32,
        "n": n,
        "x": x,
    }


BOX_MAX = schema.MAX_PRESENCE_CONTENT + crypto.BOX_OVERHEAD


@pytest.mark.parametrize(
    ("x", "n", "ok"),
    [
        (b"x" * crypto.BOX_OVERHEAD, b"n" * crypto.NONCE_SIZE, True),
        (b"x" * (crypto.BOX_OVERHEAD - 1), b"n" * crypto.NONCE_SIZE, False),
        (b"x" * BOX_MAX, b"n" * crypto.NONCE_SIZE, True),
        (b"x" * (BOX_MAX + 1), b"n" * crypto.NONCE_SIZE, False),
        (b"x" * 64, b"n" * (crypto.NONCE_SIZE - 1), False),
        (b"x" * 64, b"n" * (crypto.NONCE_SIZE + 1), False),
    ],
)
def test_presence_box_and_nonce(world: World, x: bytes, n: bytes, ok: bool) -> None:
    """The sealed presence's size bounds (its content's limits: tests/protocol/test_presence.py)."""
    body = _presence(world, x, n)
    if ok:
        assert records.parse(records.sign(BOB, body).raw).body["x"] == x
    else:
        with pytest.raises(SchemaError):
            records.sign(BOB, body)


@pytest.mark.parametrize(
    ("q", "p", "ok"), [(1, None, True), (2, b"\x01" * 32, True), (1, b"\x01" * 32, False)]
)
def test_prev_is_empty_exactly_at_seq_one(world: World, q: int, p: bytes | None, ok: bool) -> None:
    body = {**_fork_body(world, [1]), "q": q, "p": p}
    if ok:
        assert records.sign(ALICE, body).seq == q
    else:
        with pytest.raises(SchemaError, match="'p' must be empty exactly when 'q' is 1"):
            records.sign(ALICE, body)
    with pytest.raises(SchemaError, match="'p' must be empty"):
        records.sign(ALICE, {**body, "q": 2, "p": None})


def _msg(w: World, x: int) -> dict[str, Any]:
    return {
        "t": records.MSG,
        "a": ALICE.public_key,
        "c": w.cid,
        "q": 1,
        "p": None,
        "e": w.cid,
        "n": b"\x00" * 24,
        "x": b"x" * x,
    }


@pytest.mark.parametrize(
    ("x", "ok"), [(16, True), (15, False), (16 * 1024 + 1024, True), (16 * 1024 + 1025, False)]
)
def test_message_ciphertext_size(world: World, x: int, ok: bool) -> None:
    # At least the MAC (16 bytes); at most the longest text (16 KiB) and 1 KiB of framing.
    if ok:
        assert len(records.parse(records.sign(ALICE, _msg(world, x)).raw).body["x"]) == x
    else:
        with pytest.raises(SchemaError, match="'x'"):
            records.sign(ALICE, _msg(world, x))


def test_an_unknown_version_is_named(world: World) -> None:
    body = {**_fork_body(world, [1]), "v": 2}
    with pytest.raises(SchemaError, match="unsupported record version 2"):
        records.sign(ALICE, body)


def test_parse_and_validate_refuse_what_is_not_a_record(world: World) -> None:
    from protocol.errors import MalformedError

    with pytest.raises(MalformedError, match="input is not bytes"):
        records.parse("text")  # type: ignore[arg-type]
    assert records.parse(bytearray(world.genesis.raw)).id == world.genesis.id
    for body in ([], "genesis", None):
        with pytest.raises(SchemaError, match="a record body must be a map"):
            records.validate_body(body)


def test_a_removal_names_the_record_at_its_cut_exactly_when_the_cut_is_past_zero(world3: World) -> None:
    w = world3
    rm, _ = w.remove(ALICE, BOB)
    assert rm.body["s"] > 0 and rm.body["sh"] is not None
    base = {k: v for k, v in rm.body.items() if k != "v"}
    assert records.sign(ALICE, {**base, "s": 0, "sh": None}).body["s"] == 0
    for s, sh in ((0, rm.body["sh"]), (rm.body["s"], None)):
        with pytest.raises(SchemaError, match="'sh' must be empty exactly when 's' is 0"):
            records.sign(ALICE, {**base, "s": s, "sh": sh})


def test_a_rekey_may_have_one_recipient(world: World) -> None:
    rk = world.rekey(ALICE)  # alice alone in her circle
    assert [bytes(p[0]) for p in rk.record.body["ks"]] == [ALICE.public_key]
    assert records.parse(rk.record.raw).id == rk.record.id
    with pytest.raises(SchemaError, match="'ks'"):
        records.sign(ALICE, {**{k: v for k, v in rk.record.body.items() if k != "v"}, "ks": []})


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("pol", {"inv": "member", "x": 1}, "pol has 2 fields, more than it can have"),
        ("par", {"c": b"1" * 32, "r": b"2" * 32, "x": 1}, "par has 3 fields, more than it can have"),
    ],
)
def test_small_maps_are_bounded_in_the_first_pass(
    world: World, field: str, value: object, words: str
) -> None:
    body_bytes = wire.encode({**world.genesis.body, field: value})
    raw = wire.encode([body_bytes, ALICE.sign(records.DOMAINS[records.GENESIS] + body_bytes)])
    with pytest.raises(SchemaError, match=words):
        records.parse(raw)


def test_a_stored_record_loads_without_its_signature_checked_but_only_under_its_id(world: World) -> None:
    rec = world.invite(ALICE, BOB)
    loaded = records.load(rec.raw, rec.id)
    assert (loaded.raw, loaded.id, dict(loaded.body), loaded.sig) == (
        rec.raw,
        rec.id,
        dict(rec.body),
        rec.sig,
    )
    damaged = bytearray(rec.raw)
    damaged[-1] ^= 1  # a flipped bit in the signature: parse refuses it, load sees the id differ
    with pytest.raises(VerifyError):
        records.parse(bytes(damaged))
    with pytest.raises(DecodeError, match="do not match its id"):
        records.load(bytes(damaged), rec.id)
    with pytest.raises(DecodeError):
        records.load(rec.raw, crypto.blake2b256(b"another"))
    bad_schema = wire.encode([wire.encode({"t": "nonsense"}), rec.sig])
    with pytest.raises(SchemaError):
        records.load(bad_schema, records.record_id(bad_schema))  # the schema is still checked
