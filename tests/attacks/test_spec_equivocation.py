"""Issue 10, class 3: message equivocation splits members forever.

docs/protocol.md section 7: every record sits at a position ``q`` of its author's chain, with
``p`` naming the record below. An author (bob, a member) signs two different messages for one
position and sends one to alice and the other to carol. The promise (docs/security.md 2.4):
members converge (both versions kept and synced, one rule for what is shown, the author's later
records stored by everyone) and the author is flagged (``members``, ``run``, the TUI).
"""

from __future__ import annotations

import itertools
from pathlib import Path

from protocol import messages, records, sync
from protocol.chain import ChainPos
from protocol.identity import Identity
from protocol.node import api, queries
from protocol.node.profile import Profile
from protocol.records import Record
from protocol.view import CircleView, Stored
from smallsocial_tui.render import event_line
from tests.attacks.spec_kit import bundle, circle, cli, cli_json, share, texts

BOB = Identity.from_seed(bytes([2]) * 32)
TS = 1_800_000_050_000


def _msg(p: Profile, cid: bytes, pos: ChainPos, text: str) -> Record:
    eid = p.view(cid).roster.current_epoch.id  # type: ignore[union-attr]
    key = p.epoch_keys(cid)[eid]
    return messages.seal(BOB, cid, pos, eid, key, messages.Content("text", TS, text))


def _scene(tmp: Path) -> tuple[Profile, Profile, Profile, bytes, Record, Record]:
    (alice, bob, carol), cid = circle(tmp, "alice", "bob", "carol")
    pos = bob.view(cid).next_pos(bob.me)
    m1, m2 = _msg(bob, cid, pos, "I vote yes"), _msg(bob, cid, pos, "I vote no")
    return alice, bob, carol, cid, m1, m2


def _held(p: Profile, cid: bytes) -> set[bytes]:
    p.forget_views()
    v = p.view(cid)
    return set(v.records) | set(v.conflicts)


def test_members_who_saw_different_versions_converge_after_syncing(tmp_path: Path) -> None:
    alice, _bob, carol, cid, m1, m2 = _scene(tmp_path)
    alice.import_bundle(bundle(m1))
    carol.import_bundle(bundle(m2))
    share(alice, carol, cid)
    share(carol, alice, cid)
    assert {m1.id, m2.id} <= _held(alice, cid) == _held(carol, cid)
    assert texts(alice, cid) == texts(carol, cid)  # one rule for what is shown
    shown = [t for a, t in texts(alice, cid) if a == BOB.public_key]
    assert len(shown) == 1 and shown[0] in ("I vote yes", "I vote no")
    assert BOB.public_key in alice.view(cid).equivocators
    assert BOB.public_key in carol.view(cid).equivocators


def test_the_authors_next_message_is_stored_by_everyone(tmp_path: Path) -> None:
    alice, _bob, carol, cid, m1, m2 = _scene(tmp_path)
    alice.import_bundle(bundle(m1))
    carol.import_bundle(bundle(m2))
    after = _msg(alice, cid, ChainPos(m2.seq + 1, m2.id), "and now something else")
    for p in (alice, carol):
        rep = p.import_bundle(bundle(after))
        assert rep.stored == 1, rep.dropped
        assert (BOB.public_key, "and now something else") in texts(p, cid)


def test_any_arrival_order_gives_the_same_records_shown_text_and_flag(tmp_path: Path) -> None:
    alice, _bob, _carol, cid, m1, m2 = _scene(tmp_path)
    n = _msg(alice, cid, ChainPos(m2.seq + 1, m2.id), "after no")
    k = _msg(alice, cid, ChainPos(n.seq + 1, n.id), "after that")
    base = alice.view(cid)
    outcomes = set()
    for order in itertools.permutations([m1, m2, n, k]):
        v = CircleView(base.genesis, alice.store.load_records(cid))
        for r in order:
            assert isinstance(v.add(r), Stored), (order, v.add(r))
        shown = frozenset(r.id for r in [*v.records.values(), *v.conflicts.values()] if v.shown(r))
        held = frozenset(v.records) | frozenset(v.conflicts)
        vec = tuple(sorted(sync.vector(v.held_seqs()).items()))
        outcomes.add((held, shown, tuple(sorted(v.equivocators)), vec))
    assert len(outcomes) == 1
    (held, _shown, flagged, _vec) = outcomes.pop()
    assert {m1.id, m2.id, n.id, k.id} <= held and flagged == (BOB.public_key,)


def test_sync_has_nothing_left_to_ask_after_the_exchange(tmp_path: Path) -> None:
    alice, _bob, carol, cid, m1, m2 = _scene(tmp_path)
    after = _msg(alice, cid, ChainPos(m2.seq + 1, m2.id), "next")
    alice.import_bundle(bundle(m1, after))
    carol.import_bundle(bundle(m2, after))
    a, c = alice.view(cid), carol.view(cid)
    assert not sync.plan(a.held_seqs(), sync.vector(c.held_seqs())).ask
    assert not sync.plan(c.held_seqs(), sync.vector(a.held_seqs())).ask


def test_the_evidence_is_exported_with_the_history(tmp_path: Path) -> None:
    """Both versions travel: a member who saw neither gets both from one who saw both."""
    alice, _bob, carol, cid, m1, m2 = _scene(tmp_path)
    alice.import_bundle(bundle(m1, m2))
    share(alice, carol, cid)
    assert {m1.id, m2.id} <= _held(carol, cid)
    assert BOB.public_key in carol.view(cid).equivocators


def test_a_broken_link_flags_the_author_and_keeps_the_record(tmp_path: Path) -> None:
    """A record whose ``p`` names no record held at ``q - 1`` proves a second version there."""
    alice, bob, _carol, cid, _m1, _m2 = _scene(tmp_path)
    pos = bob.view(cid).next_pos(bob.me)
    skewed = _msg(alice, cid, ChainPos(pos.seq, b"\x66" * 32), "after a version you never saw")
    rep = alice.import_bundle(bundle(skewed))
    assert rep.stored == 1, rep.dropped
    assert BOB.public_key in alice.view(cid).equivocators


def test_a_roster_record_and_a_message_at_one_position_flag_the_author(tmp_path: Path) -> None:
    alice, bob, _carol, cid, m1, _m2 = _scene(tmp_path)
    pos = bob.view(cid).next_pos(bob.me)
    relay = Identity.from_seed(bytes([9]) * 32)
    body = {"t": "pin", "a": BOB.public_key, "c": cid, "q": pos.seq, "p": pos.prev, "k": relay.public_key}
    pin = records.sign(BOB, {**body, "h": list(alice.view(cid).roster.heads), "ts": TS, "ad": []})
    alice.import_bundle(bundle(m1, pin))
    assert {m1.id, pin.id} <= _held(alice, cid)
    assert BOB.public_key in alice.view(cid).equivocators


def test_a_flood_of_versions_is_bounded_and_flagged(tmp_path: Path) -> None:
    alice, bob, _carol, cid, _m1, _m2 = _scene(tmp_path)
    pos = bob.view(cid).next_pos(bob.me)
    flood = [_msg(alice, cid, pos, f"version {i}") for i in range(100)]
    alice.import_bundle(bundle(*flood))
    kept = _held(alice, cid) & {r.id for r in flood}
    assert 2 <= len(kept) <= 65
    assert BOB.public_key in alice.view(cid).equivocators


def test_the_equivocator_is_flagged_in_members_and_run(tmp_path: Path) -> None:
    alice, _bob, _carol, cid, m1, m2 = _scene(tmp_path)
    alice.import_bundle(bundle(m1, m2))
    loaded = queries.members(alice, 1, cid, ())
    flags = {m.key: m.equivocated for m in loaded.members}
    assert flags[BOB.public_key] and not any(v for k, v in flags.items() if k != BOB.public_key)
    line = event_line(alice, api.Equivocated(cid, BOB.public_key, flags[BOB.public_key]))
    assert line is not None and "equivocated" in line
    rows = cli_json(alice, "members", cid.hex())
    by_key = {r["key"]: r for r in rows}
    assert by_key[BOB.peer_id]["equivocated"]
    assert [k for k, r in by_key.items() if r["equivocated"]] == [BOB.peer_id]
    text = cli(alice, "members", cid.hex()).stdout
    assert "EQUIVOCATED" in next(ln for ln in text.splitlines() if BOB.peer_id in ln)


def test_the_tui_members_panel_marks_the_equivocator(tmp_path: Path) -> None:
    from smallsocial_tui.app.model import State
    from smallsocial_tui.app.widgets.members import MembersPanel

    alice, _bob, _carol, cid, m1, m2 = _scene(tmp_path)
    alice.import_bundle(bundle(m1, m2))
    loaded = queries.members(alice, 1, cid, ())
    state = State()
    state.me = alice.me
    bob = next(m for m in loaded.members if m.key == BOB.public_key)
    label = MembersPanel()._label(state, bob)
    assert "equivocated" in label.plain
    assert (
        "equivocated" not in MembersPanel()._label(state, loaded.members[0]).plain or loaded.members[0] is bob
    )


def test_real_nodes_that_hold_different_versions_converge_and_report_it(tmp_path: Path) -> None:
    """Two ``smallsocial run`` processes: alice holds one version, carol the other and bob's next
    message after it. Plain sync has nothing to ask (same seqs); the evidence they always send
    makes both hold both versions, and each node reports the equivocation once."""
    from tests.node.harness import Peer, wait_until

    alice, _bob, carol, cid, m1, m2 = _scene(tmp_path)
    after = _msg(alice, cid, ChainPos(m2.seq + 1, m2.id), "after no")
    alice.import_bundle(bundle(m1))
    carol.import_bundle(bundle(m2, after))
    want = {m1.id, m2.id, after.id}
    for p in (alice, carol):
        p.close()
    pa, pc = Peer(tmp_path, "alice"), Peer(tmp_path, "carol")

    def held(peer: Peer) -> set[bytes]:
        with peer._db() as db:
            rows = [*db.execute("SELECT id FROM records"), *db.execute("SELECT id FROM conflicts")]
        return {bytes(r[0]) for r in rows}

    try:
        pa.start()
        assert pa.addr is not None
        pc.start(pa.addr)
        for peer in (pa, pc):
            wait_until(lambda peer=peer: want <= held(peer), 60, what=f"{peer.name} to hold both versions")
            wait_until(
                lambda peer=peer: peer.saw("Equivocated", circle=cid.hex(), author=BOB.peer_id),
                30,
                what=f"{peer.name}'s node to report bob",
            )
        assert [e for e in pa.events if e.get("event") == "Equivocated"][1:] == []  # reported once
        shown = [[(r["author"], r["text"]) for r in peer.log(cid.hex())] for peer in (pa, pc)]
        assert shown[0] == shown[1]
        rows = {r["key"]: r for r in pa.json("members", cid.hex())}
        assert rows[BOB.peer_id]["equivocated"]
    finally:
        for peer in (pa, pc):
            if peer.running():
                assert peer.stop() == 0
