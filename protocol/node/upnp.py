"""Port mapping on the home router (UPnP IGD), so friends elsewhere can dial a member directly.

Uses ``miniupnpc`` (a py-libp2p dependency) directly rather than py-libp2p's
``libp2p.discovery.upnp.UpnpManager``: that one rejects any external address
Python calls private, which includes documentation ranges and so every test
network. The node discovers the gateway (SSDP, 2 s), maps its TCP port to the
same external port, announces ``/ip4/EXTERNAL/tcp/PORT`` (a public address, ranked
first), renews the mapping every half hour, and removes it on exit.

Off with ``SMALLSOCIAL_UPNP=off`` (the user's switch) or ``SMALLSOCIAL_DISCOVERY=off``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import trio

from protocol.node import reach
from protocol.node.host import LOG
from protocol.node.ports import NodePort

ENV = "SMALLSOCIAL_UPNP"
"""``off``: no port mapping (``SMALLSOCIAL_DISCOVERY=off`` turns it off too)."""
RENEW_S = 1800.0
LEASE_S = 3600
DESCRIPTION = "smallsocial"


def enabled() -> bool:
    return reach.discovery_on() and reach.switch_on(ENV)


def _port(node: NodePort) -> int:
    for a in node.addrs:
        parts = a.split("/")
        if len(parts) > 4 and parts[3] == "tcp" and "/p2p-circuit" not in a:
            return int(parts[4])
    return 0


def _map(port: int) -> tuple[Any, str] | None:
    """In a worker thread: find the gateway and map ``port``; (gateway, external IP) or None."""
    import miniupnpc

    gw = miniupnpc.UPnP()
    gw.discoverdelay = 2000
    if gw.discover() <= 0:
        return None
    gw.selectigd()
    ext = str(gw.externalipaddress() or "")
    if not ext:
        return None
    try:
        ok = gw.addportmapping(port, "TCP", gw.lanaddr, port, DESCRIPTION, "", LEASE_S)
    except TypeError:  # an older miniupnpc without the lease argument
        ok = gw.addportmapping(port, "TCP", gw.lanaddr, port, DESCRIPTION, "")
    return (gw, ext) if ok else None


async def run(node: NodePort) -> None:
    """Map the node's port while it runs and announce the router's public address for it."""
    port = _port(node)
    if not port:
        return
    mapped: tuple[Any, str] | None = None
    try:
        while True:
            try:
                mapped = await trio.to_thread.run_sync(_map, port)
            except Exception as e:  # no gateway, or it refused
                LOG.info("UPnP port mapping unavailable: %s", e)
                mapped = None
            if mapped is None:
                node._upnp_addrs = []  # type: ignore[attr-defined]
            else:
                me = node.host.get_id().to_base58()
                node._upnp_addrs = [f"/ip4/{mapped[1]}/tcp/{port}/p2p/{me}"]  # type: ignore[attr-defined]
                LOG.info("UPnP: router maps %s:%d to this node", mapped[1], port)
            await trio.sleep(RENEW_S)
    finally:
        node._upnp_addrs = []  # type: ignore[attr-defined]
        if mapped is not None:
            gw = mapped[0]

            def unmap() -> None:
                with contextlib.suppress(Exception):
                    gw.deleteportmapping(port, "TCP")

            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(unmap)
            LOG.info("UPnP: mapping of port %d removed", port)


def upnp_addrs(node: NodePort) -> list[str]:
    return list(getattr(node, "_upnp_addrs", []))
