"""The inline check of a plain message body (``records._plain_message``) accepts only what the
schema accepts: for every field of a real message, values of every kind and size around its
bounds; a body it refuses still goes through the schema, which names the fault."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from proto_kit import BOB, World

from protocol import records, schema
from protocol.errors import SchemaError

ODD: list[Any] = [
    None, True, False, 0, 1, -1, 2**53 - 1, 2**53, 2**63, 1.0, "", "x", [], {}, b"",
    *(bytes(n) for n in (1, 15, 16, 17, 23, 24, 25, 31, 32, 33, 17 * 1024, 17 * 1024 + 1)),
    b"\x01" * 32, bytes(range(32)),
]  # fmt: skip


def _schema_ok(body: dict[str, Any]) -> bool:
    try:
        schema.check(body, records.SCHEMAS[records.MSG])
    except SchemaError:
        return False
    return True


@pytest.mark.timeout(60)
def test_the_inline_check_accepts_only_what_the_schema_accepts(world3: World) -> None:
    real = dict(world3.post(BOB, "hello").body)
    assert records._plain_message(real) and _schema_ok(real)
    accepted = 0
    for name, value in itertools.product([*real, "zz"], ODD):
        body = {**real, name: value}
        if records._plain_message(body):
            accepted += 1
            assert _schema_ok(body), (name, value)
    for name in real:
        less = {k: v for k, v in real.items() if k != name}
        assert not records._plain_message(less)
    assert accepted > 5  # the values that fit were taken (p: None, q: 1, bounds of x)


def test_a_message_refused_inline_is_refused_by_the_schema_with_its_reason(world3: World) -> None:
    body = {**world3.post(BOB, "hello").body, "n": b"short"}
    with pytest.raises(SchemaError, match="field 'n' must be 24 bytes"):
        records.validate_body(body)
