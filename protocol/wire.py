"""Canonical msgpack: the one encoding every signed byte goes through.

``encode`` produces the canonical form: maps with ``str`` keys sorted by their
UTF-8 bytes, the shortest integer forms, ``bin`` for bytes and ``str`` for text,
no floats and no ext types. ``decode`` refuses anything else: input over the
size limit (before a byte is parsed), trailing bytes, bad UTF-8, ext types,
duplicate map keys, nesting deeper than ``MAX_DEPTH``, and any encoding that is
not the canonical one (so a value has exactly one byte form and a signature
covers exactly one meaning). Every failure is a :class:`~protocol.errors.DecodeError`.
"""

from __future__ import annotations

import threading
from typing import Any

import msgpack

from protocol.errors import MalformedError, NonCanonicalError, OversizeError

MAX_DEPTH = 8
"""Deepest nesting of arrays and maps in any wire object."""

MAX_CONTAINER = 4096
"""Most elements in one array or map."""

Value = None | bool | int | str | bytes | list[Any] | dict[str, Any]


_INT_MIN = -(2**63)
_INT_END = 2**64


def _canon(obj: Any, depth: int = 0) -> Any:
    """The canonical tree of ``obj``: what :func:`decode` of its encoding gives back.

    The fast path takes the exact built-in types; anything else (subclasses,
    tuples, non-ASCII or non-text keys, unknown types) goes to :func:`_canon_slow`,
    which is the general rule. Both check in the same order and raise the same errors.
    """
    if depth > MAX_DEPTH:
        raise MalformedError(f"nesting deeper than {MAX_DEPTH} levels")
    t = type(obj)
    if t is str or t is bytes or t is bool or obj is None:
        return obj
    if t is int:
        if not _INT_MIN <= obj < _INT_END:
            raise MalformedError("integer out of the 64-bit range")
        return obj
    if t is list:
        if depth == MAX_DEPTH:  # the items are one level too deep: let them raise
            return [_canon(v, depth + 1) for v in obj]
        out_list = []
        for v in obj:
            tv = type(v)
            if (
                tv is bytes
                or tv is str
                or v is None
                or tv is bool
                or (tv is int and _INT_MIN <= v < _INT_END)
            ):
                out_list.append(v)
            else:
                out_list.append(_canon(v, depth + 1))
        return out_list
    if t is dict:
        for k in obj:
            # Sorting ASCII text by code point is sorting it by its UTF-8 bytes.
            if type(k) is not str or not k.isascii():
                return _canon_slow(obj, depth)
        if depth == MAX_DEPTH:
            return {k: _canon(obj[k], depth + 1) for k in sorted(obj)}
        out_map = {}
        for k in sorted(obj):
            v = obj[k]
            tv = type(v)
            if (
                tv is bytes
                or tv is str
                or v is None
                or tv is bool
                or (tv is int and _INT_MIN <= v < _INT_END)
            ):
                out_map[k] = v
            else:
                out_map[k] = _canon(v, depth + 1)
        return out_map
    return _canon_slow(obj, depth)


def _canon_slow(obj: Any, depth: int) -> Any:
    if obj is None or isinstance(obj, bool):
        return obj
    # Subclasses become the exact built-in value msgpack packs for them.
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, bytes):
        return bytes.__bytes__(obj)
    if isinstance(obj, int):
        value = int.__int__(obj)
        if not _INT_MIN <= value < _INT_END:
            raise MalformedError("integer out of the 64-bit range")
        return value
    if isinstance(obj, (list, tuple)):
        return [_canon(v, depth + 1) for v in obj]
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str):
                raise MalformedError("map keys must be text")
        return {k: _canon(obj[k], depth + 1) for k in sorted(obj, key=lambda s: s.encode())}
    raise MalformedError(f"type {type(obj).__name__} has no wire form")


_local = threading.local()


def _packb(obj: Any) -> bytes:
    """``msgpack.packb(obj, use_bin_type=True)`` with one reused packer per thread.

    ``packb`` is a fresh ``Packer(...).pack``; reusing one saves its setup (a third
    of the time for a small map). ``pack`` resets the packer after every call,
    also when it raises, so no state is carried from one call to the next.
    """
    try:
        packer = _local.packer
    except AttributeError:
        packer = _local.packer = msgpack.Packer(use_bin_type=True)
    out = packer.pack(obj)
    assert isinstance(out, bytes)
    return out


def encode(obj: Any) -> bytes:
    """Return the canonical msgpack bytes of ``obj``."""
    return _packb(_canon(obj))


def canonical(obj: Any) -> tuple[Any, bytes]:
    """``(tree, encode(obj))``: the canonical bytes and the value they decode to.

    ``tree`` equals ``decode(encode(obj), ...)`` (exact built-in types, lists for
    tuples, map keys in wire order) without the round trip; the limits
    ``decode`` applies to its input (size, :data:`MAX_CONTAINER`) are the
    caller's to check, see :func:`check_limits`.
    """
    tree = _canon(obj)
    return tree, _packb(tree)


def check_limits(tree: Any, data: bytes, max_size: int) -> None:
    """Raise what ``decode(data, max_size)`` would for canonical ``data`` of ``tree``.

    For the output of :func:`canonical` the only things ``decode`` can still
    refuse are the size limit and a container of more than :data:`MAX_CONTAINER`
    elements; this checks both, with the same errors.
    """
    if len(data) > max_size:
        raise OversizeError(f"{len(data)} bytes is over the limit of {max_size}")
    # Every element takes at least one byte, so short input cannot hold a long container.
    if len(data) > MAX_CONTAINER and _too_long(tree):
        raise MalformedError("not valid msgpack (ValueError)")


def _too_long(tree: Any) -> bool:
    if isinstance(tree, list):
        return len(tree) > MAX_CONTAINER or any(_too_long(v) for v in tree)
    if isinstance(tree, dict):
        return len(tree) > MAX_CONTAINER or any(_too_long(v) for v in tree.values())
    return False


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise MalformedError(f"duplicate map key {k!r}")
        out[k] = v
    return out


def _no_ext(code: int, data: bytes) -> Any:
    raise MalformedError(f"msgpack ext type {code} is not allowed")


def _plain(obj: Any, depth: int) -> bool:
    """True only if ``obj`` is exact wire types within the depth limit, every map's keys text in order.

    For such a tree ``_canon`` is the identity, so ``encode(obj)`` is
    ``msgpack.packb(obj)``. It may say False for a tree ``_check`` accepts
    (the strict path then decides), never True for one it refuses.
    """
    t = type(obj)
    if t is dict:
        if depth >= MAX_DEPTH:
            return False
        keys = list(obj)
        for k in keys:
            if type(k) is not str:
                return False
        # Decoded text is valid UTF-8 (no surrogates): code point order is UTF-8 byte order.
        if keys != sorted(keys):
            return False
        values: Any = obj.values()
    elif t is list:
        if depth >= MAX_DEPTH:
            return False
        values = obj
    else:
        return t is str or t is bytes or t is int or t is bool or obj is None
    for v in values:
        tv = type(v)
        if tv is str or tv is bytes or tv is int or tv is bool or v is None:
            continue
        if not _plain(v, depth + 1):
            return False
    return True


def decode(data: bytes, max_size: int) -> Any:
    """Decode canonical msgpack of at most ``max_size`` bytes, or raise ``DecodeError``."""
    # Fast path, for canonical input: decode without the duplicate-key hook, check the
    # tree is plain with sorted keys, and compare one plain re-encode with the input.
    # Equal bytes mean the input is exactly encode(obj) (so it has no duplicate keys
    # either) and the strict path would return the same value. Anything else goes to
    # the strict path, which decides and picks the error.
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedError("input is not bytes")
    data = bytes(data)
    if type(data) is bytes and 0 < len(data) <= max_size:
        try:
            obj = msgpack.unpackb(data, **_unpack_limits(max_size))
        except Exception:
            pass
        else:
            if _plain(obj, 0) and _packb(obj) == data:
                return obj
    return _decode_strict(data, max_size)


def _unpack_limits(max_size: int) -> dict[str, Any]:
    """The msgpack options both decode paths share: text keys, no ext types, bounded sizes."""
    return {
        "raw": False,
        "strict_map_key": True,
        "ext_hook": _no_ext,
        "use_list": True,
        "max_str_len": max_size,
        "max_bin_len": max_size,
        "max_array_len": MAX_CONTAINER,
        "max_map_len": MAX_CONTAINER,
        "max_ext_len": 0,
    }


def _check(obj: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MalformedError(f"nesting deeper than {MAX_DEPTH} levels")
    if obj is None or isinstance(obj, (bool, int, str, bytes)):
        return
    if isinstance(obj, list):
        for v in obj:
            _check(v, depth + 1)
        return
    if isinstance(obj, dict):
        for v in obj.values():
            _check(v, depth + 1)
        return
    raise MalformedError(f"value of type {type(obj).__name__} is not allowed")


def _decode_strict(data: bytes, max_size: int) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedError("input is not bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise OversizeError(f"{len(data)} bytes is over the limit of {max_size}")
    if not data:
        raise MalformedError("input is empty")
    try:
        obj = msgpack.unpackb(data, object_pairs_hook=_pairs, **_unpack_limits(max_size))
    except MalformedError:
        raise
    except msgpack.ExtraData as e:
        raise MalformedError("trailing bytes after the value") from e
    except UnicodeDecodeError as e:
        raise MalformedError("text is not valid UTF-8") from e
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as e:
        raise MalformedError(f"not valid msgpack ({type(e).__name__})") from e
    if isinstance(obj, float):
        raise MalformedError("floats are not allowed")
    _check(obj, 0)
    if encode(obj) != data:
        raise NonCanonicalError("not the canonical encoding")
    return obj
