"""The search index on real profiles (bundles between them, no network): what it finds, how
edits, deletes, carried history and purges show, its file and its rebuild."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from protocol import carry, messages
from protocol.node import search
from protocol.node.profile import Profile
from protocol.searchtext import SearchTextError
from tests.node.test_store_profile import make


def texts(p: Profile, q: str, circle: bytes | None = None) -> list[str]:
    res = search.answer(p, 1, q, circle, 50)
    return [h.snippet.replace("\x02", "[").replace("\x03", "]") for h in res.hits]


def pair(tmp_path: Path) -> tuple[Profile, Profile, bytes]:
    alice, bob = make(tmp_path, "alice", 1), make(tmp_path, "bob", 2)
    c = alice.new_circle("friends").circle_id
    bob.join_token(alice.invite(c, bob.me))
    alice.import_bundle(bob.export([c]))
    bob.import_bundle(alice.export([c]))
    return alice, bob, c


def test_finds_own_and_received_messages_newest_first_with_names(tmp_path: Path) -> None:
    alice, bob, c = pair(tmp_path)
    alice.send_text(c, "the café opens at nine")
    alice.clock.t += 60  # type: ignore[attr-defined]
    alice.send_text(c, "Cafe moved to the corner")
    bob.import_bundle(alice.export([c]))
    assert texts(bob, "cafe") == ["[Cafe] moved to the corner", "the [café] opens at nine"]
    hit = search.answer(bob, 1, "corner", None, 5).hits[0]
    assert (hit.circle_name, hit.author) == ("friends", alice.me)
    assert hit.author_name.startswith("12D3KooW")  # no name announced (no presence in a bundle)
    bob.store.set_contact(alice.me, "ally", 0)
    assert search.answer(bob, 1, "corner", None, 5).hits[0].author_name == "ally"  # petname first
    assert texts(alice, "caf") == texts(bob, "caf")  # the last word is a prefix
    assert texts(alice, '"caf"') == []  # a quoted one is not
    assert texts(alice, '"opens at"') == ["the café [opens at] nine"]
    assert texts(alice, '"at opens"') == []


def test_edits_and_deletes_follow_in_any_order(tmp_path: Path) -> None:
    alice, bob, c = pair(tmp_path)
    m = alice.send_text(c, "meet at the harbour")
    alice.clock.t += 1  # type: ignore[attr-defined]
    ts = int(alice.clock() * 1000)
    alice.send(c, messages.Content(messages.EDIT, ts, "meet at the station", m.id))
    n = alice.send_text(c, "bring the harbour map")
    # bob takes the edit in the same batch as the message: fold order does not matter
    bob.import_bundle(alice.export([c]))
    assert texts(bob, "harbour") == ["bring the [harbour] map"]
    assert texts(bob, "station") == ["meet at the [station]"]
    assert search.answer(bob, 1, "station", None, 5).hits[0].edited
    alice.send(c, messages.Content(messages.DELETE, ts + 5, None, n.id))
    # an older edit arriving after a newer one does not undo it
    alice.send(c, messages.Content(messages.EDIT, ts - 500, "meet at the airport", m.id))
    bob.import_bundle(alice.export([c]))
    assert texts(bob, "harbour") == []
    assert texts(bob, "airport") == []
    assert texts(bob, "station") == ["meet at the [station]"]
    assert texts(alice, "harbour") == texts(bob, "harbour")


def test_an_edit_before_its_message_waits(tmp_path: Path) -> None:
    alice, bob, c = pair(tmp_path)
    m = alice.send_text(c, "first words")
    alice.send(c, messages.Content(messages.EDIT, int(alice.clock() * 1000) + 1, "second words", m.id))
    idx = bob.search_index()
    bob.import_bundle(alice.export([c]))
    # index the edit first, then its message (as records from two authors or syncs may come)
    idx.db.execute("DELETE FROM msgs")
    idx.db.execute("DELETE FROM fts")
    idx.db.execute("DELETE FROM changes")
    edit_only = [r for r in bob.store.load_records(c, "msg") if r.id != m.id]
    keys: dict[bytes, dict[bytes, bytes]] = {}
    idx.db.execute("BEGIN")
    for r in [*edit_only, next(r for r in bob.store.load_records(c, "msg") if r.id == m.id)]:
        idx._take(r, keys)
    idx.db.execute("COMMIT")
    assert texts(bob, "words") == ["second [words]"]
    assert texts(bob, "first") == []


def test_search_text_never_breaks_fts_and_bad_text_says_so(tmp_path: Path) -> None:
    alice, _, c = pair(tmp_path)
    alice.send_text(c, 'he said "NEAR(a b)" AND left * ( ) ^ : -x')
    for q in ['"NEAR', "AND", "NEAR(a", "a*b", "x:y", "^left", '""x', "left)", "-x", "col:left", 'a"b"c']:
        search.answer(alice, 1, q, None, 5)  # no OperationalError
    assert texts(alice, "AND left") == ['he said "NEAR(a b)" [AND] [left] * ( ) ^ : -x']
    for q in ["", "   ", "?!", '" "', "*", '"', "(", "-- ..."]:
        with pytest.raises(SearchTextError, match="at least one word"):
            search.answer(alice, 1, q, None, 5)


def test_circle_filter_left_circles_and_carried_history(tmp_path: Path) -> None:
    alice, bob, c = pair(tmp_path)
    alice.send_text(c, "an old plan for the trip")
    bob.import_bundle(alice.export([c]))
    other = alice.new_circle("work").circle_id
    alice.send_text(other, "trip report due friday")
    child = alice.fork(c, "trip crew", [bob.me], history=carry.HistoryChoice.parse("all"))
    got = search.answer(alice, 1, "trip", None, 10).hits
    assert sorted(h.circle_name for h in got) == ["friends", "trip crew", "work"]
    carried = next(h for h in got if h.circle == child)
    assert carried.carried_from == c
    assert [h.circle for h in search.answer(alice, 1, "trip", other, 10).hits] == [other]
    bob.import_bundle(alice.export([c]))
    bob.leave(c)  # what was readable stays findable
    assert texts(bob, "plan") == ["an old [plan] for the trip"]


def test_index_file_is_private_and_can_be_deleted(tmp_path: Path) -> None:
    alice, _, c = pair(tmp_path)
    alice.send_text(c, "secret picnic")
    assert texts(alice, "picnic") == ["secret [picnic]"]
    path = alice.paths.search
    assert path.name == "search.sqlite3" and path.parent == alice.paths.root
    for f in path.parent.glob("search.sqlite3*"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    alice.close()
    for f in path.parent.glob("search.sqlite3*"):
        f.unlink()
    again = Profile.open(alice.paths, None, alice.clock)
    assert texts(again, "picnic") == ["secret [picnic]"]  # rebuilt from the store


def test_backfill_goes_in_batches_and_says_what_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _, c = pair(tmp_path)
    for i in range(30):
        alice.send_text(c, f"note {i}")
    monkeypatch.setattr(search, "SYNC_LIMIT", 10)
    first = search.answer(alice, 1, "note", None, 50)
    assert len(first.hits) == 10 and first.pending == 20
    assert alice.search_index().catch_up(100) == 0
    assert len(search.answer(alice, 1, "note", None, 50).hits) == 30


def test_a_purged_message_leaves_the_results(tmp_path: Path) -> None:
    alice, _, c = pair(tmp_path)
    m = alice.send_text(c, "soon gone")
    assert texts(alice, "gone") == ["soon [gone]"]
    alice.store.remove_record(m.id)
    assert texts(alice, "gone") == []
    assert alice.search_index().db.execute("SELECT count(*) FROM msgs").fetchone()[0] == 0


def test_a_damaged_or_newer_index_is_rebuilt(tmp_path: Path) -> None:
    alice, _, c = pair(tmp_path)
    alice.send_text(c, "still findable")
    assert texts(alice, "findable") == ["still [findable]"]
    alice.close()
    alice.paths.search.write_bytes(b"this is not a database" * 100)
    again = Profile.open(alice.paths, None, alice.clock)
    assert texts(again, "findable") == ["still [findable]"]
    again.search_index().db.execute(f"PRAGMA user_version = {search.VERSION + 1}")
    again.close()
    third = Profile.open(alice.paths, None, alice.clock)
    assert texts(third, "findable") == ["still [findable]"]
    assert third.search_index().db.execute("PRAGMA user_version").fetchone()[0] == search.VERSION


def indexed_texts(p: Profile, circle: bytes) -> dict[bytes, str]:
    idx = p.search_index()
    idx.catch_up(10_000)
    rows = idx.db.execute(
        "SELECT m.id, f.text FROM msgs m JOIN fts f ON f.rowid = m.rowid "
        "WHERE m.circle = ? AND NOT m.deleted",
        (circle,),
    )
    return {bytes(r[0]): r[1] for r in rows}


def log_texts(p: Profile, circle: bytes) -> dict[bytes, str]:
    return {e.id: e.text or "" for e in p.log(circle) if e.kind in ("text", "reply") and not e.deleted}


@pytest.mark.parametrize("seed", range(6))
def test_the_index_reads_as_the_log_after_any_history(tmp_path: Path, seed: int) -> None:
    import random

    rng = random.Random(seed)
    alice, bob, c = pair(tmp_path)
    mine: dict[str, list[bytes]] = {"alice": [], "bob": []}
    for step in range(60):
        who, p = rng.choice([("alice", alice), ("bob", bob)])
        p.clock.t += rng.uniform(0, 2)  # type: ignore[attr-defined]
        now = int(p.clock() * 1000)
        roll = rng.random()
        if roll < 0.5 or not mine[who]:
            mine[who].append(p.send_text(c, f"{who} says w{step} and w{rng.randrange(5)}").id)
        elif roll < 0.8:
            target = rng.choice(mine[who])
            ts = now + rng.randint(-3000, 3000)  # an edit may claim an older time than a later one
            p.send(c, messages.Content(messages.EDIT, ts, f"{who} edited e{step}", target))
        else:
            p.send(c, messages.Content(messages.DELETE, now, None, rng.choice(mine[who])))
        if rng.random() < 0.3:
            bob.import_bundle(alice.export([c]))
            alice.import_bundle(bob.export([c]))
            assert indexed_texts(bob, c) == log_texts(bob, c)
    bob.import_bundle(alice.export([c]))
    alice.import_bundle(bob.export([c]))
    for p in (alice, bob):
        assert indexed_texts(p, c) == log_texts(p, c)
