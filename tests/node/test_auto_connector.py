"""py-libp2p's auto-connector never runs in our node, not even its first round at start.

The swarm's auto-connector dials peers from the peerstore (up to 200) at start, then
every 10-30 s and on every disconnect. Here a real node runs whose peerstore knows, from
before its host starts, the address of a stranger: a plain TCP listener that counts
connections. Nothing may connect to it, the auto-connector must be off (py-libp2p's own
``_started`` flag, no ``_periodic_check_task`` in the task tree, no dial attempt
recorded), and its logger says nothing but "stopped" at shutdown. Its on-disconnect entry
point (``maybe_connect``) is called too. Before the fix (``stop()`` after ``host.run()``)
this failed: the first round, begun before ``stop()``, dialled the stranger.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import multiaddr
import pytest
import trio
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID

from protocol.node.host import make_host
from protocol.node.node import Node
from protocol.node.paths import resolve
from protocol.node.profile import Profile

WATCH_S = 5.0


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _task_names(task: trio.lowlevel.Task) -> list[str]:
    out = [task.name]
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            out += _task_names(child)
    return out


@pytest.mark.timeout(60)
def test_the_auto_connector_never_dials_a_known_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = Profile.create(resolve(str(tmp_path), "alice"), "alice")
    node = Node(profile, lambda ev: None, listen=["/ip4/127.0.0.1/tcp/0"])
    stranger = ID.from_pubkey(create_new_key_pair().public_key)
    port: list[int] = []

    def make_host_knowing_the_stranger(*args: Any, **kwargs: Any) -> IHost:
        host = make_host(*args, **kwargs)
        addr = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{port[0]}")
        host.get_peerstore().add_addrs(stranger, [addr], 3600)
        return host

    monkeypatch.setattr("protocol.node.node.make_host", make_host_knowing_the_stranger)
    seen = Records()
    logger = logging.getLogger("libp2p.network.auto_connector")
    old_level = logger.level
    logger.addHandler(seen)
    logger.setLevel(logging.DEBUG)
    connects = 0

    async def count(stream: trio.SocketStream) -> None:
        nonlocal connects
        connects += 1
        await stream.aclose()

    async def main() -> None:
        async with trio.open_nursery() as n:
            listeners = await n.start(functools.partial(trio.serve_tcp, count, 0, host="127.0.0.1"))
            port.append(listeners[0].socket.getsockname()[1])
            await n.start(node.run)
            swarm = node.host.get_network()
            assert isinstance(swarm, Swarm)
            assert stranger in swarm.peerstore.peer_ids()  # it is a candidate to dial
            await swarm.auto_connector.maybe_connect()  # what a disconnect triggers
            await trio.sleep(WATCH_S)
            ac = swarm.auto_connector
            assert not ac._started
            assert not ac._last_connect_attempt and not ac._in_flight_dials
            names = _task_names(trio.lowlevel.current_root_task())
            assert not [t for t in names if "_periodic_check_task" in t], names
            node.stop()
            await trio.sleep(0.5)
            n.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        logger.removeHandler(seen)
        logger.setLevel(old_level)
        profile.close()
    assert connects == 0, f"{connects} connection(s) to an address only the peerstore knew"
    said = [r.getMessage() for r in seen.records]
    assert not [m for m in said if m != "AutoConnector stopped"], said  # the swarm's shutdown says that
