"""Linking a device over the network: the link code, the MACs and the confirmation number.

Sans-IO; the stream itself is :mod:`protocol.node.linking` (docs/protocol.md section 8.5,
"Linking over the network"). The new device shows a **link code**::

    body = canonical msgpack [ key (the new device), text (its name), bin (its packed addresses,
                               protocol.addrpack, inviter = the device), bin(16) secret,
                               uint expiry (s) ]
    code = "ssd2" || base32(body || checksum5("ssd2" || body))      lower case, no padding

The secret is 16 fresh random bytes, used once. Over the stream each side proves it knows
it with a keyed BLAKE2b-256 over both keys (each side knows the other's from the
Noise-secured connection), and both show the same six digits derived the same way::

    t(label)  = DOMAIN || label || device key || linker key
    mac_L     = BLAKE2b-256(key = secret, t("L"))     the linker (the person's device)
    mac_D     = BLAKE2b-256(key = secret, t("D"))     the new device
    confirm   = u64be(BLAKE2b-256(key = secret, t("C"))[0:8]) mod 10^6, as "123 456"

A code pasted from an attacker links the attacker's key; its number is not the one the
device in the user's hand shows, which is what the user compares before saying yes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from protocol import addrpack, crypto, devicecert, schema, shallow, wire
from protocol.errors import ProtocolError, SchemaError

CODE_PREFIX = "ssd2"
OLD_PREFIX = "ssd1"
"""The code of the offline path's first release: key and name only (no addresses, no secret)."""
DOMAIN = b"smallsocial/v1/device-link\x00"
SECRET_SIZE = 16
MAC_SIZE = 32
CHECK = 5
DEFAULT_TTL_S = 600
"""How long a link code is good for (and the new device waits), in seconds."""
MAX_CODE_ADDRS = 4


class LinkCodeError(ProtocolError):
    """A sentence for the user about a link code."""


def b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def unb32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


class LinkCode:
    """What a link code says: the device's key and name; for ``ssd2`` its addresses, secret, expiry."""

    def __init__(
        self, key: bytes, name: str, addrs: list[str], secret: bytes | None, expires_s: int | None
    ) -> None:
        self.key, self.name, self.addrs = key, name, addrs
        self.secret, self.expires_s = secret, expires_s

    @property
    def online(self) -> bool:
        """Whether the code can link over the network (an ``ssd2`` code), not only by file."""
        return self.secret is not None


def make_code(key: bytes, name: str, addrs: list[str], secret: bytes, expires_s: int) -> str:
    """The link code of a device waiting with ``secret`` until ``expires_s``."""
    if len(secret) != SECRET_SIZE:
        raise SchemaError(f"a link secret is {SECRET_SIZE} bytes")
    packable = []
    for a in addrs:
        try:
            addrpack.pack([a], key)
        except SchemaError:
            continue
        packable.append(a)
    packed = addrpack.pack(packable[:MAX_CODE_ADDRS], key)
    body = wire.encode([key, devicecert.check_device_name(name), packed, secret, expires_s])
    return CODE_PREFIX + b32(body + crypto.checksum(CODE_PREFIX.encode() + body, CHECK))


def old_code(key: bytes, name: str) -> str:
    """An ``ssd1`` code (key and name): the offline path's first form, still read."""
    body = wire.encode([key, devicecert.check_device_name(name)])
    return OLD_PREFIX + b32(body + crypto.checksum(OLD_PREFIX.encode() + body, CHECK))


def parse_code(text: str) -> LinkCode:
    """What a pasted link code says; ``LinkCodeError`` with one sentence otherwise."""
    t = "".join(text.split()).lower()
    prefix = t[:4]
    if prefix not in (CODE_PREFIX, OLD_PREFIX):
        raise LinkCodeError("This is not a device link code; they start with ssd2.")
    try:
        data = unb32(t[4:])
    except ValueError:
        raise LinkCodeError("The link code is damaged; copy it again exactly.") from None
    body, check = data[:-CHECK], data[-CHECK:]
    if len(data) <= CHECK or crypto.checksum(prefix.encode() + body, CHECK) != check:
        raise LinkCodeError("The link code is damaged (its checksum does not match); copy it again exactly.")
    n = 5 if prefix == CODE_PREFIX else 2
    try:
        items = shallow.decode_list(body, n, "a link code")
        if len(items) != n:
            raise SchemaError("wrong length")
        key, name = items[0], items[1]
        schema.public_key(key)
        name = devicecert.check_device_name(name if isinstance(name, str) else "")
        if n == 2:
            return LinkCode(bytes(key), name, [], None, None)
        packed, secret, expires = items[2], items[3], items[4]
        if not isinstance(packed, bytes) or not isinstance(secret, bytes) or len(secret) != SECRET_SIZE:
            raise SchemaError("bad fields")
        if isinstance(expires, bool) or not isinstance(expires, int) or expires < 0:
            raise SchemaError("bad expiry")
        addrs = addrpack.unpack(packed, bytes(key), MAX_CODE_ADDRS)
    except (ProtocolError, ValueError, TypeError):
        raise LinkCodeError("The link code is intact but not valid; make a new one.") from None
    return LinkCode(bytes(key), name, addrs, bytes(secret), int(expires))


def _t(label: bytes, device: bytes, linker: bytes) -> bytes:
    return DOMAIN + label + device + linker


def _keyed(secret: bytes, data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=MAC_SIZE, key=secret).digest()


def linker_mac(secret: bytes, device: bytes, linker: bytes) -> bytes:
    """``mac_L``: the person's device knows the secret of the code it was given."""
    return _keyed(secret, _t(b"L", device, linker))


def device_mac(secret: bytes, device: bytes, linker: bytes) -> bytes:
    """``mac_D``: the new device made the code (it knows its secret)."""
    return _keyed(secret, _t(b"D", device, linker))


def confirmation(secret: bytes, device: bytes, linker: bytes) -> str:
    """The six digits both devices show, as ``"123 456"``."""
    n = int.from_bytes(_keyed(secret, _t(b"C", device, linker))[:8], "big") % 1_000_000
    return f"{n // 1000:03d} {n % 1000:03d}"


def same(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two MACs."""
    return hmac.compare_digest(a, b)
