"""protocol.node.api's classes become frozen dataclasses when first used, not at import.

Importing the module makes none of them (that cost the TUI 50-80 ms before its first paint);
the first instance of a class makes it and its bases, and then it is exactly the declared
frozen dataclass: equality, hashing, immutability, pickling, fields, the codec's round trip.
"""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import pytest

from protocol.identity import Identity

pytestmark = pytest.mark.timeout(60)


def test_importing_the_api_or_the_tui_makes_no_dataclass() -> None:
    code = (
        "import smallsocial_tui.app.app\n"  # the TUI's first paint waits on this import
        "from protocol.node import api, codec\n"
        "made = [c.__name__ for c in api._LAZY if '__dataclass_fields__' in c.__dict__]\n"
        "print(len(api._LAZY), made)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    count, made = out.split(" ", 1)
    assert int(count) > 90 and made.strip() == "[]"


def test_a_class_is_the_declared_frozen_dataclass_once_used() -> None:
    from protocol.node import api

    ev = api.MessageReceived(b"c" * 32, b"r" * 32, b"a" * 32, 3, 1000, "text", "hi", None)
    assert dataclasses.is_dataclass(ev) and "__dataclass_fields__" in api.MessageReceived.__dict__
    assert [f.name for f in dataclasses.fields(ev)][:2] == ["circle", "record_id"]
    same = api.MessageReceived(b"c" * 32, b"r" * 32, b"a" * 32, 3, 1000, "text", "hi", None)
    assert ev == same and hash(ev) == hash(same) and "hi" in repr(ev)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.text = "changed"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(ev)) == ev
    with pytest.raises(TypeError):
        api.MessageReceived(b"c" * 32)  # type: ignore[call-arg]
    cmd = api.SendMessage(b"c" * 32, "hello")
    assert cmd.request_id > 0 and api.SendMessage(b"c" * 32, "hello").request_id != cmd.request_id


def test_ready_all_makes_every_class_and_the_codec_round_trips() -> None:
    from protocol.node import api, codec

    api.ready_all()
    assert all("__dataclass_fields__" in c.__dict__ for c in api._LAZY)
    cmd = api.ForkCircle(b"p" * 32, "kids", (Identity.from_seed(bytes(32)).public_key,), "none")
    assert codec.command_from_json(codec.to_json(cmd)) == cmd
