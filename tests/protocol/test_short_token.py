"""Short invitation tokens (format 2, protocol/shorttoken.py) and their packed addresses.

What a format-2 token proves on its own (docs/protocol.md section 11): the inviter named in
it signed it for the invitee's key; its secret opens for that key only; it is not expired
and was not used. The rest (the inviter's place in the circle) is the roster's, after sync.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proto_kit import ALICE, BOB, CAROL, DAVE, EVE, MALLORY, NOW_S, World, new_world

from protocol import addrpack, crypto, invitation, shorttoken, tokentext, wire
from protocol.errors import SchemaError, TokenExpired, TokenInvalid, TokenNotForYou, TokenReused
from protocol.records import Record

PID = ALICE.peer_id


def _reframed(signed: bytes, sig: bytes) -> str:
    return tokentext.frame(2, signed + sig)


def test_a_short_token_opens_for_its_invitee_only(world3: World) -> None:
    inv = world3.invite(ALICE, DAVE)
    token = world3.short_token(ALICE, inv)
    opened = invitation.open_token(token, DAVE, NOW_S)
    assert (opened.circle_id, opened.epoch_id, opened.name) == (world3.cid, world3.cid, "friends")
    assert opened.epoch_key == world3.keys[world3.cid]
    for other in (BOB, MALLORY):
        with pytest.raises(TokenNotForYou, match=f"not for your key {other.peer_id}"):
            invitation.open_token(token, other, NOW_S)


def test_the_signature_covers_the_invitee_and_every_byte(world3: World) -> None:
    inv = world3.invite(ALICE, DAVE)
    tok = invitation.decode_token(world3.short_token(ALICE, inv))
    assert isinstance(tok, shorttoken.ShortToken)
    shorttoken.verify(tok, DAVE)
    # Re-signed by someone else (the secret still opens for dave): refused, not "not for you".
    forged = _reframed(tok.signed, MALLORY.sign(shorttoken.DOMAIN + DAVE.public_key + tok.signed))
    with pytest.raises(TokenInvalid, match="signature does not hold"):
        invitation.open_token(forged, DAVE, NOW_S)
    # Another expiry, same signature: refused.
    items = wire.decode(tok.signed, 4096)
    later = wire.encode([*items[:3], items[3] + 86400, *items[4:]])
    with pytest.raises(TokenInvalid, match="signature does not hold"):
        invitation.open_token(_reframed(later, tok.sig), DAVE, NOW_S)


def test_reused_and_expired_short_tokens_say_so(world3: World) -> None:
    inv = world3.invite(ALICE, DAVE, ttl_s=60)
    token = world3.short_token(ALICE, inv)
    with pytest.raises(TokenReused):
        invitation.open_token(token, DAVE, NOW_S, used={inv.id})
    with pytest.raises(TokenExpired, match="expired on"):
        invitation.open_token(token, DAVE, NOW_S + 61)


def test_a_secret_that_is_not_epoch_key_and_name_is_invalid(world3: World) -> None:
    inv = world3.invite(ALICE, DAVE)
    tok = invitation.decode_token(world3.short_token(ALICE, inv))
    assert isinstance(tok, shorttoken.ShortToken)
    items = wire.decode(tok.signed, 4096)
    for secret in ([None, b"\x01" * 31, "x"], [b"\x01" * 5, b"\x01" * 32, "x"], {"k": b"\x01" * 32}):
        signed = wire.encode([*items[:4], crypto.seal(DAVE.public_key, wire.encode(secret)), items[5]])
        sig = ALICE.sign(shorttoken.DOMAIN + DAVE.public_key + signed)
        with pytest.raises(TokenInvalid, match="does not open with your key"):
            invitation.open_token(_reframed(signed, sig), DAVE, NOW_S)


def test_a_body_that_is_not_six_fields_is_invalid(world3: World) -> None:
    inv = world3.invite(ALICE, DAVE)
    tok = invitation.decode_token(world3.short_token(ALICE, inv))
    assert isinstance(tok, shorttoken.ShortToken)
    items = wire.decode(tok.signed, 4096)
    for bad in (wire.encode(items[:5]), wire.encode([*items, 1]), wire.encode({"c": items[0]}), b""):
        with pytest.raises(TokenInvalid, match="intact but not valid"):
            invitation.decode_token(tokentext.frame(2, bad + tok.sig))


def test_make_leaves_out_addresses_and_then_shortens_the_name_to_fit(world3: World) -> None:
    inv = world3.invite(ALICE, DAVE)
    key = world3.keys[world3.cid]
    mine = [f"/ip4/10.0.0.{i}/tcp/4001/p2p/{PID}" for i in range(1, 9)]
    others = [f"/ip6/2001:db8::{i}/tcp/4001/p2p/{k.peer_id}" for i, k in enumerate((BOB, CAROL, EVE), 1)]
    dns = [f"/dns4/host{i}.example.org/tcp/4001/p2p/{BOB.peer_id}" for i in range(4)]
    given = [*others, *dns, *mine]
    token = invitation.make_short_token(ALICE, inv, b"\x09" * 32, key, "x" * 20, given)
    opened = invitation.open_token(token, DAVE, NOW_S)
    assert len(token) <= shorttoken.MAX_CHARS and opened.name == "x" * 20
    assert opened.token.addrs and list(opened.token.addrs) == [a for a in given if a in opened.token.addrs]
    # No room for the first address beside the name: the name gives way (an address is needed
    # to reach the circle; the name is only shown).
    for name, addr in (("x" * 64, others[0]), ("名" * 64, mine[0])):
        token = invitation.make_short_token(ALICE, inv, b"\x09" * 32, key, name, [addr])
        opened = invitation.open_token(token, DAVE, NOW_S)
        assert len(token) <= shorttoken.MAX_CHARS and opened.token.addrs == (addr,)
        assert opened.name.endswith("…") and name.startswith(opened.name[:-1]) and len(opened.name) > 8


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=64),
    n=st.integers(0, 16),
    epoch0=st.booleans(),
)
def test_make_never_writes_more_than_600_characters(name: str, n: int, epoch0: bool) -> None:
    w = new_world()
    inv = w.invite(ALICE, DAVE)
    addrs = [f"/ip6/2001:db8::{i}/tcp/{1000 + i}/p2p/{PID if i % 2 else BOB.peer_id}" for i in range(n)]
    epoch = w.cid if epoch0 else b"\x05" * 32
    token = invitation.make_short_token(ALICE, inv, epoch, w.keys[w.cid], name, addrs)
    assert len(token) <= shorttoken.MAX_CHARS
    assert invitation.open_token(token, DAVE, NOW_S).epoch_id == epoch


# -- packed addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "addrs",
    [
        [f"/ip4/203.0.113.7/tcp/4001/p2p/{PID}"],
        ["/ip4/203.0.113.7/tcp/4001"],
        [f"/ip6/2001:db8::7/tcp/65535/p2p/{BOB.peer_id}", f"/ip4/1.2.3.4/tcp/1/p2p/{BOB.peer_id}"],
        [f"/dns4/relay.example/tcp/4001/p2p/{BOB.peer_id}"],
        ["/ip4/127.000.0.1/tcp/1", "/ip4/1.2.3.4/tcp/01", f"/ip6/0:0::1/tcp/1/p2p/{PID}"],  # kept as text
        [f"/ip4/1.2.3.4/tcp/1/p2p/{PID}/p2p-circuit/p2p/{BOB.peer_id}"],
    ],
)
def test_addresses_come_back_exactly(addrs: list[str]) -> None:
    packed = addrpack.pack(addrs, ALICE.public_key)
    assert addrpack.unpack(packed, ALICE.public_key, 8) == addrs


def test_an_address_costs_seven_bytes_when_it_is_the_inviters() -> None:
    assert len(addrpack.pack([f"/ip4/203.0.113.7/tcp/4001/p2p/{PID}"], ALICE.public_key)) == 7
    two = [f"/ip4/1.2.3.4/tcp/1/p2p/{BOB.peer_id}", f"/ip4/1.2.3.5/tcp/1/p2p/{BOB.peer_id}"]
    assert len(addrpack.pack(two, ALICE.public_key)) == 39 + 7  # the key once


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x10", "unknown tag"),
        (b"\x03\x01\x02\x03\x04\x00\x01", "unknown tag"),
        (b"\x04\x01\x02\x03", "cut short"),
        (b"\x0c\x01\x02\x03\x04\x00\x01", "repeats a key before any"),
        (b"\x08\x01\x02\x03\x04\x00\x01" + b"\x00" * 32, "not usable"),
        (b"\x02\x05/ip4", "not a multiaddr text"),
        (b"\x02\x03abc", "not a multiaddr text"),
        (b"\x02\x02\xff\xfe", "not a multiaddr text"),
        (b"\x00\x01\x02\x03\x04\x00\x01" * 9, "more than 8"),
    ],
)
def test_packed_addresses_that_are_not_whole_entries_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(SchemaError, match=why):
        addrpack.unpack(data, ALICE.public_key, 8)


def test_an_address_no_token_can_carry_is_left_out(world3: World) -> None:
    inv: Record = world3.invite(ALICE, DAVE)
    carried = f"/ip4/1.2.3.4/tcp/1/p2p/{PID}"
    token = world3.short_token(ALICE, inv, ["not an address", "/" + "x" * 300, carried])
    assert invitation.decode_token(token).addrs == (carried,)
