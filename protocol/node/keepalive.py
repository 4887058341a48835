"""Yamux keepalive that closes a dead connection, as go-yamux's does (py-libp2p 0.8.1).

py-libp2p pings every yamux connection to measure its round trip, but when no pong comes it
only pings again: a connection whose bytes stopped flowing stays open for ever. That happens
on users' networks (a home router that forgot the connection's NAT mapping, a laptop that
slept, a proxy that cut one direction) and after one lost or repeated segment: the Noise
reader then waits for the rest of a frame whose length it misread, and nothing but more bytes
ends that wait. Meanwhile the node counts the peer as connected, never redials it, and what
it publishes to the peer is lost until some sync.

:func:`install` replaces py-libp2p's ping loop (process-wide, on the ``Yamux`` class) with
go-yamux's keepalive rule: ping every :data:`INTERVAL_S`; when the pong has not come
:data:`TIMEOUT_S` after the ping was queued, close the connection's socket. The muxer's reader
then fails, py-libp2p tears the connection down as after any transport error, and the node's
autodial and sync take over. The round-trip estimate py-libp2p keeps is still updated by its
own pong handler.
"""

from __future__ import annotations

import logging
import struct

import trio
from libp2p.stream_muxer.yamux.yamux import FLAG_SYN, TYPE_PING, YAMUX_HEADER_FORMAT, Yamux

log = logging.getLogger(__name__)

INTERVAL_S = 15.0
"""Seconds between pings on an idle or busy connection (go-yamux: 30; shorter keeps home NAT
mappings fresh and finds a dead connection sooner)."""
TIMEOUT_S = 10.0
"""Seconds a pong may take, counted from when the ping is queued (go-yamux's write timeout)."""


async def _ping_or_close(self: Yamux) -> None:
    """``Yamux._measure_rtt_loop``, closing the connection when a pong does not come."""
    await trio.sleep(0.5)
    while not self.event_shutting_down.is_set():
        self._ping_id += 1
        self._ping_event = trio.Event()
        header = struct.pack(YAMUX_HEADER_FORMAT, 0, TYPE_PING, FLAG_SYN, 0, self._ping_id)
        try:
            with trio.fail_after(TIMEOUT_S):  # a ping stuck behind a full socket counts too
                await self._write_frame(header)
                self._ping_sent_time = trio.current_time()
                await self._ping_event.wait()
        except trio.TooSlowError:
            if not self.event_shutting_down.is_set():
                log.info("no yamux pong from %s in %.0f s: closing the connection", self.peer_id, TIMEOUT_S)
                with trio.move_on_after(TIMEOUT_S):
                    await self.secured_conn.close()
            return
        except Exception:  # the connection went away: its reader cleans up
            return
        with trio.move_on_after(INTERVAL_S):
            await self.event_shutting_down.wait()


def install() -> None:
    """Close dead yamux connections in this process (idempotent)."""
    Yamux._measure_rtt_loop = _ping_or_close  # type: ignore[method-assign]
