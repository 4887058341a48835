"""A node checks a peer's unchanged signed peer record once, and reuses its own (rpccost.py)."""

from __future__ import annotations

from typing import Any

import pytest
from libp2p.abc import IHost
from libp2p.peer.peerstore import env_to_send_in_RPC, issue_and_cache_local_record
from libp2p.pubsub.pb import rpc_pb2

from protocol.identity import Identity
from protocol.node import rpccost
from protocol.node.host import make_host

pytestmark = pytest.mark.timeout(60)
LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def test_a_peers_record_is_checked_once_and_a_bad_one_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[bytes] = []
    real = rpccost.maybe_consume_signed_record

    def counting(msg: rpc_pb2.RPC, host: IHost, peer: Any) -> bool:
        checked.append(msg.senderRecord)
        return real(msg, host, peer)

    monkeypatch.setattr(rpccost, "maybe_consume_signed_record", counting)

    me, alice, bare = (make_host(Identity.generate(), [LOOPBACK]) for _ in range(3))
    rpccost.install(me)
    env = env_to_send_in_RPC(alice)[0]
    rpc = rpc_pb2.RPC(senderRecord=env)
    assert all(rpccost.consume_once(rpc, me, alice.get_id()) for _ in range(5))
    assert checked == [env]  # five RPCs, one check
    assert not rpccost.consume_once(rpc, me, bare.get_id())  # someone else's record: refused
    assert not rpccost.consume_once(rpc, me, bare.get_id())  # ... each time: never remembered
    assert len(checked) == 3
    rpccost.consume_once(rpc, bare, alice.get_id())
    rpccost.consume_once(rpc, bare, alice.get_id())
    assert len(checked) == 5  # a host that did not ask for it checks every RPC, as py-libp2p does


def test_my_own_record_is_reused_for_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(rpccost.time, "monotonic", lambda: now[0])
    host = make_host(Identity.generate(), [LOOPBACK])
    rpccost.install(host)
    made: list[int] = []
    real = rpccost.env_to_send_in_RPC

    def counting(h: IHost) -> tuple[bytes, bool]:
        made.append(1)
        return real(h)

    monkeypatch.setattr(rpccost, "env_to_send_in_RPC", counting)
    first = rpccost.envelope_to_send(host)[0]
    assert [rpccost.envelope_to_send(host)[0] for _ in range(10)] == [first] * 10 and len(made) == 1
    now[0] += rpccost.SEND_S
    rpccost.envelope_to_send(host)
    assert len(made) == 2  # looked at again after SEND_S: a new address gets in
    newer = issue_and_cache_local_record(host)  # identify issued a newer record meanwhile
    assert rpccost.envelope_to_send(host)[0] == newer and len(made) == 3  # never an older one
    other = make_host(Identity.generate(), [LOOPBACK])
    rpccost.envelope_to_send(other)
    rpccost.envelope_to_send(other)
    assert len(made) == 5  # not installed: py-libp2p's behaviour
