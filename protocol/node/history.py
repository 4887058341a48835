"""History kept readable, or forgotten: deleting epoch keys once their epoch is over.

A per-profile setting (``smallsocial history keep|forget``; the store's ``settings`` table,
name ``history``; default ``keep``). With ``forget``, an epoch key I hold is deleted once the
epoch is over, that is once I hold the key of a later-numbered epoch of the same circle,
and ``GRACE_S`` (3 days) have passed since that later key came: messages sent just before
a rekey, or synced late from someone who was offline, still open meanwhile. With the key
go that epoch's rows in the search index and the profile's unsealed-key cache; the
ciphertext records stay (members serve them to others by sync), unreadable here.

With ``keep``, epoch keys stay, sealed under the storage key (never the identity key). The
node runs :func:`forget_old` at start and every ten minutes; the CLI when the setting is set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from protocol import records
from protocol.node.store import Store
from protocol.view import CircleView

if TYPE_CHECKING:
    from protocol.node.search import SearchIndex

KEEP = "keep"
FORGET = "forget"
MODES = (KEEP, FORGET)
SETTING = "history"
GRACE_S = 3 * 24 * 3600
"""An epoch's key is deleted this long after a later epoch's key came (with ``forget``)."""


class Profile(Protocol):
    """What this module reads of a :class:`protocol.node.profile.Profile`."""

    store: Store
    clock: Callable[[], float]

    def view(self, circle_id: bytes) -> CircleView: ...
    def search_index(self) -> SearchIndex: ...
    def drop_key_cache(self, circle_id: bytes) -> None: ...


def mode(store: Store) -> str:
    value = store.setting(SETTING)
    return value if value in MODES else KEEP


def set_mode(store: Store, value: str) -> None:
    if value not in MODES:
        raise ValueError(f"History is kept or forgotten: {' or '.join(MODES)}, not {value!r}.")
    store.set_setting(SETTING, value)


def choose(profile: Profile, value: str | None) -> tuple[str, int]:
    """Set the mode to ``value`` (None: leave it) and apply it at once: the mode, and how many
    old epoch keys were deleted now. ``ValueError`` with a sentence for an unknown mode."""
    if value is None:
        return mode(profile.store), 0
    set_mode(profile.store, value)
    return value, forget_old(profile)


def over(profile: Profile, circle_id: bytes, now: int) -> list[bytes]:
    """The epochs of a circle whose key I hold and that ended ``GRACE_S`` before ``now`` (seconds)."""
    view = profile.view(circle_id)
    if view.genesis is None:
        return []
    epochs = view.roster.epochs
    held: list[tuple[int, bytes, int]] = []  # (number, epoch, when its key came)
    for cid, eid, _, added in profile.store.all_epoch_keys():
        if cid == circle_id and eid in epochs:
            held.append((epochs[eid].number, eid, now if added is None else added))
    cur = view.roster.current_epoch
    out = []
    for number, eid, _ in held:
        if cur is not None and (eid == cur.id or number >= cur.number):
            continue
        later = [came for n, _, came in held if n > number]
        if later and min(later) + GRACE_S <= now:
            out.append(eid)
    return sorted(out)


def forget_old(profile: Profile) -> int:
    """With history ``forget``: delete the keys of epochs over for ``GRACE_S``, and what the
    search index holds of their messages; how many keys went. Nothing with ``keep``."""
    if mode(profile.store) != FORGET:
        return 0
    now = int(profile.clock())
    gone = 0
    for row in profile.store.circles():
        if row.status == "relay" or row.status == "invited":
            continue
        eids = over(profile, row.id, now)
        if not eids:
            continue
        ids = [
            r.id
            for t in (records.MSG, records.CARRY)
            for r in profile.store.load_records(row.id, t)
            if bytes(r.body["e"]) in eids
        ]
        if ids and profile.store.circle(row.id) is not None:
            profile.search_index().forget(row.id, ids)
        with profile.store.tx():
            for eid in eids:
                profile.store.drop_epoch_key(row.id, eid)
        profile.drop_key_cache(row.id)
        gone += len(eids)
    if gone:
        profile.store.checkpoint()
    return gone
