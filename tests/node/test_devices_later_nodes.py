"""A device linked earlier gets the circles its person makes later, on real nodes.

alice links her laptop by file; then, with both nodes running, she creates a circle and forks
one with bob: the laptop's node opens both from the handoffs in alice's self circle, reads
them and writes in them. A circle alice makes while the laptop is off reaches it when it
comes back. The self circle is never shown as a circle.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def test_circles_made_after_the_link_reach_the_running_laptop(
    make_peer: Callable[[str], Peer], tmp_path: Path
) -> None:
    alice, bob, laptop = make_peer("alice"), make_peer("bob"), make_peer("laptop")
    friends = alice.json("circle", "new", "friends")["id"]
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    code = laptop.json("devices", "link", "--offline", "--name", "laptop")["code"]
    bundle = tmp_path / "link.bundle"
    alice.json("devices", "add", code, "-o", str(bundle))
    laptop.json("devices", "accept", str(bundle))

    addr = alice.start()
    bob.start(addr)
    laptop.start(addr)
    wait_until(lambda: alice.saw("MemberJoined", circle=friends, member=bob.key), 45, what="bob's join")

    later = alice.json("circle", "new", "later")["id"]
    alice.json("send", "later", "made after the link")
    kids = alice.json("fork", "friends", "kids", "--member", bob.key)["id"]
    alice.json("send", "kids", "a fork after the link")
    for cid, text in ((later, "made after the link"), (kids, "a fork after the link")):
        wait_until(
            lambda c=cid: laptop.saw("CircleJoined", circle=c), 60, what="the laptop handed the circle"
        )
        wait_until(lambda c=cid, t=text: t in laptop.texts(c), 60, what=f"the laptop reads {text!r}")
    laptop.json("send", "later", "from the laptop")
    wait_until(lambda: "from the laptop" in alice.texts(later), 60, what="alice reads the laptop")
    names = [c["name"] for c in laptop.json("circle", "list")]
    assert sorted(names) == ["friends", "kids", "later"]  # the self circle is not listed
    assert sorted(c["name"] for c in alice.json("circle", "list")) == ["friends", "kids", "later"]

    assert laptop.stop() == 0
    away = alice.json("circle", "new", "while away")["id"]
    alice.json("send", "while away", "made while the laptop was off")
    laptop.start(addr)
    wait_until(
        lambda: "made while the laptop was off" in laptop.texts(away), 90, what="the laptop catches up"
    )
    for p in (alice, bob, laptop):
        assert p.stop() == 0
