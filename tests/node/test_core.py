"""The node core's decisions, with no sockets and a fake clock (time is a number passed in)."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from protocol import circle, crypto, presence, records
from protocol.identity import Identity, peer_id
from protocol.node import api, queries
from protocol.node.core import (
    ASIDE_MAX,
    GAP_ASK_EVERY,
    GAP_ASKS_KEPT,
    HINT_DELAY,
    HINT_EVERY,
    SUSPECT,
    NodeCore,
)
from protocol.node.events import (
    Accept,
    BatchReceived,
    CommandArrived,
    Committed,
    Dial,
    Dialled,
    Disconnect,
    Emit,
    GossipArrived,
    GossipDropped,
    JoinTopic,
    KickOutbox,
    PeerCame,
    PeerFaulted,
    PeerWent,
    Publish,
    Pull,
    Reconsider,
    RecordReceived,
    Stop,
    Tick,
    Wake,
)
from protocol.node.limits import GRAYLIST_S, STRIKE_WINDOW, STRIKES, Quota, RateLimit, RelayPolicy
from protocol.node.paths import resolve
from protocol.node.profile import Profile

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parent.parent.parent
PEER = Identity.generate().peer_id


def of(effects: list[object], kind: type) -> list[object]:
    return [e for e in effects if isinstance(e, kind)]


def test_the_core_loads_no_io_framework() -> None:
    code = "import sys, protocol.node.core; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert not {"trio", "libp2p", "socket", "asyncio", "textual"} & set(eval(out.stdout))


def test_strikes_graylist_a_peer_for_a_while(world: tuple[Profile, Profile, Profile, bytes]) -> None:
    core = NodeCore(world[0])
    for _ in range(STRIKES - 1):
        assert core.handle(PeerFaulted(PEER), 0.0) == []
    assert not core.refused(PEER, 0.0)
    for _ in range(STRIKES - 1):  # the old strikes have aged out of the window
        assert core.handle(PeerFaulted(PEER), STRIKE_WINDOW + 1) == []
    assert core.handle(PeerFaulted(PEER), STRIKE_WINDOW + 1) == [Disconnect(PEER)]
    assert core.refused(PEER, STRIKE_WINDOW + 2) and not core.refused(Identity.generate().peer_id, 0.0)
    assert core.handle(PeerCame(PEER), STRIKE_WINDOW + 2) == [Disconnect(PEER)]  # it comes back: cut
    assert not core.refused(PEER, STRIKE_WINDOW + 2 + GRAYLIST_S)  # graylisting ends
    assert core.stats["peer_faults"] == 2 * STRIKES - 1


def test_the_rate_per_author_holds_a_flood_and_not_the_others(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, bob, carol, c = world
    core = NodeCore(alice)
    flood = [bob.send_text(c, f"spam {i}") for i in range(460)]
    limit = RateLimit()
    passed = [bool(of(core.handle(GossipArrived(PEER, c, r.raw), 5.0), Accept)) for r in flood[:420]]
    assert sum(passed) == limit.burst and not any(passed[int(limit.burst) :])  # the burst, then none
    honest = core.handle(GossipArrived(PEER, c, carol.send_text(c, "hello").raw), 5.0)
    assert of(honest, Accept)  # carol is not slowed down by bob
    later = [bool(of(core.handle(GossipArrived(PEER, c, r.raw), 5.5), Accept)) for r in flood[400:]]
    assert sum(later) == limit.rate / 2  # refilled at the rate for half a second
    assert not core.refused(PEER, 6.0)  # valid records: the forwarder is not charged
    assert "rate limit" in str(of(core.handle(GossipArrived(PEER, c, flood[-1].raw), 5.5), Emit))


def test_a_record_received_is_committed_and_told_to_the_ui(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, bob, _, c = world
    core = NodeCore(alice)
    rec = bob.send_text(c, "hi alice")
    out = core.handle(RecordReceived(rec, PEER), 1.0)
    assert Committed(rec) in out
    (ev,) = [e.event for e in of(out, Emit) if isinstance(e, Emit)]
    assert isinstance(ev, api.MessageReceived) and ev.text == "hi alice" and ev.author == bob.me
    assert any(r.id == rec.id for r in alice.view(c).records.values())
    assert core.handle(RecordReceived(rec, PEER), 2.0) == []  # once
    again = bob.send_text(c, "again")
    out = core.handle(GossipArrived(PEER, c, again.raw), 3.0)  # committed, then forwarded
    assert Committed(again) in out and of(out, Emit) and out[-1] == Accept()
    assert core.handle(GossipArrived(PEER, c, again.raw), 3.5) == []  # a duplicate: not forwarded again
    ahead = [bob.send_text(c, f"m{i}") for i in range(3)]
    out = core.handle(RecordReceived(ahead[2], PEER), 4.0)  # two missing before it: kept, and pulled
    assert Pull(PEER, c) in out and Emit(api.GapDetected(c, bob.me, 2)) in out


def test_a_gap_that_stays_asks_its_peer_for_a_pull_once_a_while_not_at_every_record(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    """A peer that lacks the record below a gap would be asked to sync at each later record of
    that author (a relay: a sync a message); one ask per peer and circle each GAP_ASK_EVERY."""
    alice, bob, _, c = world
    core = NodeCore(alice)
    core.handle(RecordReceived(bob.send_text(c, "first"), PEER), 0.0)
    bob.send_text(c, "lost on the way")  # nobody here ever gets it
    later = [bob.send_text(c, f"later {i}") for i in range(4)]
    other = Identity.generate().peer_id
    out = core.handle(GossipArrived(PEER, c, later[0].raw), 10.0)
    assert Pull(PEER, c) in out and Emit(api.GapDetected(c, bob.me, 1)) in out
    out = core.handle(GossipArrived(PEER, c, later[1].raw), 10.0 + GAP_ASK_EVERY - 0.1)
    assert Accept() in out and not of(out, Pull)  # stored and forwarded, not asked again
    assert Emit(api.GapDetected(c, bob.me, 1)) in out  # the UI is still told
    assert Pull(other, c) in core.handle(GossipArrived(other, c, later[2].raw), 10.5)  # another peer
    out = core.handle(GossipArrived(PEER, c, later[3].raw), 10.0 + GAP_ASK_EVERY)
    assert Pull(PEER, c) in out


def test_a_record_held_for_what_it_needs_asks_for_a_pull_once_a_while(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    alice, _, _, c = world
    dave = Profile.create(resolve(str(tmp_path), "dave"), "dave")
    core = NodeCore(alice)
    dave.join_token(alice.invite(c, dave.me))
    held = [dave.send_text(c, f"before my join is in {i}") for i in range(2)]
    assert core.handle(GossipArrived(PEER, c, held[0].raw), 1.0) == [Pull(PEER, c)]
    assert core.handle(GossipArrived(PEER, c, held[1].raw), 1.5) == []


def test_the_pulls_records_asked_for_are_remembered_within_a_bound(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, _, _, c = world
    core = NodeCore(alice)
    assert GAP_ASKS_KEPT == 1024
    core.asked = {(f"peer {i}", c): 5.0 + (i % 2) * 100 for i in range(1024)}  # half over at 50
    assert core._ask(PEER, c, 50.0) == [Pull(PEER, c)]
    assert len(core.asked) == 512 + 1 and core.asked[PEER, c] == 50.0 + GAP_ASK_EVERY
    assert core._ask("peer 1", c, 60.0) == []  # a pair not over yet is kept, and still counts
    core.asked = {(f"peer {i}", c): 5.0 for i in range(1023)}  # all over, but under the bound: kept
    core._ask(PEER, c, 50.0)
    assert len(core.asked) == 1024


def test_a_sync_batch_that_leaves_a_gap_asks_its_peer_once_a_while(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, bob, _, c = world
    core = NodeCore(alice)
    core.handle(RecordReceived(bob.send_text(c, "first"), PEER), 0.0)
    bob.send_text(c, "lost on the way")
    runs = [[bob.send_text(c, f"run {k} {i}") for i in range(3)] for k in range(3)]
    out = core.handle(BatchReceived(tuple(runs[0]), PEER), 10.0)
    assert of(out, Pull) == [Pull(PEER, c)] and Emit(api.GapDetected(c, bob.me, 1)) in out
    out = core.handle(BatchReceived(tuple(runs[1]), PEER), 11.0)
    assert not of(out, Pull) and Emit(api.GapDetected(c, bob.me, 1)) in out
    assert of(core.handle(BatchReceived(tuple(runs[2]), PEER), 10.0 + GAP_ASK_EVERY), Pull) == [Pull(PEER, c)]


def test_a_sync_batch_below_a_record_held_above_a_gap_asks_once_a_while(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    """Records in order taken together (the batch's fast lane) while one above the gap waits."""
    alice, bob, _, c = world
    core = NodeCore(alice)
    core.handle(RecordReceived(bob.send_text(c, "first"), PEER), 0.0)
    chain = [bob.send_text(c, f"m{i}") for i in range(6)]
    other = Identity.generate().peer_id
    assert Pull(PEER, c) in core.handle(GossipArrived(PEER, c, chain[5].raw), 10.0)  # held above a gap
    out = core.handle(BatchReceived(tuple(chain[0:2]), other), 10.5)
    assert of(out, Pull) == [Pull(other, c)] and Emit(api.GapDetected(c, bob.me, 3)) in out
    out = core.handle(BatchReceived(tuple(chain[2:4]), other), 11.0)
    assert not of(out, Pull) and Emit(api.GapDetected(c, bob.me, 1)) in out


def test_a_strangers_record_is_dropped_and_its_forwarder_charged(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    alice, _, _, c = world
    core = NodeCore(alice)
    mallory = Profile.create(resolve(str(tmp_path), "mallory"), "mallory")
    g = mallory.new_circle("mine").circle_id
    forged = mallory.send_text(g, "hello?")  # a real record, of another circle, on alice's topic
    out = core.handle(GossipArrived(PEER, c, forged.raw), 0.0)
    assert not of(out, Accept)
    (ev,) = [e.event for e in of(out, Emit) if isinstance(e, Emit)]
    assert isinstance(ev, api.RecordDropped) and "another circle" in ev.reason
    assert core.strikes.recent[PEER] == [(0.0, 1.0)]
    garbage = core.handle(GossipArrived(PEER, c, b"\x92\xc4\x01x\xc4\x01y"), 0.0)
    assert not of(garbage, Accept) and of(garbage, Emit) and len(core.strikes.recent[PEER]) == 2
    assert core.stats["dropped"] == 2  # `smallsocial relay status` and the node's counters show it
    # A stranger's record for this circle: unplaceable, not kept, a quarter strike each.
    strangers = [Identity.generate() for _ in range(int(STRIKES / SUSPECT))]
    joins = [
        records.sign(s, {"t": records.JOIN, "a": s.public_key, "c": c, "q": 1, "p": None,
                         "h": [crypto.random_bytes(32)], "ts": 1, "i": crypto.random_bytes(32)}).raw
        for s in strangers
    ]  # fmt: skip
    out = [e for raw in joins for e in core.handle(GossipArrived(PEER, c, raw), 1.0)]
    assert not of(out, Accept) and Disconnect(PEER) in out and core.refused(PEER, 1.0)
    # nor parked in the held area: keys are free, so that would be a free disk-filling write
    assert alice.store.db.execute("SELECT COUNT(*) FROM held").fetchone()[0] == 0
    mallory.close()


def test_gossip_dropped_on_its_way_to_a_peer_nudges_that_peer_alone_once_a_burst(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, _, _, c = world
    core = NodeCore(alice)
    other = Identity.generate().peer_id
    assert core.handle(PeerCame(PEER), 0.0) == [Emit(api.PeerConnected(PEER)), Pull(PEER, None)]
    core.handle(PeerCame(other), 0.0)
    assert core.handle(GossipDropped(PEER, frozenset({c})), 10.0) == [Wake(10.0 + HINT_DELAY)]
    assert core.handle(GossipDropped(PEER, frozenset({c})), 10.5) == []  # the same burst: one nudge
    assert core.handle(Tick(), 10.9) == []
    assert core.handle(Tick(), 10.0 + HINT_DELAY) == [Pull(PEER, c)]  # not `other`: it lost nothing
    assert core.handle(Tick(), 12.0) == []
    core.handle(PeerWent(other), 12.0)
    assert core.handle(GossipDropped(other, frozenset({c})), 20.0) == [Wake(20.0 + HINT_DELAY)]
    assert core.handle(Tick(), 21.0) == []  # gone: it pulls when it comes back (PeerCame)


def test_a_peer_that_keeps_losing_gossip_is_nudged_at_most_every_few_seconds_and_after_the_last(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    """Each nudge is a sync stream; a peer overloaded for a while gets one every HINT_EVERY."""
    alice, _, _, c = world
    core = NodeCore(alice)
    core.handle(PeerCame(PEER), 0.0)
    pulls: list[float] = []
    t, wake = 10.0, None
    while t < 30.0:  # a message dropped on its way to PEER every second
        for e in core.handle(GossipDropped(PEER, frozenset({c})), t):
            wake = e.at if isinstance(e, Wake) else wake
        if wake is not None and wake <= t + 1.0 and core.handle(Tick(), wake):
            pulls.append(wake)
            wake = None
        t += 1.0
    assert pulls[0] == 10.0 + HINT_DELAY
    assert all(b - a >= HINT_EVERY for a, b in itertools.pairwise(pulls)), pulls
    assert len(pulls) <= 1 + 20.0 / HINT_EVERY
    assert wake is not None and wake <= pulls[-1] + HINT_EVERY  # the tail: nudged, at most that late
    assert core.handle(Tick(), wake) == [Pull(PEER, c)]


def test_a_relay_refuses_messages_past_its_quota(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    alice, bob, _, c = world
    relay = Profile.create(resolve(str(tmp_path), "relay"), "relay")
    genesis = alice.view(c).genesis
    relay.ledger.open_circle(genesis, circle.parent_of(genesis), relay.ledger.seal(b""), "relay")
    core = NodeCore(relay, relay=RelayPolicy(Quota(records=1), relay.store))
    msg = bob.send_text(c, "too much")
    assert core.handle(GossipArrived(PEER, c, msg.raw), 0.0) == []
    assert core.handle(RecordReceived(msg, PEER), 0.0) == []
    assert core.stats["over_quota"] == 2 and relay.store.counters().get("over_quota") == 2
    roster = [r for r in alice.view(c).roster_records.values() if r.type != records.GENESIS]
    for r in roster:  # roster records always pass the quota (later records need them)
        core.handle(RecordReceived(r, PEER), 0.0)
    assert core.stats["over_quota"] == 2
    relay.close()


def test_a_relay_counts_what_it_stores_against_the_quota(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    """The quota is met by what the relay stores while it runs, not only by what its store held
    when it started: one record under the quota is stored, the next is refused."""
    alice, bob, _, c = world
    relay = Profile.create(resolve(str(tmp_path), "relay"), "relay")
    genesis = alice.view(c).genesis
    relay.ledger.open_circle(genesis, circle.parent_of(genesis), relay.ledger.seal(b""), "relay")
    roster = [r for r in alice.view(c).roster_records.values() if r.type != records.GENESIS]
    held = relay.store.usage(c)[0] + len(roster)
    core = NodeCore(relay, relay=RelayPolicy(Quota(records=held + 1), relay.store))
    for r in roster:
        core.handle(RecordReceived(r, PEER), 0.0)
    first, second = bob.send_text(c, "the last one it takes"), bob.send_text(c, "one too many")
    assert of(core.handle(RecordReceived(first, PEER), 0.0), Committed)
    assert core.stats["stored"] == len(roster) + 1 and core.stats.get("over_quota", 0) == 0
    assert core.handle(RecordReceived(second, PEER), 0.0) == []
    assert core.stats["over_quota"] == 1 and second.id not in {r.id for r in relay.store.load_records(c)}
    relay.close()


def _new_records(p: Profile, c: bytes, before: set[bytes]) -> list[records.Record]:
    """``p``'s records of ``c`` not in ``before``, in chain order."""
    new = [r for r in p.store.load_records(c) if r.id not in before]
    return sorted(new, key=lambda r: (r.author, r.seq))


def _told(core: NodeCore, p: Profile, c: bytes, before: set[bytes], now: float) -> list[api.Event]:
    """What the UI is told when ``p``'s records of ``c`` not in ``before`` come to ``core`` by gossip."""
    effects = [e for r in _new_records(p, c, before) for e in core.handle(GossipArrived(PEER, c, r.raw), now)]
    return [e.event for e in effects if isinstance(e, Emit)]


def test_a_removal_by_gossip_tells_the_ui_and_reconsiders_peers(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, bob, carol, c = world
    core = NodeCore(carol)
    before = set(alice.view(c).records)
    alice.remove(c, bob.me)  # a removal and its rekey
    told: dict[str, list[api.Event]] = {}
    out = []
    for r in _new_records(alice, c, before):
        effects = core.handle(GossipArrived(PEER, c, r.raw), 1.0)
        told[r.type] = [e.event for e in effects if isinstance(e, Emit)]
        out += effects
    # told once, with the record that removed him: not again with the rekey that follows, which
    # changes the roster too (each change tells only the departures it brought)
    assert told[records.REMOVE] == [api.MemberRemoved(c, bob.me)] and told[records.REKEY] == []
    assert Reconsider(c) in out
    assert len(of(out, Accept)) == 2 and len(of(out, Committed)) == 2
    assert bob.me not in carol.view(c).roster.members
    before = set(alice.view(c).records)
    alice.change_role(c, carol.me, "admin")  # a later change: only the role it changed is told
    assert [r.type for r in _new_records(alice, c, before) if r.type != records.GENESIS] == [records.ROLE]
    assert _told(core, alice, c, before, 1.5) == [api.MemberRoleChanged(c, carol.me, "admin")]
    late = bob.send_text(c, "am I still here?")  # past his cut: refused, and its forwarder charged
    out = core.handle(GossipArrived(PEER, c, late.raw), 2.0)
    assert not of(out, Accept) and core.strikes.recent[PEER] == [(2.0, SUSPECT)]


def test_my_own_removal_is_told_as_a_removal_not_as_an_unlinked_device(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, _, carol, c = world
    before = set(alice.view(c).records)
    alice.remove(c, carol.me)
    said = _told(NodeCore(carol), alice, c, before, 1.0)
    assert api.MemberRemoved(c, carol.me) in said  # DeviceUnlinked is for a device unlinked from me
    assert not [ev for ev in said if isinstance(ev, api.DeviceUnlinked)]


def test_a_presence_teaches_a_name_and_a_strangers_is_refused(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, bob, _, c = world
    core = NodeCore(alice)
    epoch = bob.view(c).roster.current_epoch
    assert epoch is not None
    key = bob.epoch_keys(c)[epoch.id]
    now_ms = int(alice.clock() * 1000)
    addrs = [f"/ip4/192.0.2.7/tcp/4001/p2p/{bob.identity.peer_id}"]
    rec = presence.announce(bob.identity, c, addrs, now_ms, "Bobby", epoch.id, key)
    out = core.handle(GossipArrived(PEER, c, rec.raw), 1.0)
    assert out == [Accept(), Emit(api.NameChanged(bob.me, "Bobby"))]
    assert rec.id not in alice.view(c).records  # a presence is never stored as a record
    mallory = Identity.generate()
    forged = presence.announce(mallory, c, [], now_ms, "alice", epoch.id, key)
    out = core.handle(GossipArrived(PEER, c, forged.raw), 1.0)
    assert not of(out, Accept) and core.strikes.recent[PEER] == [(1.0, SUSPECT)]


def test_a_joiner_by_short_token_charges_nobody_for_what_its_roster_cannot_judge_yet(
    tmp_path: Path,
) -> None:
    """Before the first sync bob's roster knows nobody (no genesis yet), then not himself: his
    inviter's messages and presence are held or passed over, not held against her (she is the
    one peer he can learn the circle from). Once his join is in, the usual charges apply."""
    alice, bob = (Profile.create(resolve(str(tmp_path), n), n) for n in ("alice", "bob"))
    c = alice.new_circle("friends").circle_id
    bob.join_token(alice.invite(c, bob.me))
    core = NodeCore(bob)
    hello = alice.send_text(c, "hello")
    epoch = alice.view(c).roster.current_epoch
    assert epoch is not None
    now_ms = int(alice.clock() * 1000)
    seen = presence.announce(
        alice.identity,
        c,
        [f"/ip4/192.0.2.7/tcp/1/p2p/{alice.identity.peer_id}"],
        now_ms,
        "Alice",
        epoch.id,
        alice.epoch_keys(c)[epoch.id],
    )
    for i, rec in enumerate((hello, seen)):
        out = core.handle(GossipArrived(PEER, c, rec.raw), float(i))
        assert not of(out, Accept) and not core.strikes.recent.get(PEER)
        assert not [
            e for e in of(out, Emit) if isinstance(e, Emit) and isinstance(e.event, api.RecordDropped)
        ]
    bob.import_bundle(alice.export([c]))  # the first sync: bob's join is in his roster now
    stranger = Identity.generate()
    forged = presence.announce(stranger, c, [], now_ms, "x", epoch.id, alice.epoch_keys(c)[epoch.id])
    out = core.handle(GossipArrived(PEER, c, forged.raw), 3.0)
    assert core.strikes.recent[PEER] == [(3.0, SUSPECT)]
    for p in (alice, bob):
        p.close()


def test_a_presence_before_the_first_sync_is_read_once_the_roster_can_judge_it(tmp_path: Path) -> None:
    """A joiner greeted before its first sync learns the greeter's name when the sync lands,
    not a minute later at the next presence; a stranger's presence set aside is not believed."""
    alice, bob = (Profile.create(resolve(str(tmp_path), n), n) for n in ("alice", "bob"))
    c = alice.new_circle("friends").circle_id
    bob.join_token(alice.invite(c, bob.me))
    core = NodeCore(bob)
    epoch = alice.view(c).roster.current_epoch
    assert epoch is not None
    key = alice.epoch_keys(c)[epoch.id]
    now_ms = int(bob.clock() * 1000)
    mine = f"/ip4/192.0.2.7/tcp/1/p2p/{alice.identity.peer_id}"
    stranger = Identity.generate()
    for who, name in ((alice.identity, "Alice"), (stranger, "Mallory")):
        addrs = [mine] if who is alice.identity else []
        out = core.handle(
            GossipArrived(PEER, c, presence.announce(who, c, addrs, now_ms, name, epoch.id, key).raw), 0.0
        )
        assert not of(out, Emit)  # nothing can be told yet
    names = []
    for rec in sorted(alice.store.load_records(c), key=lambda r: (r.author, r.seq)):
        out = core.handle(RecordReceived(rec, PEER), 1.0)
        names += [
            e.event for e in of(out, Emit) if isinstance(e, Emit) and isinstance(e.event, api.NameChanged)
        ]
    assert names == [api.NameChanged(alice.me, "Alice")]
    assert mine in bob.store.peer_addrs(c)
    assert not core.aside.get(c)  # nothing left waiting once the roster is whole
    for p in (alice, bob):
        p.close()


def test_presences_set_aside_are_bounded_per_circle_the_oldest_let_go_first(tmp_path: Path) -> None:
    """Before my join is in my roster I cannot judge anyone's presence, so I keep the newest of
    each author aside; a flood of made-up authors meanwhile costs at most ASIDE_MAX of them."""
    alice, bob = (Profile.create(resolve(str(tmp_path), n), n) for n in ("alice", "bob"))
    c = alice.new_circle("friends").circle_id
    bob.join_token(alice.invite(c, bob.me))
    core = NodeCore(bob)
    epoch = alice.view(c).roster.current_epoch
    assert epoch is not None and ASIDE_MAX == 32
    key, now_ms = alice.epoch_keys(c)[epoch.id], int(alice.clock() * 1000)
    people = [Identity.generate() for _ in range(ASIDE_MAX + 1)]
    for i, who in enumerate(people):
        seen = presence.announce(who, c, [], now_ms, f"p{i}", epoch.id, key)
        assert not of(core.handle(GossipArrived(PEER, c, seen.raw), float(i)), Accept)
        if i == ASIDE_MAX - 1:
            assert len(core.aside[c]) == ASIDE_MAX  # at the bound: every one kept
    held = core.aside[c]
    assert len(held) == ASIDE_MAX  # one past it: the one set aside first is let go
    assert people[0].public_key not in held and people[1].public_key in held and people[-1].public_key in held
    for p in (alice, bob):
        p.close()


def test_a_message_before_its_authors_join_is_held_then_shown(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    alice, _, _, c = world
    dave = Profile.create(resolve(str(tmp_path), "dave"), "dave")
    core = NodeCore(alice)
    before = set(alice.view(c).records)
    dave.join_token(alice.invite(c, dave.me))
    invite = _new_records(alice, c, before)
    join = [r for r in dave.store.load_records(c) if r.author == dave.me]
    hello = dave.send_text(c, "hi, I'm new")
    for r in invite:
        core.handle(RecordReceived(r, PEER), 0.0)  # alice's own invitation: a duplicate, no effect
    out = core.handle(GossipArrived(PEER, c, hello.raw), 1.0)  # before the join: held, pulled
    assert out == [Pull(PEER, c)] and core.strikes.recent.get(PEER, []) == []
    (j,) = join
    out = core.handle(GossipArrived(PEER, c, j.raw), 2.0)  # the join lets the message in
    assert Accept() in out and Emit(api.MemberJoined(c, dave.me)) in out
    events = [e.event for e in of(out, Emit) if isinstance(e, Emit)]
    assert [ev.text for ev in events if isinstance(ev, api.MessageReceived)] == ["hi, I'm new"]
    dave.close()


# commands: what each means, decided with no sockets (the node only carries the effects out) ---
def test_a_message_sent_is_answered_then_published_and_a_failure_keeps_nothing(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, _, _, c = world
    core = NodeCore(alice)
    out = core.handle(CommandArrived(api.SendMessage(c, "hello", request_id=7)), 0.0)
    (rec,) = [r for r in alice.store.load_records(c, records.MSG) if r.author == alice.me]
    assert out == [Emit(api.MessageSent(7, c, rec.id, rec.seq)), Publish(rec)]
    assert [rid for rid, _ in alice.store.outbox()][-1] == rec.id  # committed before it is published
    before = dict(alice.view(c).records)
    out = core.handle(CommandArrived(api.SendMessage(b"\x01" * 32, "to nowhere", request_id=8)), 0.0)
    assert len(out) == 1 and isinstance(out[0], Emit) and isinstance(out[0].event, api.CommandFailed)
    assert out[0].event.request_id == 8 and alice.view(c).records == before


def test_a_full_disk_answers_that_nothing_was_done(
    world: tuple[Profile, Profile, Profile, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = world[0]

    def full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(alice, "set_display_name", full)
    (e,) = NodeCore(alice).handle(CommandArrived(api.SetDisplayName("Al", request_id=3)), 0.0)
    assert isinstance(e, Emit) and isinstance(e.event, api.CommandFailed)
    assert e.event.message.startswith("Nothing was done: the disk is full")


def test_a_new_circle_is_joined_before_it_is_announced(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice = world[0]
    out = NodeCore(alice).handle(CommandArrived(api.CreateCircle("books", request_id=1)), 0.0)
    assert len(out) == 2 and isinstance(out[0], JoinTopic) and isinstance(out[1], Emit)
    assert out[1].event == api.CircleCreated(1, out[0].circle, "books")


def test_an_invitation_carries_my_token_addresses_and_a_joiner_dials_them(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    alice, _, _, c = world
    mine = f"/ip4/198.51.100.7/tcp/4001/p2p/{alice.identity.peer_id}"
    core = NodeCore(alice, addrs=lambda: [mine, "/ip4/10.0.0.2/tcp/4001"], token_addrs=lambda: [mine])
    dave = Profile.create(resolve(str(tmp_path), "dave"), "dave")
    out = core.handle(CommandArrived(api.InviteKey(c, dave.me, request_id=2)), 0.0)
    assert isinstance(out[0], Emit) and isinstance(out[0].event, api.InviteCreated)
    assert out[1:] == [KickOutbox(), Reconsider(c)]  # a connected invitee may now see the topic
    out = NodeCore(dave).handle(CommandArrived(api.AcceptInvite(out[0].event.token, request_id=3)), 0.0)
    assert out[0] == JoinTopic(c) and out[2] == KickOutbox() and out[3:] == [Dial(mine)]
    assert isinstance(out[1], Emit) and out[1].event == api.CircleJoined(3, c, "friends")
    dave.close()


def test_a_peer_connected_by_hand_is_kept_only_if_reached(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice = world[0]
    core = NodeCore(alice)
    addr = f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"
    assert core.handle(CommandArrived(api.ConnectPeer(addr, request_id=4)), 0.0) == [Dial(addr, 4)]
    (failed,) = core.handle(Dialled(addr, False, 4), 1.0)
    assert isinstance(failed, Emit) and failed.event == api.CommandFailed(4, f"Could not reach {addr}.")
    assert addr not in core.known_addrs()
    assert core.handle(Dialled(addr, True, 5), 2.0) == [Emit(api.CommandDone(5))]
    assert addr in core.known_addrs()  # and the dialer keeps it up


def test_a_relay_dials_only_the_peers_it_was_given(world: tuple[Profile, Profile, Profile, bytes]) -> None:
    alice, _, _, c = world
    member = f"/ip4/127.0.0.1/tcp/4002/p2p/{Identity.generate().peer_id}"
    alice.store.add_peer_addrs(c, [member], "presence", 0)
    given = f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"
    assert set(NodeCore(alice, peers=[given]).known_addrs()) >= {given, member}
    relay = NodeCore(alice, relay=RelayPolicy(Quota(), alice.store), peers=[given, "/ip4/127.0.0.1/tcp/1"])
    assert relay.known_addrs() == [given]  # not the members' (many cannot be dialled), nor no peer ID


def test_a_member_dials_the_relays_of_the_circles_it_is_in_and_not_of_one_it_left(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, bob, _, c = world
    relay = f"/ip4/127.0.0.1/tcp/4003/p2p/{Identity.generate().peer_id}"
    alice.pin(c, relay)
    bob.import_bundle(alice.export([c]))
    assert relay in NodeCore(bob).known_addrs()  # a member keeps its circle's relay dialled
    bob.leave(c)
    assert bob.store.circle(c).status == "left"  # type: ignore[union-attr]
    assert relay not in NodeCore(bob).known_addrs()  # not the relay of a circle it left


def test_sync_now_pulls_from_every_connected_peer_and_shutdown_stops(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    core = NodeCore(world[0])
    other = Identity.generate().peer_id
    for p in (PEER, other):
        core.handle(PeerCame(p), 0.0)
    out = core.handle(CommandArrived(api.SyncNow(request_id=5)), 1.0)
    assert out == [Pull(p, None) for p in sorted((PEER, other))] + [Emit(api.CommandDone(5))]
    assert core.handle(CommandArrived(api.Shutdown(request_id=6)), 2.0) == [Emit(api.CommandDone(6)), Stop()]


def test_a_relay_address_that_does_not_parse_is_refused_and_nothing_is_pinned(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, _, _, c = world
    before = dict(alice.view(c).records)
    bad = f"/nonsense/x/p2p/{PEER}"  # a peer ID libp2p takes, in an address it cannot parse
    (e,) = NodeCore(alice).handle(CommandArrived(api.PinRelay(c, bad, request_id=9)), 0.0)
    assert isinstance(e, Emit) and isinstance(e.event, api.CommandFailed)
    assert "does not parse" in e.event.message and alice.view(c).records == before


def test_a_damaged_stored_message_is_left_out_of_the_unread_count(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, bob, _, c = world
    core = NodeCore(alice)
    sent = [bob.send_text(c, f"unread {i}") for i in range(3)]
    for r in sent:
        core.handle(RecordReceived(r, PEER), 0.0)
    assert queries.unread(alice, c) == (3, 0)
    damaged = bytearray(sent[1].raw)
    damaged[-1] ^= 1
    alice.store.db.execute("UPDATE records SET raw = ? WHERE id = ?", (bytes(damaged), sent[1].id))
    assert queries.unread(alice, c) == (2, 0)  # the others are still counted; nothing raised


def test_an_invitation_that_arrives_asks_its_connected_invitee_for_its_join(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    """The joiner's join may have come first and been let go (a stranger's): when its
    invitation lands, a connected invitee is asked at once, and nobody else is."""
    alice, _, carol, c = world
    core = NodeCore(carol)
    dave = Identity.generate()
    for peer in (dave.peer_id, PEER):
        core.handle(PeerCame(peer), 0.0)
    before = set(alice.view(c).records)
    alice.invite(c, dave.public_key)
    new = _new_records(alice, c, before)
    assert records.INVITE in {r.type for r in new}
    out = [e for r in new for e in core.handle(GossipArrived(PEER, c, r.raw), 1.0)]
    assert [p for p in of(out, Pull) if isinstance(p, Pull)] == [Pull(dave.peer_id, c, invitee=True)]
    before = set(alice.view(c).records)
    alice.send_text(c, "no new invitee in this")
    assert not [
        e
        for r in _new_records(alice, c, before)
        for e in core.handle(GossipArrived(PEER, c, r.raw), 2.0)
        if isinstance(e, Pull)
    ]


def test_a_join_that_arrives_asks_its_connected_joiner_to_sync(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    """The joiner pulled on connect, before I knew it, and was refused: once its join lands,
    I pull from it (seeing my vector it pulls from me), rather than it waiting for the next
    periodic pull. (A joiner that reaches only a relay did wait: the relay test of a full
    quota.) Nobody else is asked, and not twice."""
    alice, _, carol, c = world
    dave = Profile.create(resolve(str(tmp_path), "dave"), "dave")
    dave_peer = peer_id(dave.me)
    core = NodeCore(carol)
    for peer in (dave_peer, PEER):
        core.handle(PeerCame(peer), 0.0)
    before = set(alice.view(c).records)
    token = alice.invite(c, dave.me)
    for r in _new_records(alice, c, before):
        core.handle(GossipArrived(PEER, c, r.raw), 1.0)
    dave.join_token(token)
    joins = [r for r in dave.store.load_records(c) if r.author == dave.me]
    assert joins and any(r.is_roster for r in joins)
    out = [e for r in joins for e in core.handle(GossipArrived(PEER, c, r.raw), 2.0)]
    assert api.MemberJoined(c, dave.me) in [e.event for e in of(out, Emit) if isinstance(e, Emit)]
    assert [p for p in of(out, Pull) if isinstance(p, Pull)] == [Pull(dave_peer, c)]
    dave.close()


def test_a_fork_that_came_before_an_invitees_join_is_taken_once_the_join_comes(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    """Carol gets alice's fork (with carol and dave) before dave's join: the fork's check says
    an invitee is no member, so her invitation waits; dave's join lets it in, and she is told."""
    alice, _, carol, c = world
    dave = Profile.create(resolve(str(tmp_path), "dave"), "dave")
    dave.join_token(alice.invite(c, dave.me))
    alice.import_bundle(dave.export([c]))
    core = NodeCore(carol)
    before = set(carol.view(c).records)
    child = alice.fork(c, "side", [carol.me, dave.me])
    new = _new_records(alice, c, before)
    forks = [r for r in new if r.type == records.FORK]
    rest = sorted(
        (r for r in new if r.type != records.FORK), key=lambda r: r.author != alice.me
    )  # invite, join
    out = [e for r in forks for e in core.handle(GossipArrived(PEER, c, r.raw), 1.0)]
    assert not [e for e in of(out, Emit) if isinstance(e, Emit) and isinstance(e.event, api.CircleForked)]
    assert carol.store.circle(child) is None
    out = [e for r in rest for e in core.handle(GossipArrived(PEER, c, r.raw), 2.0)]
    told = [e.event for e in of(out, Emit) if isinstance(e, Emit) and isinstance(e.event, api.CircleForked)]
    assert [(t.circle, t.invited) for t in told] == [(child, True)]
    row = carol.store.circle(child)
    assert row is not None and row.status == "invited"
    dave.close()
