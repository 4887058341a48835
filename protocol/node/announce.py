"""The addresses a running node gives friends, and following them when they change.

:func:`announced` turns what the host listens on (``/ip4/0.0.0.0/tcp/P``) and
what peers observed (identify, as py-libp2p confirms it) into dialable
addresses, ranked by :func:`protocol.node.reach.dialable`. :func:`follow`
rechecks every few seconds; when they change (a laptop moved from home to a
café, DHCP gave a new lease) it drops connections that may have been on a
vanished address, tells every circle the new addresses in a presence record,
rewrites ``<profile>/addrs`` (for tokens made offline) and emits
:class:`~protocol.node.api.AddressesChanged`. Friends store the presence
addresses and their dialer redials; ours redials them.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import trio
from libp2p.abc import IHost

from protocol.node import api, reach
from protocol.node.host import LOG

if TYPE_CHECKING:
    from protocol.node.node import Node

CHECK_S = 3.0
"""Seconds between checks of this machine's addresses."""


def announced(host: IHost) -> list[str]:
    """Dialable addresses with our peer ID, best first (see :func:`protocol.node.reach.dialable`)."""
    me = host.get_id().to_base58()
    candidates = [str(a).split("/p2p/")[0] for a in host.get_addrs()]
    return [f"{a}/p2p/{me}" for a in reach.dialable(candidates)]


def _ips(addrs: list[str]) -> set[str]:
    return {a.split("/")[2] for a in addrs if a.count("/") > 2}


async def follow(node: Node, interval: float = CHECK_S) -> None:
    """Keep ``node.addrs`` current; on a change, reconnect and announce (runs until cancelled)."""
    while True:
        await trio.sleep(interval)
        if getattr(node, "announce", None):  # a relay given --announce says where it is
            continue
        now = announced(node.host)
        if now == node.addrs:
            continue
        lost = _ips(node.addrs) - _ips(now)
        LOG.info("addresses changed: %s -> %s", node.addrs, now)
        node.addrs = now
        with contextlib.suppress(OSError):
            (node.profile.paths.root / "addrs").write_text("\n".join(node.public_addrs()) + "\n")
        if lost:  # a connection from a vanished address is dead but may not know it yet
            await node._disconnect_all()
            node._backoff.clear()
        node.emit(api.AddressesChanged(tuple(node.public_addrs())))
        for c in node.profile.store.circles():
            if c.status in ("member", "relay"):
                with contextlib.suppress(Exception):
                    await node._announce_presence(c.id)
