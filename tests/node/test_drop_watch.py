"""The per-peer queues of ``GuardedPubsub`` tell the node of gossip they refuse (guard.py).

py-libp2p's queue for a peer holds 32 RPCs and refuses more, silently: the node hears of each
refused message, with its topics, to nudge that peer to pull (tests/node/test_drop_nudge.py
shows the nudge between two real nodes). Real ``RpcQueue``s here, with a queue of one.
"""

from __future__ import annotations

import pytest
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.rpc_queue import RpcQueue

from protocol.identity import Identity
from protocol.node import guard
from protocol.node.guard import MAX_RPC, _CappedQueues

pytestmark = pytest.mark.timeout(30)


def _peer() -> ID:
    return ID.from_base58(Identity.generate().peer_id)


def _publish(*topics: str) -> rpc_pb2.RPC:
    return rpc_pb2.RPC(publish=[rpc_pb2.Message(data=b"x", topicIDs=[t]) for t in topics])


def _watched(dropped: list[tuple[ID, list[str]]]) -> tuple[ID, RpcQueue]:
    queues = _CappedQueues(lambda peer, topics: dropped.append((peer, topics)))
    peer = _peer()
    queues[peer] = RpcQueue(max_size=1)
    return peer, queues[peer]


def test_a_refused_message_is_told_with_its_peer_and_topics() -> None:
    dropped: list[tuple[ID, list[str]]] = []
    peer, queue = _watched(dropped)
    assert queue.max_message_size == MAX_RPC
    assert queue.push(_publish("a")) is True and dropped == []  # taken: nothing to tell
    assert queue.push(_publish("b", "c")) is False  # full
    assert queue.push(_publish("d"), True) is False  # a priority push, given as py-libp2p does
    assert dropped == [(peer, ["b", "c"]), (peer, ["d"])]


def test_a_refused_control_message_and_a_closed_queue_tell_nothing() -> None:
    dropped: list[tuple[ID, list[str]]] = []
    _, queue = _watched(dropped)
    queue.push(_publish("a"))
    control = rpc_pb2.RPC(control=rpc_pb2.ControlMessage(ihave=[rpc_pb2.ControlIHave(topicID="a")]))
    assert queue.push(control) is False and dropped == []  # no message of a circle lost
    queue.close()  # the peer is gone: it pulls when it comes back
    assert queue.push(_publish("b")) is False and dropped == []


def test_a_teller_that_raises_is_logged_and_the_send_path_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(peer: ID, topics: list[str]) -> None:
        raise RuntimeError("boom")

    logged: list[str] = []
    monkeypatch.setattr(guard.LOG, "exception", lambda msg, *a: logged.append(msg % a))
    queues = _CappedQueues(broken)
    peer = _peer()
    queues[peer] = RpcQueue(max_size=1)
    queues[peer].push(_publish("a"))
    assert queues[peer].push(_publish("b")) is False
    assert logged == [f"could not note gossip dropped on its way to {peer}"]
