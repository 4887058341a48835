"""``smallsocial run``'s lines for the device events (smallsocial_tui/render.py): the sentence an
unlinked device is told, and what the waiting device says while it is linked."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.identity import Identity
from protocol.node import api
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from smallsocial_tui.render import event_line

pytestmark = pytest.mark.timeout(30)


def test_device_event_lines(tmp_path: Path) -> None:
    profile = Profile.create(resolve(str(tmp_path), "laptop"), "laptop")
    try:
        cid = profile.new_circle("friends").circle_id
        alice = Identity.generate().public_key
        profile.store.set_contact(alice, "alice", 0)
        told = event_line(profile, api.DeviceUnlinked(cid, alice))
        assert told == "This device was unlinked from friends by alice; it cannot read new messages there."
        linked = api.DeviceLinked(alice, "Alice", "laptop", (cid,), ("friends",))
        assert event_line(profile, linked) == "Linked as laptop to Alice: 1 circle(s)"
        asked = event_line(profile, api.LinkRequested(alice, "Alice", "123 456"))
        assert asked == "Alice is linking this device: check it shows 123 456"
    finally:
        profile.close()
