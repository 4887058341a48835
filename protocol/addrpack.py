"""Addresses packed small for a short invitation token (format 2, docs/protocol.md section 11).

A multiaddr such as ``/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…`` is 90 characters of
text; packed it is 7 bytes when its peer is the inviter (whose key the token carries
anyway) and 39 when it is someone else (a relay). One entry::

    tag:u8 || host (4 bytes for ip4, 16 for ip6) || port:u16be || key (32 bytes, peer 2 only)
    tag:u8 = 2 || n:u8 || n bytes of multiaddr text                  (any other address)

``tag`` is ``host | peer << 2``: host 0 is ip4, 1 ip6 (both over tcp), 2 text; peer 0 is
none (no ``/p2p/`` part), 1 the inviter, 2 the key that follows, 3 the last key an entry
before it named. An address is packed only when unpacking gives back exactly its text; every
other one is carried as text. No other tag, no trailing byte: :func:`unpack` refuses
anything else with a ``SchemaError``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from protocol import crypto
from protocol.errors import BadPeerId, SchemaError
from protocol.identity import parse_peer_id, peer_id

_IP4, _IP6, _TEXT = 0, 1, 2
_NONE, _INVITER, _KEY, _SAME = 0, 1, 2, 3
_HOST_SIZE = {_IP4: 4, _IP6: 16}
_TCP = re.compile(r"/(ip4|ip6)/([^/]+)/tcp/(\d{1,5})(?:/p2p/([^/]+))?")
MAX_TEXT = 255


def _pack_one(addr: str, inviter: bytes, prev_key: bytes | None) -> tuple[bytes, bytes | None]:
    """One entry, and the key it names (for the next entry's ``peer 3``)."""
    m = _TCP.fullmatch(addr)
    if m is not None:
        proto, host, port, pid = m.groups()
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
        try:
            ip = ipaddress.ip_address(host)
            key = parse_peer_id(pid) if pid is not None else None
        except (ValueError, BadPeerId):
            ip = key = None
        kind = _IP4 if proto == "ip4" else _IP6
        if ip is not None and ip.version == (4 if kind == _IP4 else 6) and int(port) < 65536:
            if key is None:
                peer, tail = _NONE, b""
            elif key == inviter:
                peer, tail = _INVITER, b""
            elif key == prev_key:
                peer, tail = _SAME, b""
            else:
                peer, tail = _KEY, key
            entry = bytes([kind | peer << 2]) + ip.packed + int(port).to_bytes(2, "big") + tail
            if _text(kind, ip.packed, int(port), key) == addr:  # packed only when it unpacks to this text
                return entry, key if key is not None else prev_key
    data = addr.encode()
    if not addr.startswith("/") or len(data) > MAX_TEXT:
        raise SchemaError(f"the address {addr[:40]!r} cannot be carried")
    return bytes([_TEXT, len(data)]) + data, prev_key


def _text(kind: int, host: bytes, port: int, key: bytes | None) -> str:
    ip = ipaddress.ip_address(host)
    tail = f"/p2p/{peer_id(key)}" if key is not None else ""
    return f"/ip{4 if kind == _IP4 else 6}/{ip.compressed}/tcp/{port}{tail}"


def pack(addrs: Sequence[str], inviter: bytes) -> bytes:
    """The entries of ``addrs``, in order (an address that cannot be carried: ``SchemaError``)."""
    out, prev = b"", None
    for a in addrs:
        entry, prev = _pack_one(a, inviter, prev)
        out += entry
    return out


def unpack(data: bytes, inviter: bytes, max_addrs: int) -> list[str]:
    """The multiaddr texts packed in ``data``; ``SchemaError`` for anything but whole entries."""
    out: list[str] = []
    prev: bytes | None = None
    i = 0
    while i < len(data):
        if len(out) >= max_addrs:
            raise SchemaError(f"more than {max_addrs} addresses")
        tag = data[i]
        kind, peer = tag & 3, tag >> 2
        if kind == _TEXT and peer == _NONE and i + 2 <= len(data):
            n = data[i + 1]
            raw = data[i + 2 : i + 2 + n]
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                text = ""
            if len(raw) != n or not text.startswith("/"):
                raise SchemaError("an address entry is not a multiaddr text")
            out.append(text)
            i += 2 + n
            continue
        if kind not in _HOST_SIZE or peer > _SAME:
            raise SchemaError(f"an address entry has the unknown tag {tag}")
        end = i + 1 + _HOST_SIZE[kind] + 2
        key: bytes | None = None
        if peer == _KEY:
            key, end = data[end : end + 32], end + 32
            if len(key) != 32 or not crypto.is_valid_public_key(key):
                raise SchemaError("an address entry names a key that is not usable")
        elif peer == _INVITER:
            key = inviter
        elif peer == _SAME:
            if prev is None:
                raise SchemaError("an address entry repeats a key before any was named")
            key = prev
        if end > len(data):
            raise SchemaError("an address entry is cut short")
        host = data[i + 1 : i + 1 + _HOST_SIZE[kind]]
        port = int.from_bytes(data[i + 1 + _HOST_SIZE[kind] : i + 3 + _HOST_SIZE[kind]], "big")
        out.append(_text(kind, host, port, key))
        prev = key if key is not None else prev
        i = end
    return out


def keys_in(addrs: Sequence[str]) -> list[bytes]:
    """The peers' keys named in ``/p2p/`` parts of ``addrs`` (the last one of each), in order, once."""
    out: list[bytes] = []
    for a in addrs:
        if "/p2p/" not in a:
            continue
        try:
            key = parse_peer_id(a.rsplit("/p2p/", 1)[1].strip("/"))
        except BadPeerId:
            continue
        if key not in out:
            out.append(key)
    return out
