"""One codec for the command vocabulary of ``api.py``: commands and events as JSON objects.

The control socket carries it (the CLI, scripts and tests send commands, the node
answers with one event, or a stream of them), ``smallsocial run --json`` prints events
in it, and the TUI submits the same ``api`` objects in process, so there is one
vocabulary, not three::

    {"command": "SendMessage", "request_id": 7, "circle": "<hex>", "text": "hi", "reply_to": null}
    {"event": "MessageSent", "request_id": 7, "circle": "<hex>", "record_id": "<hex>", "seq": 3}

Members' keys (fields ``author``, ``member``, ``invitee``, ``members``) are peer-ID text;
other bytes are hex; tuples are lists; nested answers (``CircleSummary``, ...) are
objects. Decoding is strict: an unknown name, a missing or extra field, or a value of
the wrong type is a ``ValueError`` with one sentence. A command sent without a
``request_id`` gets a fresh one.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from protocol.errors import ProtocolError
from protocol.identity import parse_peer_id, peer_id
from protocol.node import api

KEY_FIELDS = frozenset({"author", "member", "invitee", "members"})
"""Fields whose bytes are a member's key, written as peer-ID text."""

T = TypeVar("T")


def _named(base: type) -> dict[str, type]:
    out: dict[str, type] = {}
    todo = [base]
    while todo:
        subs: list[type] = todo.pop().__subclasses__()
        for sub in subs:
            out[sub.__name__] = sub
            todo.append(sub)
    return out


COMMANDS: dict[str, type] = _named(api.Command)
EVENTS: dict[str, type] = _named(api.Event)


def to_json(obj: api.Command | api.Event) -> dict[str, Any]:
    """A command or event as a JSON object (its kind under ``command`` or ``event`` first)."""
    kind = "command" if isinstance(obj, api.Command) else "event"
    return {kind: type(obj).__name__, **_fields(obj)}


def _fields(obj: Any) -> dict[str, Any]:
    return {f.name: _out(getattr(obj, f.name), f.name in KEY_FIELDS) for f in dataclasses.fields(obj)}


def _out(value: Any, key: bool) -> Any:
    if isinstance(value, bytes):
        return peer_id(value) if key else value.hex()
    if isinstance(value, tuple | list):
        return [_out(v, key) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, dict):
        return {str(k): _out(v, False) for k, v in value.items()}
    return value


def command_from_json(obj: object) -> api.Command:
    """The command a JSON object names; ``ValueError`` with one sentence if it is not one."""
    return _typed(obj, "command", COMMANDS)  # type: ignore[no-any-return]


def event_from_json(obj: object) -> api.Event:
    """The event a JSON object names (what the node answered or printed)."""
    return _typed(obj, "event", EVENTS)  # type: ignore[no-any-return]


def _typed(obj: object, kind: str, known: dict[str, type]) -> Any:
    # Reading fields off classes no instance of which may exist yet: made now, not at import
    # (the TUI imports this module before its first paint).
    api.ready_all()
    if not isinstance(obj, dict):
        raise ValueError(f"a {kind} is a JSON object")
    name = obj.get(kind)
    cls = known.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown {kind} {name!r}")
    return _build(cls, {k: v for k, v in obj.items() if k != kind}, cls.__name__)


def _build(cls: type[T], values: dict[str, Any], where: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    extra = set(values) - set(fields)
    if extra:
        raise ValueError(f"{where} has no field {sorted(extra)[0]!r}")
    args: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where} needs {name!r}")
            continue
        args[name] = _in(values[name], hints[name], name in KEY_FIELDS, f"{where}.{name}")
    return cls(**args)


def _in(value: Any, hint: Any, key: bool, where: str) -> Any:
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in params:
            return None
        return _in(value, next(p for p in params if p is not type(None)), key, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list")
        if len(params) == 2 and params[1] is Ellipsis:
            return tuple(_in(v, params[0], key, where) for v in value)
        if len(params) != len(value):
            raise ValueError(f"{where} must have {len(params)} items")
        return tuple(_in(v, p, key, where) for v, p in zip(value, params, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be an object")
        return {str(k): _in(v, params[1], False, where) for k, v in value.items()}
    if hint is bytes:
        if not isinstance(value, str):
            raise ValueError(f"{where} must be text")
        try:
            return parse_peer_id(value) if key else bytes.fromhex(value)
        except (ValueError, ProtocolError):
            raise ValueError(f"{where} is not {'a peer ID' if key else 'hex'}") from None
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be an object")
        return _build(hint, value, where)  # type: ignore[arg-type]
    if hint is bool or hint is str:
        if not isinstance(value, hint):
            raise ValueError(f"{where} must be {'true or false' if hint is bool else 'text'}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be a whole number")
        return value
    if hint is Any or hint is object:
        return value
    raise ValueError(f"{where}: no JSON form for {hint!r}")
