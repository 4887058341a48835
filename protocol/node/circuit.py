"""Circuit relay v2 through the circles' own relays, and DCUtR hole punching.

Uses py-libp2p's :mod:`libp2p.relay.circuit_v2`:

- a relay node (``smallsocial relay``) runs ``CircuitV2Protocol`` as a hop, but
  its hop stream handler is wrapped: only members of circles pinned to this relay
  may reserve a slot or open a circuit (others get the stream reset), within
  :data:`HOP_LIMITS`;
- a member with no public address reserves a slot on each pinned relay it is
  connected to and announces ``…/p2p/RELAY/p2p-circuit/p2p/ME``;
- dialling such an address goes through ``CircuitV2Transport.dial`` (py-libp2p's
  swarm skips ``/p2p-circuit`` addresses), so the node's ``connect`` is wrapped;
- ``DCUtRProtocol`` runs on members; its auto-drive tries a hole punch on every
  relayed connection.

Off with ``SMALLSOCIAL_DISCOVERY=off``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import multiaddr
import trio
from libp2p.abc import INetStream
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.relay.circuit_v2 import CircuitV2Protocol, CircuitV2Transport, DCUtRProtocol, RelayLimits
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.tools.anyio_service import background_trio_service

from protocol.node import reach
from protocol.node.host import LOG, key_of
from protocol.node.ports import NodePort

HOP_LIMITS = RelayLimits(duration=3600, data=64 * 1024 * 1024, max_circuit_conns=64, max_reservations=256)
"""A circuit lasts at most an hour and 64 MiB (then the members redial); 64 circuits and 256
reservations at once. Reservations last an hour and are refreshed by the members."""
RESERVE_S = 5.0
"""How often a member checks its reservations on its circles' relays."""


def _members_of_pinned(node: NodePort) -> set[bytes]:
    keys: set[bytes] = set()
    for c in node.profile.store.circles("relay"):
        keys |= set(node.profile.view(c.id).roster.members)
    return keys


async def hop(node: NodePort) -> None:
    """On a relay: be a circuit relay v2 hop for members of the circles pinned here."""
    proto = CircuitV2Protocol(node.host, limits=HOP_LIMITS, allow_hop=True)
    async with background_trio_service(proto):
        await proto.event_started.wait()
        inner: Callable[[INetStream], Awaitable[None]] = proto._handle_hop_stream

        async def members_only(stream: INetStream) -> None:
            key = key_of(stream.muxed_conn.peer_id)
            if key is None or key not in _members_of_pinned(node):
                LOG.info("circuit relay refused to %s: not a member here", stream.muxed_conn.peer_id)
                with contextlib.suppress(Exception):
                    await stream.reset()
                return
            await inner(stream)

        node.host.set_stream_handler(HOP_PROTOCOL, members_only)
        LOG.info("circuit relay v2 hop on, for members of pinned circles")
        await trio.sleep_forever()


def _relays(node: NodePort) -> dict[ID, list[str]]:
    """The relays pinned to my circles: peer ID to their pinned addresses."""
    out: dict[ID, list[str]] = {}
    for c in node.profile.store.circles("member"):
        for r in node.profile.view(c.id).roster.relays.values():
            for a in r.addrs:
                with contextlib.suppress(Exception):
                    pid = info_from_p2p_addr(multiaddr.Multiaddr(a)).peer_id
                    out.setdefault(pid, []).append(a)
    return out


async def client(node: NodePort) -> None:
    """On a member: accept circuits, reserve on the circles' relays when unreachable, punch holes."""
    proto = CircuitV2Protocol(node.host, allow_hop=False)
    transport = CircuitV2Transport(node.host, proto, RelayConfig(roles=RelayRole.STOP | RelayRole.CLIENT))
    dcutr = DCUtRProtocol(node.host)
    circuits: dict[ID, str] = {}
    node._circuit_addrs = circuits  # type: ignore[attr-defined]
    plain_connect = node.peers.connect

    async def connect(addr: str) -> bool:
        if "/p2p-circuit" not in addr:
            return await plain_connect(addr)
        try:
            target = info_from_p2p_addr(multiaddr.Multiaddr(addr)).peer_id
        except Exception:
            return False
        if target == node.host.get_id():
            return False
        if node.host.get_network().get_connections(target):
            return True
        try:
            with trio.fail_after(10):
                await transport.dial(multiaddr.Multiaddr(addr))
        except Exception as e:
            LOG.info("circuit dial %s failed: %s", addr, e)
            return False
        return True

    node.peers.connect = connect  # type: ignore[method-assign]
    try:
        async with background_trio_service(proto), background_trio_service(dcutr):
            await proto.event_started.wait()
            async with trio.open_nursery() as n:
                dialling: set[str] = set()
                while True:
                    await _reserve(node, transport, circuits, n)
                    _dial_circuits(node, connect, dialling, n)
                    await trio.sleep(RESERVE_S)
    finally:
        node.peers.connect = plain_connect  # type: ignore[method-assign]


async def _reserve(node: NodePort, transport: Any, circuits: dict[ID, str], nursery: trio.Nursery) -> None:
    """Hold a reservation on every connected relay of my circles while I have no public address."""
    public = any(reach.rank(a) == 0 for a in node.addrs if "/p2p-circuit" not in a)
    relays = _relays(node)
    me = node.host.get_id().to_base58()
    for pid in list(circuits):
        if public or pid not in relays or not node.host.get_network().get_connections(pid):
            del circuits[pid]
    if public:
        return
    for pid, addrs in relays.items():
        if pid in circuits or not node.host.get_network().get_connections(pid):
            continue
        try:
            with trio.fail_after(10):
                stream = await node.host.new_stream(pid, [HOP_PROTOCOL])
                ok = await transport.reserve(stream, pid, nursery)
        except Exception as e:
            LOG.info("no reservation on relay %s: %s", pid, e)
            continue
        if ok:
            circuits[pid] = f"{addrs[0]}/p2p-circuit/p2p/{me}"
            LOG.info("reserved a slot on relay %s: %s", pid, circuits[pid])


def _dial_circuits(
    node: NodePort, connect: Callable[[str], Awaitable[bool]], dialling: set[str], nursery: trio.Nursery
) -> None:
    """Dial friends' circuit addresses now, beside the dialer's one-by-one round.

    The dialer tries a friend's addresses in turn, and each private address of a
    friend at another home costs a dial timeout first; a circuit (and then the hole
    punch) should not wait for those.
    """
    me = node.host.get_id()
    for c in node.profile.store.circles("member"):
        for a in node.profile.store.peer_addrs(c.id):
            if "/p2p-circuit" not in a or a in dialling:
                continue
            try:
                target = info_from_p2p_addr(multiaddr.Multiaddr(a)).peer_id
            except Exception:
                continue
            if target == me or node.host.get_network().get_connections(target):
                continue

            async def one(addr: str = a) -> None:
                try:
                    await connect(addr)
                finally:
                    dialling.discard(addr)

            dialling.add(a)
            nursery.start_soon(one)


def circuit_addrs(node: NodePort) -> list[str]:
    """The circuit addresses this member holds reservations for (announced after direct ones)."""
    return list(getattr(node, "_circuit_addrs", {}).values())
