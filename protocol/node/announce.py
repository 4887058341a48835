"""The addresses a running node gives friends, and following them when they change.

:func:`install` makes the host turn what it listens on (``/ip4/0.0.0.0/tcp/P``)
and what peers observed (identify, as py-libp2p confirms it) into dialable
addresses, ranked by :func:`protocol.node.reach.dialable`; identify then tells
peers those, and :func:`announced` reads them. :func:`follow`
rechecks every few seconds; when they change (a laptop moved from home to a
café, DHCP gave a new lease) it drops connections that may have been on a
vanished address, tells every circle the new addresses in a presence record,
rewrites ``<profile>/addrs`` (for tokens made offline) and emits
:class:`~protocol.node.api.AddressesChanged`. Friends store the presence
addresses and their dialer redials; ours redials them. It also reports
reachability, and starts what reaches beyond loopback when discovery is on: LAN
discovery (:mod:`~protocol.node.lan`), UPnP (:mod:`~protocol.node.upnp`) and the
circuit relay (:mod:`~protocol.node.circuit`; a hop on a relay, a client on a member).
"""

from __future__ import annotations

import contextlib
import json
import time

import multiaddr
import trio
from libp2p.abc import IHost, INetConn, INetwork

from protocol.node import api, circuit, lan, reach, upnp
from protocol.node.host import LOG, Notifee, key_of
from protocol.node.ports import ACTIVE, NodePort

CHECK_S = 3.0
"""Seconds between checks of this machine's addresses."""
RETELL_S = (0.0, 5.0, 10.0)
"""Delays between the presence records sent after a change (friends reconnect in between)."""
SUPERSEDE_S = 5.0
"""A new connection from a peer replaces one older than this (dead after the peer moved)."""


def _relayed_conn(conn: INetConn) -> bool:
    try:
        return any("/p2p-circuit" in str(a) for a in conn.get_transport_addresses())
    except Exception:
        return False


class Supersede(Notifee):
    """When a peer connects again directly, close its older direct connections: it moved.

    A friend whose address vanished cannot send a FIN from it, so our side keeps a
    connection that looks established for many minutes and streams opened on it time
    out. When the friend redials from its new address, the old connections are closed,
    and the new one too: the friend's dialer redials at once onto a clean slate.
    Connections younger than ``SUPERSEDE_S`` are left alone: two peers dialling each
    other at the same moment must not each close the other's.
    """

    def __init__(self, node: NodePort) -> None:
        self.node = node

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        pid = conn.muxed_conn.peer_id
        now = time.time()
        if _relayed_conn(conn):
            return  # a circuit never replaces anything
        stale = [
            c
            for c in network.get_connections(pid)
            if c is not conn
            and not _relayed_conn(c)  # a hole punch's direct connection replaces a circuit (DCUtR's job)
            and now - float(getattr(c, "_created_at", now)) > SUPERSEDE_S
        ]
        if not stale:
            return
        # Close the new one too, and let the peer redial: py-libp2p's pubsub forgets a
        # peer's subscriptions when any of its streams dies, so keeping the new connection
        # while the old one's streams die leaves the mesh half-built (and the peer's
        # re-graft refused for gossipsub's 60 s prune backoff). A clean redial has none.
        LOG.info("peer %s connected again; closing its older connections and this one", pid)
        for c in [*stale, conn]:
            with contextlib.suppress(Exception):
                await c.close()


def _dialable(candidates: list[multiaddr.Multiaddr]) -> list[multiaddr.Multiaddr]:
    return [multiaddr.Multiaddr(a) for a in reach.dialable(str(c) for c in candidates)]


def install(host: IHost) -> None:
    """Make the host itself advertise dialable addresses (identify tells peers these, not 0.0.0.0)."""
    host._addrs_factory = _dialable  # type: ignore[attr-defined]


def announced(host: IHost) -> list[str]:
    """Dialable addresses with our peer ID, best first (see :func:`protocol.node.reach.dialable`)."""
    return [str(a) for a in host.get_addrs()]


def _ips(addrs: list[str]) -> set[str]:
    """My own IPs among announced addresses (a circuit address's IP is the relay's)."""
    return {a.split("/")[2] for a in addrs if a.count("/") > 2 and "/p2p-circuit" not in a}


def relayed(node: NodePort) -> bool:
    """Connected to a relay pinned to one of my circles (it stores and forwards for me)."""
    relays = {k for c in node.profile.store.circles("member") for k in node.profile.view(c.id).roster.relays}
    return any(key_of(pid) in relays for pid in list(node.peers.connected))


def _report(node: NodePort, last: tuple[str, str] | None) -> tuple[str, str]:
    """Emit and keep (``<profile>/reachability``) how friends reach me, when it changed."""
    now = reach.reachability(node.public_addrs(), relayed(node), reach.discovery_on())
    if now != last:
        node.emit(api.Reachability(*now))
        with contextlib.suppress(OSError):
            (node.profile.paths.root / "reachability").write_text(
                json.dumps({"state": now[0], "hint": now[1]}) + "\n"
            )
    return now


async def follow(node: NodePort, interval: float = CHECK_S) -> None:
    """Keep ``node.addrs`` current; on a change, reconnect and announce (runs until cancelled)."""
    if reach.discovery_on():  # on loopback nobody moves; leave connections as they are
        node.host.get_network().register_notifee(Supersede(node))
    if reach.discovery_on():
        node.start_soon(circuit.hop if node.relay is not None else circuit.client, node)
    if lan.enabled() and node.relay is None:
        node.start_soon(lan.discover, node)
    if upnp.enabled() and node.relay is None:
        node.start_soon(upnp.run, node)
    state = _report(node, None)
    while True:
        await trio.sleep(interval)
        state = _report(node, state)
        if node.relay is not None and node.relay.announce:  # a relay given --announce says where it is
            continue
        now = announced(node.host)
        mapped = [a for a in upnp.upnp_addrs(node) if a not in now]
        now = mapped + now + [a for a in circuit.circuit_addrs(node) if a not in now]
        if now == node.addrs:
            continue
        lost = _ips(node.addrs) - _ips(now)
        LOG.info("addresses changed: %s -> %s", node.addrs, now)
        node.addrs = now
        with contextlib.suppress(OSError):
            (node.profile.paths.root / "addrs").write_text("\n".join(node.public_addrs()) + "\n")
        if lost:  # a connection from a vanished address is dead but may not know it yet
            await node.disconnect_all()
            node.peers.redial_soon()
        node.emit(api.AddressesChanged(tuple(node.public_addrs())))
        node.start_soon(_tell, node)


async def _tell(node: NodePort) -> None:
    """Presence with the new addresses in every circle: now, and again as connections come back."""
    for delay in RETELL_S:
        await trio.sleep(delay)
        # Our subscriptions again: a friend that closed our dead connection forgot them
        # (py-libp2p drops a peer's subscriptions when any of its pubsub streams dies).
        with contextlib.suppress(Exception):
            await node.pubsub.message_all_peers(node.pubsub.get_hello_packet().SerializeToString())
        for c in node.profile.store.circles(*ACTIVE):
            with contextlib.suppress(Exception):
                await node.peers.announce_presence(c.id)
