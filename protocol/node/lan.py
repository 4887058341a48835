"""LAN discovery: friends on the same network find each other with mDNS, no address needed.

Uses py-libp2p's :mod:`libp2p.discovery.mdns` (zeroconf underneath): the node
registers a ``_p2p._udp.local.`` service whose TXT records carry its dialable
addresses, and browses for others. py-libp2p's ``MDNSDiscovery.start()``
registers on the trio thread (zeroconf's probing blocks for a second or so) and
its listener hands every discovery to a process-wide handler list; so here the
zeroconf work runs in a worker thread, and a discovered peer is only dialled when
its key is a member (or relay) of one of my circles; strangers on the LAN are
ignored. Their addresses go into the circle's known addresses (source ``mdns``),
where the dialer picks them up.

Off with ``SMALLSOCIAL_DISCOVERY=off`` (everything stays on loopback) or
``SMALLSOCIAL_LAN_DISCOVERY=off`` (the user's switch for this alone). What it
costs: the node's peer ID and LAN addresses are visible to everyone on the LAN.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import trio
from libp2p.discovery.events.peerDiscovery import peerDiscovery
from libp2p.peer.peerinfo import PeerInfo

from protocol.node import reach
from protocol.node.host import LOG, key_of
from protocol.node.ports import ACTIVE, NodePort

ENV = "SMALLSOCIAL_LAN_DISCOVERY"
"""``off``: no mDNS (the user's switch; ``SMALLSOCIAL_DISCOVERY=off`` turns it off too)."""


def enabled() -> bool:
    return reach.discovery_on() and reach.switch_on(ENV)


def _circles_of(node: NodePort, key: bytes) -> list[bytes]:
    """My active circles that ``key`` is a member or relay of."""
    return [c.id for c in node.profile.store.circles(*ACTIVE) if node.profile.view(c.id).roster.may_sync(key)]


def _found(node: NodePort, info: PeerInfo) -> None:
    """On the trio thread: a peer announced itself on the LAN; dial it if it is one of ours."""
    if info.peer_id == node.host.get_id():
        return
    key = key_of(info.peer_id)
    circles = _circles_of(node, key) if key is not None else []
    if not circles:
        return
    me = info.peer_id.to_base58()
    addrs = [f"{a}/p2p/{me}" for a in map(str, info.addrs) if "/tcp/" in a and "/p2p/" not in a]
    addrs = [a for a in addrs if reach.rank(a) < 3]
    if not addrs:
        return
    LOG.info("found %s on the LAN at %s", me, addrs)
    with contextlib.suppress(sqlite3.OperationalError):
        for cid in circles:
            node.profile.store.add_peer_addrs(cid, addrs, "mdns", int(node.profile.clock()))
    for a in addrs:
        node.peers.redial_soon(a)  # dial it on the dialer's next round


async def discover(node: NodePort) -> None:
    """Announce this node on the LAN and dial circle members found there (runs until cancelled)."""
    from libp2p.discovery.mdns.mdns import MDNSDiscovery

    token = trio.lowlevel.current_trio_token()

    def handler(info: PeerInfo) -> None:  # zeroconf's thread
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(_found, node, info)

    port = next((int(a.split("/")[4]) for a in node.addrs if a.split("/")[3:4] == ["tcp"]), 0)
    own = [a.split("/p2p/")[0] for a in node.addrs]

    def start() -> Any:
        mdns = MDNSDiscovery(node.host.get_network(), port=port, listen_addrs=own)
        mdns.broadcaster.register()
        return mdns

    peerDiscovery.register_peer_discovered_handler(handler)
    mdns: Any = None
    try:
        mdns = await trio.to_thread.run_sync(start)
        LOG.info("LAN discovery on: announcing %s", own)
        await trio.sleep_forever()
    except Exception as e:  # no multicast here: the rest of the node works without it
        LOG.warning("LAN discovery unavailable: %s", e)
    finally:
        peerDiscovery.unregister_peer_discovered_handler(handler)
        if mdns is not None:

            def stop() -> None:
                with contextlib.suppress(Exception):
                    mdns.broadcaster.unregister()
                    mdns.listener.stop()
                    mdns.zeroconf.close()

            with trio.CancelScope(shield=True):  # zeroconf's goodbye takes well under a second
                await trio.to_thread.run_sync(stop)
