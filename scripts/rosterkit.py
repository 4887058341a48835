"""Random roster histories, for the roster property tests, the "roster" fuzz target and
scripts/bench_roster.py.

:func:`history` plays a circle of a few people (and, on request, many invited keys) from
a stream of choices: each step one person signs one roster record from what they had seen
(a prefix of the records made so far, so records are concurrent), with the fields the
``actions`` builders would use or with other values (a non-admin removing, a join with
someone else's invitation, a record citing a head nobody has). Every record is well formed
(``records.sign`` accepts it); whether the roster accepts it is the fold's business.

:func:`after_checks` is the liveness property: whatever the history, an admin can still
remove a member (with the rekey that goes with it) and any member can rekey, with records
``records.sign`` accepts and the fold applies.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from protocol import actions, circle, crypto, devicecert, records, schema
from protocol.chain import ChainPos
from protocol.fold import RosterIndex
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import ADMIN, MEMBER, RosterState

NOW_MS = 1_790_000_000_000


@functools.cache
def person(n: int) -> Identity:
    """Fixed identity ``n`` (people are 1..8; bulk invitees from 1000 on)."""
    return Identity.from_seed(n.to_bytes(32, "big"))


PEOPLE = tuple(range(1, 9))
DEVICES = tuple(range(101, 106))
"""Device keys (histories with ``devices=True``): any person may certify any of them."""


@functools.cache
def cert(p: int, d: int) -> bytes:
    """Person ``p``'s certificate for device ``d``."""
    return devicecert.make(person(p), person(d).public_key, f"device {d}", NOW_MS, nonce=bytes(16)).raw


class Choices:
    """Choices read from bytes (a fuzzer's input) or drawn from a seeded generator."""

    def __init__(self, data: bytes | None = None, seed: int | None = None) -> None:
        self._data = data
        self._at = 0
        self._rng = random.Random(seed)

    def int(self, n: int) -> int:
        """A number in 0..n-1."""
        if n <= 1:
            return 0
        if self._data is None:
            return self._rng.randrange(n)
        if self._at >= len(self._data):
            raise EOFError
        b = self._data[self._at : self._at + 2]
        self._at += 2
        return int.from_bytes(b, "big") % n

    def pick(self, items: Sequence[object]) -> object:
        return items[self.int(len(items))]


@dataclass
class History:
    genesis: Record
    founder: Identity
    made: list[Record] = field(default_factory=list)
    """Every record made, in the order they were made (parents before children)."""
    last: dict[bytes, Record] = field(default_factory=dict)
    states: list[RosterState] = field(default_factory=list)
    """``states[n]``: the roster of the first ``n`` records."""

    def pos(self, who: Identity) -> ChainPos:
        last = self.last.get(who.public_key)
        return ChainPos() if last is None else ChainPos(last.seq + 1, last.id)


def _body(h: History, who: Identity, t: str, heads: Sequence[bytes], **fields: object) -> dict[str, object]:
    pos = h.pos(who)
    hs = sorted(set(heads))[: schema.MAX_HEADS] or [h.genesis.id]
    return {
        "t": t,
        "a": who.public_key,
        "c": h.genesis.id,
        "q": pos.seq,
        "p": pos.prev,
        "h": hs,
        "ts": NOW_MS,
        **fields,
    }


def _epoch_of(s: RosterState, h: History, c: Choices) -> bytes:
    if s.current_epoch is not None and c.int(4):
        return s.current_epoch.id
    return c.pick(sorted(s.epochs)) if c.int(2) else h.genesis.id  # type: ignore[return-value]


def _invite(
    h: History, c: Choices, s: RosterState, who: Identity, heads: Sequence[bytes], invitee: bytes, role: str
) -> Record:
    """An invitation for a day, under an epoch the choices pick."""
    x, n = NOW_MS // 1000 + 3600, crypto.random_bytes(16)
    body = _body(h, who, records.INVITE, heads, k=invitee, r=role, x=x, n=n, e=_epoch_of(s, h, c))
    return records.sign(who, body)


def _step(h: History, c: Choices, index: RosterIndex, bulk_max: int, devices: bool = False) -> list[Record]:
    n = len(h.made)
    seen = n - min(n, c.int(4) if c.int(3) else c.int(n + 1))
    s = h.states[seen]
    heads = list(s.heads)
    actors = PEOPLE + DEVICES if devices else PEOPLE
    inside = [n for n in actors if person(n).public_key in s.members]
    who = person(c.pick(inside if inside and c.int(3) else actors))  # type: ignore[arg-type]
    members = sorted(s.members)
    op = c.int(13 if devices else 10)
    if op == 10:  # link a device: usually for the author's own person
        d = c.pick(DEVICES)
        mine = s.person_of(who.public_key)
        p = next((n for n in PEOPLE if person(n).public_key == mine), None) if c.int(4) else None
        body = _body(h, who, records.DEVICE, heads, k=person(d).public_key, dc=cert(p or c.pick(PEOPLE), d))  # type: ignore[arg-type]
        return [records.sign(who, body)]
    if op == 11:  # unlink a device (with its rekey, as the builder makes them, or bare)
        mine = s.person_of(who.public_key)
        siblings = [k for k in s.keys_of(mine) if k != mine] if mine is not None else []
        target = (
            siblings[c.int(len(siblings))] if siblings and c.int(3) else person(c.pick(DEVICES)).public_key
        )  # type: ignore[arg-type]
        last = h.last.get(target)
        cut, cut_id = (last.seq, last.id) if last else (0, None)
        if c.int(3):
            try:
                rec, rk = actions.unlink(who, s, h.pos(who), target, cut, NOW_MS, cut_id=cut_id)
            except Exception as e:
                from protocol.errors import RosterError

                assert isinstance(e, RosterError), e
                return []
            return [*rk.before, rec, rk.record]
        return [records.sign(who, _body(h, who, records.UNLINK, heads, k=target, s=cut, sh=cut_id))]
    if op == 12:
        op = c.int(10)
    if op == 0 or op == 1:
        invitee = person(c.pick(PEOPLE)).public_key  # type: ignore[arg-type]
        role = ADMIN if c.int(2) == 0 else MEMBER
        return [_invite(h, c, s, who, heads, invitee, role)]
    if op == 2 or op == 3:
        known = h.made[:seen] if c.int(4) else h.made  # or an invitation the join does not follow
        mine = [r for r in known if r.type == records.INVITE and bytes(r.body["k"]) == who.public_key]
        pool = mine if mine and c.int(5) else [r for r in known if r.type == records.INVITE]
        if not pool:
            return []
        inv = pool[c.int(len(pool))]
        hs = [inv.id] if c.int(3) else heads
        return [records.sign(who, _body(h, who, records.JOIN, hs, i=inv.id))]
    if op == 4:
        target = person(c.pick(PEOPLE)).public_key  # type: ignore[arg-type]
        if c.int(3) and target in s.members and s.may_admin(who.public_key) and target != s.founder:
            last = h.last.get(target)
            try:
                rm, rk = actions.remove(
                    who,
                    s,
                    h.pos(who),
                    target,
                    last.seq if last else 0,
                    NOW_MS,
                    cut_id=last.id if last else None,
                )
            except Exception as e:  # the builders refuse only with RosterError
                from protocol.errors import RosterError

                assert isinstance(e, RosterError), e
                return []
            return [*rk.before, rm, rk.record]
        last = h.last.get(target)
        body = _body(
            h, who, records.REMOVE, heads, k=target, s=last.seq if last else 0, sh=last.id if last else None
        )
        return [records.sign(who, body)]
    if op == 5:
        return [records.sign(who, _body(h, who, records.LEAVE, heads))]
    if op == 6 and c.int(3) == 0:  # a soft cap, by anyone (a member's is refused); or a prekey
        if c.int(2):
            ts = NOW_MS + c.int(3)  # the newest (largest ts, then id) wins whatever the order
            pk = crypto.prekey_pair()[0]
            body = _body(h, who, records.PREKEY, heads, pk=pk, ex=ts + 1000) | {"ts": ts}
            return [records.sign(who, body)]
        return [records.sign(who, _body(h, who, records.SOFTCAP, heads, n=2 + c.int(30)))]
    if op == 6:
        target = person(c.pick(PEOPLE)).public_key  # type: ignore[arg-type]
        role = ADMIN if c.int(2) else MEMBER
        return [records.sign(who, _body(h, who, records.ROLE, heads, k=target, r=role))]
    if op == 7:
        if who.public_key in s.members and c.int(3):
            rk = actions.rekey(who, s, h.pos(who), NOW_MS)
            return [*rk.before, rk.record]
        keys = sorted({who.public_key, *(m for m in members if c.int(2))})
        prev = s.current_epoch or s.epochs[h.genesis.id]
        body = _body(
            h,
            who,
            records.REKEY,
            heads,
            e=prev.number + 1,
            pe=prev.id,
            ks=[[k, crypto.seal(k, bytes(32))] for k in keys],
        )
        return [records.sign(who, body)]
    if op == 8:
        relay = person(c.pick((*PEOPLE, 9))).public_key  # type: ignore[arg-type]
        return [records.sign(who, _body(h, who, records.PIN, heads, k=relay, ad=["/ip4/127.0.0.1/tcp/1"]))]
    if bulk_max:
        # Many invitations at once (the cap), each citing the last.
        out: list[Record] = []
        start = 1000 + 10_000 * c.int(8)
        for i in range(1 + c.int(bulk_max)):
            rec = _invite(h, c, s, who, heads, person(start + i).public_key, MEMBER)
            h.last[who.public_key] = rec
            heads = [rec.id]
            out.append(rec)
        return out
    # a record citing a head nobody has: pending forever
    return [records.sign(who, _body(h, who, records.LEAVE, [crypto.random_bytes(32)]))]


def history(
    c: Choices, steps: int, *, bulk_max: int = 0, policy: str = MEMBER, devices: bool = False
) -> History:
    """A random history of ``steps`` steps (fewer when the choices run out); with ``devices``,
    people also link and unlink device keys (``DEVICES``), which act like anyone else."""
    founder = person(1)
    new = circle.create(founder, "circle", NOW_MS, invite_policy=policy)
    h = History(new.genesis, founder)
    index = RosterIndex(new.genesis)
    h.states.append(index.state())
    for _ in range(steps):
        try:
            made = _step(h, c, index, bulk_max, devices)
        except EOFError:
            break
        for r in made:
            h.made.append(r)
            h.last[r.author] = r
            h.states.append(index.add(r))
    return h


def after_checks(
    genesis: Record, recs: Sequence[Record], state_of: Callable[[Sequence[Record]], RosterState]
) -> None:
    """The no-wedge property: remove (+ its rekey) and rekey still make records that
    ``records.sign`` accepts and the fold applies. Raises AssertionError otherwise."""
    s = state_of(recs)
    last: dict[bytes, Record] = {}
    for r in recs:
        if r.author not in last or r.seq > last[r.author].seq:
            last[r.author] = r

    def pos(k: bytes) -> ChainPos:
        r = last.get(k)
        return ChainPos() if r is None else ChainPos(r.seq + 1, r.id)

    assert len(s.members) <= schema.MAX_MEMBERS, f"{len(s.members)} members"
    who = {k: person(n) for n in (*range(1, 10), *DEVICES) for k in [person(n).public_key]}
    for k in sorted(s.members):
        me = who.get(k)
        if me is None:
            continue
        rk = actions.rekey(me, s, pos(k), NOW_MS)
        after = state_of([*recs, *rk.before, rk.record])
        assert rk.record.id in after.accepted, after.rejected.get(rk.record.id)
        assert not after.needs_rekey
        break
    admins = [who[k] for k in sorted(s.members) if k in who and s.may_admin(k)]
    if admins:
        me = admins[0]
        mine = (s.founder, me.public_key, s.person_of(me.public_key))
        targets = [k for k in sorted(s.members) if k not in mine and s.person_of(k) != s.founder]
    if admins and targets:
        target = targets[-1]
        r = last.get(target)
        rm, rk = actions.remove(
            me, s, pos(me.public_key), target, r.seq if r else 0, NOW_MS, cut_id=r.id if r else None
        )
        after = state_of([*recs, *rk.before, rm, rk.record])
        assert rm.id in after.accepted, after.rejected.get(rm.id)
        assert rk.record.id in after.accepted, after.rejected.get(rk.record.id)
        assert not after.needs_rekey
