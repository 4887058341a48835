"""Small pure crypto helpers over pynacl: hashing, secretbox, sealing to a key.

Everything here is a thin, named wrapper so the rest of the core reads as what
it means ("seal this epoch key to Bob"), and so tests can pin nonces. X25519
sealing keys are derived from the Ed25519 identity keys (one key per person), or are
prekeys: X25519 key pairs a member publishes to receive epoch keys on (:func:`prekey_pair`).
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


def prekey_pair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair ``(public, private)`` to receive epoch keys on (a prekey)."""
    private = nacl.public.PrivateKey.generate()
    return bytes(private.public_key), bytes(private)


def prekey_public(private_x25519: bytes) -> bytes:
    """The public half of an X25519 private key (ValueError if it is not 32 bytes)."""
    if type(private_x25519) is not bytes or len(private_x25519) != KEY_SIZE:
        raise ValueError("an X25519 private key is 32 bytes")
    return bytes(nacl.bindings.crypto_scalarmult_base(private_x25519))


_SCALAR = bytes([9]) + bytes(30) + bytes([0x40])


def is_valid_x25519(key: object) -> bool:
    """True for a 32-byte X25519 public key that is not of small order (one that can be sealed to).

    A small-order point makes every shared secret all-zero, which libsodium refuses
    (``crypto_box_seal`` would raise); such a prekey is refused where it arrives."""
    if type(key) is not bytes or len(key) != KEY_SIZE:
        return False
    try:
        nacl.bindings.crypto_scalarmult(_SCALAR, key)
    except (nacl.exceptions.CryptoError, nacl.exceptions.RuntimeError, ValueError, TypeError):
        return False
    return True


def seal_to_prekey(recipient_x25519: bytes, plaintext: bytes) -> bytes:
    """Anonymous sealed box to the holder of an X25519 prekey (same size as :func:`seal`)."""
    return nacl.bindings.crypto_box_seal(plaintext, recipient_x25519)


def unseal_with_prekey(private_x25519: bytes, sealed: bytes) -> bytes:
    try:
        public = nacl.bindings.crypto_scalarmult_base(private_x25519)
        return nacl.bindings.crypto_box_seal_open(sealed, public, private_x25519)
    except (nacl.exceptions.CryptoError, nacl.exceptions.RuntimeError, ValueError, TypeError) as e:
        raise DecryptError("this was not sealed to this prekey") from e


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


def _rotl32(v: int, c: int) -> int:
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha section 2.2): XChaCha20's per-nonce subkey.

    XChaCha20-Poly1305 under ``key`` and a 24-byte nonce ``n`` is ChaCha20-Poly1305 (IETF)
    under ``hchacha20(key, n[:16])`` with the nonce ``0^4 || n[16:]``. The subkey opens only
    ciphertexts whose nonce starts with ``n[:16]`` and, HChaCha20 being a PRF, says nothing
    of ``key`` or of other nonces' subkeys: :mod:`protocol.carry` reveals one message this way.
    """
    if len(key) != KEY_SIZE or len(nonce16) != 16:
        raise ValueError("HChaCha20 takes a 32-byte key and a 16-byte nonce")
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += [int.from_bytes(key[i : i + 4], "little") for i in range(0, 32, 4)]
    s += [int.from_bytes(nonce16[i : i + 4], "little") for i in range(0, 16, 4)]

    def qr(a: int, b: int, c: int, d: int) -> None:
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl32(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl32(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl32(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl32(s[b] ^ s[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12)
        qr(1, 5, 9, 13)
        qr(2, 6, 10, 14)
        qr(3, 7, 11, 15)
        qr(0, 5, 10, 15)
        qr(1, 6, 11, 12)
        qr(2, 7, 8, 13)
        qr(3, 4, 9, 14)
    return b"".join(w.to_bytes(4, "little") for w in (*s[0:4], *s[12:16]))


def xchacha_subkey_decrypt(subkey: bytes, ciphertext: bytes, nonce: bytes, aad: bytes) -> bytes:
    """Open an :func:`aead_encrypt` ciphertext with its nonce's HChaCha20 subkey alone."""
    try:
        return nacl.bindings.crypto_aead_chacha20poly1305_ietf_decrypt(
            ciphertext, aad, b"\x00" * 4 + nonce[16:24], subkey
        )
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as e:
        raise DecryptError("the revealed key does not open this ciphertext") from e
