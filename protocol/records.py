"""Signed records: the one envelope for everything a circle holds.

On the wire a record is the canonical msgpack array ``[body, sig]``: ``body``
is the canonical msgpack of a map holding ``v`` (version) and ``t`` (type)
among its fields, and ``sig`` is the author's Ed25519 signature over
``DOMAIN[t] || body``: the exact body bytes carried, never a re-encoding.
The record id is BLAKE2b-256 of the whole encoded record.

:func:`parse` takes untrusted bytes and returns a verified :class:`Record` or
raises (``DecodeError`` family for malformed input, ``VerifyError`` for a bad
signature). :func:`sign` builds one from a body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from protocol import crypto, devicecert, schema, shallow, wire
from protocol.errors import (
    DecodeError,
    MalformedError,
    OversizeError,
    ProtocolError,
    SchemaError,
    VerifyError,
)
from protocol.identity import Identity

VERSION = 1
TYPE_VERSIONS = {"msg": 2, "remove": 2, "presence": 2, "genesis": 2, "join": 2, "device": 2}
"""Body format versions that moved on from ``VERSION``: ``msg`` 2 binds its ciphertext to the
record (AEAD associated data), ``remove`` 2 names the record at the cut (``sh``), ``genesis``
2, ``join`` 2 and ``device`` 2 carry the first prekey of the key they bring in (``pk``,
``ex``). The version written; the older ones still read are in :data:`OLDER_SCHEMAS`."""
MAX_RECORD_SIZE = 256 * 1024
"""No record of any type is larger; checked before a byte is decoded."""
SIG_SIZE = 64

GENESIS = "genesis"
INVITE = "invite"
JOIN = "join"
REMOVE = "remove"
LEAVE = "leave"
ROLE = "role"
REKEY = "rekey"
PIN = "pin"
SOFTCAP = "softcap"
FILECAP = "filecap"
FORK = "fork"
MSG = "msg"
PRESENCE = "presence"
CARRY = "carry"
DEVICE = "device"
UNLINK = "unlink"
PREKEY = "prekey"
REKEYEVERY = "rekeyevery"

ROSTER_TYPES = frozenset(
    {INVITE, JOIN, REMOVE, LEAVE, ROLE, REKEY, PIN, SOFTCAP, FILECAP, DEVICE, UNLINK, PREKEY, REKEYEVERY}
)
"""Record types that form the roster DAG (they cite roster heads in ``h``)."""

UNCHAINED_TYPES = frozenset({GENESIS, PRESENCE})
"""Record types outside the authors' chains: no ``q``/``p``, never stored as chain records."""

TYPES = (
    GENESIS, INVITE, JOIN, REMOVE, LEAVE, ROLE, REKEY, PIN, FORK, MSG, PRESENCE, SOFTCAP, CARRY, FILECAP,
    DEVICE, UNLINK, PREKEY, REKEYEVERY,
)  # fmt: skip


def domain(record_type: str) -> bytes:
    """The signing domain of a record type: ``smallsocial/v1/<type>`` and a NUL."""
    return f"smallsocial/v{VERSION}/{record_type}".encode() + b"\x00"


DOMAINS = {t: domain(t) for t in TYPES}

s = schema
_base: dict[str, schema.Validator] = {"v": s.one_of(VERSION), "t": s.one_of(*TYPES), "a": s.public_key}
_chain = {**_base, "c": s.ident, "q": s.chain_seq, "p": s.optional(s.ident)}
_roster = {**_chain, "h": s.heads, "ts": s.timestamp}
_name_box = s.some_bytes(crypto.NONCE_SIZE + crypto.BOX_OVERHEAD + s.MAX_NAME_CHARS * 4, 1)

SCHEMAS: dict[str, dict[str, schema.Validator]] = {
    GENESIS: {
        **_base,
        "v": s.one_of(TYPE_VERSIONS["genesis"]),
        "ts": s.timestamp,
        "n": s.fixed_bytes(16),
        "pol": s.mapping({"inv": s.one_of("member", "admin")}),
        "nm": _name_box,
        "par": s.optional(s.mapping({"c": s.ident, "r": s.ident})),
        "pk": s.key,
        "ex": s.timestamp,
    },
    INVITE: {
        **_roster,
        "k": s.public_key,
        "r": s.role,
        "x": s.expiry,
        "n": s.fixed_bytes(16),
        "e": s.ident,
    },
    JOIN: {**_roster, "v": s.one_of(TYPE_VERSIONS["join"]), "i": s.ident, "pk": s.key, "ex": s.timestamp},
    REMOVE: {
        **_roster,
        "v": s.one_of(TYPE_VERSIONS["remove"]),
        "k": s.public_key,
        "s": s.cut,
        "sh": s.optional(s.ident),
    },
    LEAVE: _roster,
    ROLE: {**_roster, "k": s.public_key, "r": s.role},
    REKEY: {
        **_roster,
        "e": s.chain_seq,
        "pe": s.ident,
        "ks": s.sorted_unique(
            s.list_of(
                s.pair(s.key, s.fixed_bytes(crypto.KEY_SIZE + crypto.SEAL_OVERHEAD)),
                s.MAX_MEMBERS,
                1,
            ),
            key=lambda p: p[0],
        ),
    },
    PIN: {
        **_roster,
        "k": s.public_key,
        "ad": s.list_of(s.text(s.MAX_ADDR_CHARS), s.MAX_ADDRS),
    },
    SOFTCAP: {**_roster, "n": s.soft_cap},
    FILECAP: {**_roster, "n": s.file_cap},
    FORK: {
        **_chain,
        "ts": s.timestamp,
        "g": s.some_bytes(4096, 1),
        "iv": s.list_of(s.some_bytes(1024, 1), s.MAX_FORK_INVITES, 1),
        "sl": s.sorted_unique(
            s.list_of(s.pair(s.key, s.some_bytes(512, 1)), s.MAX_FORK_INVITES, 1), key=lambda p: p[0]
        ),
    },
    MSG: {
        **_chain,
        "v": s.one_of(TYPE_VERSIONS["msg"]),
        "e": s.ident,
        "n": s.fixed_bytes(crypto.NONCE_SIZE),
        "x": s.some_bytes(s.MAX_TEXT_BYTES + 1024, crypto.BOX_OVERHEAD),
    },
    PRESENCE: {
        **_base,
        "v": s.one_of(TYPE_VERSIONS["presence"]),
        "c": s.ident,
        "ts": s.timestamp,
        "e": s.ident,
        "n": s.fixed_bytes(crypto.NONCE_SIZE),
        "x": s.some_bytes(s.MAX_PRESENCE_CONTENT + crypto.BOX_OVERHEAD, crypto.BOX_OVERHEAD),
    },
}

MAX_CARRY_BYTES = 240 * 1024
"""The sealed part of a ``carry`` record (history carried into a fork): at most this many bytes,
so the whole record stays under ``MAX_RECORD_SIZE`` (docs/protocol.md, carried history)."""
SCHEMAS[CARRY] = {
    **_chain,
    "ts": s.timestamp,
    "e": s.ident,
    "n": s.fixed_bytes(crypto.NONCE_SIZE),
    "x": s.some_bytes(MAX_CARRY_BYTES, crypto.AEAD_OVERHEAD + 1),
}

SCHEMAS[DEVICE] = {
    **_roster,
    "v": s.one_of(TYPE_VERSIONS["device"]),
    "k": s.public_key,
    "dc": s.some_bytes(devicecert.MAX_CERT, 1),
    "pk": s.key,
    "ex": s.timestamp,
}
"""A person (or a device already linked) links a device: ``dc`` is the person's certificate
for ``k`` (:mod:`protocol.devicecert`); ``pk``, ``ex`` the device's first prekey (format 2)."""
SCHEMAS[UNLINK] = {**_roster, "k": s.public_key, "s": s.cut, "sh": s.optional(s.ident)}
"""A person (or another of their devices) unlinks device ``k``, with a cut as a removal's."""
MAX_PREKEY_TTL_MS = 60 * 24 * 3600 * 1000
"""A prekey expires at most this long after the record that publishes it (``ts``)."""
SCHEMAS[PREKEY] = {**_roster, "pk": s.key, "ex": s.timestamp}
"""A member key publishes ``pk``, an X25519 public key, to receive epoch keys on until ``ex``
(ms): rekeys and forks seal to it instead of to the identity-derived key (docs/protocol.md 8.6)."""
SCHEMAS[REKEYEVERY] = {**_roster, "d": s.rekey_days, "m": s.rekey_messages}
"""An admin sets the circle's rekey schedule: a new epoch at least every ``d`` days and every
``m`` messages (:mod:`protocol.rekeysched`)."""

OLDER_SCHEMAS: dict[tuple[str, int], dict[str, schema.Validator]] = {
    (GENESIS, VERSION): {k: v for k, v in SCHEMAS[GENESIS].items() if k not in ("pk", "ex") and k != "v"}
    | {"v": s.one_of(VERSION)},
    (JOIN, VERSION): {**_roster, "i": s.ident},
    (DEVICE, VERSION): {**_roster, "k": s.public_key, "dc": s.some_bytes(devicecert.MAX_CERT, 1)},
}
"""Formats a type had before its version moved on, still read: a ``genesis``, ``join`` or
``device`` 1 carries no prekey (its key is sealed to as before prekeys until it publishes one)."""
PREKEY_CARRIERS = frozenset({GENESIS, JOIN, DEVICE, PREKEY})
"""Types whose body may carry ``pk`` and ``ex``: the key's prekey (docs/protocol.md 8.6)."""

SHAPES: dict[str, shallow.Shape] = {
    name: {
        "h": shallow.list_of(s.MAX_HEADS),
        "ks": shallow.pairs(s.MAX_MEMBERS),
        "iv": shallow.list_of(s.MAX_FORK_INVITES),
        "sl": shallow.pairs(s.MAX_FORK_INVITES),
        "ad": shallow.list_of(s.MAX_ADDRS),
        "pol": shallow.small_map(1),
        "par": shallow.small_map(2),
    }.get(name, shallow.PLAIN)
    for fields in SCHEMAS.values()
    for name in fields
}
"""The first decoding pass's grammar: every field any type has, and the containers it may hold."""
MAX_FIELDS = max(len(fields) for fields in SCHEMAS.values())


_MSG_FIELDS = frozenset(SCHEMAS[MSG])
_MSG_TEXT = (crypto.BOX_OVERHEAD, s.MAX_TEXT_BYTES + 1024)
"""The sealed text's length bounds in :data:`SCHEMAS` (``x`` of a message)."""


def _plain_message(body: dict[str, Any]) -> bool:
    """True for a message body every field of which plainly fits the schema (the shape nearly
    every record has): checked inline, in a third of :func:`schema.check`'s time. Anything
    else, False, goes through :func:`schema.check`, which accepts a superset of this and names
    the fault."""
    if len(body) != len(_MSG_FIELDS) or body.keys() != _MSG_FIELDS:
        return False
    a, c, q, p, e, n, x = body["a"], body["c"], body["q"], body["p"], body["e"], body["n"], body["x"]
    return (
        type(body["v"]) is int
        and body["v"] == TYPE_VERSIONS[MSG]
        and body["t"] == MSG
        and type(c) is bytes
        and len(c) == s.ID_SIZE
        and type(q) is int
        and 1 <= q <= s.MAX_SEQ
        and (p is None or (type(p) is bytes and len(p) == s.ID_SIZE))
        and type(e) is bytes
        and len(e) == s.ID_SIZE
        and type(n) is bytes
        and len(n) == crypto.NONCE_SIZE
        and type(x) is bytes
        and _MSG_TEXT[0] <= len(x) <= _MSG_TEXT[1]
        and crypto.is_valid_public_key(a)
    )


def validate_body(body: Any) -> str:
    """Check a decoded body against its type's schema; return the type."""
    if not isinstance(body, dict):
        raise SchemaError("a record body must be a map")
    t = body.get("t")
    if not isinstance(t, str) or t not in SCHEMAS:
        raise SchemaError(f"unknown record type {schema.shown(t)}")
    v = body.get("v")
    if v == TYPE_VERSIONS.get(t, VERSION):
        fields = SCHEMAS[t]
    elif isinstance(v, int) and not isinstance(v, bool) and (t, v) in OLDER_SCHEMAS:
        fields = OLDER_SCHEMAS[(t, v)]
    else:
        raise SchemaError(f"unsupported record version {schema.shown(v)}")
    if t != MSG or not _plain_message(body):
        schema.check(body, fields)
    if t not in UNCHAINED_TYPES and (body["q"] == 1) != (body["p"] is None):
        raise SchemaError("field 'p' must be empty exactly when 'q' is 1")
    if t in (REMOVE, UNLINK) and (body["s"] == 0) != (body["sh"] is None):
        raise SchemaError("field 'sh' must be empty exactly when 's' is 0")
    if t == DEVICE and devicecert.parse(body["dc"]).device != body["k"]:
        raise SchemaError("the device certificate is for another key than 'k'")
    if t in PREKEY_CARRIERS and "pk" in body:
        if not crypto.is_valid_x25519(body["pk"]):
            raise SchemaError("field 'pk' is not an X25519 key that can be sealed to")
        if not body["ts"] < body["ex"] <= body["ts"] + MAX_PREKEY_TTL_MS:
            raise SchemaError("field 'ex' must be after 'ts' and at most 60 days after it")
    return str(t)


_T = TypeVar("_T")


class _once(Generic[_T]):  # a decorator, named like functools.cached_property
    """A property computed on first use and then kept in the instance ``__dict__`` (where it
    shadows this non-data descriptor). ``functools.cached_property`` does the same behind a
    lock: a record's half-dozen fields cost 2.5 µs each on first use with it, 0.5 without."""

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _once[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> _T | _once[_T]:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.func(obj)
        return value


@dataclass(frozen=True)
class Record:
    """A verified record: its exact bytes, id, decoded body and signature.

    The fields derived from the body are computed once (a record is read many times on
    its way in: its type alone some thirty times)."""

    raw: bytes = field(repr=False)
    id: bytes
    body: Mapping[str, Any] = field(repr=False)
    body_bytes: bytes = field(repr=False)
    sig: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Record({self.type}, id={self.id.hex()[:12]}, seq={self.seq})"

    @_once
    def type(self) -> str:
        return str(self.body["t"])

    @_once
    def author(self) -> bytes:
        return bytes(self.body["a"])

    @_once
    def circle(self) -> bytes:
        """The circle a record belongs to; a genesis belongs to the circle it creates."""
        return self.id if self.type == GENESIS else bytes(self.body["c"])

    @_once
    def seq(self) -> int:
        """Position in the author's chain in this circle (0 for a genesis)."""
        return 0 if self.type in UNCHAINED_TYPES else int(self.body["q"])

    @_once
    def prev(self) -> bytes | None:
        p = self.body.get("p")
        return bytes(p) if p is not None else None

    @_once
    def heads(self) -> tuple[bytes, ...]:
        return tuple(self.body.get("h", ()))

    @_once
    def is_roster(self) -> bool:
        return self.type in ROSTER_TYPES


def record_id(raw: bytes) -> bytes:
    return crypto.blake2b256(raw)


def with_prekey(body: dict[str, Any], prekey: tuple[bytes, int] | None) -> dict[str, Any]:
    """A ``genesis``, ``join`` or ``device`` body carrying ``prekey`` (public key, expiry in ms): format 2;
    without one, format 1 (:func:`sign` picks the version)."""
    return body if prekey is None else {**body, "pk": prekey[0], "ex": prekey[1]}


def sign(identity: Identity, body: Mapping[str, Any]) -> Record:
    """Sign ``body`` (which names ``identity`` as its author ``a``) and return the record."""
    t = str(body.get("t"))
    # a genesis or join without a prekey is format 1, the one that has no field for it
    v = VERSION if t in PREKEY_CARRIERS and "pk" not in body else TYPE_VERSIONS.get(t, VERSION)
    full = {"v": v, **body}
    if full.get("a") != identity.public_key:
        raise SchemaError("the author field must be the signing key")
    # One canonical encode. ``tree`` is what decoding ``body_bytes`` gives back, and
    # check_limits raises what that decode would, so the schema is checked on
    # exactly what a receiver will see, without the round trip.
    tree, body_bytes = wire.canonical(full)
    wire.check_limits(tree, body_bytes, MAX_RECORD_SIZE)
    t = validate_body(tree)
    sig = identity.sign(DOMAINS[t] + body_bytes)
    raw = wire.encode([body_bytes, sig])
    if len(raw) > MAX_RECORD_SIZE:
        raise SchemaError(f"record of {len(raw)} bytes is over the limit of {MAX_RECORD_SIZE}")
    return Record(raw, record_id(raw), full, body_bytes, sig)  # positional: cheaper to call


def load(raw: bytes, rid: bytes) -> Record:
    """A record from my own store, whose signature was verified before it was stored.

    The bytes are checked against the id they were stored under (a damaged row is a
    ``DecodeError``, not a wrong record) and decoded with the same bounded first pass
    and schema as :func:`parse`; only the signature is not checked again, which is
    most of :func:`parse`'s cost (the store's rows are written by the ledger alone,
    after :func:`parse` or :func:`sign`; docs/security.md section 5).
    """
    raw = bytes(raw)
    if record_id(raw) != rid:
        raise DecodeError("a stored record's bytes do not match its id")
    body_bytes, sig = shallow.split_record(raw, SIG_SIZE)
    body = shallow.decode_map(body_bytes, SHAPES, MAX_FIELDS)
    validate_body(body)
    return Record(raw, rid, body, body_bytes, sig)


def _unverified(raw: bytes) -> tuple[Record, str]:
    """Everything :func:`parse` checks but the signature: the record and its type."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise MalformedError("input is not bytes")
    raw = bytes(raw)
    if len(raw) > MAX_RECORD_SIZE:
        raise OversizeError(f"{len(raw)} bytes is over the limit of {MAX_RECORD_SIZE}")
    body_bytes, sig = shallow.split_record(raw, SIG_SIZE)
    try:
        body = shallow.decode_map(body_bytes, SHAPES, MAX_FIELDS)
    except SchemaError as e:
        if str(e).startswith("field 't' "):
            raise SchemaError(f"unknown record type ({e})") from None
        raise
    t = validate_body(body)
    return Record(raw, record_id(raw), body, body_bytes, sig), t


def _verify(record: Record, t: str) -> Record:
    if not crypto.verify(record.body["a"], record.sig, DOMAINS[t] + record.body_bytes):
        raise VerifyError(f"the signature on this {t} record does not verify for its author")
    return record


def parse(raw: bytes) -> Record:
    """Verify untrusted bytes as a record: size, a bounded first pass, schema, then signature.

    No step builds or walks more than the record grammar allows (``SHAPES``): the
    outer frame is read by hand, the body decoded one value at a time with every
    container's kind and length checked before it is built, so any input of up to
    ``MAX_RECORD_SIZE`` bytes is refused in about a millisecond
    (``scripts/bench_refusal.py``).
    """
    return _verify(*_unverified(raw))


def parse_batch(raws: Iterable[bytes]) -> tuple[list[Record], list[ProtocolError]]:
    """Verify a batch of untrusted records with one signature per chain head where it can.

    A record is valid when its author's signature verifies, or when a valid record of the
    same author and circle names it as its previous record (``p`` is the BLAKE2b-256 of the
    whole record, so the signed head authenticates every byte of the chain below it, as
    hypercore's signed roots do). So in each author's chain in the batch only records no
    valid record names are verified: one signature per run, not one per record. What is
    accepted is exactly what :func:`parse` one by one would accept, except records named
    by a valid record whose own signature is bad: the author vouched for them by hash
    (docs/protocol.md, section 2). Returns the valid records, in the order given, and an
    error for each refused one.
    """
    decoded: list[tuple[Record, str]] = []
    errors: list[ProtocolError] = []
    for raw in raws:
        try:
            decoded.append(_unverified(raw))
        except ProtocolError as e:
            errors.append(e)
    vouched: set[tuple[bytes, bytes, bytes]] = set()  # (author, circle, id) named by a valid record
    valid: set[int] = set()
    for i in sorted(range(len(decoded)), key=lambda i: -decoded[i][0].seq):  # heads first
        record, t = decoded[i]
        if (record.author, record.circle, record.id) not in vouched:
            try:
                _verify(record, t)
            except VerifyError as e:
                errors.append(e)
                continue
        valid.add(i)
        if record.prev is not None:
            vouched.add((record.author, record.circle, record.prev))
    return [decoded[i][0] for i in sorted(valid)], errors
