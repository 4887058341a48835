"""Issue 10, classes 6 and 7: the roster's limits and its cost.

Class 6, docs/protocol.md sections 5 and 15: a rekey carries at most ``MAX_MEMBERS`` (1,024)
sealed keys and a roster record cites at most ``MAX_HEADS`` (64) heads. The fold did not
enforce the first (invitations past the cap were accepted; once 1,025 were members, no rekey
or removal fit the schema, so after one departure nobody could send again), and nothing kept
the second (with more than 64 concurrent heads, every next roster record failed its schema).
The promise (docs/security.md): no sequence of valid records wedges a circle; members plus
open invitations never pass MAX_MEMBERS, and remove and rekey always produce records that
every member accepts.

Class 7: the fold was superlinear; a 1,000-member invitation chain took tens of seconds to
take in. The promise: roster work per record is O(1) amortised; such a history is taken in
within a second or so (here: a generous bound for a loaded CI machine).

The attacker is a member (policy "member": anyone may invite) signing with their own key;
everything goes in as raw bytes through ``CircleView.receive`` (the validator every record,
gossip, sync or import, goes through).
"""

from __future__ import annotations

import time

from protocol import actions, circle, crypto, records, schema
from protocol.chain import ChainPos
from protocol.identity import Identity
from protocol.records import Record
from protocol.view import CircleView, Stored

NOW_MS = 1_800_000_000_000
ALICE, MALLORY = (Identity.from_seed(bytes([n]) * 32) for n in (1, 6))


def key(n: int) -> Identity:
    return Identity.from_seed((500_000 + n).to_bytes(32, "big"))


class Circle:
    """alice's circle, and a view of it fed raw bytes."""

    def __init__(self) -> None:
        self.genesis = circle.create(ALICE, "friends", NOW_MS, invite_policy="member").genesis
        self.view = CircleView(self.genesis)
        self.last: dict[bytes, Record] = {}

    def pos(self, who: Identity) -> ChainPos:
        return self.view.next_pos(who.public_key)

    def sign(self, who: Identity, t: str, heads: list[bytes], **fields: object) -> Record:
        p = self.pos(who)
        body = {"t": t, "a": who.public_key, "c": self.genesis.id, "q": p.seq, "p": p.prev,
                "h": sorted(heads), "ts": NOW_MS, **fields}  # fmt: skip
        return records.sign(who, body)

    def take(self, r: Record) -> Stored:
        out = self.view.receive(r.raw)
        assert isinstance(out, Stored), out
        return out

    def invite(self, by: Identity, who: Identity, heads: list[bytes]) -> Record:
        return self.sign(by, records.INVITE, heads, k=who.public_key, r="member",
                         x=NOW_MS // 1000 + 3600, n=crypto.random_bytes(16), e=self.genesis.id)  # fmt: skip

    def join(self, who: Identity, inv: Record) -> Record:
        return self.sign(who, records.JOIN, [inv.id], i=inv.id)


def test_invitations_past_the_member_cap_are_refused_and_the_full_circle_still_works() -> None:
    c = Circle()
    inv = c.invite(ALICE, MALLORY, [c.genesis.id])
    c.take(inv)
    c.take(c.join(MALLORY, inv))
    # mallory invites 1,100 keys, each citing the last
    head, notes, invites = c.view.roster.heads[0], [], []
    for i in range(1100):
        r = c.invite(MALLORY, key(i), [head])
        notes.append(c.take(r).note)
        invites.append(r)
        head = r.id
    room = schema.MAX_MEMBERS - 2
    assert notes[:room] == [None] * room
    assert set(notes[room:]) == {"the circle is full"}
    for i, r in enumerate(invites[:room]):
        c.take(c.join(key(i), r))
    roster = c.view.roster
    assert len(roster.members) == schema.MAX_MEMBERS
    # one member leaves; alice removes another and rekeys: both fit the schema and are applied
    c.take(actions.leave(key(0), roster, c.pos(key(0)), NOW_MS))
    target = key(1).public_key
    cut, cut_id = c.view.chains.head(target)
    rm, rk = actions.remove(ALICE, c.view.roster, c.pos(ALICE), target, cut, NOW_MS, cut_id=cut_id)
    for r in (*rk.before, rm, rk.record):
        assert c.take(r).note is None
    assert not c.view.roster.needs_rekey
    assert c.view.roster.current_epoch is not None
    assert c.view.roster.current_epoch.id == rk.record.id


def test_more_concurrent_roster_records_than_a_record_may_cite() -> None:
    """100 members join concurrently (each join cites only its invitation): 100 heads. A rekey
    and a removal still fit the schema, and the new epoch is held by every member."""
    c = Circle()
    head = c.genesis.id
    people = [key(i) for i in range(100)]
    invs = []
    for p in people:
        inv = c.invite(ALICE, p, [head])
        c.take(inv)
        head = inv.id
        invs.append(inv)
    for p, inv in zip(people, invs, strict=True):
        c.take(c.join(p, inv))
    assert len(c.view.roster.heads) > schema.MAX_HEADS
    rk = actions.rekey(ALICE, c.view.roster, c.pos(ALICE), NOW_MS)
    for r in (*rk.before, rk.record):
        assert c.take(r).note is None
    assert not c.view.roster.needs_rekey
    cur = c.view.roster.current_epoch
    assert cur is not None and set(c.view.roster.members) <= set(cur.holders)
    target = people[-1].public_key
    cut, cut_id = c.view.chains.head(target)
    rm, rk2 = actions.remove(ALICE, c.view.roster, c.pos(ALICE), target, cut, NOW_MS, cut_id=cut_id)
    for r in (*rk2.before, rm, rk2.record):
        assert c.take(r).note is None
    assert not c.view.roster.needs_rekey


def test_a_thousand_link_invitation_chain_is_taken_in_quickly() -> None:
    """Each member invites the next (2,000 records, the issue's case). The raw bytes go through
    CircleView.receive: parsing and signatures included, about 0.3 s here; it was ~90 s."""
    c = Circle()
    raws: list[bytes] = []
    head, inviter = c.genesis.id, ALICE
    last: dict[bytes, Record] = {}
    for i in range(1000):
        p = key(i)
        prev = last.get(inviter.public_key)
        body = {"t": records.INVITE, "a": inviter.public_key, "c": c.genesis.id,
                "q": prev.seq + 1 if prev else 1, "p": prev.id if prev else None, "h": [head],
                "ts": NOW_MS, "k": p.public_key, "r": "member", "x": NOW_MS // 1000 + 3600,
                "n": i.to_bytes(16, "big"), "e": c.genesis.id}  # fmt: skip
        inv = records.sign(inviter, body)
        join = records.sign(p, {"t": records.JOIN, "a": p.public_key, "c": c.genesis.id, "q": 1, "p": None,
                                "h": [inv.id], "ts": NOW_MS, "i": inv.id})  # fmt: skip
        last[inviter.public_key] = inv
        raws += [inv.raw, join.raw]
        head, inviter = join.id, p
    t = time.perf_counter()
    for raw in raws:
        assert isinstance(c.view.receive(raw), Stored)
    took = time.perf_counter() - t
    assert len(c.view.roster.members) == 1001
    assert took < 5.0, f"{took:.1f} s"
