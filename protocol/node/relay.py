"""The relay: a node with no circle keys that stores, forwards and serves pinned circles.

:class:`RelayNode` is a :class:`~protocol.node.node.Node` configured with a
:class:`~protocol.node.limits.RelayPolicy` (its quota, usage and ``--announce``
addresses; the core consults it). It fills the node's two hooks (extra stream
handlers and tasks) with the pin stream and the retention sweep, and reports
its status. Its circles have the status ``relay``.
It learns a circle only from a member's pin offer (:mod:`protocol.node.pinning`)
whose roster names its key as the circle's relay; from then on it subscribes
to the circle's topic, validates every record (signature, membership, chain:
roster records are readable to it, content is not), stores what is valid,
forwards it in the gossip mesh and serves sync to members, and to nobody else.

Limits (:class:`Quota`, from ``relay.toml`` and flags): per circle a number of
records and of bytes (past either, new *message* records of that circle are
refused — not stored, not forwarded — and counted; roster records are always
taken, because later records cannot be validated without them), a retention
in days (older message records are deleted hourly and never fetched again, and so are
file blobs stored before the same cut: :func:`protocol.node.filexfer.expire`), and a number
of circles (further offers are refused).
"""

from __future__ import annotations

from typing import Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from protocol import circle, pinning
from protocol.identity import peer_id
from protocol.node import filexfer
from protocol.node import pinning as pinstream
from protocol.node.host import LOG, key_of
from protocol.node.limits import DAY_S, Quota, QuotaError, RelayPolicy
from protocol.node.node import Node
from protocol.view import Stored

__all__ = ["Quota", "QuotaError", "RelayNode", "RelayPolicy"]


class RelayNode(Node):
    """A headless relay for the circles pinned to it."""

    mesh_degree = 24
    """Every member it serves: members who cannot reach each other get each message from it."""

    def __init__(
        self,
        *args: Any,
        quota: Quota | None = None,
        sweep_interval: float = 3600.0,
        announce: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.policy = RelayPolicy(quota or Quota(), self.profile.store, announce)
        self.relay = self.core.relay = self.policy
        self.sweep_interval = sweep_interval

    # what a relay adds to a node: the pin stream and the retention sweep ---------------
    def add_handlers(self) -> None:
        self.host.set_stream_handler(TProtocol(pinstream.PROTOCOL), self._serve_pin)

    def add_tasks(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._sweeper)

    async def _serve_pin(self, stream: Any) -> None:
        await pinstream.serve(self, stream)

    async def adopt(self, offer: pinning.Offer, pid: ID) -> str | None:
        """Take a circle a member offered; None when taken, else why not (one sentence)."""
        store = self.profile.store
        row = store.circle(offer.circle_id)
        if row is None:
            if len(store.circles("relay")) >= self.policy.quota.circles:
                LOG.info(
                    "refused circle %s: at the limit of %d circles",
                    offer.circle_id.hex()[:12],
                    self.policy.quota.circles,
                )
                return f"This relay already serves its limit of {self.policy.quota.circles} circles."
            ledger = self.profile.ledger
            ledger.open_circle(offer.genesis, circle.parent_of(offer.genesis), ledger.seal(b""), "relay")
            ledger.forget(offer.circle_id)  # only this circle's view moved (all of them cost O(circles))
            LOG.info("now relaying circle %s, pinned by %s", offer.circle_id.hex()[:12], pid)
        elif row.status != "relay":
            return "This relay is a member of that circle, not its relay."
        for r in offer.accepted:
            out = self.profile.ledger.commit(r).outcome
            if isinstance(out, Stored):
                self.policy.use(r.circle)[0] += 1
        await self.join_topic(offer.circle_id)
        # Other members may already be here, holding more; so may an invitee whose join came
        # before the invitation in this offer, and was let go as a stranger's.
        invitees = self.profile.view(offer.circle_id).roster.open_invitees()
        for peer in {pid, *self.peers.connected}:
            if key_of(peer) in invitees:
                self._invitees_asked.add((peer.to_base58(), offer.circle_id))
            self.want_sync(peer, offer.circle_id)
        return None

    async def _sweeper(self) -> None:
        while True:
            self.sweep()
            await trio.sleep(self.sweep_interval)

    def sweep(self) -> int:
        """Delete message records past the retention, and the file blobs stored before the same
        cut (whose announcements it deletes); returns how many records."""
        now = int(self.profile.clock())
        total = self.policy.sweep(now)
        if total:
            self.profile.forget_views()
        cutoff = now - self.policy.quota.retention_days * DAY_S
        for c in self.profile.store.circles("relay"):
            filexfer.expire(self, c.id, cutoff)
        return total

    def status(self) -> dict[str, Any]:
        store = self.profile.store
        circles = store.circles("relay")
        members: set[bytes] = set()
        n = size = 0
        for c in circles:
            members |= set(self.profile.view(c.id).roster.members)
            cn, cs = self.policy.use(c.id)
            n, size = n + cn, size + cs
        counters = store.counters()
        return {
            "key": peer_id(self.profile.me),
            "addrs": self.public_addrs(),
            "circles": len(circles),
            "members": len(members),
            "records": n,
            "bytes": size,
            "peers": len(self.peers.connected),
            "rejected": counters.get("rejected", 0),
            "over_quota": counters.get("over_quota", 0),
        }
