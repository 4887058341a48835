"""Invitation-token checks that mutation testing found unguarded (issue 17).

The chain back to the founder, the size bounds (body, text length before decoding,
the sealed part) at their exact boundaries, and which error class each truncation gets.
"""

from __future__ import annotations

import base64

import pytest
from proto_kit import ALICE, BOB, CAROL, DAVE, NOW_S, World, new_world, nonce16, roster_body

from protocol import crypto, invitation, records, wire
from protocol.chain import ChainPos
from protocol.errors import TokenError, TokenInvalid, TokenMangled, TokenTruncated, TokenVersionError
from protocol.invitation import MAX_TOKEN_BODY
from protocol.records import Record

BROKEN = "chain back to the founder is broken"


def _frame(body: bytes, declared: int | None = None) -> str:
    """Token text around ``body`` with a correct checksum (and, optionally, a false length)."""
    framed = (len(body) if declared is None else declared).to_bytes(4, "big") + body
    payload = framed + crypto.checksum(b"ssi1" + framed, 5)
    return "ssi1" + base64.b32encode(payload).decode().rstrip("=").lower()


def _body_size(token: str) -> int:
    b32 = token[4:].upper()
    return int.from_bytes(base64.b32decode(b32 + "=" * (-len(b32) % 8))[:4], "big")


def _bob_invites_dave(w: World, chain: list[Record]) -> str:
    """A token for dave, signed by bob (not the founder), with ``chain`` as bob's link to alice."""
    inv = records.sign(
        BOB,
        roster_body(
            BOB, w.cid, records.INVITE, heads=[chain[-1].id] if chain else [w.cid], seq=2,
            prev=chain[-1].id if chain else b"\x01" * 32, k=DAVE.public_key, r="member",
            x=NOW_S + 3600, n=nonce16(), e=w.cid,
        ),
    )  # fmt: skip
    return invitation.make_token(inv, w.genesis, chain, w.cid, w.keys[w.cid], w.new.name, [])


# ---- the chain back to the founder ------------------------------------------------------------


def test_a_join_citing_a_missing_invite_breaks_the_chain(world3: World) -> None:
    bob_inv, bob_join = world3.history[0], world3.history[1]
    assert invitation.open_token(_bob_invites_dave(world3, [bob_inv, bob_join]), DAVE, NOW_S)
    with pytest.raises(TokenInvalid, match=BROKEN) as e:
        invitation.open_token(_bob_invites_dave(world3, [bob_join]), DAVE, NOW_S)
    assert type(e.value) is TokenInvalid


def test_a_join_citing_an_invite_for_another_key_breaks_the_chain(world3: World) -> None:
    w = world3
    carol_inv = w.history[2]
    assert (carol_inv.type, bytes(carol_inv.body["k"])) == ("invite", CAROL.public_key)
    # Bob's "join" cites the invite alice made for carol: signed by bob, so it verifies.
    bob_join = records.sign(BOB, roster_body(BOB, w.cid, records.JOIN, heads=[carol_inv.id], i=carol_inv.id))
    with pytest.raises(TokenInvalid, match=BROKEN):
        invitation.open_token(_bob_invites_dave(w, [carol_inv, bob_join]), DAVE, NOW_S)


@pytest.mark.parametrize(("late_ms", "ok"), [(0, True), (1, False), (1000, False)])
def test_a_join_after_its_invite_expired_breaks_the_chain(late_ms: int, ok: bool) -> None:
    w = new_world()
    bob_inv = w.invite(ALICE, BOB, ttl_s=60)
    expires_ms = int(bob_inv.body["x"]) * 1000
    bob_join = records.sign(
        BOB,
        roster_body(BOB, w.cid, records.JOIN, heads=[bob_inv.id], ts=expires_ms + late_ms, i=bob_inv.id),
    )
    token = _bob_invites_dave(w, [bob_inv, bob_join])
    if ok:  # joining in the invite's last millisecond is in time
        assert invitation.open_token(token, DAVE, NOW_S).circle_id == w.cid
    else:
        with pytest.raises(TokenInvalid, match=BROKEN):
            invitation.open_token(token, DAVE, NOW_S)


def test_links_from_another_circle_do_not_count(world3: World) -> None:
    w = world3
    other = new_world(CAROL, "other")
    # In carol's circle bob really was invited and joined; that proves nothing in alice's.
    inv = other.invite(CAROL, BOB)
    join = other.join(BOB, inv)
    with pytest.raises(TokenInvalid, match="does not link back"):
        invitation.open_token(_bob_invites_dave(w, [inv, join]), DAVE, NOW_S)
    bob_inv, bob_join = w.history[0], w.history[1]
    opened = invitation.open_token(_bob_invites_dave(w, [inv, join, bob_inv, bob_join]), DAVE, NOW_S)
    assert opened.circle_id == w.cid


def test_a_join_citing_an_invite_from_another_circle_breaks_the_chain(world3: World) -> None:
    w = world3
    carol_inv, carol_join = w.history[2], w.history[3]
    # Carol (a member here) invited bob in her own circle; bob's join *here* cites that invite.
    elsewhere = new_world(CAROL, "other").invite(CAROL, BOB)
    bob_join = records.sign(BOB, roster_body(BOB, w.cid, records.JOIN, heads=[elsewhere.id], i=elsewhere.id))
    chain = [elsewhere, bob_join, carol_inv, carol_join]
    with pytest.raises(TokenInvalid, match=BROKEN):
        invitation.open_token(_bob_invites_dave(w, chain), DAVE, NOW_S)


def test_a_two_step_chain_reaches_the_founder(world3: World) -> None:
    w = world3
    # alice -> bob -> carol2 (here: dave) -> eve: dave's token for a new key links back in two steps.
    bob_inv, bob_join = w.history[0], w.history[1]
    dave_inv = w.invite(BOB, DAVE)
    dave_join = w.join(DAVE, dave_inv)
    from proto_kit import EVE

    eve_inv = w.invite(DAVE, EVE)
    chain = [bob_inv, bob_join, dave_inv, dave_join]
    assert invitation.open_token(w.token(eve_inv, chain), EVE, NOW_S).circle_id == w.cid
    with pytest.raises(TokenInvalid, match="does not link back"):
        invitation.open_token(w.token(eve_inv, chain[2:]), EVE, NOW_S)


# ---- sizes ---------------------------------------------------------------------------------------


def _padded_token(w: World, inv: Record, size: int) -> str:
    """A valid token whose body is exactly ``size`` bytes: filler messages in the chain, one address."""
    pos = ChainPos(1, None).after(w.history[1].id)
    filler: list[Record] = []
    target = size - 1000  # room for the invite, the genesis, the sealed part and a short address
    while (total := sum(len(r.raw) for r in filler)) < target:
        m = w.message(BOB, "x" * min(3000, max(1, target - total - 250)), pos=pos)
        filler.append(m)
        pos = pos.after(m.id)
    addr = 40  # 32..255 characters: the length header stays 2 bytes while it is adjusted
    for _ in range(4):
        token = invitation.make_token(inv, w.genesis, filler, w.cid, w.keys[w.cid], "friends", ["/" * addr])
        have = _body_size(token)
        if have == size:
            return token
        addr += size - have
    raise AssertionError(f"could not pad the token to {size} bytes")


def test_token_body_size_limit_is_exact(world3: World) -> None:
    w = world3
    inv = w.invite(ALICE, DAVE)
    token = _padded_token(w, inv, MAX_TOKEN_BODY)
    assert MAX_TOKEN_BODY == 24 * 1024
    assert invitation.open_token(token, DAVE, NOW_S).token.invite.id == inv.id
    with pytest.raises(TokenInvalid, match="too long"):
        _padded_token(w, inv, MAX_TOKEN_BODY + 1)


def test_length_field_over_the_limit_is_mangled_not_truncated() -> None:
    with pytest.raises(TokenMangled, match="length field"):
        invitation.decode_token(_frame(b"\x00" * 16, declared=MAX_TOKEN_BODY + 1))
    with pytest.raises(TokenTruncated, match=f"16 of {MAX_TOKEN_BODY} bytes"):
        invitation.decode_token(_frame(b"\x00" * 16, declared=MAX_TOKEN_BODY))


def test_text_length_bound_before_decoding_is_exact() -> None:
    bound = (MAX_TOKEN_BODY + 16) * 8 // 5
    assert bound == 39347
    with pytest.raises(TokenMangled, match="far too long"):
        invitation.decode_token("ssi1" + "a" * (bound + 1))
    with pytest.raises(TokenError) as e:
        invitation.decode_token("ssi1" + "a" * bound)
    assert "far too long" not in str(e.value)


@pytest.mark.parametrize(("size", "ok"), [(1, True), (1024, True), (1025, False)])
def test_sealed_part_size_limit(world3: World, size: int, ok: bool) -> None:
    w = world3
    inv = w.invite(ALICE, DAVE)
    body = {"v": 1, "inv": inv.raw, "gen": w.genesis.raw, "ch": [], "sl": b"\x01" * size, "ad": []}
    text = _frame(wire.encode(body))
    if ok:
        assert invitation.decode_token(text).sealed == b"\x01" * size
        with pytest.raises(TokenInvalid, match="does not open with your key"):
            invitation.open_token(text, DAVE, NOW_S)
    else:
        with pytest.raises(TokenInvalid, match="intact but not valid"):
            invitation.decode_token(text)


def test_a_sealed_part_with_the_wrong_contents_does_not_open(world3: World) -> None:
    w = world3
    inv = w.invite(ALICE, DAVE)

    def token_with(inner: object) -> str:
        sl = crypto.seal(DAVE.public_key, wire.encode(inner))
        body = {"v": 1, "inv": inv.raw, "gen": w.genesis.raw, "ch": [], "sl": sl, "ad": []}
        return _frame(wire.encode(body))

    good = {"c": w.cid, "e": w.cid, "k": b"\x02" * 32, "nm": "friends"}
    assert invitation.open_token(token_with(good), DAVE, NOW_S).epoch_key == b"\x02" * 32
    for name in ("n", "n" * 256, "é" * 128):  # 1 character; 256 bytes (64 characters of 4 bytes)
        assert invitation.open_token(token_with({**good, "nm": name}), DAVE, NOW_S).name == name
    for bad in ({**good, "nm": ""}, {**good, "nm": "n" * 257}, {**good, "k": b"\x02" * 31}, {**good, "x": 1}):
        with pytest.raises(TokenInvalid, match="does not open"):
            invitation.open_token(token_with(bad), DAVE, NOW_S)
    for other in ({**good, "c": b"\x03" * 32}, {**good, "e": b"\x03" * 32}):
        with pytest.raises(TokenInvalid, match="another circle or epoch"):
            invitation.open_token(token_with(other), DAVE, NOW_S)


# ---- truncation: the class and the sentence -------------------------------------------------------


def test_every_truncation_is_token_truncated(world3: World) -> None:
    token = world3.token(world3.invite(ALICE, DAVE))
    b32 = token[4:]
    for cut in range(1, 17):
        short = b32[:-cut]
        with pytest.raises(TokenTruncated) as e:
            invitation.decode_token("ssi1" + short)
        assert type(e.value) is TokenTruncated
        if len(short) % 8 in (1, 3, 6):  # not a whole number of bytes: said without figures
            assert str(e.value) == "The invitation is cut short; copy the whole token."
        else:
            assert f" of {_body_size(token)} bytes)" in str(e.value)


@pytest.mark.parametrize("n", [2, 4, 5, 7])
def test_shorter_than_a_length_field_is_cut_short(n: int) -> None:
    with pytest.raises(TokenTruncated) as e:
        invitation.decode_token("ssi1" + "a" * n)
    assert str(e.value) == "The invitation is cut short; copy the whole token."


def test_eight_characters_hold_a_length_and_nothing_else() -> None:
    # 8 base32 characters are 5 bytes: a length field that says 0, and one byte.
    with pytest.raises(TokenTruncated, match=r"cut short \(0 of 0 bytes\)"):
        invitation.decode_token("ssi1" + "a" * 8)
    one = base64.b32encode(b"\x00\x00\x00\x01\x00").decode().lower()
    with pytest.raises(TokenTruncated, match=r"\(0 of 1 bytes\)"):
        invitation.decode_token("ssi1" + one)


# ---- the body's schema, field by field, at its bounds --------------------------------------------


def _token_body(w: World, **fields: object) -> str:
    inv = w.history[0]
    body = {"v": 1, "inv": inv.raw, "gen": w.genesis.raw, "ch": [], "sl": b"\x01", "ad": [], **fields}
    return _frame(wire.encode(body))


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"inv": b"x" * 4096}, False),  # within the bound: refused later, as a record
        ({"inv": b"x" * 4097}, True),
        ({"inv": b"x"}, False),
        ({"inv": b""}, True),
        ({"gen": b"x" * 4096}, False),
        ({"gen": b"x" * 4097}, True),
        ({"gen": b"x"}, False),
        ({"gen": b""}, True),
        ({"ch": [b"x" * 4096]}, False),
        ({"ch": [b"x" * 4097]}, True),
        ({"ch": [b"x"]}, False),
        ({"ch": [b""]}, True),
        ({"ch": [b"x"] * 32}, False),
        ({"ch": [b"x"] * 33}, True),
        ({"sl": b""}, True),
        ({"v": 2}, True),
    ],
)
def test_body_fields_are_bounded_before_records_are_parsed(
    world3: World, fields: dict[str, object], named: bool
) -> None:
    (name,) = fields
    with pytest.raises(TokenInvalid, match="intact but not valid") as e:
        invitation.decode_token(_token_body(world3, **fields))
    assert (f"field {name!r}" in str(e.value)) is named, str(e.value)


def test_addresses_up_to_the_bound_are_kept(world3: World) -> None:
    ok = [f"/dns/{'a' * 240}/tcp/{i}" for i in range(16)]
    ok[0] = "x" * 256
    assert invitation.decode_token(_token_body(world3, ad=ok)).addrs == tuple(ok)
    for bad in ([*ok, "/ip4/127.0.0.1/tcp/1"], ["x" * 257]):
        with pytest.raises(TokenInvalid, match="field 'ad'"):
            invitation.decode_token(_token_body(world3, ad=bad))
    # The first pass counts the list before a string of it is built.
    with pytest.raises(TokenInvalid, match=r"\(field 'ad' must be a list of at most 16 items\)"):
        invitation.decode_token(_token_body(world3, ad=["/x"] * 17))


def test_a_version_is_read_from_at_most_six_digits() -> None:
    with pytest.raises(TokenVersionError, match=r"uses format 999999, which"):
        invitation.decode_token("ssi" + "9" * 40 + "aaaa")
    with pytest.raises(TokenVersionError, match=r"uses format 3, which"):
        invitation.decode_token("ssi3aaaaaaaa")


def test_leading_zeros_in_the_version_count_up_to_six_digits() -> None:
    with pytest.raises(TokenVersionError, match="uses format 000000, which"):
        invitation.decode_token("ssi0000001" + "a" * 8)
    # Six digits that read as 1 are version 1: what follows is read as the token.
    with pytest.raises(TokenTruncated, match=r"\(0 of 0 bytes\)"):
        invitation.decode_token("ssi000001" + "a" * 8)


def test_when_clamps_to_the_range_a_record_can_hold() -> None:
    assert invitation.when(0) == "1970-01-01 00:00 UTC"
    assert invitation.when(-5) == "1970-01-01 00:00 UTC"
    assert invitation.when(NOW_S) == "2026-09-21 14:13 UTC"
    assert invitation.when(10**20) == "9999-12-30 23:59 UTC"  # MAX_TS_MS, a day short of year 10000
