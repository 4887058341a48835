"""Canonical-encoding paths that mutation testing found unguarded (issue 17).

Subclasses of int, bytes and str (an ``IntEnum``, a ``bytes`` wrapper) take the slow
path of the encoder and must come out as the exact built-in value, with the same
range checks as the fast path; the range and depth limits hold at their edges in
lists and maps alike; :func:`wire.check_limits` says what ``decode`` would.
"""

from __future__ import annotations

import enum
from typing import Any

import pytest

from protocol import wire
from protocol.errors import MalformedError, OversizeError

LIMIT = 1 << 20
LOW, HIGH = -(2**63), 2**64 - 1


class Flag(enum.IntEnum):
    ON = 1


class Key(bytes):
    pass


class Name(str):
    __slots__ = ()


class Big(int):
    pass


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (Flag.ON, 1),
        (Big(HIGH), HIGH),
        (Big(LOW), LOW),
        (Key(b"\x00\x01"), b"\x00\x01"),
        (Name("héllo"), "héllo"),
        ([Flag.ON, Key(b"k")], [1, b"k"]),
        ({"a": Flag.ON, "b": Key(b"k"), "c": Name("n")}, {"a": 1, "b": b"k", "c": "n"}),
        ((Flag.ON, (Big(2),)), [1, [2]]),
    ],
)
def test_subclasses_encode_as_their_built_in_value(value: Any, plain: Any) -> None:
    tree, data = wire.canonical(value)
    assert data == wire.encode(plain) == wire.encode(value)
    assert tree == plain
    assert _types(tree) == _types(plain)
    assert wire.decode(data, LIMIT) == plain


def _types(tree: Any) -> Any:
    if isinstance(tree, list):
        return [_types(v) for v in tree]
    if isinstance(tree, dict):
        return {k: _types(v) for k, v in tree.items()}
    return type(tree)


@pytest.mark.parametrize("value", [Big(HIGH + 1), Big(LOW - 1), [Big(HIGH + 1)], {"a": Big(LOW - 1)}])
def test_an_int_subclass_out_of_range_is_refused(value: Any) -> None:
    with pytest.raises(MalformedError, match="64-bit"):
        wire.encode(value)


@pytest.mark.parametrize("wrap", [lambda v: v, lambda v: [v], lambda v: {"a": v}, lambda v: {"é": [v]}])
def test_integer_range_edges_everywhere(wrap: Any) -> None:
    for ok in (LOW, HIGH, 0, -1):
        assert wire.decode(wire.encode(wrap(ok)), LIMIT) == wrap(ok)
    for bad in (LOW - 1, HIGH + 1):
        with pytest.raises(MalformedError, match="64-bit"):
            wire.encode(wrap(bad))


def test_bool_stays_bool_and_none_stays_none() -> None:
    assert wire.encode([True, False, None]) == b"\x93\xc3\xc2\xc0"
    assert wire.encode({"a": True, "b": None}) == b"\x82\xa1a\xc3\xa1b\xc0"
    tree, _ = wire.canonical([True, 1])
    assert [type(v) for v in tree] == [bool, int]


def _deep(depth: int, leaf: Any, kind: str) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"k" if kind == "map" else "é": value}
    return value


@pytest.mark.parametrize("kind", ["list", "map", "text-key map"])
@pytest.mark.parametrize("leaf", [0, "s", b"b", None, True, Big(3), [], {}])
def test_nesting_limit_holds_for_every_container(kind: str, leaf: Any) -> None:
    # A value at depth MAX_DEPTH may be a scalar or an empty container, nothing deeper.
    at_limit = _deep(wire.MAX_DEPTH, leaf, kind)
    assert wire.decode(wire.encode(at_limit), LIMIT) == wire.canonical(at_limit)[0]
    with pytest.raises(MalformedError, match="nesting"):
        wire.encode(_deep(wire.MAX_DEPTH + 1, 0, kind))
    with pytest.raises(MalformedError, match="nesting"):
        wire.encode(_deep(wire.MAX_DEPTH, [0], kind))


def test_non_text_keys_are_refused_on_the_slow_path_too() -> None:
    for value in ({"é": 1, 2: 3}, {b"k": 1}, [{"a": 1, None: 2}]):
        with pytest.raises(MalformedError, match="keys must be text"):
            wire.encode(value)


def test_check_limits_says_what_decode_would() -> None:
    for n in (wire.MAX_CONTAINER, wire.MAX_CONTAINER + 1):
        for value in ([0] * n, {"a": [0] * n}, [[0] * n], {f"{i:05}": 0 for i in range(n)}):
            tree, data = wire.canonical(value)
            if n <= wire.MAX_CONTAINER:
                wire.check_limits(tree, data, LIMIT)
                assert wire.decode(data, LIMIT) == tree
            else:
                with pytest.raises(MalformedError) as e:
                    wire.check_limits(tree, data, LIMIT)
                with pytest.raises(MalformedError) as d:
                    wire.decode(data, LIMIT)
                assert str(e.value) == str(d.value)
    tree, data = wire.canonical(b"x" * 100)
    wire.check_limits(tree, data, len(data))
    with pytest.raises(OversizeError, match=f"{len(data)} bytes is over the limit of {len(data) - 1}"):
        wire.check_limits(tree, data, len(data) - 1)


def test_decode_takes_any_bytes_like_input() -> None:
    data = wire.encode({"a": [1, b"x"]})
    for form in (data, bytearray(data), memoryview(data)):
        assert wire.decode(form, LIMIT) == {"a": [1, b"x"]}
    with pytest.raises(MalformedError, match="not bytes"):
        wire.decode("text", LIMIT)  # type: ignore[arg-type]
    with pytest.raises(OversizeError):
        wire.decode(bytearray(data), len(data) - 1)


def test_unsorted_or_duplicate_keys_never_take_the_fast_path() -> None:
    from protocol.errors import NonCanonicalError

    with pytest.raises(NonCanonicalError):
        wire.decode(b"\x82\xa1b\x01\xa1a\x02", LIMIT)  # {"b": 1, "a": 2}
    with pytest.raises(MalformedError, match="duplicate"):
        wire.decode(b"\x82\xa1a\x01\xa1a\x02", LIMIT)
    deep_unsorted = b"\x91" * (wire.MAX_DEPTH - 1) + b"\x82\xa1b\x01\xa1a\x02"
    with pytest.raises(NonCanonicalError):
        wire.decode(deep_unsorted, LIMIT)


# ---- the fast paths are taken (they are why encode and decode are cheap) -------------------------


PLAIN = [
    0,
    LOW,
    HIGH,
    "text",
    b"bytes",
    None,
    True,
    [LOW, HIGH, "a", b"b", None, False, [1]],
    {"a": LOW, "b": HIGH, "c": [1, {"d": None}], "e": b"x", "f": "y", "g": True},
]


def _deepest(kind: str) -> Any:
    """Containers nested to the limit, holding a scalar at depth MAX_DEPTH."""
    return _deep(wire.MAX_DEPTH, 1, kind)


@pytest.mark.parametrize("value", [*PLAIN, _deepest("list"), _deepest("map")])
def test_exact_types_never_take_the_slow_paths(monkeypatch: pytest.MonkeyPatch, value: Any) -> None:
    def slow(*args: object) -> object:
        raise AssertionError("slow path taken")

    monkeypatch.setattr(wire, "_canon_slow", slow)
    data = wire.encode(value)
    monkeypatch.setattr(wire, "_decode_strict", slow)
    assert wire.decode(data, len(data)) == value  # canonical input, exactly at the limit


def test_non_ascii_keys_take_the_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = wire._canon_slow

    def spy(obj: Any, depth: int) -> Any:
        calls.append(obj)
        return real(obj, depth)

    monkeypatch.setattr(wire, "_canon_slow", spy)
    assert wire.encode({"é": 1, "z": 2}) == b"\x82\xa1z\x02\xa2\xc3\xa9\x01"
    assert calls == [{"é": 1, "z": 2}]


def test_the_largest_container_is_4096_elements() -> None:
    assert wire.decode(wire.encode([0] * 4096), LIMIT) == [0] * 4096
    assert wire.decode(wire.encode({f"{i:04}": 0 for i in range(4096)}), LIMIT)
    for too_long in ([0] * 4097, {f"{i:04}": 0 for i in range(4097)}):
        with pytest.raises(MalformedError):
            wire.decode(wire.encode(too_long), LIMIT)


def test_nested_tuples_count_their_depth() -> None:
    def tuples(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = (value,)
        return value

    assert wire.encode(tuples(wire.MAX_DEPTH)) == wire.encode(_deep(wire.MAX_DEPTH, 1, "list"))
    with pytest.raises(MalformedError, match="nesting"):
        wire.encode(tuples(wire.MAX_DEPTH + 1))


# ---- the strict path's own refusals -------------------------------------------------------------


@pytest.mark.parametrize("data", [b"\x91\xca\x3f\xc0\x00\x00", b"\x81\xa1a\x92\x01\xcb" + b"\x00" * 8])
def test_a_nested_float_is_named(data: bytes) -> None:
    with pytest.raises(MalformedError, match="value of type float is not allowed"):
        wire.decode(data, LIMIT)


def test_non_canonical_input_at_the_limit_is_non_canonical_not_oversize() -> None:
    from protocol.errors import NonCanonicalError

    data = b"\xd0\x05"  # 5 as int8: not the shortest form
    with pytest.raises(NonCanonicalError):
        wire.decode(data, len(data))
    with pytest.raises(OversizeError):
        wire.decode(data, len(data) - 1)


@pytest.mark.parametrize("depth", [990, 1024])
def test_nesting_msgpack_accepts_but_python_cannot_recurse_into_is_refused(depth: int) -> None:
    # msgpack unpacks up to 1024 levels, past Python's recursion limit: the strict path's
    # own depth check has to stop first, with a DecodeError, not a RecursionError.
    for data in (b"\x91" * depth + b"\x00", b"\x81\xa1a" * depth + b"\x00"):
        with pytest.raises(MalformedError, match="nesting deeper than 8 levels"):
            wire.decode(data, 1 << 20)


def test_scalars_in_containers_are_handled_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot path's shortcut: a list or map of scalars costs one call, not one per item."""
    calls: dict[str, int] = {"_canon": 0, "_plain": 0}
    for name in calls:
        real = getattr(wire, name)

        def spy(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls[_name] += 1
            return _real(*args)

        monkeypatch.setattr(wire, name, spy)
    for value in (
        [LOW, HIGH, 0, "s", b"b", None, True],
        {"a": LOW, "b": HIGH, "c": b"x", "d": None, "e": False},
    ):
        calls.update(_canon=0, _plain=0)
        data = wire.encode(value)
        assert wire.decode(data, LIMIT) == value
        assert calls == {"_canon": 1, "_plain": 1}, value
