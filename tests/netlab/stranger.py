"""A peer that is in no circle pinned to the relay asks it for a circuit relay v2 reservation.

Everything here runs inside the lab's own Linux network namespaces (tests/netlab/lab.py);
nothing multicasts, maps a port or listens on every interface outside them.

Run inside a lab host: ``python -m tests.netlab.stranger RELAY_ADDR``; prints
``reserved`` or ``refused`` (the relay's hop serves members of pinned circles only).
"""

from __future__ import annotations

import sys

import multiaddr
import trio
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.relay.circuit_v2 import CircuitV2Protocol, CircuitV2Transport
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP
from libp2p.tools.anyio_service import background_trio_service

from protocol.identity import Identity
from protocol.node.host import make_host


async def main(relay_addr: str) -> str:
    host = make_host(Identity.generate(), ["/ip4/0.0.0.0/tcp/0"])
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/0.0.0.0/tcp/0")]):
        proto = CircuitV2Protocol(host, allow_hop=False)
        transport = CircuitV2Transport(host, proto, RelayConfig(roles=RelayRole.STOP | RelayRole.CLIENT))
        async with background_trio_service(proto):
            relay = info_from_p2p_addr(multiaddr.Multiaddr(relay_addr))
            with trio.fail_after(20):
                await host.connect(relay)
                try:
                    stream = await host.new_stream(relay.peer_id, [HOP])
                    async with trio.open_nursery() as n:
                        ok = await transport.reserve(stream, relay.peer_id, n)
                        n.cancel_scope.cancel()
                except Exception:
                    ok = False
    return "reserved" if ok else "refused"


if __name__ == "__main__":
    print(trio.run(main, sys.argv[1]), flush=True)
