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

from typing import Any

import msgpack

from protocol.errors import MalformedError, NonCanonicalError, OversizeError

MAX_DEPTH = 8
"""Deepest nesting of arrays and maps in any wire object."""

MAX_CONTAINER = 4096
"""Most elements in one array or map."""

Value = None | bool | int | str | bytes | list[Any] | dict[str, Any]


def _canon(obj: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise MalformedError(f"nesting deeper than {MAX_DEPTH} levels")
    if obj is None or isinstance(obj, (bool, str, bytes)):
        return obj
    if isinstance(obj, int):
        if not -(2**63) <= obj < 2**64:
            raise MalformedError("integer out of the 64-bit range")
        return obj
    if isinstance(obj, (list, tuple)):
        return [_canon(v, depth + 1) for v in obj]
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str):
                raise MalformedError("map keys must be text")
        return {k: _canon(obj[k], depth + 1) for k in sorted(obj, key=lambda s: s.encode())}
    raise MalformedError(f"type {type(obj).__name__} has no wire form")


def encode(obj: Any) -> bytes:
    """Return the canonical msgpack bytes of ``obj``."""
    out = msgpack.packb(_canon(obj), use_bin_type=True)
    assert isinstance(out, bytes)
    return out


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise MalformedError(f"duplicate map key {k!r}")
        out[k] = v
    return out


def _no_ext(code: int, data: bytes) -> Any:
    raise MalformedError(f"msgpack ext type {code} is not allowed")


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


def decode(data: bytes, max_size: int) -> Any:
    """Decode canonical msgpack of at most ``max_size`` bytes, or raise ``DecodeError``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedError("input is not bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise OversizeError(f"{len(data)} bytes is over the limit of {max_size}")
    if not data:
        raise MalformedError("input is empty")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            object_pairs_hook=_pairs,
            ext_hook=_no_ext,
            use_list=True,
            max_str_len=max_size,
            max_bin_len=max_size,
            max_array_len=MAX_CONTAINER,
            max_map_len=MAX_CONTAINER,
            max_ext_len=0,
        )
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
