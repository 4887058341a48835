"""Linking a device over the network, on real nodes (issue 14 part 1, docs/protocol.md 8.5).

alice (her person's key, running node) and bob share a circle. Her fresh laptop runs
``devices link`` (it starts its own node and waits); ``devices add CODE --yes`` on alice's
device reaches it on ``/smallsocial/link/1.0.0``, both show the same six digits, and the
laptop takes the bundle in while its node runs: it reads the history, sends and receives. A
code whose secret is wrong is refused by the laptop (logged, nothing linked), as is an
expired code, a damaged one and a device that does not answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocol import devicelink
from protocol.identity import parse_peer_id
from smallsocial_tui.nodeproc import PROGRAM, JsonProc
from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def _waiting(laptop: Peer, *extra: str) -> tuple[JsonProc, str]:
    """``devices link --json`` on the laptop, in the background; its code."""
    proc = JsonProc(f"{laptop.name}-link")
    proc.spawn([*PROGRAM, "devices", "link", "--json", "--name", "laptop", *extra], laptop.env)
    got = proc.wait_for(lambda: _find(proc, "code"), 60, "the link code")
    return proc, str(got["code"])


def _find(proc: JsonProc, key: str) -> dict[str, Any] | None:
    return next((e for e in proc.events if key in e), None)


def test_link_over_the_network(make_peer: Callable[[str], Peer], tmp_path: Path) -> None:
    alice, bob, laptop = make_peer("alice"), make_peer("bob"), make_peer("laptop")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.json("send", "friends", "before the laptop")
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    addr = alice.start(serving=True)
    bob.start(addr)
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 45, what="bob's join")

    link, code = _waiting(laptop)
    try:
        # A code with the right key and addresses but another secret: the laptop refuses it.
        c = devicelink.parse_code(code)
        assert c.secret is not None and c.expires_s is not None
        forged = devicelink.make_code(c.key, c.name, c.addrs, bytes(16), c.expires_s)
        bad = alice.cli("devices", "add", forged, "--yes", ok=False)
        assert bad.returncode == 1
        assert "refused" in bad.stderr and "Nothing was linked" in bad.stderr, bad.stderr
        assert alice.json("devices") == [] or all(d["key"] != laptop.key for d in alice.json("devices"))
        log = laptop.root / "logs" / "node.log"
        wait_until(lambda: "MAC does not match" in log.read_text(), 10, what="the laptop's log")

        added = alice.json("devices", "add", code, "--yes")
        assert added["name"] == "laptop" and added["circles"] == [circle]
        done = link.wait_for(lambda: _find(link, "linked"), 60, "the laptop to say it is linked")
        asked = _find(link, "digits")
        assert asked is not None and asked["requested_by"] == alice.key
        assert asked["digits"] == devicelink.confirmation(c.secret, c.key, parse_peer_id(alice.key))
        assert done["circles"] == [{"id": circle, "name": "friends"}]
        assert link.reap(30) == 0
    finally:
        if link.running():
            link.reap(0)
    assert "before the laptop" in laptop.texts(circle)

    laptop.start(addr)
    sent = {"before the laptop"}
    for p, text in ((laptop, "from the laptop"), (bob, "from bob"), (alice, "from alice")):
        p.json("send", "friends", text)
        sent.add(text)
    for p in (alice, bob, laptop):
        wait_until(lambda p=p: sent <= set(p.texts(circle)), 60, what=f"{p.name} to have every message")
    members = {m["key"]: m for m in bob.json("members", "friends")}
    assert members[alice.key]["devices"] == [laptop.key]
    for p in (alice, bob, laptop):
        assert p.stop() == 0


def test_link_refusals(make_peer: Callable[[str], Peer]) -> None:
    alice, laptop = make_peer("alice"), make_peer("laptop")
    alice.json("circle", "new", "friends")
    now = int(time.time())
    # an expired code: refused before any dial
    key, at = parse_peer_id(laptop.key), ["/ip4/127.0.0.1/tcp/9/p2p/" + laptop.key]
    expired = devicelink.make_code(key, "laptop", at, bytes(16), now - 5)
    out = alice.cli("devices", "add", expired, "--yes", ok=False)
    assert out.returncode == 1 and "expired" in out.stderr, out.stderr
    # a damaged code
    out = alice.cli("devices", "add", expired[:-3] + "aaa", "--yes", ok=False)
    assert out.returncode == 1 and "damaged" in out.stderr, out.stderr
    # a device that does not answer (nothing listens on port 9)
    silent = devicelink.make_code(key, "laptop", at, bytes(16), now + 600)
    out = alice.cli("devices", "add", silent, "--yes", ok=False, timeout=90)
    assert out.returncode == 1 and "did not answer" in out.stderr, out.stderr
    assert [d["key"] for d in alice.json("devices")] in ([], [alice.key])


def test_link_into_a_running_node(make_peer: Callable[[str], Peer]) -> None:
    """The laptop's node already runs (``smallsocial run``): ``devices link`` goes through it,
    and the circles arrive without a restart; alice's node is not running (one starts for ``add``)."""
    alice, laptop = make_peer("alice"), make_peer("laptop")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.json("send", "friends", "hello laptop")
    laptop.start(serving=True)
    link, code = _waiting(laptop)
    try:
        added = alice.json("devices", "add", code, "--yes")
        assert added["circles"] == [circle]
        link.wait_for(lambda: _find(link, "linked"), 60, "the laptop to say it is linked")
        assert link.reap(30) == 0
    finally:
        if link.running():
            link.reap(0)
    assert laptop.saw("DeviceLinked")  # the running node took it in, and says so in its events
    assert "hello laptop" in laptop.texts(circle)
    laptop.json("send", "friends", "from the laptop, never restarted")
    assert laptop.stop() == 0
