"""``records.parse_batch``: one signature per chain head, the rest authenticated by hash.

A catch-up verifies each author's newest record in a batch and follows the ``p`` links
down; a record is only taken on a link from a *valid* record of the *same* author and
circle. Each test below fails if one of those conditions is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from proto_kit import ALICE, BOB, World, new_world

from protocol import crypto, records
from protocol.errors import DecodeError, VerifyError
from protocol.records import Record


def _bad_sig(record: Record) -> bytes:
    """The same body with a signature that does not verify (its id changes with it)."""
    return record.raw[:-64] + bytes(64)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The authors of every signature ``parse_batch`` verifies."""
    seen: list[bytes] = []
    real = crypto.verify

    def verify(key: bytes, sig: bytes, data: bytes) -> bool:
        seen.append(bytes(key))
        return real(key, sig, data)

    monkeypatch.setattr(crypto, "verify", verify)
    yield seen


def _posts(w: World, who: object, n: int) -> list[Record]:
    return [w.post(who, f"m{i}") for i in range(n)]  # type: ignore[arg-type]


def test_a_chain_costs_one_signature_and_comes_back_in_order(world3: World, counted: list[bytes]) -> None:
    alice, bob = _posts(world3, ALICE, 6), _posts(world3, BOB, 4)
    raws = [r.raw for r in (*bob, *alice)]
    valid, errors = records.parse_batch(raws)
    assert errors == []
    assert [r.raw for r in valid] == raws  # the order given, whatever was verified first
    assert sorted(counted) == sorted([ALICE.public_key, BOB.public_key])  # one head each


def test_a_record_named_by_a_valid_head_is_taken_without_its_own_signature(world: World) -> None:
    # The author vouched for its exact bytes by hash (docs/protocol.md, section 2).
    a, b, c = _posts(world, ALICE, 3)
    broken = _bad_sig(b)
    with pytest.raises(VerifyError):
        records.parse(broken)
    vouching = records.sign(ALICE, {**c.body, "p": records.record_id(broken)})
    valid, errors = records.parse_batch([a.raw, broken, vouching.raw])
    assert [r.raw for r in valid] == [a.raw, broken, vouching.raw] and errors == []
    # c names the real b, whose id the new signature changed: the broken b is refused
    valid, errors = records.parse_batch([a.raw, broken, c.raw])
    assert [r.id for r in valid] == [a.id, c.id] and [type(e) for e in errors] == [VerifyError]


def test_a_bad_head_is_refused_and_the_chain_below_is_verified_one_by_one(
    world: World, counted: list[bytes]
) -> None:
    a, b, c = _posts(world, ALICE, 3)
    valid, errors = records.parse_batch([a.raw, b.raw, _bad_sig(c)])
    assert [r.id for r in valid] == [a.id, b.id]
    assert [type(e) for e in errors] == [VerifyError]
    assert len(counted) == 2  # the bad head, then b (which vouches for a)


def test_a_link_from_another_author_vouches_for_nothing(world3: World) -> None:
    # bob is a member; a record "by alice" with a bad signature is not made valid by a
    # record of bob's that names it.
    forged = _bad_sig(world3.post(ALICE, "a"))
    body = world3.post(BOB, "b").body
    linked = records.sign(BOB, {**body, "q": 9, "p": records.record_id(forged)})  # above the forged one
    valid, errors = records.parse_batch([forged, linked.raw])
    assert [r.id for r in valid] == [linked.id]
    assert [type(e) for e in errors] == [VerifyError]


def test_a_link_from_another_circle_vouches_for_nothing() -> None:
    one, two = new_world(), new_world(name="other")
    forged = _bad_sig(one.post(ALICE, "in one"))
    linked = records.sign(ALICE, {**two.post(ALICE, "in two").body, "q": 2, "p": records.record_id(forged)})
    valid, errors = records.parse_batch([forged, linked.raw])
    assert [r.id for r in valid] == [linked.id]
    assert [type(e) for e in errors] == [VerifyError]


def test_a_link_from_an_invalid_record_vouches_for_nothing(world: World) -> None:
    a, b = _posts(world, ALICE, 2)
    valid, errors = records.parse_batch([_bad_sig(a), _bad_sig(b)])
    assert valid == [] and [type(e) for e in errors] == [VerifyError, VerifyError]


def test_equivocating_records_each_need_their_own_signature(world: World, counted: list[bytes]) -> None:
    a = _posts(world, ALICE, 1)[0]
    pos = world.view.next_pos(ALICE.public_key)
    b1, b2 = world.message(ALICE, "one", pos=pos), world.message(ALICE, "two", pos=pos)
    valid, errors = records.parse_batch([a.raw, b1.raw, _bad_sig(b2)])
    assert [r.id for r in valid] == [a.id, b1.id] and [type(e) for e in errors] == [VerifyError]


def test_malformed_input_is_refused_without_stopping_the_batch(world: World) -> None:
    a = _posts(world, ALICE, 1)[0]
    valid, errors = records.parse_batch([b"\x92\xc4", a.raw])
    assert [r.id for r in valid] == [a.id] and isinstance(errors[0], DecodeError)


def test_the_batch_accepts_what_one_by_one_parsing_accepts(world3: World) -> None:
    recs = [*_posts(world3, ALICE, 3), *_posts(world3, BOB, 3)]
    raws = [r.raw for r in recs] + [world3.genesis.raw]
    assert [r.id for r in records.parse_batch(raws)[0]] == [records.parse(r).id for r in raws]
