"""Identities: an Ed25519 key pair, its peer-ID text, and its key-file bytes.

The text form of a key is its libp2p peer ID (``12D3KooW…``): the identity
multihash of the protobuf-encoded Ed25519 public key, in base58btc. It is
computed here without libp2p. :func:`parse_peer_id` turns the text back into
the 32-byte key, with a clear error on a typo.

Key files are bytes (the store writes them with mode 0600): plain, or sealed
with a passphrase (Argon2id, then secretbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import base58
import nacl.bindings
import nacl.exceptions
import nacl.pwhash
import nacl.signing

from protocol import crypto, wire
from protocol.errors import BadPeerId, DecodeError, IdentityError, WrongPassphrase

PUBLIC_KEY_SIZE = 32
# protobuf PublicKey{Type: Ed25519 (1), Data: 32 bytes}, wrapped in an identity multihash.
_PB_PREFIX = bytes([0x08, 0x01, 0x12, 0x20])
_MH_PREFIX = bytes([0x00, len(_PB_PREFIX) + PUBLIC_KEY_SIZE])
_KEYFILE_MAX = 4096


def peer_id(public_key: bytes) -> str:
    """The libp2p peer ID text of an Ed25519 public key."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise BadPeerId("a public key is 32 bytes")
    return base58.b58encode(_MH_PREFIX + _PB_PREFIX + public_key).decode("ascii")


def parse_peer_id(text: str) -> bytes:
    """The 32-byte Ed25519 key in a peer ID text, or ``BadPeerId`` saying what is wrong."""
    text = text.strip()
    if not text:
        raise BadPeerId("The key is empty; paste a key that starts with 12D3KooW.")
    if not text.startswith("12D3KooW"):
        raise BadPeerId(f"{_short(text)} is not a smallsocial key; keys start with 12D3KooW.")
    try:
        raw = base58.b58decode(text)
    except ValueError as e:
        raise BadPeerId(f"{_short(text)} has characters a key cannot contain; check for typos.") from e
    if len(raw) != len(_MH_PREFIX) + len(_PB_PREFIX) + PUBLIC_KEY_SIZE or not raw.startswith(
        _MH_PREFIX + _PB_PREFIX
    ):
        raise BadPeerId(f"{_short(text)} is not a complete key; check that you copied all of it.")
    key = raw[len(_MH_PREFIX) + len(_PB_PREFIX) :]
    if not crypto.is_valid_public_key(key):
        # Also a key that could sign but not receive (small-order or mixed-order): protocol.md section 3.
        raise BadPeerId(f"{_short(text)} is not a valid key; check for typos.")
    return key


def _short(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:17] + "...")


@dataclass(frozen=True)
class Identity:
    """A private identity: the Ed25519 signing key."""

    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        if len(seed) != 32:
            raise IdentityError("an identity seed is 32 bytes")
        return cls(nacl.signing.SigningKey(seed))

    @property
    def seed(self) -> bytes:
        return bytes(self.signing_key)

    @cached_property
    def _keys(self) -> tuple[bytes, bytes]:
        """(public key, libsodium secret key): derived once, not on every signature.

        The libsodium Ed25519 secret key is the seed followed by the public key.
        ``cached_property`` stores into the instance ``__dict__``, which a frozen
        dataclass allows (it is not a field: equality and repr are unchanged).
        """
        public = bytes(self.signing_key.verify_key)
        return public, bytes(self.signing_key) + public

    @property
    def public_key(self) -> bytes:
        return self._keys[0]

    @property
    def peer_id(self) -> str:
        return peer_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        # What SigningKey.sign does, without building a SignedMessage around it.
        return bytes(nacl.bindings.crypto_sign(message, self._keys[1])[: nacl.bindings.crypto_sign_BYTES])

    def unseal(self, sealed: bytes) -> bytes:
        return crypto.unseal(self.signing_key, sealed)


# Argon2id "moderate" costs: ~0.5 s and 256 MiB here; tests pass cheaper ones.
OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_MODERATE


def dump_identity(
    identity: Identity,
    passphrase: str | None = None,
    *,
    opslimit: int = OPSLIMIT,
    memlimit: int = MEMLIMIT,
    salt: bytes | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """The key-file bytes of an identity, sealed with ``passphrase`` when given."""
    if passphrase is None:
        return wire.encode({"v": 1, "kdf": "none", "seed": identity.seed})
    salt = salt or crypto.random_bytes(nacl.pwhash.argon2id.SALTBYTES)
    nonce = nonce or crypto.random_bytes(crypto.NONCE_SIZE)
    key = nacl.pwhash.argon2id.kdf(32, passphrase.encode(), salt, opslimit=opslimit, memlimit=memlimit)
    return wire.encode(
        {
            "v": 1,
            "kdf": "argon2id",
            "salt": salt,
            "ops": opslimit,
            "mem": memlimit,
            "nonce": nonce,
            "box": crypto.box_encrypt(key, identity.seed, nonce),
        }
    )


def keyfile_is_encrypted(data: bytes) -> bool:
    try:
        obj = wire.decode(data, _KEYFILE_MAX)
    except DecodeError:
        return False
    return isinstance(obj, dict) and obj.get("kdf") == "argon2id"


def load_identity(data: bytes, passphrase: str | None = None) -> Identity:
    """Read key-file bytes; ``WrongPassphrase`` or ``IdentityError`` when they do not open."""
    try:
        obj = wire.decode(data, _KEYFILE_MAX)
    except DecodeError as e:
        raise IdentityError("The identity file is damaged; restore it from a backup.") from e
    if not isinstance(obj, dict) or obj.get("v") != 1:
        raise IdentityError("The identity file has an unknown format.")
    kdf = obj.get("kdf")
    if kdf == "none":
        seed = obj.get("seed")
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise IdentityError("The identity file is damaged; restore it from a backup.")
        return Identity.from_seed(seed)
    if kdf != "argon2id":
        raise IdentityError("The identity file has an unknown format.")
    if passphrase is None:
        raise WrongPassphrase("The identity is protected by a passphrase; give it to unlock.")
    try:
        ops, mem = int(obj["ops"]), int(obj["mem"])
        salt, nonce, box = bytes(obj["salt"]), bytes(obj["nonce"]), bytes(obj["box"])
        if ops > 2**32 or mem > 2**33:
            raise IdentityError("The identity file asks for an unreasonable key-derivation cost.")
        key = nacl.pwhash.argon2id.kdf(32, passphrase.encode(), salt, opslimit=ops, memlimit=mem)
    except (KeyError, TypeError, ValueError, nacl.exceptions.CryptoError) as e:
        raise IdentityError("The identity file is damaged; restore it from a backup.") from e
    try:
        seed = crypto.box_decrypt(key, box, nonce)
    except Exception as e:
        raise WrongPassphrase("Wrong passphrase for this identity; try again.") from e
    return Identity.from_seed(seed)
