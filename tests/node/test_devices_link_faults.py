"""The link stream's refusals, on two in-process nodes (protocol/node/linking.py, docs/protocol.md 8.5).

alice (her person's key, one circle) and a fresh laptop, each a real node in its own thread on
127.0.0.1. A laptop that answers without proving the code's secret is refused and nothing is
linked; the user's no links nothing and tells the laptop; a bundle over the laptop's limit is
refused by it and nothing is taken in.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.node import api, devices, linking
from protocol.node.bridge import NodeThread
from protocol.node.paths import ProfilePaths, resolve
from protocol.node.profile import Profile
from protocol.node.syncwire import frame

pytestmark = pytest.mark.timeout(90)


class Side:
    """One in-process node: commands in, its events in a queue."""

    def __init__(self, tmp: Path, name: str, circle: bool = False) -> None:
        self.paths: ProfilePaths = resolve(str(tmp), name)
        profile = Profile.create(self.paths, name)
        if circle:
            profile.new_circle("friends")
        profile.close()
        self.events: queue.Queue[api.Event] = queue.Queue()
        self.seen: list[api.Event] = []
        self.node = NodeThread(self.paths, self.events.put, listen=["/ip4/127.0.0.1/tcp/0"])

    def wait(self, want: Any, timeout: float = 30.0) -> api.Event:
        for ev in self.seen:
            if want(ev):
                return ev
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                ev = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(ev)
            if want(ev):
                return ev
        raise AssertionError("no such event in time")

    def ask(self, cmd: api.Command, timeout: float = 40.0) -> api.Event:
        self.node.submit(cmd)
        return self.wait(lambda e: getattr(e, "request_id", None) == cmd.request_id, timeout)

    def devices(self) -> list[bytes]:
        profile = Profile.open(self.paths, None)
        try:
            return [d.key for d in devices.listing(profile) if not d.is_me]
        finally:
            profile.close()

    def circles(self) -> int:
        profile = Profile.open(self.paths, None)
        try:
            return len(profile.store.circles())
        finally:
            profile.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    alice, laptop = Side(tmp_path, "alice", circle=True), Side(tmp_path, "laptop")
    yield alice, laptop
    for s in (alice, laptop):
        if s.node.alive:
            s.node.stop(10)


def _start(alice: Side, laptop: Side) -> str:
    alice.node.start()
    laptop.node.start()
    ready = laptop.ask(api.AwaitLink("laptop"))
    assert isinstance(ready, api.LinkCodeReady)
    return ready.code


def test_a_device_that_does_not_prove_the_code_is_refused(
    pair: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, laptop = pair

    async def no_proof(self: linking.Linking, stream: Any, w: Any, linker: bytes, payload: bytes) -> None:
        await stream.write(frame(linking.ANSWER, bytes(32)))  # a MAC made without the secret

    monkeypatch.setattr(linking.Linking, "_linked", no_proof)
    code = _start(alice, laptop)
    ev = alice.ask(api.StartLink(code))
    assert isinstance(ev, api.CommandFailed), ev
    assert ev.message == "The device at that address did not prove it made this code; nothing was linked."
    alice.node.stop(10)
    assert alice.devices() == []


def test_no_links_nothing_and_tells_the_new_device(pair: tuple[Side, Side]) -> None:
    alice, laptop = pair
    code = _start(alice, laptop)
    start = api.StartLink(code)
    asked = alice.ask(start)
    assert isinstance(asked, api.LinkConfirm), asked
    shown = laptop.wait(lambda e: isinstance(e, api.LinkRequested))
    assert isinstance(shown, api.LinkRequested) and shown.digits == asked.digits
    assert isinstance(alice.ask(api.ConfirmLink(start.request_id, False)), api.CommandDone)
    told = laptop.wait(lambda e: isinstance(e, api.LinkCancelled))
    assert "cancelled" in told.message  # type: ignore[attr-defined]
    late = alice.ask(api.ConfirmLink(start.request_id, True))  # the link is over: a yes now does nothing
    assert isinstance(late, api.CommandFailed)
    alice.node.stop(10)
    laptop.node.stop(10)
    assert alice.devices() == [] and laptop.circles() == 0


def test_a_bundle_over_the_limit_is_refused_whole(
    pair: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, laptop = pair
    monkeypatch.setattr(devices, "MAX_LINK_BUNDLE", 64)  # read when the laptop's node starts
    code = _start(alice, laptop)
    start = api.StartLink(code)
    assert isinstance(alice.ask(start), api.LinkConfirm)
    ev = alice.ask(api.ConfirmLink(start.request_id, True))
    assert isinstance(ev, api.CommandFailed), ev
    assert "over the limit of 64 bytes" in ev.message and "revoke it" in ev.message
    told = laptop.wait(lambda e: isinstance(e, api.LinkCancelled))
    assert "over the limit" in told.message  # type: ignore[attr-defined]
    laptop.node.stop(10)
    assert laptop.circles() == 0


def test_a_profile_in_circles_does_not_wait_to_be_linked(pair: tuple[Side, Side]) -> None:
    alice, _ = pair
    alice.node.start()
    ev = alice.ask(api.AwaitLink("alice's old phone"))
    assert isinstance(ev, api.CommandFailed) and "already in circles" in ev.message
