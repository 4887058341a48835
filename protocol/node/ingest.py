"""Taking in records from outside: validate, store, and act on what concerns me.

:func:`ingest` runs one verified record through its circle's
:class:`~protocol.view.CircleView` and commits what it accepts; records that
cannot be placed yet are held in the store and retried when the roster moves.
Side effects for this profile: a rekey sealed to me stores the new epoch key,
a fork that invites me adds the child circle as "invited", my own removal
marks the circle "removed". Bundles (``smallsocial export``/``import``) are
length-prefixed raw records, checked one by one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol import fork, records
from protocol.chain import Duplicate
from protocol.errors import ProtocolError
from protocol.records import Record
from protocol.view import CircleView, Dropped, Held, Outcome, Stored

if TYPE_CHECKING:
    from protocol.node.profile import ImportReport, Profile

BUNDLE_MAGIC = b"SSB1"
MAX_BUNDLE = 512 * 1024 * 1024


def encode_bundle(raws: list[bytes]) -> bytes:
    return BUNDLE_MAGIC + b"".join(len(r).to_bytes(4, "big") + r for r in raws)


def decode_bundle(data: bytes) -> list[bytes]:
    if not data.startswith(BUNDLE_MAGIC):
        raise ValueError("This file is not a smallsocial bundle.")
    if len(data) > MAX_BUNDLE:
        raise ValueError("This bundle is too large.")
    out, i = [], len(BUNDLE_MAGIC)
    while i < len(data):
        if i + 4 > len(data):
            raise ValueError("This bundle is cut short; copy the whole file.")
        n = int.from_bytes(data[i : i + 4], "big")
        if n > records.MAX_RECORD_SIZE or i + 4 + n > len(data):
            raise ValueError("This bundle is cut short or damaged; copy the whole file.")
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out


def ingest(profile: Profile, record: Record) -> Outcome:
    """Validate and commit one record of a circle this profile is in."""
    row = profile.store.circle(record.circle)
    if row is None or row.status == "invited":
        return Dropped("the record is for a circle you are not in")
    view = profile.view(record.circle)
    outcome = view.add(record)
    now = profile._now()
    if isinstance(outcome, Held):
        profile.store.hold(record, outcome.reason, now)
        return outcome
    if not isinstance(outcome, Stored):
        return outcome
    with profile.store.tx():
        if outcome.conflict:
            profile.store.add_conflict(record, now)
        else:
            profile.store.add_record(record, now)
        _effects(profile, record, outcome)
    gone = profile.view(record.circle).roster.departed.get(record.author)
    if outcome.roster_changed or (gone is not None and record.seq <= gone.cut):
        # A departed author's record on the chain the cut names lets the one below it in.
        retry_held(profile, record.circle)
    return outcome


def _effects(profile: Profile, record: Record, outcome: Stored) -> None:
    me = profile.me
    cid = record.circle
    now = profile._now()
    if record.type == records.REKEY and (outcome.note is None or outcome.conflict):
        # (a rekey kept as equivocation evidence is in the roster set too: its key may be current)
        for k, sealed in record.body["ks"]:
            if bytes(k) == me:
                try:
                    key = profile.identity.unseal(bytes(sealed))
                except ProtocolError:
                    return
                profile.store.add_epoch_key(cid, record.id, profile._seal(key))
    elif (
        record.type == records.FORK
        and outcome.note is None
        and any(bytes(p[0]) == me for p in record.body["sl"])
    ):
        try:
            inv = fork.open_fork(record, profile.identity)
        except ProtocolError:
            return
        if profile.store.circle(inv.circle_id) is None and _fork_room(profile, cid, record.author):
            profile.store.add_circle(
                inv.circle_id, cid, profile._seal(inv.name.encode()), "invited", now, record.raw
            )
    if outcome.roster_changed:
        departed = profile.view(cid).roster.departed
        gone = departed.get(me)
        if gone is not None:
            profile.store.set_circle_status(cid, gone.kind)
        settle_departures(profile, cid)
        return
    gone = profile.view(cid).roster.departed.get(record.author)
    if gone is not None and record.seq <= gone.cut:
        _purge_off_the_cut(profile, cid)


def settle_departures(profile: Profile, cid: bytes) -> None:
    """Bring the store in line with the circle's departures, as the roster now has them.

    What a departed member posted after their cut is refused by everyone who got the
    removal first; whoever stored it before must drop it too, or the stores never agree.
    Their messages below the cut that are not on the chain it names go as well
    (:func:`_purge_off_the_cut`). Run after anything that moves the roster: an ingested
    roster record, and a join with a token whose records hold a removal
    (:meth:`~protocol.node.profile.Profile.join_token`).
    """
    departed = profile.view(cid).roster.departed
    purged = sum(profile.store.purge_after_cut(cid, k, d.cut) for k, d in departed.items())
    if purged:
        profile.forget_views()
    _purge_off_the_cut(profile, cid)


def _fork_room(profile: Profile, parent: bytes, inviter: bytes) -> bool:
    """Whether another fork invitation from ``inviter`` in ``parent`` may be offered: at most
    ``fork.MAX_PENDING_PER_INVITER`` from one member and ``fork.MAX_PENDING_PER_CIRCLE`` in
    all wait at a time (docs/protocol.md section 12), so a member cannot bury the others'
    circles, or slow every command, under thousands of invitations."""
    waiting = profile.store.invited_children(parent)
    if len(waiting) >= fork.MAX_PENDING_PER_CIRCLE:
        return False
    from_them = 0
    for row in waiting:
        try:
            from_them += row.fork_record is not None and records.parse(row.fork_record).author == inviter
        except ProtocolError:
            continue
    return from_them < fork.MAX_PENDING_PER_INVITER


def _purge_off_the_cut(profile: Profile, cid: bytes) -> None:
    """Throw away a departed author's messages below the cut that are not on the chain it names.

    They came before the departure did (a removed member rewriting history for someone who
    had not seen the original); the cut now says which history is the real one. A record of
    that real chain kept as a conflict takes the freed place.
    """
    while True:
        view = profile.view(cid)
        off = view.off_the_cut()
        if not off:
            return
        with profile.store.tx() as db:
            for r in off:
                db.execute("DELETE FROM outbox WHERE record = ?", (r.id,))
                db.execute("DELETE FROM records WHERE id = ?", (r.id,))
                for c in view.versions(r.author, r.seq):
                    if c.id in view.conflicts and _cut_ok(view, c):
                        db.execute("DELETE FROM conflicts WHERE id = ?", (c.id,))
                        profile.store.add_record(c, profile._now())
                        break
        profile.forget_views()


def _cut_ok(view: CircleView, record: Record) -> bool:
    gone = view.roster.departed.get(record.author)
    return gone is not None and view.cut_expected(record.author, gone, record.seq) == record.id


def retry_held(profile: Profile, circle_id: bytes) -> int:
    """Try held records again until none moves; returns how many were stored."""
    stored = 0
    progress = True
    while progress:
        progress = False
        # Highest seq first: below a departed author's cut each record lets in the one below it.
        for rec in sorted(map(records.parse, profile.store.held(circle_id)), key=lambda r: -r.seq):
            out = profile.view(circle_id).add(rec)
            if isinstance(out, Stored):
                with profile.store.tx():
                    if out.conflict:
                        profile.store.add_conflict(rec, profile._now())
                    else:
                        profile.store.add_record(rec, profile._now())
                    _effects(profile, rec, out)
                stored += 1
                progress = True
            elif not isinstance(out, Held):
                with profile.store.tx() as db:
                    db.execute("DELETE FROM held WHERE id = ?", (rec.id,))
    return stored


def import_bundle(profile: Profile, data: bytes) -> ImportReport:
    from protocol.node.profile import ImportReport

    raws = decode_bundle(data)
    parsed: list[Record] = []
    dropped: list[str] = []
    for raw in raws:
        try:
            parsed.append(records.parse(raw))
        except ProtocolError as e:
            dropped.append(f"{type(e).__name__}: {e}")
    before = {c.id for c in profile.store.circles()}
    stored = dup = skipped = 0
    mine = {c.id for c in profile.store.circles() if c.status != "invited"}
    pending = sorted(parsed, key=lambda r: (r.type != records.GENESIS, not r.is_roster, r.author, r.seq))
    progress = True
    while pending and progress:
        progress = False
        rest: list[Record] = []
        for r in pending:
            if r.circle not in mine:
                skipped += 1
                continue
            if r.type == records.GENESIS:
                dup += 1
                continue
            out = ingest(profile, r)
            if isinstance(out, Stored):
                stored += 1
                progress = True
            elif isinstance(out, Duplicate):
                dup += 1
            elif isinstance(out, Held):
                rest.append(r)
            else:
                dropped.append(out.reason)
        pending = rest
        mine = {c.id for c in profile.store.circles() if c.status != "invited"}
    held = len(pending)
    new = [c.id for c in profile.store.circles() if c.id not in before]
    return ImportReport(stored, dup, held, dropped, new, skipped)
