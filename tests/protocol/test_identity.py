"""Identities: peer-ID text (must equal libp2p's), parsing it back, and key files."""

from __future__ import annotations

import base58
import nacl.pwhash
import pytest
from libp2p.crypto.ed25519 import Ed25519PublicKey
from libp2p.peer.id import ID
from proto_kit import ALICE, BOB, ident

from protocol import wire
from protocol.errors import BadPeerId, IdentityError, WrongPassphrase
from protocol.identity import (
    Identity,
    dump_identity,
    keyfile_is_encrypted,
    load_identity,
    parse_peer_id,
    peer_id,
)

CHEAP = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


def libp2p_peer_id(public_key: bytes) -> str:
    return ID.from_pubkey(Ed25519PublicKey.from_bytes(public_key)).to_base58()


@pytest.mark.parametrize("n", [1, 2, 3, 77, 255])
def test_peer_id_equals_libp2p(n: int) -> None:
    me = ident(n)
    assert me.peer_id == libp2p_peer_id(me.public_key)
    assert me.peer_id.startswith("12D3KooW")


def test_peer_id_of_a_generated_key_equals_libp2p() -> None:
    me = Identity.generate()
    assert peer_id(me.public_key) == libp2p_peer_id(me.public_key)


def test_known_peer_id_for_a_fixed_seed() -> None:
    # Pinned so an accidental change of the text form is caught even if libp2p changed too.
    assert ALICE.peer_id == "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"


def test_peer_id_needs_32_bytes() -> None:
    with pytest.raises(BadPeerId, match="32 bytes"):
        peer_id(b"\x01" * 31)


def test_from_seed_is_deterministic_and_checks_length() -> None:
    assert Identity.from_seed(bytes([1]) * 32).public_key == ALICE.public_key
    assert ALICE.seed == bytes([1]) * 32
    assert ALICE.public_key != BOB.public_key
    with pytest.raises(IdentityError, match="32 bytes"):
        Identity.from_seed(b"short")


@pytest.mark.parametrize("n", [1, 2, 9, 200])
def test_parse_peer_id_round_trip(n: int) -> None:
    me = ident(n)
    assert parse_peer_id(me.peer_id) == me.public_key


def test_parse_peer_id_ignores_surrounding_whitespace() -> None:
    assert parse_peer_id(f"  {ALICE.peer_id}\n") == ALICE.public_key


def test_parse_peer_id_accepts_libp2p_text() -> None:
    assert parse_peer_id(libp2p_peer_id(BOB.public_key)) == BOB.public_key


def _one_sentence(msg: str) -> None:
    assert msg[0].isupper() or msg[0] == "'", msg
    assert msg.endswith("."), msg
    assert ". " not in msg.replace("...", ""), msg


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_parse_peer_id_empty(text: str) -> None:
    with pytest.raises(BadPeerId, match="empty") as e:
        parse_peer_id(text)
    _one_sentence(str(e.value))


@pytest.mark.parametrize(
    "text",
    [
        "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",  # an RSA-style (sha256) peer ID
        "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY",  # a secp256k1 peer ID
        "hello",
        "12D3Koow" + "x" * 44,  # case changed inside the prefix
    ],
)
def test_parse_peer_id_wrong_prefix(text: str) -> None:
    with pytest.raises(BadPeerId, match="start with 12D3KooW") as e:
        parse_peer_id(text)
    _one_sentence(str(e.value))


@pytest.mark.parametrize("bad", ["0", "O", "I", "l", "-", "é"])
def test_parse_peer_id_typo_with_impossible_character(bad: str) -> None:
    pid = ALICE.peer_id
    typo = pid[:20] + bad + pid[21:]
    with pytest.raises(BadPeerId, match="characters a key cannot contain") as e:
        parse_peer_id(typo)
    _one_sentence(str(e.value))


def test_parse_peer_id_typo_giving_an_invalid_key() -> None:
    # With alice's key, changing the last character to "z" yields 32 bytes that are
    # not a valid Ed25519 point: caught by the curve check, not accepted as some key.
    typo = ALICE.peer_id[:-1] + "z"
    assert len(base58.b58decode(typo)) == 38
    with pytest.raises(BadPeerId, match="not a valid key; check for typos") as e:
        parse_peer_id(typo)
    _one_sentence(str(e.value))


@pytest.mark.parametrize("keep", [8, 20, 51])
def test_parse_peer_id_truncated(keep: int) -> None:
    with pytest.raises(BadPeerId, match="not a complete key") as e:
        parse_peer_id(ALICE.peer_id[:keep])
    _one_sentence(str(e.value))


def test_parse_peer_id_extra_characters() -> None:
    with pytest.raises(BadPeerId, match="not a complete key"):
        parse_peer_id(ALICE.peer_id + "z")


def test_parse_peer_id_wrong_key_type() -> None:
    # Same multihash framing, but the protobuf key type says secp256k1 (2) instead of Ed25519 (1):
    # the text then no longer starts with 12D3KooW, and the message says what keys look like.
    raw = bytes([0x00, 0x24, 0x08, 0x02, 0x12, 0x20]) + ALICE.public_key
    text = base58.b58encode(raw).decode()
    with pytest.raises(BadPeerId, match="start with 12D3KooW"):
        parse_peer_id(text)


def test_parse_peer_id_messages_quote_long_input_shortened() -> None:
    with pytest.raises(BadPeerId) as e:
        parse_peer_id("x" * 200)
    assert "x" * 30 not in str(e.value)
    assert "..." in str(e.value)


# ---- key files -------------------------------------------------------------


def test_plain_key_file_round_trip() -> None:
    data = dump_identity(ALICE)
    assert not keyfile_is_encrypted(data)
    assert wire.decode(data, 4096) == {"v": 1, "kdf": "none", "seed": ALICE.seed}
    assert load_identity(data).public_key == ALICE.public_key
    # A passphrase given for a plain file is not needed and does not hurt.
    assert load_identity(data, "unused").seed == ALICE.seed


def test_passphrase_key_file_round_trip() -> None:
    data = dump_identity(ALICE, "correct horse", **CHEAP)
    assert keyfile_is_encrypted(data)
    assert ALICE.seed not in data
    assert load_identity(data, "correct horse").seed == ALICE.seed


def test_passphrase_key_file_is_salted() -> None:
    a = dump_identity(ALICE, "pw", **CHEAP)
    b = dump_identity(ALICE, "pw", **CHEAP)
    assert a != b
    assert load_identity(a, "pw").seed == load_identity(b, "pw").seed == ALICE.seed


def test_passphrase_key_file_is_deterministic_with_fixed_salt_and_nonce() -> None:
    kw = {**CHEAP, "salt": b"s" * nacl.pwhash.argon2id.SALTBYTES, "nonce": b"n" * 24}
    assert dump_identity(ALICE, "pw", **kw) == dump_identity(ALICE, "pw", **kw)


def test_wrong_passphrase() -> None:
    data = dump_identity(ALICE, "right", **CHEAP)
    with pytest.raises(WrongPassphrase, match="Wrong passphrase") as e:
        load_identity(data, "wrong")
    _one_sentence(str(e.value))


def test_missing_passphrase() -> None:
    data = dump_identity(ALICE, "right", **CHEAP)
    with pytest.raises(WrongPassphrase, match="protected by a passphrase"):
        load_identity(data)


@pytest.mark.parametrize("data", [b"", b"\xc1", b"not msgpack at all", b"\x01"])
def test_damaged_key_file(data: bytes) -> None:
    with pytest.raises(IdentityError) as e:
        load_identity(data, "pw")
    assert not isinstance(e.value, WrongPassphrase)


def test_truncated_encrypted_key_file_is_damaged_not_wrong_passphrase() -> None:
    data = dump_identity(ALICE, "pw", **CHEAP)
    with pytest.raises(IdentityError, match="damaged") as e:
        load_identity(data[:-3], "pw")
    assert not isinstance(e.value, WrongPassphrase)


def test_tampered_box_reads_as_wrong_passphrase() -> None:
    obj = wire.decode(dump_identity(ALICE, "pw", **CHEAP), 4096)
    obj["box"] = bytes([obj["box"][0] ^ 1]) + obj["box"][1:]
    with pytest.raises(WrongPassphrase):
        load_identity(wire.encode(obj), "pw")


@pytest.mark.parametrize(
    "obj",
    [
        {"v": 2, "kdf": "none", "seed": b"\x01" * 32},
        {"v": 1, "kdf": "scrypt", "seed": b"\x01" * 32},
        [1, 2],
    ],
)
def test_unknown_key_file_format(obj: object) -> None:
    with pytest.raises(IdentityError, match="unknown format"):
        load_identity(wire.encode(obj))


def test_plain_key_file_with_bad_seed() -> None:
    with pytest.raises(IdentityError, match="damaged"):
        load_identity(wire.encode({"v": 1, "kdf": "none", "seed": b"\x01" * 31}))


def test_key_file_with_absurd_kdf_cost_is_refused_without_running_it() -> None:
    obj = wire.decode(dump_identity(ALICE, "pw", **CHEAP), 4096)
    obj["mem"] = 2**40
    with pytest.raises(IdentityError, match="unreasonable"):
        load_identity(wire.encode(obj), "pw")


def test_key_file_with_missing_field() -> None:
    obj = wire.decode(dump_identity(ALICE, "pw", **CHEAP), 4096)
    del obj["salt"]
    with pytest.raises(IdentityError, match="damaged"):
        load_identity(wire.encode(obj), "pw")


def test_keyfile_is_encrypted_on_garbage() -> None:
    assert keyfile_is_encrypted(b"\xc1garbage") is False
    assert keyfile_is_encrypted(b"x" * 10_000) is False
