"""A member behind a router with UPnP is reachable directly from another home.

Everything here runs inside the lab's own Linux network namespaces (tests/netlab/lab.py);
nothing multicasts, maps a port or listens on every interface outside them.

Router A runs a UPnP IGD (Debian's ``miniupnpd-nftables``). alice's node maps its
port there and announces the router's public address for it, first; her
reachability is ``direct``. bob, behind router B's NAT, dials that address from
the token: router A forwards it (its conntrack shows the translated flow to
alice), and they chat with no relay. When alice's node stops, the mapping goes.
With ``SMALLSOCIAL_UPNP=off`` nothing is mapped.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from protocol.invitation import decode_token
from tests.netlab.lab import UPNP_WAN, Lab
from tests.netlab.member import Member
from tests.node.harness import wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def gateway(lab: Lab, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    if shutil.which("miniupnpd") is None:
        pytest.skip("the UPnP lab test needs miniupnpd (apt-get install miniupnpd-nftables)")
    proc = lab.upnp("rtrA", tmp_path)
    time.sleep(1.0)  # its SSDP and HTTP listeners
    yield proc
    proc.terminate()
    proc.wait(10)


def _mappings(lab: Lab) -> str:
    return lab.sh("rtrA", "nft", "list", "chain", "inet", "upnp", "prerouting_miniupnpd")


def test_a_member_behind_upnp_is_reachable_from_another_home(
    lab: Lab, member: Callable[[str, str], Member], gateway: subprocess.Popen[bytes]
) -> None:
    alice, bob = member("alice", "alice"), member("bob", "bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    port = (alice.root / "port").read_text().strip()
    public = f"/ip4/{UPNP_WAN}.21/tcp/{port}/p2p/{alice.key}"
    wait_until(lambda: public in alice.announced(), 30, what="alice's mapped address")
    assert alice.announced()[0] == public  # a public address ranks first
    wait_until(lambda: alice.reach() == "direct", 10, what="alice to say 'direct'")
    assert f"dport {port} dnat ip to 10.1.0.2:{port}" in _mappings(lab)

    bob.start()
    token = alice.json("invite", "friends", bob.key)["token"]
    assert decode_token(token).addrs[0] == public
    t0 = time.monotonic()
    bob.json("join", token)
    bob.json("send", "friends", "straight through your router")
    wait_until(
        lambda: "straight through your router" in alice.texts(circle), 30, interval=0.2, what="bob's message"
    )
    print(f"time to first message, NAT to a UPnP-mapped member: {time.monotonic() - t0:.2f} s from join")
    alice.json("send", "friends", "welcome")
    wait_until(lambda: "welcome" in bob.texts(circle), 30, what="alice's message")
    flows = lab.conntrack("rtrA")
    assert any(
        "ESTABLISHED" in f and f"dst={UPNP_WAN}.21" in f and f"dport={port}" in f and "src=10.1.0.2" in f
        for f in flows.splitlines()
    ), flows

    assert alice.stop() == 0
    assert f"dport {port}" not in _mappings(lab)  # removed on exit


def test_upnp_can_be_turned_off(
    lab: Lab, member: Callable[[str, str], Member], gateway: subprocess.Popen[bytes]
) -> None:
    alice = member("alice", "alice")
    alice.extra_env["SMALLSOCIAL_UPNP"] = "off"
    alice.start()
    time.sleep(6)
    assert all(UPNP_WAN not in a for a in alice.announced())
    assert alice.reach() == "lan"
    assert "dnat" not in _mappings(lab)
