"""The first decoding pass of a record (and of a token body, a sync message, a records frame).

A record body is a flat map: its values are plain (nil, bool, int, text, bin), a
few are lists (of plain values or of ``[plain, plain]`` pairs) and two are small
maps of plain values. :func:`decode_map` decodes such a map from canonical
msgpack one value at a time, looking at each value's first byte before it
decodes it: a container where the grammar has none, a list longer than its
field allows, an unknown field name, keys out of order or repeated, a float,
trailing bytes, or any non-canonical form is refused at once. So no input of
any size can make it build more than the grammar's few thousand values (a
generic decoder would build 256 Ki of them from a 256 KiB body of empty lists,
in about 20 ms, and walking them took 0.3-0.5 s).

:func:`split_record` reads a record's outer ``[bin body, bin(64) sig]`` frame by hand;
:func:`decode_list` decodes a list of plain values (a sync records frame). Token
bodies and sync messages are maps with their own shapes, decoded like a body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from protocol.errors import MalformedError, NonCanonicalError, SchemaError


@dataclass(frozen=True)
class Shape:
    """What a field may hold beyond a plain value: a list (of plain values or pairs), or a small map."""

    kind: str  # "plain", "list", "pairs", "ranges" (pairs whose second item is a pair) or "map"
    max_len: int = 0


PLAIN = Shape("plain")


def list_of(max_len: int) -> Shape:
    return Shape("list", max_len)


def pairs(max_len: int) -> Shape:
    return Shape("pairs", max_len)


def ranges(max_len: int) -> Shape:
    return Shape("ranges", max_len)


def small_map(max_len: int) -> Shape:
    return Shape("map", max_len)


_FLOATS = (0xCA, 0xCB)


def _is_array(b: int) -> bool:
    return 0x90 <= b <= 0x9F or b == 0xDC or b == 0xDD


def _is_map(b: int) -> bool:
    return 0x80 <= b <= 0x8F or b == 0xDE or b == 0xDF


def _no_ext(code: int, data: bytes) -> Any:
    raise MalformedError(f"msgpack ext type {code} is not allowed")


def _unpacker(data: bytes) -> Any:
    up = msgpack.Unpacker(
        None,
        raw=False,
        strict_map_key=True,
        ext_hook=_no_ext,
        use_list=True,
        max_buffer_size=max(len(data), 1),
        max_str_len=len(data),
        max_bin_len=len(data),
        max_array_len=len(data),
        max_map_len=len(data),
        max_ext_len=0,
    )
    up.feed(data)
    return up


class _Reader:
    """One pass over ``data`` with a msgpack unpacker; every value is looked at before it is built."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.up = _unpacker(data)
        self.unsorted = False

    def peek(self) -> int:
        pos: int = self.up.tell()
        if pos >= len(self.data):
            raise MalformedError("not valid msgpack (the input ends early)")
        return self.data[pos]

    def plain(self, where: str) -> Any:
        b = self.peek()
        if _is_array(b) or _is_map(b):
            raise SchemaError(f"field {where!r} holds a list or map where a plain value belongs")
        if b in _FLOATS:
            raise MalformedError("floats are not allowed")
        return self.up.unpack()

    def array(self, where: str, max_len: int) -> int:
        if not _is_array(self.peek()):
            raise SchemaError(f"field {where!r} must be a list")
        n: int = self.up.read_array_header()
        if n > max_len:
            raise SchemaError(f"field {where!r} must be a list of at most {max_len} items")
        return n

    def value(self, where: str, shape: Shape) -> Any:
        b = self.peek()
        if shape.kind == "plain" or not (_is_array(b) or _is_map(b)):
            return self.plain(where)  # a container field may also hold nil (or a wrong plain value)
        if shape.kind == "map":
            if not _is_map(b):
                raise SchemaError(f"field {where!r} must be a map")
            return self.map(where, {}, shape.max_len)
        n = self.array(where, shape.max_len)
        if shape.kind == "list":
            return [self.plain(where) for _ in range(n)]
        out = []
        for _ in range(n):
            if self.array(where, 2) != 2:
                raise SchemaError(f"field {where!r} must be a list of pairs")
            first = self.plain(where)
            if shape.kind == "ranges" and _is_array(self.peek()):
                if self.array(where, 2) != 2:
                    raise SchemaError(f"field {where!r} must be a list of [value, pair]")
                out.append([first, [self.plain(where), self.plain(where)]])
            else:
                out.append([first, self.plain(where)])
        return out

    def map(self, where: str, shapes: Mapping[str, Shape] | None, max_len: int) -> dict[str, Any]:
        """A map of at most ``max_len`` text keys in byte order; values by ``shapes`` (plain if empty)."""
        if not _is_map(self.peek()):
            raise SchemaError(f"{where} must be a map")
        n: int = self.up.read_map_header()
        if n > max_len:
            raise SchemaError(f"{where} has {n} fields, more than it can have")
        out: dict[str, Any] = {}
        prev = ""
        for i in range(n):
            b = self.peek()
            if not (0xA0 <= b <= 0xBF or b == 0xD9):
                raise SchemaError(f"{where} has a field name that is not short text")
            name = self.up.unpack()
            if name in out:
                raise MalformedError(f"duplicate map key {name!r}")
            if i and name < prev:  # decoded text: code point order is UTF-8 byte order
                self.unsorted = True  # refused at the end, so worse faults in the values are named first
            prev = name
            if shapes:
                shape = shapes.get(name)
                if shape is None:
                    raise SchemaError(f"unknown field {name!r}")
            else:
                shape = PLAIN
            out[name] = self.value(name, shape)
        return out


def decode_map(
    data: bytes, shapes: Mapping[str, Shape], max_fields: int, what: str = "a record body"
) -> dict[str, Any]:
    """Decode canonical msgpack ``data`` holding a map by ``shapes``; refuse anything else early.

    Raises a ``DecodeError``: ``MalformedError`` (not msgpack, trailing bytes, a
    float, an ext type, a repeated key), ``NonCanonicalError`` (keys out of order,
    or any other encoding than the canonical one) or ``SchemaError`` (a field no
    record has, a container where the grammar has none, a list too long).
    """
    if len(data) <= FAST_MAX:
        fast = _fast_map(data, shapes, max_fields)
        if fast is not None:
            return fast
    out: dict[str, Any] = _decode(data, lambda r: r.map(what, shapes, max_fields))
    return out


FAST_MAX = 4096
"""Up to this size a body is first tried with msgpack's C decoder in one call: it cannot
hold more than 4 Ki values, so that costs at most a few tenths of a millisecond, and
an honest record (nearly all are this small) is decoded in a third of the time."""

_PLAIN_TYPES = (str, bytes, int, bool, type(None))


def _fits(v: Any, shape: Shape) -> bool:
    if type(v) in _PLAIN_TYPES:
        return True
    if shape.kind == "plain":
        return False
    if shape.kind == "map":
        if type(v) is not dict or len(v) > shape.max_len:
            return False
        keys = list(v)
        return (
            all(type(k) is str for k in keys)
            and keys == sorted(set(keys))
            and all(type(x) in _PLAIN_TYPES for x in v.values())
        )
    if type(v) is not list or len(v) > shape.max_len:
        return False
    if shape.kind == "list":
        return all(type(x) in _PLAIN_TYPES for x in v)
    for pair in v:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in _PLAIN_TYPES:
            return False
        second = pair[1]
        if type(second) in _PLAIN_TYPES:
            continue
        if shape.kind != "ranges" or type(second) is not list or len(second) != 2:
            return False
        if not all(type(x) in _PLAIN_TYPES for x in second):
            return False
    return True


def _fast_map(data: bytes, shapes: Mapping[str, Shape], max_fields: int) -> dict[str, Any] | None:
    """The map if ``data`` is exactly the canonical encoding of one the grammar allows, else None.

    None decides nothing: the one-value-at-a-time pass then refuses (and names the fault)
    or accepts. The C decoder merges repeated keys and keeps unsorted ones; both make the
    re-encoding or the order check differ, so neither passes here.
    """
    try:
        tree = msgpack.unpackb(
            data, raw=False, strict_map_key=True, ext_hook=_no_ext, use_list=True, max_ext_len=0
        )
    except Exception:
        return None
    if type(tree) is not dict or len(tree) > max_fields:
        return None
    prev: str | None = None
    for k, v in tree.items():
        if type(k) is not str or (prev is not None and k <= prev):
            return None
        prev = k
        shape = shapes.get(k)
        if shape is None or not _fits(v, shape):
            return None
    if msgpack.packb(tree, use_bin_type=True) != data:
        return None
    return tree


def decode_list(data: bytes, max_len: int, what: str = "list") -> list[Any]:
    """Decode canonical msgpack ``data`` holding one list of at most ``max_len`` plain values."""
    out: list[Any] = _decode(data, lambda r: [r.plain(what) for _ in range(r.array(what, max_len))])
    return out


def _decode(data: bytes, read: Callable[[_Reader], Any]) -> Any:
    if not data:
        raise MalformedError("input is empty")
    r = _Reader(data)
    try:
        out = read(r)
        if r.up.tell() != len(data):
            raise MalformedError("trailing bytes after the value")
        if r.unsorted:
            raise NonCanonicalError("not the canonical encoding")
    except (MalformedError, NonCanonicalError, SchemaError):
        raise
    except msgpack.OutOfData as e:
        raise MalformedError("not valid msgpack (the input ends early)") from e
    except UnicodeDecodeError as e:
        raise MalformedError("text is not valid UTF-8") from e
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise MalformedError(f"not valid msgpack ({type(e).__name__})") from e
    # Everything built is exact wire types in wire order, so re-encoding gives the
    # input back exactly when it was canonical (shortest ints, lengths and headers).
    if msgpack.packb(out, use_bin_type=True) != data:
        raise NonCanonicalError("not the canonical encoding")
    return out


_EXT = frozenset({0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8})


def split_record(raw: bytes, sig_size: int) -> tuple[bytes, bytes]:
    """The ``(body, sig)`` of a record's outer frame ``[bin body, bin(sig_size) sig]``, read by hand.

    The frame is a 2-array (``0x92``), the body as a bin with the shortest length
    header, the signature as ``bin8``, and nothing after: anything else is refused
    without decoding a value.
    """
    n = len(raw)
    if n == 0:
        raise MalformedError("input is empty")
    not_a_pair = SchemaError("a record is a pair [body bytes, 64-byte signature]")
    if raw[0] == 0xC1:
        raise MalformedError("not valid msgpack (0xc1 is never used)")
    if raw[0] in _EXT:
        raise MalformedError("msgpack ext types are not allowed")
    if raw[0] != 0x92 or n < 2:
        raise not_a_pair
    tag = raw[1]
    widths = {0xC4: 1, 0xC5: 2, 0xC6: 4}
    if tag not in widths:
        raise MalformedError("msgpack ext types are not allowed") if tag in _EXT else not_a_pair
    head = 2 + widths[tag]
    if n < head:
        raise MalformedError("not valid msgpack (the input ends early)")
    size = int.from_bytes(raw[2:head], "big")
    if (tag == 0xC5 and size < 0x100) or (tag == 0xC6 and size < 0x10000):
        raise NonCanonicalError("not the canonical encoding")
    at = head + size  # where the signature's header starts
    if n < at + 2:
        raise MalformedError("not valid msgpack (the input ends early)")
    if raw[at] in _EXT:
        raise MalformedError("msgpack ext types are not allowed")
    if raw[at] != 0xC4 or raw[at + 1] != sig_size:
        raise not_a_pair
    if n < at + 2 + sig_size:
        raise MalformedError("not valid msgpack (the input ends early)")
    if n > at + 2 + sig_size:
        raise MalformedError("trailing bytes after the value")
    return raw[head:at], raw[at + 2 :]
