"""LAN discovery: members on one LAN find each other by mDNS when no address they hold is good.

Everything here runs inside the lab's own Linux network namespaces (tests/netlab/lab.py);
nothing multicasts, maps a port or listens on every interface outside them.

alice and carol chat on home A's LAN, then both laptops are off while the router
hands out new addresses (10.1.0.12 and 10.1.0.13). When both nodes start again,
every address each holds for the other is stale; mDNS (py-libp2p's, over
zeroconf) tells each where the other is now, and they chat with no relay. With
``SMALLSOCIAL_LAN_DISCOVERY=off`` (the user's switch) they do not find each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.netlab.lab import Lab
from tests.netlab.member import Member
from tests.node.harness import wait_until

pytestmark = pytest.mark.timeout(180)


def _friends_then_new_addresses(lab: Lab, alice: Member, carol: Member) -> str:
    circle = str(alice.json("circle", "new", "friends")["id"])
    alice.start()
    carol.start()
    carol.json("join", alice.json("invite", "friends", carol.key)["token"])
    carol.json("send", "friends", "hi")
    wait_until(lambda: "hi" in alice.texts(circle), 30, what="the first message")
    assert alice.stop() == 0 and carol.stop() == 0
    lab.move("alice", "10.1.0.2/24", "10.1.0.12/24")
    lab.move("carol", "10.1.0.3/24", "10.1.0.13/24")
    return circle


def _stale(m: Member, ip: str) -> bool:
    return all(f"/ip4/{ip}/" not in a for a in m.peer_addrs())


def test_members_on_one_lan_find_each_other_again_by_mdns(
    lab: Lab, member: Callable[[str, str], Member]
) -> None:
    alice, carol = member("alice", "alice"), member("carol", "carol")
    circle = _friends_then_new_addresses(lab, alice, carol)
    assert _stale(alice, "10.1.0.13") and _stale(carol, "10.1.0.12")
    t0 = time.monotonic()
    alice.start()
    carol.start()
    wait_until(lambda: carol.saw("PeerConnected", peer_id=alice.key), 30, what="carol to find alice")
    found = time.monotonic() - t0
    carol.json("send", "friends", "found you on the LAN")
    wait_until(lambda: "found you on the LAN" in alice.texts(circle), 30, what="carol's message at alice")
    first = time.monotonic() - t0
    alice.json("send", "friends", "and no relay anywhere")
    wait_until(lambda: "and no relay anywhere" in carol.texts(circle), 30, what="alice's message at carol")
    print(f"LAN discovery (mDNS): connected {found:.2f} s, first message {first:.2f} s after start")


def test_lan_discovery_can_be_turned_off(lab: Lab, member: Callable[[str, str], Member]) -> None:
    alice, carol = member("alice", "alice"), member("carol", "carol")
    _friends_then_new_addresses(lab, alice, carol)
    alice.extra_env["SMALLSOCIAL_LAN_DISCOVERY"] = "off"
    carol.extra_env["SMALLSOCIAL_LAN_DISCOVERY"] = "off"
    alice.events.clear()
    carol.events.clear()
    alice.start()
    carol.start()
    time.sleep(10)
    assert not carol.saw("PeerConnected") and not alice.saw("PeerConnected")
