"""Two members on one home LAN, default settings: they chat both ways, and again after one moves.

Everything here runs inside the lab's own Linux network namespaces (tests/netlab/lab.py);
nothing multicasts, maps a port or listens on every interface outside them.

alice and carol are laptops behind home router A (10.1.0.2 and 10.1.0.3). Neither
passes ``--listen``: each node listens on every interface on its profile's port and
announces its LAN address (not 127.0.0.1, not 0.0.0.0), so the token alice makes
carries an address carol can dial. carol's laptop sleeps and wakes (her node
restarts and greets alice). Then alice's laptop gets a new address (as on a new
DHCP lease): her node notices, says so, redials carol, tells the circle in a
presence record, and both directions work again without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from protocol.invitation import decode_token
from protocol.node.announce import SUPERSEDE_S
from tests.netlab.lab import Lab
from tests.netlab.member import Member
from tests.node.harness import wait_until

pytestmark = pytest.mark.timeout(240)


def _chat(a: Member, b: Member, circle: str, text: str, timeout: float = 30) -> float:
    """``a`` sends ``text``; seconds until ``b`` has it."""
    t0 = time.monotonic()
    a.json("send", "friends", text)
    wait_until(lambda: text in b.texts(circle), timeout, interval=0.2, what=f"{text!r} at {b.name}")
    return time.monotonic() - t0


def test_two_laptops_on_one_lan_chat_and_keep_chatting_after_a_move(
    lab: Lab, member: Callable[[str, str], Member]
) -> None:
    alice, carol = member("alice", "alice"), member("carol", "carol")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    port = (alice.root / "port").read_text().strip()
    assert alice.announced() == [f"/ip4/10.1.0.2/tcp/{port}/p2p/{alice.key}"]
    assert [a for a in alice.json("id")["addresses"]] == alice.announced()

    carol.start()
    token = alice.json("invite", "friends", carol.key)["token"]
    assert f"/ip4/10.1.0.2/tcp/{port}/p2p/{alice.key}" in decode_token(token).addrs
    t0 = time.monotonic()
    carol.json("join", token)
    _chat(carol, alice, circle, "hi alice, from carol's laptop")
    print(f"time to first message, same LAN (token address): {time.monotonic() - t0:.2f} s from join")
    _chat(alice, carol, circle, "hi carol")

    # carol's laptop sleeps and wakes: her node greets alice as a member, so each holds the
    # other's address (as friends who have chatted for a while do, from presence and sync).
    assert carol.stop() == 0
    carol.start()
    connected = time.monotonic()
    wait_until(lambda: any("/10.1.0.3/" in a for a in alice.peer_addrs()), 30, what="alice to know carol's")
    time.sleep(max(0.0, SUPERSEDE_S + 1 - (time.monotonic() - connected)))  # a move is not instant
    lab.move("alice", "10.1.0.2/24", "10.1.0.12/24")
    moved = f"/ip4/10.1.0.12/tcp/{port}/p2p/{alice.key}"
    wait_until(lambda: alice.announced() == [moved], 20, what="alice's node to see its new address")
    assert (alice.root / "addrs").read_text().split() == [moved]
    t0 = time.monotonic()
    _chat(carol, alice, circle, "still there, alice?", timeout=60)
    print(f"first message after the move: {time.monotonic() - t0:.2f} s after sending")
    _chat(alice, carol, circle, "yes, from my new address", timeout=60)
    # alice's presence carries the new address
    wait_until(lambda: moved in carol.peer_addrs(), 30, what="carol to learn alice's new address")
