"""The one JSON form of the command vocabulary (``protocol/node/codec.py``).

Every command and event kind of ``api.py`` survives a round trip; members' keys are
peer IDs and other bytes hex; anything that is not exactly a command is refused with
one sentence.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

import pytest

from protocol.identity import Identity, peer_id
from protocol.node import api, codec

KEY = Identity.from_seed(b"\x07" * 32).public_key


def _sample(hint: Any, name: str) -> Any:
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _sample(next(p for p in params if p is not type(None)), name)
    if origin is tuple:
        return (
            (_sample(params[0], name),) if params[-1] is Ellipsis else tuple(_sample(p, name) for p in params)
        )
    if origin is dict:
        return {"a": 1}
    if hint is bytes:
        return KEY if name in codec.KEY_FIELDS else b"\x01\xfe" * 16
    if dataclasses.is_dataclass(hint):
        return _instance(hint)  # type: ignore[arg-type]
    return {bool: True, int: 42, str: "hé 🎉"}[hint]


def _instance(cls: type) -> Any:
    api.ready_all()  # the classes become dataclasses on first use (api._lazy): fields() needs that
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(codec.COMMANDS))
def test_every_command_round_trips(name: str) -> None:
    cmd = _instance(codec.COMMANDS[name])
    text = json.dumps(codec.to_json(cmd))
    assert codec.command_from_json(json.loads(text)) == cmd


@pytest.mark.parametrize("name", sorted(codec.EVENTS))
def test_every_event_round_trips(name: str) -> None:
    ev = _instance(codec.EVENTS[name])
    assert codec.event_from_json(json.loads(json.dumps(codec.to_json(ev)))) == ev


def test_keys_are_peer_ids_and_other_bytes_hex() -> None:
    out = codec.to_json(api.RemoveMember(b"\x01" * 32, KEY, request_id=9))
    assert out == {"command": "RemoveMember", "request_id": 9, "circle": "01" * 32, "member": peer_id(KEY)}
    sent = codec.to_json(api.MessageSent(3, b"\x02" * 32, b"\x03" * 32, 1))
    assert sent == {
        "event": "MessageSent",
        "request_id": 3,
        "circle": "02" * 32,
        "record_id": "03" * 32,
        "seq": 1,
    }


def test_a_command_without_request_id_gets_a_fresh_one() -> None:
    a = codec.command_from_json({"command": "LeaveCircle", "circle": "00" * 32})
    b = codec.command_from_json({"command": "LeaveCircle", "circle": "00" * 32})
    assert isinstance(a, api.LeaveCircle) and a.request_id != b.request_id


@pytest.mark.parametrize(
    ("obj", "says"),
    [
        ([], "a command is a JSON object"),
        ({"op": "send"}, "unknown command None"),
        ({"command": "Format"}, "unknown command 'Format'"),
        ({"command": "MessageSent"}, "unknown command 'MessageSent'"),  # an event is not a command
        ({"command": "SendMessage", "circle": "00"}, "SendMessage needs 'text'"),
        ({"command": "SendMessage", "circle": "zz", "text": "x"}, "SendMessage.circle is not hex"),
        ({"command": "SendMessage", "circle": "00", "text": 5}, "SendMessage.text must be text"),
        (
            {"command": "SendMessage", "circle": "00", "text": "x", "sudo": 1},
            "SendMessage has no field 'sudo'",
        ),
        (
            {"command": "RemoveMember", "circle": "00", "member": "00" * 32},
            "RemoveMember.member is not a peer ID",
        ),
        (
            {"command": "LoadHistory", "circle": "00", "limit": True},
            "LoadHistory.limit must be a whole number",
        ),
        (
            {"command": "ForkCircle", "circle": "00", "name": "n", "members": "x"},
            "ForkCircle.members must be a list",
        ),
    ],
)
def test_anything_else_is_refused_with_one_sentence(obj: object, says: str) -> None:
    with pytest.raises(ValueError, match=f"^{__import__('re').escape(says)}$"):
        codec.command_from_json(obj)
