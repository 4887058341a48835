"""A cap on inbound connections that counts the live ones: py-libp2p 0.8.1's leaks its slots.

py-libp2p 0.8.1's ``Swarm`` takes a slot of its ``_inbound_limiter`` (``max_connections -
min_connections``: 250 slots) for each inbound connection, and gives it back when the
connection's handler returns. That handler waits for the swarm to stop ("intentional barrier:
keep handler alive"), not for the connection to close. So a node that has accepted 250
inbound connections in its life, however many of them are still open, refuses every later
one: it accepts the TCP connection and closes it before the security handshake, and the
dialler sees "failed to negotiate the secure protocol". A relay whose members had reconnected
a few dozen times stopped taking anyone (``scripts/bench_relay.py``: 109 of 200 members
connected, the others' dials all refused); a home node would go deaf the same way after
days of friends coming and going.

:func:`install` puts :class:`LiveInboundCap` in the limiter's place. It counts what the slot
was meant to count: inbound connections now open, plus handshakes begun in the last
:data:`HANDSHAKE_S` seconds that have not become a connection yet (so a flood of half-open
handshakes is still bounded). A handshake's slot goes back when it becomes a connection (the
"connected" event), when it fails (py-libp2p's ``release``), or after :data:`HANDSHAKE_S` as a
backstop; a connection's slot goes back when it closes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import trio
from libp2p.abc import IHost, INetConn, INetwork

from protocol.node.host import Notifee

HANDSHAKE_S = 30.0
"""How long a begun inbound handshake holds a slot if it never becomes a connection (py-libp2p
gives up on a stalled negotiation well before this)."""


class LiveInboundCap:
    """Stands in for ``Swarm._inbound_limiter``: the same two calls, counted from live state."""

    def __init__(self, network: Any, cap: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.network, self.total_tokens, self.clock = network, cap, clock
        self.handshaking: deque[float] = deque()  # when each handshake not yet a connection began

    def _inbound(self) -> int:
        conns = self.network.get_connections()
        return sum(1 for c in conns if str(getattr(c, "direction", "")) == "inbound")

    @property
    def borrowed_tokens(self) -> int:
        now = self.clock()
        while self.handshaking and now - self.handshaking[0] > HANDSHAKE_S:
            self.handshaking.popleft()
        return self._inbound() + len(self.handshaking)

    def acquire_nowait(self) -> None:
        if self.borrowed_tokens >= self.total_tokens:
            raise trio.WouldBlock
        self.handshaking.append(self.clock())

    def release(self) -> None:
        """A handshake that failed gives its slot back. py-libp2p calls this when a connection's
        handler returns: at once for a handshake that failed (a bare TCP connect and hang-up, a
        timeout, a refused duplicate), and for one that succeeded only when the swarm stops,
        by which time its "connected" event has already given the handshake's slot back."""
        self.handshake_done()

    def handshake_done(self) -> None:
        if self.handshaking:
            self.handshaking.popleft()


class _Done(Notifee):
    def __init__(self, cap: LiveInboundCap) -> None:
        self.cap = cap

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        if str(getattr(conn, "direction", "")) == "inbound":
            self.cap.handshake_done()


def install(host: IHost) -> LiveInboundCap | None:
    """Replace the host's leaking inbound limiter with :class:`LiveInboundCap`, at the same cap.

    None (nothing changed) on a py-libp2p without that limiter.
    """
    network = host.get_network()
    old = getattr(network, "_inbound_limiter", None)
    if old is None:
        return None
    cap = LiveInboundCap(network, int(old.total_tokens))
    network._inbound_limiter = cap  # type: ignore[attr-defined]
    network.register_notifee(_Done(cap))
    return cap
