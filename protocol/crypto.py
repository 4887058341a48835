"""Small pure crypto helpers over pynacl: hashing, secretbox, sealing to a key.

Everything here is a thin, named wrapper so the rest of the core reads as what
it means ("seal this epoch key to Bob"), and so tests can pin nonces. X25519
sealing keys are derived from the Ed25519 identity keys (one key per person).
"""

from __future__ import annotations

import hashlib

import nacl.bindings
import nacl.exceptions
import nacl.hash
import nacl.public
import nacl.secret
import nacl.signing
import nacl.utils
from nacl.encoding import RawEncoder

from protocol.errors import DecryptError

KEY_SIZE = 32
NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE  # 24
SEAL_OVERHEAD = nacl.bindings.crypto_box_SEALBYTES  # 48
BOX_OVERHEAD = nacl.secret.SecretBox.MACBYTES  # 16


def blake2b256(data: bytes) -> bytes:
    """BLAKE2b with a 32-byte digest: record ids, circle ids, roster hashes."""
    if isinstance(data, bytes):
        # The same BLAKE2b (RFC 7693, unkeyed) as libsodium's, without pynacl's FFI overhead.
        return hashlib.blake2b(data, digest_size=32).digest()
    return nacl.hash.blake2b(data, digest_size=32, encoder=RawEncoder)  # raises as before


def checksum(data: bytes, size: int = 4) -> bytes:
    """A short BLAKE2b checksum (typing errors, not attacks)."""
    return nacl.hash.blake2b(data, digest_size=size, encoder=RawEncoder)


def random_bytes(n: int) -> bytes:
    return nacl.utils.random(n)


def box_encrypt(key: bytes, plaintext: bytes, nonce: bytes) -> bytes:
    """XSalsa20-Poly1305 with an explicit nonce; returns ciphertext only."""
    return nacl.bindings.crypto_secretbox(plaintext, nonce, key)


def box_decrypt(key: bytes, ciphertext: bytes, nonce: bytes) -> bytes:
    try:
        return nacl.bindings.crypto_secretbox_open(ciphertext, nonce, key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as e:
        raise DecryptError("the key does not open this ciphertext") from e


_VALID_KEYS: dict[bytes, None] = {}
_VALID_KEYS_MAX = 4096


def is_valid_public_key(key: object) -> bool:
    """True only for a 32-byte Ed25519 public key that can both sign and receive.

    libsodium's ``crypto_core_ed25519_is_valid_point`` refuses an encoding that is
    not canonical, not on the curve, of small order, or not in the prime-order
    subgroup (a "mixed-order" key: a real key plus a small-order point, which can
    still sign but cannot be sealed to). Valid keys are remembered (the check is a
    scalar multiplication, about 60 µs; members' keys recur on every record).
    """
    if type(key) is not bytes or len(key) != KEY_SIZE:
        return False
    if key in _VALID_KEYS:
        return True
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(key):
        return False
    if len(_VALID_KEYS) >= _VALID_KEYS_MAX:
        _VALID_KEYS.clear()  # one atomic step (threads); a flood of fresh keys only costs time
    _VALID_KEYS[key] = None
    return True


AEAD_OVERHEAD = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES  # 16


def aead_encrypt(key: bytes, plaintext: bytes, nonce: bytes, aad: bytes) -> bytes:
    """XChaCha20-Poly1305 (IETF) with associated data ``aad`` bound to the ciphertext."""
    return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)


def aead_decrypt(key: bytes, ciphertext: bytes, nonce: bytes, aad: bytes) -> bytes:
    """Open an :func:`aead_encrypt` ciphertext; fails unless key, nonce and ``aad`` all match."""
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as e:
        raise DecryptError("the key does not open this ciphertext for this author and position") from e


def x25519_public(ed25519_public: bytes) -> bytes:
    """The X25519 sealing key that belongs to an Ed25519 identity key."""
    try:
        return nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(ed25519_public)
    except (nacl.exceptions.CryptoError, ValueError, RuntimeError) as e:
        raise DecryptError("not a valid Ed25519 public key") from e


def seal(recipient_ed25519: bytes, plaintext: bytes) -> bytes:
    """Anonymous sealed box to the holder of an Ed25519 identity key."""
    return nacl.bindings.crypto_box_seal(plaintext, x25519_public(recipient_ed25519))


def unseal(signing_key: nacl.signing.SigningKey, sealed: bytes) -> bytes:
    priv = signing_key.to_curve25519_private_key()
    try:
        return nacl.public.SealedBox(priv).decrypt(sealed)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as e:
        raise DecryptError("this was not sealed to your key") from e


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True
