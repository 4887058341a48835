"""My prekeys: made, published in my circles, opened with, and deleted when done.

A prekey (docs/protocol.md section 8.6) is an X25519 key pair a member key publishes in each
circle it is in, so that rekeys and forks seal epoch keys to it rather than to the key
derived from the identity key. :func:`refresh` is the policy, run by the node at start,
every ``node.PREKEY_REFRESH_S`` (10 minutes), and after a join:

- a fresh prekey when I have none, or my newest is ``ROTATE_S`` old (7 days), or it is
  ``USED_S`` old (a day) and the current epoch of one of my circles came in a rekey sealed to
  it (:func:`used`); it is sealed to for ``actions.PREKEY_TTL_MS`` (14 days) after it is made;
- published (a ``prekey`` record) in every circle I am a member of whose roster does not
  show it as mine yet;
- a private prekey is deleted ``REPLACED_S`` (3 days) after a newer one replaced it: members
  seal to the newer one once they see it (minutes), and the days let a rekey made before that
  arrive late (from a member who was offline). My newest is never deleted, expired or not:
  members seal to it while it is the newest they know (a node offline for a month comes back
  to rekeys sealed to it). Deleting it soon is what makes history ``forget`` hold against a
  copy of the profile: a forgotten epoch's rekey stays in the store, and the prekey it was
  sealed to would open it again (docs/security.md 4.1 (b)).

The private keys live in the store sealed under the profile's storage key
(:mod:`protocol.atrest`), never under the identity key.

Healing (docs/security.md 2.9, 4.1 (b)): a copy of my profile taken at T holds my private
prekeys of T, so it opens every rekey sealed to them. The rotations bound that. My own rekeys
rotate first (:func:`rotate`, from :mod:`protocol.node.rekeying`): one on demand always (the
rekey's entry to me is sealed to a key made after T), a scheduled one when my newest prekey
is ``USED_S`` old. A rekey made by someone else is sealed to the prekey they saw; once such a
rekey opened a new epoch and that prekey is ``USED_S`` old, :func:`refresh` replaces it. So a
copy taken at T opens at most the rekeys made before the first rotation after T has reached
their sealers. The day's floor keeps the roster small when rekeys are frequent (every 1,000
messages in a busy circle): at most one ``prekey`` record per circle per member a day, about
one a week under the default weekly schedule. This is node policy, not protocol: a sealer
only reads the roster's newest prekey (docs/protocol.md 8.6).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

from protocol import actions, atrest, crypto, records
from protocol.errors import DecryptError, ProtocolError
from protocol.identity import Identity
from protocol.node.ledger import Ledger
from protocol.node.store import Store
from protocol.records import Record
from protocol.view import CircleView

ROTATE_S = 7 * 24 * 3600
"""A new prekey once the newest is this old."""
USED_S = 24 * 3600
"""A new prekey once the newest is this old and a rekey sealed to it opened a new epoch; my
scheduled rekeys rotate first when it is this old."""
REPLACED_S = 3 * 24 * 3600
"""A replaced private prekey is kept this long after it was replaced (``history.GRACE_S``'s
three days)."""


class Profile(Protocol):
    """What this module reads of a :class:`protocol.node.profile.Profile`."""

    identity: Identity
    store: Store
    ledger: Ledger
    storage_key: bytes
    clock: Callable[[], float]

    def view(self, circle_id: bytes) -> CircleView: ...


def private_keys(store: Store, storage_key: bytes) -> list[bytes]:
    """My private prekeys, newest first (those that do not open under the storage key skipped)."""
    out = []
    for _, sealed, _, _, _ in store.prekeys():
        with contextlib.suppress(ProtocolError):
            out.append(atrest.open_sealed(storage_key, sealed))
    return out


def fresh(profile: Profile, now_ms: int) -> tuple[bytes, int]:
    """A new prekey made now (the older ones marked replaced): its public key and expiry."""
    public, private = crypto.prekey_pair()
    rows = profile.store.prekeys()
    made = max(now_ms, rows[0][2] + 1) if rows else now_ms  # strictly the newest, even within a ms
    expires = made + actions.PREKEY_TTL_MS
    profile.store.add_prekey(public, profile.ledger.seal(private), made, expires)
    return public, expires


def used(profile: Profile, sealed_private: bytes) -> bool:
    """Whether the current epoch of one of my circles came in a rekey whose entry to me opens
    with this private prekey (sealed under the storage key)."""
    try:
        private = atrest.open_sealed(profile.storage_key, sealed_private)
    except ProtocolError:
        return False
    me = profile.identity.public_key
    for row in profile.store.circles("member"):
        try:
            view = profile.view(row.id)
        except ProtocolError:
            continue
        cur = view.roster.current_epoch
        rec = None if cur is None else view.roster_records.get(cur.id)
        if rec is None or rec.type != records.REKEY:
            continue
        entry = next((bytes(s) for k, s in rec.body["ks"] if bytes(k) == me), None)
        if entry is None:
            continue
        try:
            crypto.unseal_with_prekey(private, entry)
        except DecryptError:
            continue
        return True
    return False


def current(profile: Profile, now_ms: int) -> tuple[bytes, int]:
    """My newest prekey (public key, expiry in ms), made now if it is due: none, ``ROTATE_S``
    old, or ``USED_S`` old and :func:`used`."""
    rows = profile.store.prekeys()
    young = bool(rows) and rows[0][2] > now_ms - ROTATE_S * 1000
    if young and (rows[0][2] > now_ms - USED_S * 1000 or not used(profile, rows[0][1])):
        return rows[0][0], rows[0][3]
    return fresh(profile, now_ms)


def rotate(profile: Profile, only: bytes | None = None, older_than_s: float = 0.0) -> list[Record]:
    """Before a rekey of mine (in the caller's transaction): a fresh prekey unless my newest is
    younger than ``older_than_s`` (0: always), published in circle ``only`` (every circle I am
    a member of when None) if the roster there does not show it yet. The rekey that follows
    seals its entry to me to that key."""
    now_ms = int(profile.clock() * 1000)
    rows = profile.store.prekeys()
    if not rows or rows[0][2] <= now_ms - older_than_s * 1000 or rows[0][3] <= now_ms:
        public, expires = fresh(profile, now_ms)
    else:
        public, expires = rows[0][0], rows[0][3]
    return publish(profile, public, expires, now_ms, only)


def prune(profile: Profile, now_ms: int) -> int:
    """Delete the private prekeys replaced ``REPLACED_S`` ago; how many."""
    gone = 0
    for public, _, _, _, replaced in profile.store.prekeys()[1:]:
        if replaced is not None and now_ms > replaced + REPLACED_S * 1000:
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
            # after the one it replaces, even within a millisecond (rule 8 keeps the largest ts)
            ts = now_ms if mine is None else max(now_ms, mine.ts + 1)
            rec = actions.prekey(profile.identity, roster, view.next_pos(me), public, ts, ttl_ms=expires - ts)
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
