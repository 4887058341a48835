"""Field schemas for every record type, and the check that applies them.

A schema is a map from field name to a small validator. ``check(body, schema)``
rejects a missing field, an unknown field, a wrong type or an out-of-range
value with a :class:`~protocol.errors.SchemaError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import Any

from protocol import crypto
from protocol.errors import SchemaError

Validator = Callable[[Any], None]

ID_SIZE = 32
MAX_HEADS = 64
MAX_NAME_CHARS = 64
MAX_TEXT_BYTES = 16 * 1024
MAX_MEMBERS = 1024
MAX_ADDRS = 8
MAX_ADDR_CHARS = 256
MAX_PRESENCE_CONTENT = 16 + MAX_ADDRS * (MAX_ADDR_CHARS + 8) + MAX_NAME_CHARS * 4
"""Bytes of a presence's sealed content at the most: msgpack of its addresses and name."""
MAX_FORK_INVITES = 256
MIN_SOFT_CAP = 2
MAX_FILE_CAP = 64 * 1024 * 1024
"""The largest file a circle may take (64 MiB): the ceiling of a ``filecap`` record's ``n``, and
the limit of a circle whose admins set none (:data:`protocol.files.MAX_FILE_BYTES`)."""
"""The smallest soft cap an admin may set (a ``softcap`` record's ``n``); the largest is ``MAX_MEMBERS``."""
MAX_REKEY_DAYS = 365
"""The longest rekey period an admin may set (a ``rekeyevery`` record's ``d``, in days)."""
MAX_REKEY_MESSAGES = 1_000_000
"""The most messages an epoch may carry before a scheduled rekey (a ``rekeyevery`` record's ``m``)."""
MAX_TS_MS = 253_402_214_399_999
"""The latest time a record may carry: the last millisecond of 9999-12-30 UTC, which
every reader can show as a date in any time zone (and which fits a double exactly)."""
MAX_SEQ = 2**53 - 1
"""The largest chain position, epoch number or cut: every number in a record fits a double exactly."""


def fixed_bytes(size: int) -> Validator:
    def v(x: Any) -> None:
        if not isinstance(x, bytes) or len(x) != size:
            raise SchemaError(f"must be {size} bytes")

    return v


def some_bytes(max_len: int, min_len: int = 0) -> Validator:
    def v(x: Any) -> None:
        if not isinstance(x, bytes) or not min_len <= len(x) <= max_len:
            raise SchemaError(f"must be {min_len}..{max_len} bytes")

    return v


def integer(lo: int, hi: int) -> Validator:
    def v(x: Any) -> None:
        if isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi:
            raise SchemaError(f"must be an integer in {lo}..{hi}")

    return v


def public_key(x: Any) -> None:
    """A key where it enters: one that can sign and be sealed to (``crypto.is_valid_public_key``)."""
    if not isinstance(x, bytes) or len(x) != 32:
        raise SchemaError("must be 32 bytes")
    if not crypto.is_valid_public_key(x):
        raise SchemaError("is not a usable Ed25519 public key (non-canonical, small-order or mixed-order)")


def text(max_bytes: int, min_chars: int = 0) -> Validator:
    def v(x: Any) -> None:
        if not isinstance(x, str) or len(x.encode()) > max_bytes or len(x) < min_chars:
            raise SchemaError(f"must be text of at most {max_bytes} bytes")

    return v


def one_of(*values: Any) -> Validator:
    def v(x: Any) -> None:
        if x not in values or type(x) is not type(values[0]):
            raise SchemaError(f"must be one of {', '.join(map(str, values))}")

    return v


def optional(inner: Validator) -> Validator:
    def v(x: Any) -> None:
        if x is not None:
            inner(x)

    return v


def list_of(inner: Validator, max_len: int, min_len: int = 0) -> Validator:
    def v(x: Any) -> None:
        if not isinstance(x, list) or not min_len <= len(x) <= max_len:
            raise SchemaError(f"must be a list of {min_len}..{max_len} items")
        for item in x:
            inner(item)

    return v


def pair(first: Validator, second: Validator) -> Validator:
    def v(x: Any) -> None:
        if not isinstance(x, list) or len(x) != 2:
            raise SchemaError("must be a pair")
        first(x[0])
        second(x[1])

    return v


def sorted_unique(inner: Validator, key: Callable[[Any], Any] = lambda x: x) -> Validator:
    """A list validated by ``inner`` whose items are strictly ascending (one form per set)."""

    def v(x: Any) -> None:
        inner(x)
        keys = [key(i) for i in x]
        if any(a >= b for a, b in pairwise(keys)):
            raise SchemaError("must be sorted and without repeats")

    return v


def mapping(schema: Mapping[str, Validator]) -> Validator:
    def v(x: Any) -> None:
        check(x, schema)

    return v


def shown(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error names a bad value without carrying it.

    A refused value can be 256 KiB; its whole repr in a message would be formatted,
    logged and carried in a ``Dropped`` reason for nothing.
    """
    if isinstance(value, (str, bytes)) and len(value) > limit:
        value = value[:limit]
        return repr(value) + "…"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def check(body: Any, schema: Mapping[str, Validator]) -> None:
    if not isinstance(body, dict):
        raise SchemaError("must be a map")
    for name in body:
        if name not in schema:
            raise SchemaError(f"unknown field {shown(name)}")
    for name, validator in schema.items():
        if name not in body:
            raise SchemaError(f"missing field {name!r}")
        try:
            validator(body[name])
        except SchemaError as e:
            raise SchemaError(f"field {name!r} {e}") from None


ident = fixed_bytes(ID_SIZE)
key = fixed_bytes(32)
heads = sorted_unique(list_of(ident, MAX_HEADS, 1))
uint = integer(0, 2**63 - 1)
seq = integer(1, 2**63 - 1)
timestamp = integer(0, MAX_TS_MS)
expiry = integer(0, MAX_TS_MS // 1000)
chain_seq = integer(1, MAX_SEQ)
cut = integer(0, MAX_SEQ)
role = one_of("member", "admin")
soft_cap = integer(MIN_SOFT_CAP, MAX_MEMBERS)
file_cap = integer(0, MAX_FILE_CAP)
rekey_days = integer(1, MAX_REKEY_DAYS)
rekey_messages = integer(1, MAX_REKEY_MESSAGES)
