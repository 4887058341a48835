"""Secrets at rest under a profile's storage key, and the storage key's own file bytes.

A profile keeps its epoch keys, private prekeys and circle names sealed under a random
32-byte **storage key**, never under the identity key (docs/security.md section 4): the
identity key only signs, so stealing it alone opens nothing stored. The storage key's file
is plain (the profile directory's mode 0700 and the file's 0600 protect it) or, when the
user has a passphrase, wrapped under it exactly as :mod:`protocol.identity` wraps the
identity key (Argon2id, then secretbox).
"""

from __future__ import annotations

import nacl.exceptions
import nacl.pwhash

from protocol import crypto, wire
from protocol.errors import DecodeError, DecryptError, IdentityError, WrongPassphrase

STORAGE_KEY_SIZE = 32
SEALED_KEY_SIZE = crypto.NONCE_SIZE + crypto.BOX_OVERHEAD + crypto.KEY_SIZE
"""A 32-byte key sealed by :func:`seal`: 72 bytes (a sealed box to the identity key is 80)."""
_FILE_MAX = 4096


def new_storage_key() -> bytes:
    return crypto.random_bytes(STORAGE_KEY_SIZE)


def seal(storage_key: bytes, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """``nonce || secretbox(plaintext)`` under the storage key (a fresh random nonce)."""
    n = nonce or crypto.random_bytes(crypto.NONCE_SIZE)
    return n + crypto.box_encrypt(storage_key, plaintext, n)


def open_sealed(storage_key: bytes, data: bytes) -> bytes:
    """What :func:`seal` sealed; ``DecryptError`` for anything else (another key, a legacy box)."""
    if len(data) < crypto.NONCE_SIZE + crypto.BOX_OVERHEAD:
        raise DecryptError("too short to be sealed under the storage key")
    return crypto.box_decrypt(storage_key, data[crypto.NONCE_SIZE :], data[: crypto.NONCE_SIZE])


def dump_storage_key(
    key: bytes, passphrase: str | None, *, opslimit: int, memlimit: int, salt: bytes | None = None
) -> bytes:
    """The storage-key file's bytes: plain, or wrapped under ``passphrase``."""
    if passphrase is None:
        return wire.encode({"v": 1, "kdf": "none", "sk": key})
    salt = salt or crypto.random_bytes(nacl.pwhash.argon2id.SALTBYTES)
    nonce = crypto.random_bytes(crypto.NONCE_SIZE)
    kek = nacl.pwhash.argon2id.kdf(32, passphrase.encode(), salt, opslimit=opslimit, memlimit=memlimit)
    body = {"v": 1, "kdf": "argon2id", "salt": salt, "ops": opslimit, "mem": memlimit, "nonce": nonce}
    return wire.encode(body | {"box": crypto.box_encrypt(kek, key, nonce)})


def load_storage_key(data: bytes, passphrase: str | None) -> bytes:
    """The storage key in a file's bytes; ``WrongPassphrase`` or ``IdentityError`` when it does not open."""
    damaged = "The storage key file is damaged; restore the profile from a backup."
    try:
        obj = wire.decode(data, _FILE_MAX)
    except DecodeError as e:
        raise IdentityError(damaged) from e
    if not isinstance(obj, dict) or obj.get("v") != 1:
        raise IdentityError(damaged)
    if obj.get("kdf") == "none":
        key = obj.get("sk")
        if not isinstance(key, bytes) or len(key) != STORAGE_KEY_SIZE:
            raise IdentityError(damaged)
        return key
    if obj.get("kdf") != "argon2id":
        raise IdentityError(damaged)
    if passphrase is None:
        raise WrongPassphrase("The profile is protected by a passphrase; give it to unlock.")
    try:
        ops, mem = int(obj["ops"]), int(obj["mem"])
        if ops > 2**32 or mem > 2**33:
            raise IdentityError("The storage key file asks for an unreasonable key-derivation cost.")
        salt, nonce, box = bytes(obj["salt"]), bytes(obj["nonce"]), bytes(obj["box"])
        kek = nacl.pwhash.argon2id.kdf(32, passphrase.encode(), salt, opslimit=ops, memlimit=mem)
    except (KeyError, TypeError, ValueError, nacl.exceptions.CryptoError) as e:
        raise IdentityError(damaged) from e
    try:
        key = crypto.box_decrypt(kek, box, nonce)
    except DecryptError as e:
        raise WrongPassphrase("Wrong passphrase for this profile's storage key; try again.") from e
    if len(key) != STORAGE_KEY_SIZE:
        raise IdentityError(damaged)
    return key


def kdf_costs(keyfile: bytes) -> tuple[int, int] | None:
    """The Argon2id costs an identity key file was wrapped with (None: not wrapped)."""
    try:
        obj = wire.decode(keyfile, _FILE_MAX)
        if isinstance(obj, dict) and obj.get("kdf") == "argon2id":
            return int(obj["ops"]), int(obj["mem"])
    except (DecodeError, KeyError, TypeError, ValueError):
        pass
    return None
