"""Where a node listens by default and which addresses it announces.

The ranking and wildcard expansion run on made-up interface lists; the real
node runs under the suite's ``SMALLSOCIAL_DISCOVERY=off`` (tests/conftest.py),
so its default is 127.0.0.1 on a port the profile keeps. Listening on every
interface with discovery on is tested inside namespaces (tests/netlab).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from protocol.node import reach
from tests.node.harness import Peer

pytestmark = pytest.mark.timeout(90)


def test_the_suite_keeps_every_node_on_loopback() -> None:
    assert os.environ[reach.ENV] == "off"
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ['SMALLSOCIAL_DISCOVERY'])"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert child.stdout.strip() == "off"


SWITCH = [
    (None, True),
    ("on", True),
    ("1", True),
    ("off", False),
    ("OFF", False),
    ("0", False),
    ("no", False),
]


@pytest.mark.parametrize(("value", "on"), SWITCH)
def test_the_switch(value: str | None, on: bool) -> None:
    assert reach.discovery_on({} if value is None else {reach.ENV: value}) is on


def test_off_listens_on_loopback_on_a_kept_port(tmp_path: Path) -> None:
    first = reach.member_listen(tmp_path, {reach.ENV: "off"})
    assert len(first) == 1 and first[0].startswith("/ip4/127.0.0.1/tcp/")
    port = int(first[0].rsplit("/", 1)[1])
    assert port > 0 and (tmp_path / "port").read_text().strip() == str(port)
    assert reach.member_listen(tmp_path, {reach.ENV: "off"}) == first
    with socket.socket() as busy:  # someone else took it: a new port, kept from now on
        busy.bind(("127.0.0.1", port))
        busy.listen()
        other = reach.member_listen(tmp_path, {reach.ENV: "off"})
    assert other != first and (tmp_path / "port").read_text().strip() == other[0].rsplit("/", 1)[1]


@pytest.fixture
def interfaces(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], list[str]]]:
    box: list[tuple[list[str], list[str]]] = [(["127.0.0.1"], ["::1"])]
    monkeypatch.setattr(reach, "interface_ips", lambda: box[0])
    return box


def test_wildcards_become_interface_addresses_public_first(
    interfaces: list[tuple[list[str], list[str]]],
) -> None:
    interfaces[0] = (
        ["127.0.0.1", "192.168.1.20", "203.0.113.5", "10.8.0.3"],
        ["::1", "fd00::2", "2001:db8::7"],
    )
    got = reach.dialable(["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"])
    assert got == [
        "/ip4/203.0.113.5/tcp/4001",
        "/ip6/2001:db8::7/tcp/4001",
        "/ip4/192.168.1.20/tcp/4001",
        "/ip4/10.8.0.3/tcp/4001",
        "/ip6/fd00::2/tcp/4001",
    ]
    assert not any("0.0.0.0" in a or "127.0.0.1" in a or "::1" in a for a in got)


def test_observed_addresses_join_and_loopback_stays_only_alone(
    interfaces: list[tuple[list[str], list[str]]],
) -> None:
    assert reach.dialable(["/ip4/0.0.0.0/tcp/4001"]) == ["/ip4/127.0.0.1/tcp/4001"]
    assert reach.dialable(["/ip4/127.0.0.1/tcp/4001", "/ip4/198.51.100.21/tcp/4001"]) == [
        "/ip4/198.51.100.21/tcp/4001"
    ]
    interfaces[0] = (["127.0.0.1", "10.1.0.2"], [])
    assert reach.dialable(["/ip4/0.0.0.0/tcp/4001", "/ip4/198.51.100.21/tcp/4001"]) == [
        "/ip4/198.51.100.21/tcp/4001",
        "/ip4/10.1.0.2/tcp/4001",
    ]


def test_tokens_carry_the_public_addresses_when_there_are_any() -> None:
    mine = ["/ip4/203.0.113.5/tcp/1/p2p/k", "/ip4/10.0.0.2/tcp/1/p2p/k", "/ip4/192.168.1.2/tcp/1/p2p/k"]
    assert reach.for_token(mine) == ["/ip4/203.0.113.5/tcp/1/p2p/k"]
    assert reach.for_token(mine[1:]) == mine[1:]
    circuit = "/ip4/198.51.100.10/tcp/1/p2p/r/p2p-circuit/p2p/k"
    assert reach.for_token([mine[1], circuit]) == [mine[1], circuit]  # a circuit is not a public address
    assert len(reach.for_token([f"/ip4/10.0.0.{i}/tcp/1/p2p/k" for i in range(9)])) == reach.TOKEN_ADDRS


def test_reachability_in_one_word_and_one_sentence() -> None:
    assert reach.reachability(["/ip4/198.51.100.11/tcp/1/p2p/k"])[0] == "direct"
    assert reach.reachability(["/ip4/10.1.0.2/tcp/1/p2p/k"], relayed=True)[0] == "relay"
    state, hint = reach.reachability(["/ip4/10.1.0.2/tcp/1/p2p/k"])
    assert state == "lan" and "smallsocial circle pin" in hint
    state, hint = reach.reachability(["/ip4/127.0.0.1/tcp/1/p2p/k"], discovery=False)
    assert state == "nowhere" and "SMALLSOCIAL_DISCOVERY" in hint
    state, hint = reach.reachability([])
    assert state == "nowhere" and "network" in hint
    assert all(h.count(". ") == 0 for _, h in [reach.reachability(a) for a in ([], ["/ip4/10.0.0.1/tcp/1"])])


class DefaultPeer(Peer):
    """``smallsocial run`` with no ``--listen``: the default a user gets."""

    def command(self, listen: str, peers: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "smallsocial_tui", "run", "--json"]


def test_a_default_node_stays_on_loopback_and_keeps_its_port(tmp_path: Path) -> None:
    alice = DefaultPeer(tmp_path, "alice")
    alice.cli("id", "--name", "alice")
    try:
        addr = alice.start()
        started = next(e for e in alice.events if e["event"] == "NodeStarted")
        assert all(a.startswith("/ip4/127.0.0.1/tcp/") for a in started["addrs"]), started
        port = addr.split("/")[4]
        assert (alice.root / "port").read_text().strip() == port
        shown = alice.json("id")
        assert shown["addresses"] and all(
            a.startswith(f"/ip4/127.0.0.1/tcp/{port}/p2p/") for a in shown["addresses"]
        ), shown
        assert any(e["event"] == "Reachability" and e["state"] == "nowhere" for e in alice.events)
        assert shown["reachability"]["state"] == "nowhere"
        assert "SMALLSOCIAL_DISCOVERY" in shown["reachability"]["hint"]
        assert alice.stop() == 0
        assert alice.start().split("/")[4] == port
    finally:
        if alice.running():
            alice.stop()


def test_interface_list_is_reused_for_a_few_seconds_then_refreshed(monkeypatch: pytest.MonkeyPatch) -> None:
    """py-libp2p asks for our addresses on every RPC: one netlink listing serves IPS_TTL_S."""
    now, calls = [1000.0], []
    monkeypatch.setattr(reach, "_ips_cache", None)
    monkeypatch.setattr(reach.time, "monotonic", lambda: now[0])

    def listing() -> tuple[list[str], list[str]]:
        calls.append(now[0])
        return [f"192.168.1.{len(calls)}"], []

    monkeypatch.setattr(reach, "_list_interface_ips", listing)
    first = reach.interface_ips()
    for _ in range(100):
        assert reach.interface_ips() == first
    now[0] += reach.IPS_TTL_S - 0.01
    assert reach.interface_ips() == first and len(calls) == 1
    now[0] += 0.02  # the laptop joined another network: seen once the TTL has passed
    assert reach.interface_ips() == (["192.168.1.2"], []) and len(calls) == 2
