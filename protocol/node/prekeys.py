"""My prekeys: made, published in my circles, opened with, and deleted when done.

A prekey (docs/protocol.md section 8.6) is an X25519 key pair a member key publishes in each
circle it is in, so that rekeys and forks seal epoch keys to it rather than to the key
derived from the identity key. :func:`refresh` is the whole policy, run by the node at start,
every hour, and after a join:

- a fresh prekey when I have none, or my newest is ``ROTATE_S`` old (7 days); it is sealed to
  for ``actions.PREKEY_TTL_MS`` (14 days) after it is made;
- published (a ``prekey`` record) in every circle I am a member of whose roster does not
  show it as mine yet;
- a private prekey is deleted once a newer one replaced it and it expired ``GRACE_S`` (7
  days) ago: nobody seals to it after it expires, and the grace lets a rekey made just
  before that arrive late (from a member who was offline).

The private keys live in the store sealed under the profile's storage key
(:mod:`protocol.atrest`), never under the identity key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

from protocol import actions, atrest, crypto
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.node.ledger import Ledger
from protocol.node.store import Store
from protocol.records import Record
from protocol.view import CircleView

ROTATE_S = 7 * 24 * 3600
"""A new prekey once the newest is this old."""
GRACE_S = 7 * 24 * 3600
"""A replaced private prekey is kept this long past its expiry."""


class Profile(Protocol):
    """What this module reads of a :class:`protocol.node.profile.Profile`."""

    identity: Identity
    store: Store
    ledger: Ledger
    clock: Callable[[], float]

    def view(self, circle_id: bytes) -> CircleView: ...


def private_keys(store: Store, storage_key: bytes) -> list[bytes]:
    """My private prekeys, newest first (those that do not open under the storage key skipped)."""
    out = []
    for _, sealed, _, _, _ in store.prekeys():
        with contextlib.suppress(ProtocolError):
            out.append(atrest.open_sealed(storage_key, sealed))
    return out


def current(profile: Profile, now_ms: int) -> tuple[bytes, int]:
    """My newest prekey (public key, expiry in ms), made now if it is due (none, or too old)."""
    rows = profile.store.prekeys()
    if rows and rows[0][2] > now_ms - ROTATE_S * 1000:
        return rows[0][0], rows[0][3]
    public, private = crypto.prekey_pair()
    expires = now_ms + actions.PREKEY_TTL_MS
    profile.store.add_prekey(public, profile.ledger.seal(private), now_ms, expires)
    return public, expires


def prune(profile: Profile, now_ms: int) -> int:
    """Delete the private prekeys that were replaced and expired ``GRACE_S`` ago; how many."""
    gone = 0
    for public, _, _, expires, replaced in profile.store.prekeys()[1:]:
        if replaced is not None and now_ms > expires + GRACE_S * 1000:
            profile.store.drop_prekey(public)
            gone += 1
    return gone


def publish(
    profile: Profile, public: bytes, expires: int, now_ms: int, only: bytes | None = None
) -> list[Record]:
    """A ``prekey`` record for ``public`` in each circle I am a member of (or only in ``only``)
    that does not show it yet."""
    me = profile.identity.public_key
    made: list[Record] = []
    for row in profile.store.circles("member"):
        if only is not None and row.id != only:
            continue
        if profile.store.ticket(row.id) is not None:
            continue  # joined with a short token, not confirmed yet: after the roster takes my join
        try:
            view = profile.view(row.id)
            roster = view.roster
            if view.genesis is None or not roster.is_member(me):
                continue
            mine = roster.prekeys.get(me)
            if mine is not None and mine.key == public:
                continue
            rec = actions.prekey(
                profile.identity, roster, view.next_pos(me), public, now_ms, ttl_ms=expires - now_ms
            )
            profile.ledger.commit_own(rec)
        except ProtocolError:
            continue  # the circle moved under me (a removal); the next refresh tries again
        made.append(rec)
    return made


def refresh(profile: Profile, only: bytes | None = None) -> list[Record]:
    """Rotate my prekey when due, publish it where it is missing (only in circle ``only`` when
    given: after a join, the other circles wait for the node's round), delete the ones done with."""
    now_ms = int(profile.clock() * 1000)
    with profile.store.tx():
        public, expires = current(profile, now_ms)
        made = publish(profile, public, expires, now_ms, only) if expires > now_ms else []
        pruned = prune(profile, now_ms)
    if pruned:
        profile.store.checkpoint()  # no copy of a deleted private prekey left in the WAL
    return made
