"""The UI's commands beyond plain text: reactions, edits, deletes, read markers, pins, Load* answers."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from protocol.identity import Identity
from protocol.node import api
from protocol.node.bridge import NodeThread
from protocol.node.paths import resolve
from protocol.node.profile import Profile

pytestmark = pytest.mark.timeout(60)
E = TypeVar("E", bound=api.Event)


class Driver:
    def __init__(self, tmp: Path, name: str) -> None:
        self.paths = resolve(str(tmp), name)
        p = Profile.create(self.paths, name)
        self.me = p.me
        p.close()
        self.events: queue.Queue[api.Event] = queue.Queue()
        self.node = NodeThread(self.paths, self.events.put, listen=["/ip4/127.0.0.1/tcp/0"])

    def call(self, cmd: api.Command, kind: type[E]) -> E:
        """Submit ``cmd`` and return its answer of type ``kind`` (fail on CommandFailed)."""
        self.node.submit(cmd)
        while True:
            ev = self.events.get(timeout=20)
            if isinstance(ev, api.CommandFailed) and ev.request_id == cmd.request_id:
                raise AssertionError(ev.message)
            if isinstance(ev, kind) and getattr(ev, "request_id", None) in (cmd.request_id, None):
                return ev

    def fails(self, cmd: api.Command) -> str:
        self.node.submit(cmd)
        while True:
            ev = self.events.get(timeout=20)
            if isinstance(ev, api.CommandFailed) and ev.request_id == cmd.request_id:
                return ev.message
            assert getattr(ev, "request_id", None) != cmd.request_id, ev


@pytest.fixture
def alice(tmp_path: Path) -> Iterator[Driver]:
    d = Driver(tmp_path, "alice")
    d.node.start()
    yield d
    assert d.node.stop()


def test_react_edit_delete_show_in_history(alice: Driver) -> None:
    c = alice.call(api.CreateCircle("friends"), api.CircleCreated).circle
    first = alice.call(api.SendMessage(c, "helo"), api.MessageSent).record_id
    second = alice.call(api.SendMessage(c, "second"), api.MessageSent).record_id
    alice.call(api.EditMessage(c, first, "hello"), api.MessageSent)
    alice.call(api.DeleteMessage(c, second), api.MessageSent)
    alice.call(api.ReactTo(c, first, "👍"), api.MessageSent)
    h = alice.call(api.LoadHistory(c), api.HistoryLoaded)
    by_id = {e.id: e for e in h.entries}
    assert by_id[first].text == "hello" and by_id[first].edited
    assert by_id[second].deleted and by_id[second].text is None
    reactions = [e for e in h.entries if e.kind == "react"]
    assert [(r.text, r.ref) for r in reactions] == [("👍", first)]
    assert h.read_marker is None and h.missing == 0
    assert len(alice.call(api.LoadHistory(c, limit=1), api.HistoryLoaded).entries) == 1


def test_overview_members_names_and_read_markers(alice: Driver, tmp_path: Path) -> None:
    c = alice.call(api.CreateCircle("friends"), api.CircleCreated).circle
    alice.call(api.SetDisplayName("Alice Liddell"), api.CommandDone)
    bob = Identity.generate()
    alice.call(api.SetPetname(bob.public_key, "bobby"), api.CommandDone)
    o = alice.call(api.LoadOverview(), api.OverviewLoaded)
    assert o.me == alice.me and o.name == "Alice Liddell"
    assert o.contacts == ((bob.public_key, "bobby"),)
    (s,) = o.circles
    assert (s.id, s.name, s.status, s.members, s.unread, s.relays) == (c, "friends", "member", 1, 0, ())
    m = alice.call(api.LoadMembers(c), api.MembersLoaded)
    assert [(x.key, x.role, x.online) for x in m.members] == [(alice.me, "admin", True)]
    sent = alice.call(api.SendMessage(c, "mine"), api.MessageSent)
    alice.call(api.MarkRead(c, sent.record_id), api.CommandDone)
    assert alice.call(api.LoadHistory(c), api.HistoryLoaded).read_marker == sent.record_id


def test_pin_relay_and_bad_relay_address(alice: Driver) -> None:
    c = alice.call(api.CreateCircle("friends"), api.CircleCreated).circle
    assert "ask the relay's operator" in alice.fails(api.PinRelay(c, "relay.example.org:4001"))
    relay = Identity.generate()
    addr = f"/ip4/127.0.0.1/tcp/9/p2p/{relay.peer_id}"
    alice.call(api.PinRelay(c, addr), api.CommandDone)
    (s,) = alice.call(api.LoadOverview(), api.OverviewLoaded).circles
    assert s.relays == (addr,)
    m = alice.call(api.LoadMembers(c), api.MembersLoaded)
    assert [(r.key, r.role, r.invited_by) for r in m.relays] == [(relay.public_key, "relay", alice.me)]
