"""What a fork inherits from its parent: the relays pinned to it, and how loudly it notifies me.

Called by :meth:`Profile.fork` (the forker: pin records in the child's roster for each
relay of the parent, with the same addresses, and the parent's notification level)
and :meth:`Profile.accept_fork` (an invitee: their own level for the parent), inside
the transaction that creates the child. Petnames need nothing here: contacts are
global to a profile (the store's ``contacts`` table has no circle), so a child shows
the same names as its parent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from protocol import actions
from protocol.identity import Identity
from protocol.node.ledger import Ledger
from protocol.node.store import Store
from protocol.view import CircleView


class Profile(Protocol):
    """What of :class:`protocol.node.profile.Profile` this needs (it calls in here: no import)."""

    identity: Identity
    store: Store
    ledger: Ledger
    clock: Callable[[], float]

    @property
    def me(self) -> bytes: ...
    def view(self, circle_id: bytes) -> CircleView: ...


def pins(profile: Profile, parent_id: bytes, child_id: bytes) -> list[str]:
    """Pin the parent's relays to the child (one roster record each); the addresses pinned."""
    relays = profile.view(parent_id).roster.relays
    child = profile.view(child_id)
    addrs: list[str] = []
    for relay in relays.values():
        if relay.key in child.roster.relays or relay.key in child.roster.members:
            continue
        rec = actions.pin(
            profile.identity,
            child.roster,
            child.next_pos(profile.me),
            relay.key,
            list(relay.addrs),
            int(profile.clock() * 1000),
        )
        profile.ledger.commit_own(rec)
        profile.store.add_peer_addrs(child_id, list(relay.addrs), "pin", int(profile.clock()))
        addrs += relay.addrs
    return addrs


def level(profile: Profile, parent_id: bytes, child_id: bytes) -> None:
    """The child notifies me as loudly as its parent does (nothing to write for quiet)."""
    got = profile.store.notify_level(parent_id)
    if got != "quiet":
        profile.store.set_notify_level(child_id, got, int(profile.clock()))
