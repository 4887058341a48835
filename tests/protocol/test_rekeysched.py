"""Scheduled rekeys (protocol/rekeysched.py) and the ``rekeyevery`` record (roster rule 8).

- When a circle is due: the epoch's age, its message count, a join under its key; the
  ``rekeyevery`` record changes the first two (admins only, the last walked holds, the same in
  the incremental fold); the builder refuses what the schema would.
- The scheduler's jitter: nothing before it ends, a rekey after, none if someone else rekeyed
  meanwhile (the epoch changed), an injected clock and random source.
- Convergence (issue 15): a circle of 15 split into random groups, each group's members
  rekeying on their schedules concurrently, heals into one current epoch that every member
  holds the key of.
"""

from __future__ import annotations

import contextlib
import functools
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protocol import actions, circle, crypto, records, schema
from protocol.chain import ChainPos
from protocol.errors import DecryptError, RosterError
from protocol.fold import RosterIndex
from protocol.identity import Identity
from protocol.records import Record
from protocol.rekeysched import DAY_MS, PREKEY_WAIT_S, EpochFacts, Scheduler, why_due
from protocol.roster import DEFAULT_REKEY_DAYS, DEFAULT_REKEY_MESSAGES, RosterState, fold
from tests.protocol.proto_kit import ALICE, BOB, CAROL, NOW_MS, World, new_world, roster_body

pytestmark = pytest.mark.timeout(300)


def facts(state: RosterState, *, messages: int = 0, age_ms: int = 0) -> EpochFacts:
    assert state.current_epoch is not None
    return EpochFacts(state.current_epoch.id, NOW_MS - age_ms, messages)


# -- when a circle is due --------------------------------------------------------------------


def test_due_by_age_by_messages_and_after_a_join() -> None:
    w = new_world()
    s = w.roster
    assert (s.rekey_days, s.rekey_messages, s.rekey_by) == (7, 1000, None)
    assert why_due(s, facts(s), NOW_MS) is None
    assert why_due(s, facts(s, messages=999), NOW_MS) is None
    assert "1000 messages" in str(why_due(s, facts(s, messages=1000), NOW_MS))
    assert why_due(s, facts(s, age_ms=7 * DAY_MS - 1), NOW_MS) is None
    assert "older than 7 days" in str(why_due(s, facts(s, age_ms=7 * DAY_MS), NOW_MS))
    # A join under the current epoch: its key travelled in the token. A rekey ends that.
    w.invite_and_join(ALICE, BOB)
    assert "a join used an invitation" in str(why_due(w.roster, facts(w.roster), NOW_MS))
    w.rekey(BOB)
    assert why_due(w.roster, facts(w.roster), NOW_MS) is None
    # An invitation not used yet hands out nothing that counts (nobody joined with it).
    w.invite(ALICE, CAROL)
    assert why_due(w.roster, facts(w.roster), NOW_MS) is None
    # Facts about an epoch that is no longer current are stale: not due.
    stale = EpochFacts(w.cid, NOW_MS - 30 * DAY_MS, 10_000)
    assert why_due(w.roster, stale, NOW_MS) is None


def test_rekeyevery_by_an_admin_sets_the_schedule_and_a_members_is_refused() -> None:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    rec = actions.set_rekey_schedule(ALICE, w.roster, w.pos(ALICE), 2, 50, NOW_MS)
    w.add(rec)
    s = w.roster
    assert (s.rekey_days, s.rekey_messages, s.rekey_by) == (2, 50, ALICE.public_key)
    assert why_due(s, facts(s, messages=50), NOW_MS) is not None
    assert why_due(s, facts(s, messages=49, age_ms=2 * DAY_MS - 1), NOW_MS) is not None  # the join
    with pytest.raises(RosterError, match="Only admins can set the circle's rekey schedule"):
        actions.set_rekey_schedule(BOB, s, w.pos(BOB), 1, 10, NOW_MS)
    p = w.pos(BOB)
    body = roster_body(BOB, w.cid, records.REKEYEVERY, heads=s.heads, seq=p.seq, prev=p.prev, d=1, m=10)
    forged = records.sign(BOB, body)
    st_ = fold(w.genesis, [*w.history, forged])
    assert st_.rejected[forged.id] == "only admins may set the rekey schedule"
    assert (st_.rekey_days, st_.rekey_messages) == (2, 50)


def test_rekeyevery_concurrent_ones_the_last_walked_holds_in_any_order() -> None:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    w.add(actions.change_role(ALICE, w.roster, w.pos(ALICE), BOB.public_key, "admin", NOW_MS))
    seen = w.roster
    a = actions.set_rekey_schedule(ALICE, seen, w.pos(ALICE), 3, 300, NOW_MS)
    b = actions.set_rekey_schedule(BOB, seen, w.pos(BOB), 30, 30_000, NOW_MS)
    last = max(a, b, key=lambda r: r.id)
    want = (int(last.body["d"]), int(last.body["m"]), last.author)
    recs = [*w.history, a, b]
    rng = random.Random(5)
    for _ in range(6):
        rng.shuffle(recs)
        s = fold(w.genesis, recs)
        assert (s.rekey_days, s.rekey_messages, s.rekey_by) == want
        i = RosterIndex(w.genesis, recs).state()
        assert (i.rekey_days, i.rekey_messages, i.rekey_by) == want


@pytest.mark.parametrize(
    ("days", "messages", "why"),
    [
        (0, 10, "1 to 365 days"),
        (366, 10, "1 to 365 days"),
        (True, 10, "1 to 365 days"),
        (7, 0, "1 to 1,000,000 messages"),
        (7, schema.MAX_REKEY_MESSAGES + 1, "1 to 1,000,000 messages"),
    ],
)
def test_rekeyevery_builder_refuses_what_the_schema_would(days: int, messages: int, why: str) -> None:
    w = new_world()
    with pytest.raises(RosterError, match=why):
        actions.set_rekey_schedule(ALICE, w.roster, w.pos(ALICE), days, messages, NOW_MS)
    p = w.pos(ALICE)
    body = roster_body(ALICE, w.cid, records.REKEYEVERY, heads=w.roster.heads, seq=p.seq, prev=p.prev)
    with pytest.raises(Exception, match=r"'[dm]'"):
        records.parse(records.sign(ALICE, body | {"d": days, "m": messages}).raw)


# -- the jittered start ----------------------------------------------------------------------


def test_scheduler_waits_its_jitter_and_skips_when_someone_else_rekeyed() -> None:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    w.rekey(ALICE)  # not due for the join any more
    s = w.roster
    t = NOW_MS / 1000
    old = facts(s, age_ms=8 * DAY_MS)
    sched = Scheduler(rng=lambda: 0.5, jitter_s=100.0)
    assert not sched.poll(w.cid, s, old, t)  # due: waits 50 s
    assert sched.next_at() == t + 50
    assert not sched.poll(w.cid, s, old, t + 49.9)
    assert sched.poll(w.cid, s, old, t + 50)  # still due on the same epoch: rekey
    assert sched.next_at() is None
    # Due again, but another member rekeys during the wait: the new epoch is not due, nothing.
    assert not sched.poll(w.cid, s, old, t + 100)
    assert sched.next_at() == t + 150
    w.rekey(BOB)
    assert not sched.poll(w.cid, w.roster, facts(w.roster), t + 200)
    assert sched.next_at() is None
    # No facts (no current epoch): nothing waits.
    assert not sched.poll(w.cid, w.roster, None, t + 300)


def bob_publishes_a_prekey(w: World) -> None:
    w.add(actions.prekey(BOB, w.roster, w.pos(BOB), crypto.prekey_pair()[0], NOW_MS))


def test_scheduler_jitter_after_a_join_is_shorter() -> None:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    bob_publishes_a_prekey(w)
    sched = Scheduler(rng=lambda: 1.0, jitter_s=100.0, join_jitter_s=10.0)
    assert not sched.poll(w.cid, w.roster, facts(w.roster), NOW_MS / 1000)
    assert sched.next_at() == NOW_MS / 1000 + 10


def test_a_join_rekey_waits_for_the_joiners_prekey_then_its_jitter() -> None:
    """Sealed before bob's first prekey, the new key would go to his identity key: the rekey
    waits for the prekey (up to PREKEY_WAIT_S), then the jitter starts."""
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    t = NOW_MS / 1000
    sched = Scheduler(rng=lambda: 1.0, jitter_s=100.0, join_jitter_s=10.0)
    assert not sched.poll(w.cid, w.roster, facts(w.roster), t)
    assert sched.next_at() == t + PREKEY_WAIT_S
    assert not sched.poll(w.cid, w.roster, facts(w.roster), t + 60)  # past the jitter: still waits
    bob_publishes_a_prekey(w)
    assert not sched.poll(w.cid, w.roster, facts(w.roster), t + 120)  # there: the jitter starts
    assert sched.next_at() == t + 130
    assert sched.poll(w.cid, w.roster, facts(w.roster), t + 130)
    # A joiner whose node never publishes one: the rekey goes ahead once the wait is over.
    w2 = new_world()
    w2.invite_and_join(ALICE, BOB)
    sched = Scheduler(rng=lambda: 1.0, jitter_s=100.0, join_jitter_s=10.0)
    assert not sched.poll(w2.cid, w2.roster, facts(w2.roster), t)
    assert not sched.poll(w2.cid, w2.roster, facts(w2.roster), t + PREKEY_WAIT_S - 1)
    assert sched.poll(w2.cid, w2.roster, facts(w2.roster), t + PREKEY_WAIT_S)


# -- convergence under partition (issue 15) --------------------------------------------------

N = 15
PEOPLE = [Identity.from_seed(bytes([60 + i]) * 32) for i in range(N)]
PREKEYS = {p.public_key: crypto.prekey_pair() for p in PEOPLE[1:]}
"""Each joiner's prekey (public, private); the founder has none here (sealed to its identity)."""


@functools.cache
def base() -> tuple[Record, tuple[Record, ...]]:
    """PEOPLE[0]'s circle with all 15 joined: every join under epoch 0, so everybody is due."""
    founder = PEOPLE[0]
    g = circle.create(founder, "fifteen", NOW_MS).genesis
    idx = RosterIndex(g)
    made: list[Record] = []
    last: dict[bytes, Record] = {}

    def add(r: Record) -> None:
        made.append(r)
        last[r.author] = r
        idx.add(r)

    def pos(i: Identity) -> ChainPos:
        r = last.get(i.public_key)
        return ChainPos(r.seq + 1, r.id) if r else ChainPos()

    for p in PEOPLE[1:]:
        inv = actions.invite(
            founder, idx.state(), pos(founder), p.public_key, NOW_MS, nonce=p.public_key[:16]
        )
        add(inv)
        add(actions.join(p, inv, pos(p), NOW_MS))
        # Each joiner's node publishes a prekey right after its join: the rekeys wait for it.
        add(actions.prekey(p, idx.state(), pos(p), PREKEYS[p.public_key][0], NOW_MS))
    return g, tuple(made)


def _open(p: Identity, sealed: bytes) -> bytes:
    """A key sealed to ``p``: to its prekey while that had not expired, else to its identity."""
    if p.public_key in PREKEYS:
        with contextlib.suppress(DecryptError):
            return crypto.unseal_with_prekey(PREKEYS[p.public_key][1], sealed)
    return p.unseal(sealed)


@dataclass
class Member:
    me: Identity
    rng: random.Random
    sched: Scheduler = field(init=False)
    counts: dict[bytes, int] = field(default_factory=dict)
    """Messages seen per epoch."""

    def __post_init__(self) -> None:
        self.sched = Scheduler(rng=self.rng.random, jitter_s=120.0, join_jitter_s=30.0)


@dataclass
class Group:
    members: list[Member]
    recs: list[Record]

    def state(self, g: Record) -> RosterState:
        return fold(g, self.recs)


def _pos(recs: list[Record], me: Identity) -> ChainPos:
    mine = [r for r in recs if r.author == me.public_key]
    top = max(mine, key=lambda r: r.seq, default=None)
    return ChainPos(top.seq + 1, top.id) if top else ChainPos()


def _opened(g: Record, recs: list[Record], epoch: bytes) -> int:
    if epoch == g.id:
        return int(g.body["ts"])
    return next(int(r.body["ts"]) for r in recs if r.id == epoch)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    groups=st.lists(st.integers(0, 3), min_size=N, max_size=N),
    rounds=st.lists(
        st.tuples(st.integers(0, 10 * 24 * 3600), st.lists(st.integers(0, 400), min_size=4, max_size=4)),
        min_size=1,
        max_size=5,
    ),
    seed=st.integers(0, 2**32 - 1),
    schedule=st.sampled_from([None, (1, 100), (7, 1000)]),
)
# Past the joiners' prekeys' 14 days: the last rekeys are sealed to identity keys again.
@example(
    groups=[0] * N,
    rounds=[(o, [0, 0, 0, 0]) for o in (0, 7076, 158615, 263329, 779605)],
    seed=0,
    schedule=None,
)
def test_partitioned_scheduled_rekeys_converge_to_one_epoch_everyone_holds(
    groups: list[int], rounds: list[tuple[int, list[int]]], seed: int, schedule: tuple[int, int] | None
) -> None:
    g, made = base()
    recs = list(made)
    if schedule is not None:  # the founder sets the schedule before the partition
        st0 = fold(g, recs)
        recs.append(actions.set_rekey_schedule(PEOPLE[0], st0, _pos(recs, PEOPLE[0]), *schedule, NOW_MS))
    rng = random.Random(seed)
    members = [Member(p, random.Random(rng.random())) for p in PEOPLE]
    parts = [
        Group([m for m, gi in zip(members, groups, strict=True) if gi == k], list(recs))
        for k in sorted(set(groups))
    ]
    now_s = NOW_MS / 1000
    rekeys = 0
    for dt, sent in rounds:
        now_s += dt
        for k, grp in enumerate(parts):
            s = grp.state(g)
            assert s.current_epoch is not None
            cur = s.current_epoch.id
            for m in grp.members:  # the group's messages, seen by each member of it
                m.counts[cur] = m.counts.get(cur, 0) + sent[k % 4]
            # Members look every 15 s for four minutes; what one rekeys in a tick reaches the
            # others of the group only after the tick: rekeys in one tick are concurrent.
            for tick in range(16):
                t = now_s + 15 * tick
                s = grp.state(g)
                assert s.current_epoch is not None
                cur = s.current_epoch.id
                new: list[Record] = []
                for m in rng.sample(grp.members, len(grp.members)):
                    f = EpochFacts(cur, _opened(g, grp.recs, cur), m.counts.get(cur, 0))
                    if m.sched.poll(g.id, s, f, t):
                        rk = actions.rekey(m.me, s, _pos(grp.recs, m.me), int(t * 1000))
                        new += [*rk.before, rk.record]
                grp.recs += new
                rekeys += len(new)
        now_s += 16 * 15
    # The partition heals: everyone gets every record.
    healed: dict[bytes, Record] = {}
    for grp in parts:
        healed.update((r.id, r) for r in grp.recs)
    everything = list(healed.values())
    states = []
    for _ in range(3):
        rng.shuffle(everything)
        states.append(fold(g, everything))
    states.append(RosterIndex(g, everything).state())
    cur = states[0].current_epoch
    assert cur is not None
    assert all(s.current_epoch is not None and s.current_epoch.id == cur.id for s in states)
    assert not states[0].rejected and not states[0].pending
    assert rekeys >= 1  # every join was under epoch 0: at least one group rekeyed
    assert set(cur.holders) == {p.public_key for p in PEOPLE} and not states[0].needs_rekey
    keys = {_open(p, bytes(cur.sealed[p.public_key])) for p in PEOPLE}
    assert len(keys) == 1  # one key, and every member opens it
    assert (states[0].rekey_days, states[0].rekey_messages) == (
        schedule or (DEFAULT_REKEY_DAYS, DEFAULT_REKEY_MESSAGES)
    )
