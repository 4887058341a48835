"""Canonical msgpack: one byte form per value, and a decoder that refuses everything else."""

from __future__ import annotations

import msgpack
import pytest

from protocol import wire
from protocol.errors import DecodeError, MalformedError, NonCanonicalError, OversizeError

LIMIT = 1 << 16


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        1,
        -1,
        127,
        128,
        -32,
        -33,
        255,
        256,
        65535,
        65536,
        2**32,
        2**64 - 1,
        -(2**63),
        "",
        "héllo ✓",
        "x" * 40,
        b"",
        b"\x00\xff" * 200,
        [],
        [1, "a", b"b", None, [True]],
        {},
        {"b": 1, "a": 2, "ab": [1, 2], "": None},
        {"é": 1, "z": 2},
    ],
)
def test_round_trip(value: object) -> None:
    data = wire.encode(value)
    assert wire.decode(data, LIMIT) == value
    # Encoding is a function of the value: re-encoding the decoded value gives the same bytes.
    assert wire.encode(wire.decode(data, LIMIT)) == data


def test_map_keys_are_sorted_by_utf8_bytes() -> None:
    # "Z" (0x5a) < "a" (0x61) < "é" (0xc3 0xa9) by UTF-8 bytes, whatever the insertion order.
    data = wire.encode({"é": 3, "a": 2, "Z": 1})
    assert data == b"\x83\xa1Z\x01\xa1a\x02\xa2\xc3\xa9\x03"


def test_tuples_encode_as_arrays_and_bytes_as_bin() -> None:
    assert wire.encode((1, 2)) == wire.encode([1, 2]) == b"\x92\x01\x02"
    assert wire.encode(b"ab") == b"\xc4\x02ab"
    assert wire.encode("ab") == b"\xa2ab"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (1.5, "float"),
        ({1: 2}, "keys must be text"),
        ({b"k": 2}, "keys must be text"),
        (2**64, "64-bit"),
        (-(2**63) - 1, "64-bit"),
        ({"s"}, "no wire form"),
    ],
)
def test_encode_refuses_values_without_a_wire_form(value: object, match: str) -> None:
    with pytest.raises(MalformedError, match=match):
        wire.encode(value)


def test_encode_refuses_too_deep_nesting() -> None:
    value: object = 0
    for _ in range(wire.MAX_DEPTH + 1):
        value = [value]
    with pytest.raises(MalformedError, match="nesting"):
        wire.encode(value)


def _nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\x00"


def test_nesting_up_to_the_limit_decodes() -> None:
    value = wire.decode(_nested(wire.MAX_DEPTH), LIMIT)
    for _ in range(wire.MAX_DEPTH):
        value = value[0]
    assert value == 0


@pytest.mark.parametrize("depth", [wire.MAX_DEPTH + 1, 100, 5000])
def test_too_deep_nesting_is_refused(depth: int) -> None:
    with pytest.raises(MalformedError):
        wire.decode(_nested(depth), 1 << 20)


def test_too_deep_maps_are_refused() -> None:
    with pytest.raises(MalformedError, match="nesting"):
        wire.decode(b"\x81\xa1a" * (wire.MAX_DEPTH + 1) + b"\x00", LIMIT)


CANONICAL = wire.encode({"a": [1, "two", b"three"], "b": None})


@pytest.mark.parametrize("cut", range(1, len(CANONICAL)))
def test_truncated_input_is_refused(cut: int) -> None:
    with pytest.raises(MalformedError):
        wire.decode(CANONICAL[:cut], LIMIT)


@pytest.mark.parametrize("extra", [b"\x00", b"\xc0", CANONICAL])
def test_trailing_bytes_are_refused(extra: bytes) -> None:
    with pytest.raises(MalformedError, match="trailing"):
        wire.decode(CANONICAL + extra, LIMIT)


def test_empty_input_is_refused() -> None:
    with pytest.raises(MalformedError, match="empty"):
        wire.decode(b"", LIMIT)


def test_non_bytes_input_is_refused() -> None:
    with pytest.raises(MalformedError, match="not bytes"):
        wire.decode("text", LIMIT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb(msgpack.ExtType(5, b"ab")),
        msgpack.packb(msgpack.ExtType(5, b"")),
        b"\xd6\xff\x00\x00\x00\x01",  # fixext4, type -1: timestamp 32, raw
        msgpack.packb(msgpack.Timestamp(1, 0)),
        msgpack.packb(msgpack.Timestamp(2**34, 5)),  # timestamp 64
        msgpack.packb(msgpack.Timestamp(-1, 0)),  # timestamp 96
        msgpack.packb([1, msgpack.ExtType(1, b"x")]),
        msgpack.packb({"a": msgpack.Timestamp(1, 0)}),
    ],
    ids=["ext5", "ext5-empty", "ts32-raw", "ts32", "ts64", "ts96", "nested-ext", "ext-in-map"],
)
def test_ext_types_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedError):
        wire.decode(data, LIMIT)


@pytest.mark.parametrize(
    "data",
    [b"\xa2\xff\xfe", b"\xa1\x80", b"\xa3\xed\xa0\x80", b"\x81\xa2\xff\xfe\x01", b"\x91\xa1\xc0"],
    ids=["ff-fe", "lone-continuation", "surrogate", "bad-key", "overlong-in-array"],
)
def test_bad_utf8_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedError, match="UTF-8"):
        wire.decode(data, LIMIT)


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb(1.5),
        b"\xca\x00\x00\x00\x00",  # float32 0.0
        msgpack.packb([0, 1.0]),
        msgpack.packb({"a": 2.5}),
    ],
)
def test_floats_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedError, match="float"):
        wire.decode(data, LIMIT)


@pytest.mark.parametrize(
    "data",
    [b"\x82\xa1a\x01\xa1a\x02", b"\x82\xa1a\x01\xa1a\x01", b"\x91\x82\xa1k\xc0\xa1k\xc0"],
    ids=["different-values", "same-values", "nested"],
)
def test_duplicate_map_keys_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedError, match="duplicate"):
        wire.decode(data, LIMIT)


@pytest.mark.parametrize(
    "data",
    [b"\x81\x01\x01", b"\x81\xc4\x01a\x01", b"\x81\x91\x01\x01", b"\x81\xc0\x01"],
    ids=["int-key", "bin-key", "array-key", "nil-key"],
)
def test_non_text_map_keys_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedError):
        wire.decode(data, LIMIT)


@pytest.mark.parametrize(
    "data",
    [
        b"\xcc\x01",  # uint8 1 (canonical: positive fixint)
        b"\xcd\x00\xff",  # uint16 255 (canonical: uint8)
        b"\xce\x00\x00\x01\x00",  # uint32 256
        b"\xcf\x00\x00\x00\x00\x00\x00\x00\x01",  # uint64 1
        b"\xd0\xff",  # int8 -1 (canonical: negative fixint)
        b"\xd1\x00\x05",  # int16 5
        b"\xd9\x01a",  # str8 "a" (canonical: fixstr)
        b"\xda\x00\x01a",  # str16 "a"
        b"\xc5\x00\x01a",  # bin16 b"a"
        b"\xdc\x00\x01\x01",  # array16 [1]
        b"\xde\x00\x01\xa1a\x01",  # map16 {"a": 1}
        b"\x82\xa1b\x01\xa1a\x02",  # keys out of order
        b"\x82\xa2ab\x01\xa1a\x02",  # "ab" before "a"
    ],
    ids=[
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "int8",
        "int16",
        "str8",
        "str16",
        "bin16",
        "array16",
        "map16",
        "unsorted",
        "prefix-unsorted",
    ],
)
def test_non_canonical_encodings_are_refused(data: bytes) -> None:
    # Each is valid msgpack for a value that has a shorter/other canonical form.
    assert msgpack.unpackb(data, raw=False) is not None
    with pytest.raises(NonCanonicalError):
        wire.decode(data, LIMIT)


def test_reserved_byte_is_refused() -> None:
    with pytest.raises(MalformedError):
        wire.decode(b"\xc1", LIMIT)


def test_oversized_input_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def unpackb(*args: object, **kwargs: object) -> object:
        pytest.fail("msgpack.unpackb was called for an oversized input")

    monkeypatch.setattr(msgpack, "unpackb", unpackb)
    data = wire.encode(b"x" * 100)
    with pytest.raises(OversizeError, match=f"{len(data)} bytes is over the limit of {len(data) - 1}"):
        wire.decode(data, len(data) - 1)


def test_input_at_the_limit_is_accepted() -> None:
    data = wire.encode(b"x" * 100)
    assert wire.decode(data, len(data)) == b"x" * 100


def test_container_limits_apply() -> None:
    too_long = b"\xdd" + (wire.MAX_CONTAINER + 1).to_bytes(4, "big") + b"\x00" * (wire.MAX_CONTAINER + 1)
    with pytest.raises(MalformedError):
        wire.decode(too_long, 1 << 20)
    ok = wire.encode([0] * wire.MAX_CONTAINER)
    assert len(wire.decode(ok, 1 << 20)) == wire.MAX_CONTAINER


def test_declared_lengths_beyond_the_input_are_refused() -> None:
    # A bin32 header that claims 4 GiB: must fail cleanly, not try to allocate.
    with pytest.raises(MalformedError):
        wire.decode(b"\xc6\xff\xff\xff\xff" + b"x" * 10, LIMIT)


def test_every_failure_is_a_decode_error() -> None:
    for data in (b"", b"\xc1", b"\xcc\x01", b"\x01\x01", b"\xca\x00\x00\x00\x00"):
        with pytest.raises(DecodeError):
            wire.decode(data, LIMIT)
