"""Keep py-libp2p's auto-connector from ever running.

py-libp2p 0.8.1's swarm starts an ``AutoConnector`` when it starts: a task that, at
once and then every 10-30 s (and on every disconnect), dials peers from the
peerstore until the node has 200 connections ("initiating 200 new dials"). For us
that means redialling every stale address the peerstore ever saw, behind the node's
own dialer (which redials only known members, with backoff). Stopping it after
``host.run()`` is too late: its first round has already begun by then.
:func:`disable_auto_connector` swaps it, before the host runs, for one whose
``start`` does nothing, so neither the periodic task nor the on-disconnect trigger
(``maybe_connect`` returns at once when not started) ever dials.
"""

from __future__ import annotations

from libp2p.abc import IHost
from libp2p.network.auto_connector import AutoConnector
from libp2p.network.swarm import Swarm


class NeverAutoConnector(AutoConnector):
    """An ``AutoConnector`` that stays stopped: ``start`` leaves it off."""

    async def start(self) -> None:
        self._started = False


def disable_auto_connector(host: IHost) -> None:
    """Replace the swarm's auto-connector with one that never starts (call before ``host.run``)."""
    swarm = host.get_network()
    if not isinstance(swarm, Swarm):
        raise TypeError(f"expected py-libp2p's Swarm, got {type(swarm).__name__}")
    old = swarm.auto_connector
    swarm.auto_connector = NeverAutoConnector(swarm, auto_connect_interval=old.auto_connect_interval)
