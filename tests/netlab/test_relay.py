"""Two members at two homes, behind two NATs, with a friend's always-on relay.

alice (home A, behind 198.51.100.21) and bob (home B, behind 198.51.100.22) cannot
connect to each other: each router drops unsolicited connections. A blind relay
on a public box (198.51.100.10, ``smallsocial relay`` with default settings) is
pinned to their circle; both nodes connect out to it.

First test: it stores and forwards their records, so they chat through it at once.
Second test: each also reserves a circuit relay v2 slot on it and announces the
circuit address; they connect through the circuit, DCUtR punches a hole, and both
routers' conntrack tables show an established TCP connection between the two
public addresses; then the relay is stopped and they keep chatting, directly.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.netlab.lab import Lab
from tests.netlab.member import Member
from tests.node.harness import wait_until
from tests.relay.kit import RelayPeer

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]


class LabRelay(Member, RelayPeer):
    """``smallsocial relay --json`` with default listening, inside the lab's relay host."""

    def command(self, listen: str, peers: tuple[str, ...]) -> list[str]:
        args = ["relay", "--json", "--status-interval", str(self.status_interval)]
        return self.lab.cmd(self.host, sys.executable, "-m", "smallsocial_tui", *args)


def _two_homes(lab: Lab, member: Callable[[str, str], Member], relay: LabRelay) -> tuple[str, Member, Member]:
    alice, bob = member("alice", "alice"), member("bob", "bob")
    relay.start()
    assert relay.addr is not None and relay.addr.startswith("/ip4/198.51.100.10/tcp/"), relay.addr
    circle = str(alice.json("circle", "new", "friends")["id"])
    alice.json("circle", "pin", "friends", relay.addr)
    alice.start()
    bob.start()
    return circle, alice, bob


def _direct_flow(lab: Lab) -> bool:
    """Both routers track an established TCP connection with the other router's public address."""

    def has(router: str, other: str) -> bool:
        return any(
            line.startswith("tcp") and "ESTABLISHED" in line and other in line
            for line in lab.conntrack(router).splitlines()
        )

    return has("rtrA", "198.51.100.22") and has("rtrB", "198.51.100.21")


@pytest.fixture
def relay(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRelay]:
    r = LabRelay(lab, "relay", tmp_path_factory.mktemp("relayhost"), "relay")
    yield r
    if r.running():
        r.kill()


def test_two_homes_chat_through_a_pinned_relay(
    lab: Lab, member: Callable[[str, str], Member], relay: LabRelay
) -> None:
    circle, alice, bob = _two_homes(lab, member, relay)
    t0 = time.monotonic()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    sent = str(bob.json("send", "friends", "hello from home B")["id"])
    wait_until(lambda: "hello from home B" in alice.texts(circle), 60, interval=0.2, what="bob's message")
    print(f"time to first message, two NATs through the relay: {time.monotonic() - t0:.2f} s from join")
    # The relay stored it to forward it. The NATs let nothing in, so the two can meet only
    # through a circuit, which takes reservations first; on a loaded machine it can come up
    # before the message arrives (when bob's join reached the relay before alice's invitation
    # did), so whether they met is not asserted here: the second test shows the circuit.
    assert sent in relay.record_ids(circle)
    alice.json("send", "friends", "hello from home A")
    wait_until(lambda: "hello from home A" in bob.texts(circle), 60, interval=0.2, what="alice's message")
    wait_until(lambda: alice.reach() == "relay" and bob.reach() == "relay", 20, what="both to say 'relay'")


def test_two_homes_keep_chatting_directly_when_the_relay_is_gone(
    lab: Lab, member: Callable[[str, str], Member], relay: LabRelay
) -> None:
    circle, alice, bob = _two_homes(lab, member, relay)
    t0 = time.monotonic()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.json("send", "friends", "hello via the relay")
    wait_until(lambda: "hello via the relay" in alice.texts(circle), 60, what="the relayed message")
    wait_until(lambda: any("/p2p-circuit/" in a for a in bob.announced()), 30, what="bob's circuit address")
    wait_until(lambda: _direct_flow(lab), 60, what="an established TCP flow between the two routers")
    print(f"direct connection (hole punched) between the two homes: {time.monotonic() - t0:.2f} s from join")
    assert relay.stop() == 0
    t1 = time.monotonic()
    bob.json("send", "friends", "no relay now")
    wait_until(lambda: "no relay now" in alice.texts(circle), 30, interval=0.2, what="the direct message")
    alice.json("send", "friends", "still here")
    wait_until(lambda: "still here" in bob.texts(circle), 30, interval=0.2, what="alice's direct message")
    print(f"first message with the relay gone: {time.monotonic() - t1:.2f} s")


def test_the_relay_gives_circuits_only_to_members_of_its_circles(
    lab: Lab, member: Callable[[str, str], Member], relay: LabRelay
) -> None:
    _, alice, bob = _two_homes(lab, member, relay)
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    wait_until(lambda: any("/p2p-circuit/" in a for a in alice.announced()), 30, what="alice's reservation")
    assert relay.addr is not None
    stranger = subprocess.run(
        lab.cmd("pub", sys.executable, "-m", "tests.netlab.stranger", relay.addr),
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert stranger.stdout.strip() == "refused", (stranger.stdout, stranger.stderr[-2000:])
    assert "circuit relay refused to" in (relay.root / "logs" / "node.log").read_text()
