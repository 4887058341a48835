"""Real profiles sharing one circle through export/import bundles, for the soft cap and tree tests.

``Six(root)``: alice founds "friends" and invites bob, carol, dave, eve and frank, who join
with their tokens; alice, bob and carol reply to one another, dave, eve and frank too, and
dave reacts to alice once: the split suggestion finds the two groups.
"""

from __future__ import annotations

from pathlib import Path

from protocol import messages
from protocol.identity import peer_id
from protocol.node.paths import resolve
from protocol.node.profile import Profile

NAMES = ("alice", "bob", "carol", "dave", "eve", "frank")


class Six:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.p = {n: Profile.create(resolve(str(root), n), n) for n in NAMES}
        self.key = {n: peer_id(p.me) for n, p in self.p.items()}
        alice = self.p["alice"]
        self.cid = cid = alice.new_circle("friends").circle_id
        for n in NAMES[1:]:
            token = alice.invite(cid, self.p[n].me)
            self.p[n].import_bundle(alice.export([cid]))
            self.p[n].join_token(token)
            self.sync(cid)
        first = {n: self.p[n].send_text(cid, f"hi from {n}") for n in NAMES}
        for a, b in [("bob", "alice"), ("carol", "bob"), ("alice", "carol"), ("carol", "alice")]:
            self.p[a].send_text(cid, "yes", reply_to=first[b].id)
        for a, b in [("eve", "dave"), ("frank", "eve"), ("dave", "frank"), ("frank", "dave")]:
            self.p[a].send_text(cid, "sure", reply_to=first[b].id)
        self.p["dave"].send(cid, messages.Content(messages.REACT, 1, "👍", first["alice"].id))
        self.sync(cid)
        assert len(alice.view(cid).roster.members) == 6

    def sync(self, cid: bytes) -> None:
        """Every profile's records to everyone in the circle (twice: what a join unlocks goes round too)."""
        for _ in range(2):
            for a in NAMES:
                if self.p[a].store.circle(cid) is None:
                    continue
                bundle = self.p[a].export([cid])
                for b in NAMES:
                    if b != a and self.p[b].store.circle(cid) is not None:
                        self.p[b].import_bundle(bundle)
                        self.p[b].forget_views()

    def close(self) -> None:
        for p in self.p.values():
            p.close()
