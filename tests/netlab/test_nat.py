"""A member behind a home NAT and a member on a public address.

pub (198.51.100.11) has a public address; bob (10.2.0.2) is behind home router B,
which masquerades as 198.51.100.22 and lets no unsolicited connection in. pub
invites bob: the token carries pub's public address (and nothing private of
pub's), bob's node dials out through the NAT, and they chat both ways over that
one connection. Router B's conntrack table shows the translated flow.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from protocol.invitation import decode_token
from tests.netlab.lab import Lab
from tests.netlab.member import Member
from tests.node.harness import wait_until

pytestmark = pytest.mark.timeout(180)


def _chat(a: Member, b: Member, circle: str, text: str, timeout: float = 30) -> float:
    t0 = time.monotonic()
    a.json("send", "friends", text)
    wait_until(lambda: text in b.texts(circle), timeout, interval=0.2, what=f"{text!r} at {b.name}")
    return time.monotonic() - t0


def test_a_member_behind_nat_and_one_on_a_public_address_chat(
    lab: Lab, member: Callable[[str, str], Member]
) -> None:
    pub, bob = member("pub", "pub"), member("bob", "bob")
    circle = pub.json("circle", "new", "friends")["id"]
    pub.start()
    port = (pub.root / "port").read_text().strip()
    assert pub.announced() == [f"/ip4/198.51.100.11/tcp/{port}/p2p/{pub.key}"]
    bob.start()
    assert [a.split("/")[2] for a in bob.announced()] == ["10.2.0.2"]  # all bob knows of himself

    token = pub.json("invite", "friends", bob.key)["token"]
    assert decode_token(token).addrs == (f"/ip4/198.51.100.11/tcp/{port}/p2p/{pub.key}",)
    t0 = time.monotonic()
    bob.json("join", token)
    _chat(bob, pub, circle, "hello from behind my router")
    print(f"time to first message, NAT to public: {time.monotonic() - t0:.2f} s from join")
    _chat(pub, bob, circle, "hello from the internet")

    assert pub.reach() == "direct" and pub.json("id")["reachability"]["state"] == "direct"
    said = bob.json("id")["reachability"]
    assert said["state"] == "lan" and "smallsocial circle pin" in said["hint"], said

    flows = lab.conntrack("rtrB")
    assert "src=10.2.0.2 dst=198.51.100.11 sport=" in flows and f"dport={port}" in flows, flows
    assert "dst=198.51.100.22" in flows, flows  # the reply direction goes to router B's public address
