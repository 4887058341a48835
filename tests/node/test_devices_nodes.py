"""A person with two devices in a circle with a friend, on real nodes (issue 14 part 1).

alice links her laptop by file, the offline path (``devices link --offline`` on it,
``devices add CODE -o FILE`` on her first device, ``devices accept`` on the laptop); with bob,
all three nodes run: both of alice's devices send and receive, the laptop has the history from
before it was linked, and bob sees one person alice with two devices. Revoking the laptop
(through alice's running node) rekeys: bob and alice read what alice writes next, the laptop
cannot, and the laptop is told it was unlinked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def test_two_devices_of_alice_and_bob(make_peer: Callable[[str], Peer], tmp_path: Path) -> None:
    alice, bob, laptop = make_peer("alice"), make_peer("bob"), make_peer("laptop")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.json("send", "friends", "before the laptop")
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])

    code = laptop.json("devices", "link", "--offline", "--name", "laptop")["code"]
    bundle = tmp_path / "link.bundle"
    added = alice.json("devices", "add", code, "-o", str(bundle))
    assert added["circles"] == [circle] and added["name"] == "laptop"
    assert laptop.json("devices", "accept", str(bundle))["circles"][0]["id"] == circle
    assert "before the laptop" in laptop.texts(circle)  # the history came with the bundle

    addr = alice.start()
    bob.start(addr)
    laptop.start(addr)
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 45, what="bob's join")

    sent = {"before the laptop"}
    for p, text in ((alice, "from alice's first device"), (laptop, "from the laptop"), (bob, "from bob")):
        p.json("send", "friends", text)
        sent.add(text)
    for p in (alice, bob, laptop):
        wait_until(lambda p=p: sent <= set(p.texts(circle)), 60, what=f"{p.name} to have every message")

    # bob sees one person, alice, with the laptop as her device, and her name on both devices' words
    members = {m["key"]: m for m in bob.json("members", "friends")}
    assert set(members) == {alice.key, bob.key}
    assert members[alice.key]["devices"] == [laptop.key]
    names = {e["text"]: e["author_name"] for e in bob.log(circle)}
    assert names["from the laptop"] == names["from alice's first device"]
    mine = {d["key"]: d for d in alice.json("devices")}
    assert mine[laptop.key]["name"] == "laptop" and mine[alice.key]["person_key"]

    # revoke the laptop through alice's running node: a new epoch the laptop does not hold
    alice.json("devices", "revoke", "laptop")
    alice.json("send", "friends", "after the revoke")
    for p in (alice, bob):
        wait_until(
            lambda p=p: "after the revoke" in p.texts(circle), 60, what=f"{p.name} reads the new epoch"
        )
    # The laptop is told, when it next pulls (a departed key gets roster records only), and then
    # will not write there. (What a device that ignores its unlink still signs is refused past
    # the cut: tests/protocol/test_devices.py.)
    wait_until(
        lambda: laptop.saw("DeviceUnlinked", circle=circle, author=alice.key), 60, what="the laptop told"
    )
    refused = laptop.cli("send", "friends", "from a revoked laptop", ok=False)
    assert refused.returncode == 1 and "not a member" in refused.stderr
    bob.json("send", "friends", "bob after the revoke")
    wait_until(lambda: "bob after the revoke" in alice.texts(circle), 60, what="alice reads bob")
    for p in (alice, bob):
        assert "from a revoked laptop" not in p.texts(circle)
    assert not {"after the revoke", "bob after the revoke"} & set(laptop.texts(circle))
    for p in (alice, bob, laptop):
        assert p.stop() == 0
