"""A node's yamux credits a stream's window back in batches, not with a frame per read.

Two real hosts on loopback; one writes 200 length-prefixed 400-byte messages on a stream,
the other reads each as pubsub does (the prefix, then the body). py-libp2p 0.8.1's default
answered each of those 400 reads with a WINDOW_UPDATE frame; a node's host
(``make_host``) sends one once half the window is read, as go-yamux does. The bare
benchmark host keeps the default, and the test shows it does.
"""

from __future__ import annotations

from typing import Any

import multiaddr
import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.stream_muxer.yamux.yamux import YamuxStream

from protocol.identity import Identity
from protocol.node import muxcost
from protocol.node.host import make_host

pytestmark = pytest.mark.timeout(60)
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
PROTO = TProtocol("/test/window/1")
COUNT, SIZE = 200, 400


def _window_updates(monkeypatch: pytest.MonkeyPatch, update_per_read: bool) -> int:
    sent: list[int] = []
    real = YamuxStream.send_window_update

    async def counting(self: YamuxStream, increment: int, *args: Any, **kw: Any) -> None:
        if increment > 0:
            sent.append(increment)
        await real(self, increment, *args, **kw)

    monkeypatch.setattr(YamuxStream, "send_window_update", counting)
    reader = make_host(Identity.generate(), [LOOPBACK], update_per_read=update_per_read)
    writer = make_host(Identity.generate(), [LOOPBACK], update_per_read=update_per_read)
    got: list[bytes] = []

    async def handler(stream: Any) -> None:
        async def exactly(n: int) -> bytes:
            buf = b""
            while len(buf) < n:
                buf += await stream.read(n - len(buf))
            return buf

        for _ in range(COUNT):
            got.append(await exactly(int.from_bytes(await exactly(4), "big")))
        await stream.close()

    async def main() -> None:
        addr = multiaddr.Multiaddr(LOOPBACK)
        async with reader.run(listen_addrs=[addr]), writer.run(listen_addrs=[addr]):
            reader.set_stream_handler(PROTO, handler)
            await writer.connect(info_from_p2p_addr(multiaddr.Multiaddr(f"{reader.get_addrs()[0]}")))
            stream = await writer.new_stream(reader.get_id(), [PROTO])
            for i in range(COUNT):
                await stream.write(SIZE.to_bytes(4, "big") + bytes([i % 256]) * SIZE)
            with trio.fail_after(30):
                while len(got) < COUNT:
                    await trio.sleep(0.01)
            await stream.close()
            await writer.disconnect(reader.get_id())

    trio.run(main)
    assert [m[0] for m in got] == [i % 256 for i in range(COUNT)]  # every message, in order
    return len(sent)


def test_a_node_sends_a_window_update_per_half_window_not_per_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # 200 x 404 bytes is under half of yamux's 256 KiB window: no update at all is due
    assert _window_updates(monkeypatch, update_per_read=False) <= 2


def test_py_libp2ps_default_sends_one_per_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # the switch is process-wide: a host made earlier in this process installed it
    monkeypatch.setattr(YamuxStream, "_auto_tune_and_send_window_update", muxcost.PY_LIBP2P)
    assert _window_updates(monkeypatch, update_per_read=True) >= COUNT
