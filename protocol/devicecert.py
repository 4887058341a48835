"""Device certificates: a person's key vouching for one of their devices' keys.

A person is the key in the rosters (the identity of their first device, as before devices
existed). Each further device has its own Ed25519 key and its own chain in every circle;
the person's key certifies it once, with a standalone signed object::

    body = canonical msgpack {d: device key, n: bin(16) nonce, nm: device name, p: person key,
                              ts: time (ms)}
    sig  = Ed25519-sign(p, DOMAIN || body)
    cert = canonical msgpack [bin(body), bin(sig)]

The certificate is the same bytes in every circle: a roster record ``device``
(:mod:`protocol.records`, docs/protocol.md section 8.5) carries it into each circle the
person is in, signed by the person or by a device already linked there. :func:`parse`
checks everything the certificate says by itself (size, bounded decoding, schema,
signature); whether the person may link a device in a circle is the roster's
(:mod:`protocol.roster`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from protocol import crypto, schema, shallow, wire
from protocol.errors import DecodeError, SchemaError, VerifyError
from protocol.identity import Identity

DOMAIN = b"smallsocial/v1/device-cert\x00"
"""The certificate's signing domain: no record's domain is a prefix of it, nor it of one."""
MAX_CERT = 512
"""The largest certificate, in bytes (one with a 64-character name of 4-byte characters is 290)."""
MAX_DEVICE_NAME_CHARS = 64
SIG_SIZE = 64
_SCHEMA: dict[str, schema.Validator] = {
    "d": schema.public_key,
    "n": schema.fixed_bytes(16),
    "nm": schema.text(MAX_DEVICE_NAME_CHARS * 4, 1),
    "p": schema.public_key,
    "ts": schema.timestamp,
}
_SHAPES = {name: shallow.PLAIN for name in _SCHEMA}


@dataclass(frozen=True)
class DeviceCert:
    """A verified certificate: ``person`` vouches for ``device``, named ``name``."""

    raw: bytes
    person: bytes
    device: bytes
    name: str
    created_ms: int
    nonce: bytes


def check_device_name(name: str) -> str:
    """The name stripped; a sentence when it is empty, too long or holds control characters."""
    name = name.strip()
    if not name:
        raise SchemaError("A device needs a name.")
    if len(name) > MAX_DEVICE_NAME_CHARS:
        raise SchemaError(f"A device name has at most {MAX_DEVICE_NAME_CHARS} characters.")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
        raise SchemaError("A device name cannot contain control characters.")
    return name


def make(person: Identity, device: bytes, name: str, now_ms: int, nonce: bytes | None = None) -> DeviceCert:
    """The person's certificate for ``device`` (its public key), named ``name``."""
    if device == person.public_key:
        raise SchemaError("A device's key must differ from its person's key.")
    body = {
        "d": device,
        "n": nonce if nonce is not None else crypto.random_bytes(16),
        "nm": check_device_name(name),
        "p": person.public_key,
        "ts": now_ms,
    }
    schema.check(body, _SCHEMA)
    body_bytes = wire.encode(body)
    return parse(wire.encode([body_bytes, person.sign(DOMAIN + body_bytes)]))  # at most ~290 bytes


def parse(raw: bytes) -> DeviceCert:
    """Verify untrusted certificate bytes; ``DecodeError`` or ``VerifyError`` with a reason."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise SchemaError("a device certificate must be bytes")
    raw = bytes(raw)
    if len(raw) > MAX_CERT:
        raise SchemaError(f"a device certificate of {len(raw)} bytes is over the limit of {MAX_CERT}")
    try:
        body_bytes, sig = shallow.split_record(raw, SIG_SIZE)
        body = shallow.decode_map(body_bytes, _SHAPES, len(_SHAPES), "a device certificate")
        schema.check(body, _SCHEMA)
    except DecodeError as e:
        raise SchemaError(f"the device certificate is malformed ({e})") from None
    if body["d"] == body["p"]:
        raise SchemaError("the device certificate names the person's own key as a device")
    if not crypto.verify(body["p"], sig, DOMAIN + body_bytes):
        raise VerifyError("the device certificate's signature does not verify for its person")
    return DeviceCert(
        raw, bytes(body["p"]), bytes(body["d"]), str(body["nm"]), int(body["ts"]), bytes(body["n"])
    )


@functools.lru_cache(maxsize=4096)
def verified(raw: bytes) -> DeviceCert:
    """:func:`parse`, remembered: the roster reads a ``device`` record's certificate at every
    walk, long after ``records.parse`` verified it."""
    return parse(raw)
