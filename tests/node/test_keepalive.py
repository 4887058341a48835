"""A node closes a connection whose bytes stopped flowing (protocol/node/keepalive.py).

Two real hosts, the dialer reaching the listener through a TCP proxy in the test. Once the
proxy freezes (it keeps both sockets open and forwards nothing: a home router that forgot the
mapping, a Noise reader waiting for the rest of a misread frame), a node's yamux gets no pong
and closes the connection within its interval and timeout; py-libp2p's own ping loop keeps the
dead connection open, and the node would count the peer as connected for ever.
"""

from __future__ import annotations

from typing import Any

import multiaddr
import pytest
import trio
from libp2p.peer.peerinfo import PeerInfo
from libp2p.stream_muxer.yamux.yamux import Yamux

from protocol.identity import Identity
from protocol.node import keepalive
from protocol.node.host import make_host

pytestmark = pytest.mark.timeout(60)
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
PY_LIBP2P_LOOP = Yamux._measure_rtt_loop


async def _pump(src: trio.SocketStream, dst: trio.SocketStream, frozen: trio.Event) -> None:
    try:
        while data := await src.receive_some(65536):
            if frozen.is_set():
                await trio.sleep_forever()  # hold the bytes, keep the socket: a silent path
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def _proxy(target: int, frozen: trio.Event, task_status: Any) -> None:
    async def serve(client: trio.SocketStream) -> None:
        server = await trio.open_tcp_stream("127.0.0.1", target)
        async with client, server, trio.open_nursery() as n:
            n.start_soon(_pump, client, server, frozen)
            n.start_soon(_pump, server, client, frozen)

    await trio.serve_tcp(serve, 0, host="127.0.0.1", task_status=task_status)


def _connected_after_freeze(monkeypatch: pytest.MonkeyPatch, *, node_keepalive: bool) -> tuple[bool, bool]:
    """Whether the dialer still counts the listener as connected before and after a freeze."""
    monkeypatch.setattr(keepalive, "INTERVAL_S", 0.3)
    monkeypatch.setattr(keepalive, "TIMEOUT_S", 1.0)
    listener = make_host(Identity.generate(), [LOOPBACK])
    dialer = make_host(Identity.generate(), [LOOPBACK])  # make_host installs the keepalive
    if not node_keepalive:
        monkeypatch.setattr(Yamux, "_measure_rtt_loop", PY_LIBP2P_LOOP)
    result: list[bool] = []

    async def main() -> None:
        addr = multiaddr.Multiaddr(LOOPBACK)
        frozen = trio.Event()
        hosts = (listener.run(listen_addrs=[addr]), dialer.run(listen_addrs=[addr]))
        async with hosts[0], hosts[1], trio.open_nursery() as n:
            port = int(listener.get_addrs()[0].value_for_protocol("tcp"))
            listeners = await n.start(_proxy, port, frozen)
            via = listeners[0].socket.getsockname()[1]
            info = PeerInfo(listener.get_id(), [multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{via}")])
            await dialer.connect(info)
            net = dialer.get_network()
            await trio.sleep(1.0)  # pings answered while the path works
            result.append(bool(net.get_connections(listener.get_id())))
            frozen.set()
            with trio.move_on_after(5.0):
                while net.get_connections(listener.get_id()):
                    await trio.sleep(0.05)
            result.append(bool(net.get_connections(listener.get_id())))
            with trio.move_on_after(2.0):  # what py-libp2p kept open, closed by hand
                for conn in net.get_connections(listener.get_id()):
                    await conn.close()
            n.cancel_scope.cancel()

    trio.run(main)
    return result[0], result[1]


def test_a_node_closes_a_connection_that_stopped_answering(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _connected_after_freeze(monkeypatch, node_keepalive=True) == (True, False)


def test_py_libp2p_keeps_a_dead_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _connected_after_freeze(monkeypatch, node_keepalive=False) == (True, True)
