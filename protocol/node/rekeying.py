"""Rekeys on demand and on a schedule, on a profile: what ``Rekey`` and ``SetRekeySchedule`` mean.

- :func:`rekey` and :func:`rekey_all`: a new epoch key for one circle, or for every circle I am
  a member of ("rotate everything", after a suspected compromise), sealed to every member key;
  offline too (the CLI without a node: the records wait in the outbox). Both make and publish
  a fresh prekey of mine first (:func:`protocol.node.prekeys.rotate`), so that the entry to
  me is sealed to a key no earlier copy of my profile holds: that is what makes them heal.
- :func:`set_schedule`: an admin's ``rekeyevery`` record (roster rule 9).
- :func:`facts`: what :mod:`protocol.rekeysched` needs of a circle's current epoch, from the
  view and the store (messages counted incrementally, per circle, by :class:`Counter`).
- :class:`Rekeyer`: the scheduled rekeys a running node starts (:func:`follow` is its task).

Errors are ``RosterError`` with one sentence.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from protocol import actions, records
from protocol.errors import ProtocolError, RosterError
from protocol.node import api, prekeys
from protocol.node.profile import Profile
from protocol.rekeysched import JITTER_S, JOIN_JITTER_S, EpochFacts, Scheduler

LOG = logging.getLogger("smallsocial.node")
CHECK_S = 15.0
"""Seconds between two looks at every circle's schedule (records landing also prompt one)."""
CHECK_ENV = "SMALLSOCIAL_REKEY_CHECK"
JITTER_ENV = "SMALLSOCIAL_REKEY_JITTER"
"""Environment overrides (seconds) for tests and the lab: the check period and the jitter."""


def env_seconds(name: str, default: float) -> float:
    """Seconds from the environment variable ``name``; ``default`` when unset, ``off`` or not a
    number (a typo in a test knob must not stop the node)."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


def rekey(p: Profile, circle_id: bytes, fresh_after_s: float = 0.0) -> api.RekeyResult:
    """A fresh epoch key for ``circle_id``, sealed to every member key; committed and queued.
    First a fresh prekey of mine, published in the circle, unless my newest is younger than
    ``fresh_after_s`` (0, on demand: always; a scheduled rekey passes ``prekeys.USED_S``)."""
    row = p.store.circle(circle_id)
    if row is None or row.status == "invited":
        raise RosterError("You are not a member of that circle.")
    view = p.view(circle_id)
    if not view.roster.is_member(p.me):
        raise RosterError(f"You are not a member of {p.circle_name(row)}.")
    with p.store.tx():
        prekeys.rotate(p, circle_id, fresh_after_s)
        view = p.view(circle_id)
        rk = actions.rekey(p.identity, view.roster, view.next_pos(p.me), int(p.clock() * 1000))
        for r in (*rk.before, rk.record):
            p.ledger.commit_own(r)
            p.ledger.keep_key(circle_id, r.id, rk.key)
    number = int(rk.record.body["e"])
    return api.RekeyResult(circle_id, p.circle_name(row), number, len(rk.record.body["ks"]))


def rekey_all(p: Profile) -> tuple[api.RekeyResult, ...]:
    """:func:`rekey` in every circle where the roster has me as a member (joins not confirmed
    yet, circles left or removed from, are skipped: there is nothing of mine to rotate there).
    One fresh prekey of mine first, published in all of them."""
    with p.store.tx():
        prekeys.rotate(p)
    out = []
    for row in p.store.circles("member"):
        if p.view(row.id).roster.is_member(p.me):
            out.append(rekey(p, row.id, math.inf))
    return tuple(out)


def set_schedule(p: Profile, circle_id: bytes, days: int, messages: int) -> records.Record:
    """Commit an admin's ``rekeyevery`` record (``RosterError`` with a sentence otherwise)."""
    view = p.view(circle_id)
    rec = actions.set_rekey_schedule(
        p.identity, view.roster, view.next_pos(p.me), days, messages, int(p.clock() * 1000)
    )
    with p.store.tx():
        p.ledger.commit_own(rec)
    return rec


@dataclass
class _Count:
    epoch: bytes
    row: int
    messages: int


class Counter:
    """Messages per circle under its current epoch, read from the store once and then only
    what was stored since (rows only grow); the message count starts over with each epoch."""

    def __init__(self) -> None:
        self.counts: dict[bytes, _Count] = {}

    def count(self, p: Profile, circle_id: bytes, epoch: bytes) -> int:
        c = self.counts.get(circle_id)
        if c is None or c.epoch != epoch:
            # Messages under an epoch are stored after the record that opened it (the view holds
            # them until their epoch's rekey is placed): start at its row.
            at = p.store.stored_at(epoch)
            c = self.counts[circle_id] = _Count(epoch, at[0] if at else 0, 0)
        for row, rid, raw in p.store.messages_after(circle_id, c.row):
            c.row = row
            try:
                if bytes(records.load(raw, rid).body["e"]) == epoch:
                    c.messages += 1
            except ProtocolError:
                continue
        return c.messages


def facts(p: Profile, circle_id: bytes, counter: Counter) -> EpochFacts | None:
    """The current epoch's facts (None: no current epoch, or no genesis yet)."""
    view = p.view(circle_id)
    cur = view.roster.current_epoch
    if cur is None or view.genesis is None:
        return None
    opener = view.genesis if cur.id == circle_id else view.roster_records.get(cur.id)
    if opener is None:
        return None
    opened = int(opener.body["ts"])
    at = p.store.stored_at(opener.id)
    if at is not None:
        opened = min(opened, at[1] * 1000)  # dated in the future: it opened when it came
    return EpochFacts(cur.id, opened, counter.count(p, circle_id, cur.id))


class Rekeyer:
    """The scheduled rekeys of one member node: :meth:`due` looks at every circle I am in and
    rekeys those whose jitter has run out while still due (:class:`protocol.rekeysched.Scheduler`)."""

    def __init__(self, p: Profile, scheduler: Scheduler | None = None) -> None:
        self.p = p
        if scheduler is None and JITTER_ENV in os.environ:
            jitter = env_seconds(JITTER_ENV, JITTER_S)
            scheduler = Scheduler(jitter_s=jitter, join_jitter_s=min(jitter, JOIN_JITTER_S))
        self.scheduler = scheduler or Scheduler()
        self.counter = Counter()

    def due(self, now_s: float) -> list[api.RekeyResult]:
        """Rekey every circle whose turn it is at ``now_s`` (seconds, the profile's clock)."""
        done: list[api.RekeyResult] = []
        for row in self.p.store.circles("member"):
            roster = self.p.view(row.id).roster
            if not roster.is_member(self.p.me):
                self.scheduler.waiting.pop(row.id, None)
                continue
            try:
                if self.p.locked_out(row.id):  # no jitter: the others can read, only I cannot
                    LOG.warning(
                        "the current key of %s was sealed to a prekey of mine no longer here: rekeying",
                        row.id.hex()[:12],
                    )
                    self.scheduler.waiting.pop(row.id, None)
                    done.append(rekey(self.p, row.id, prekeys.USED_S))
                    continue
                f = facts(self.p, row.id, self.counter)
                if self.scheduler.poll(row.id, roster, f, now_s):
                    done.append(rekey(self.p, row.id, prekeys.USED_S))
            except (ProtocolError, OSError) as e:  # a full disk, a damaged row: try next time
                LOG.warning("scheduled rekey of %s failed: %s", row.id.hex()[:12], e)
        for r in done:
            LOG.info(
                "scheduled rekey of %s: epoch %d, sealed to %d keys", r.circle.hex()[:12], r.epoch, r.keys
            )
        return done

    def wait_s(self, now_s: float) -> float:
        """How long until the next look: the check period, or sooner when a jitter ends."""
        period = env_seconds(CHECK_ENV, CHECK_S)
        at = self.scheduler.next_at()
        return max(0.05, min(period, at - now_s if at is not None else period))
