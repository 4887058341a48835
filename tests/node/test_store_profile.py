"""The local store and profile: schema, file modes, secrets at rest, all-or-nothing joins."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import nacl.pwhash
import pytest

from protocol.errors import RosterError, WrongPassphrase
from protocol.identity import Identity
from protocol.node import queries
from protocol.node.paths import PathError, resolve
from protocol.node.profile import Profile
from protocol.node.store import SCHEMA_VERSION, Store, StoreError

CHEAP = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(tmp_path: Path, name: str, seed: int, passphrase: str | None = None) -> Profile:
    return Profile.create(
        resolve(str(tmp_path), name),
        name,
        passphrase,
        Clock(),
        Identity.from_seed(bytes([seed]) * 32),
        **CHEAP,
    )


def test_store_schema_wal_and_modes(tmp_path: Path) -> None:
    p = make(tmp_path, "alice", 1)
    db = sqlite3.connect(p.paths.database)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert stat.S_IMODE(p.paths.database.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.paths.keyfile.stat().st_mode) == 0o600
    assert p.store.integrity_ok()
    assert db.execute("PRAGMA page_size").fetchone()[0] == 8192  # a new store: 8 KiB pages


def test_a_store_made_with_4_kib_pages_keeps_them_and_works(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # as stores were made before 8 KiB pages: SQLite's default
        db.execute("PRAGMA page_size=4096")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE early (x)")
    store = Store(path)
    assert store.db.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # migrated
    assert store.integrity_ok()
    store.close()


def test_newer_schema_is_refused_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer smallsocial"):
        Store(path)


def test_records_are_stored_once_and_queued_once(tmp_path: Path) -> None:
    p = make(tmp_path, "alice", 1)
    c = p.new_circle("friends")
    rec = p.send_text(c.circle_id, "hello")
    assert not p.store.add_record(rec, 0, outbox=True)
    queued = [rid for rid, _ in p.store.outbox()]
    assert queued.count(rec.id) == 1 and c.genesis.id in queued


def test_epoch_keys_and_names_are_sealed_at_rest(tmp_path: Path) -> None:
    p = make(tmp_path, "alice", 1)
    c = p.new_circle("secret-garden-name")
    p.send_text(c.circle_id, "a plaintext nobody may find on disk")
    p.close()
    blob = b"".join(f.read_bytes() for f in p.paths.root.iterdir() if f.is_file())
    assert c.epoch_key not in blob
    assert b"secret-garden-name" not in blob
    assert b"a plaintext nobody may find on disk" not in blob


def test_passphrase_protects_the_identity(tmp_path: Path) -> None:
    p = make(tmp_path, "alice", 1, passphrase="correct horse")
    p.close()
    with pytest.raises(WrongPassphrase, match="passphrase"):
        Profile.open(p.paths)
    with pytest.raises(WrongPassphrase, match="Wrong passphrase"):
        Profile.open(p.paths, "wrong")
    assert Profile.open(p.paths, "correct horse").me == Identity.from_seed(bytes([1]) * 32).public_key


def test_bad_profile_names_are_refused() -> None:
    with pytest.raises(PathError, match="not a usable profile name"):
        resolve("/tmp", "../escape")


def test_join_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = make(tmp_path, "alice", 1), make(tmp_path, "bob", 2)
    c = alice.new_circle("friends")
    token = alice.invite(c.circle_id, bob.me)

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bob.store, "mark_invite_used", boom)
    with pytest.raises(OSError):
        bob.join_token(token)
    monkeypatch.undo()
    assert bob.store.circles() == []
    assert bob.store.raw_records(c.circle_id) == []
    assert bob.store.epoch_keys(c.circle_id) == {}
    bob.join_token(token)
    assert [x.name for x in bob.circles()] == ["friends"]
    with pytest.raises(RosterError, match="already a member of friends"):
        bob.join_token(token)


def test_removed_member_loses_the_new_key_and_cannot_post(tmp_path: Path) -> None:
    alice, bob, carol = make(tmp_path, "alice", 1), make(tmp_path, "bob", 2), make(tmp_path, "carol", 3)
    c = alice.new_circle("friends")
    for friend in (bob, carol):
        friend.join_token(alice.invite(c.circle_id, friend.me))
    for friend in (bob, carol):
        assert alice.import_bundle(friend.export([c.circle_id])).dropped == []
    alice.remove(c.circle_id, carol.me)
    after = alice.send_text(c.circle_id, "carol must not read this")
    for friend in (bob, carol):
        friend.import_bundle(alice.export([c.circle_id]))
    assert [e.text for e in bob.log(c.circle_id)][-1] == "carol must not read this"
    assert after.id in carol.view(c.circle_id).records  # carol holds the ciphertext ...
    assert "carol must not read this" not in [e.text for e in carol.log(c.circle_id)]  # ... not the text
    assert len(carol.epoch_keys(c.circle_id)) == 1
    assert carol.store.circle(c.circle_id).status == "removed"  # type: ignore[union-attr]
    with pytest.raises(RosterError, match="not a member"):
        carol.send_text(c.circle_id, "still here?")


def test_leave_then_rejoin_with_a_new_invitation(tmp_path: Path) -> None:
    alice, bob = make(tmp_path, "alice", 1), make(tmp_path, "bob", 2)
    c = alice.new_circle("friends")
    bob.join_token(alice.invite(c.circle_id, bob.me))
    alice.import_bundle(bob.export([c.circle_id]))
    bob.import_bundle(alice.export([c.circle_id]))  # the first sync confirms bob's join
    bob.leave(c.circle_id)
    alice.import_bundle(bob.export([c.circle_id]))
    assert bob.me not in alice.view(c.circle_id).roster.members
    # Inviting again rekeys first (bob held the old key), then hands bob the new one.
    token = alice.invite(c.circle_id, bob.me)
    assert alice.view(c.circle_id).roster.current_epoch is not None
    bob.import_bundle(alice.export([c.circle_id]))
    bob.join_token(token)
    assert bob.me in bob.view(c.circle_id).roster.members
    bob.send_text(c.circle_id, "back again")
    alice.import_bundle(bob.export([c.circle_id]))
    assert bob.me in alice.view(c.circle_id).roster.members
    assert [e.text for e in alice.log(c.circle_id)] == ["back again"]
    with pytest.raises(RosterError, match="already a member"):
        bob.join_token(token)


def test_the_held_area_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = make(tmp_path, "alice", 1)
    c = alice.new_circle("friends")
    monkeypatch.setattr(Store, "MAX_HELD_PER_CIRCLE", 2)
    recs = [alice.send_text(c.circle_id, f"m{i}") for i in range(3)]
    assert alice.store.hold(recs[0], "test", 0) and alice.store.hold(recs[1], "test", 0)
    assert not alice.store.hold(recs[2], "test", 0)
    assert len(alice.store.held(c.circle_id)) == 2


def test_unread_and_mentions_count_from_the_read_marker(tmp_path: Path) -> None:
    alice, bob = make(tmp_path, "alice", 1), make(tmp_path, "bob", 2)
    alice.set_display_name("Alice")
    c = alice.new_circle("friends")
    bob.join_token(alice.invite(c.circle_id, bob.me))
    bob.import_bundle(alice.export([c.circle_id]))  # the first sync confirms bob's join
    bob.send_text(c.circle_id, "hi @alice, look")
    bob.send_text(c.circle_id, "and this")
    bob.send_text(c.circle_id, "mail to x@alice.org is not a mention")
    alice.import_bundle(bob.export([c.circle_id]))
    assert queries.unread(alice, c.circle_id) == (3, 1)
    last = alice.log(c.circle_id)[-1]
    alice.store.set_read_marker(c.circle_id, last.id, 0)
    assert queries.unread(alice, c.circle_id) == (0, 0)
    alice.send_text(c.circle_id, "my own messages are never unread")
    assert queries.unread(alice, c.circle_id) == (0, 0)


def test_announced_names_keep_the_newest(tmp_path: Path) -> None:
    alice = make(tmp_path, "alice", 1)
    key = b"\x07" * 32
    assert alice.store.set_name(key, "Bob", 10)
    assert not alice.store.set_name(key, "Old Bob", 5)  # an older announcement arrives late
    assert not alice.store.set_name(key, "Bob", 20)  # same name, newer: nothing to tell the UI
    assert alice.store.set_name(key, "Robert", 30)
    assert alice.store.names() == {key: "Robert"}


def test_posts_past_a_removal_cut_are_dropped_by_whoever_stored_them_first(tmp_path: Path) -> None:
    alice, bob, carol = make(tmp_path, "alice", 1), make(tmp_path, "bob", 2), make(tmp_path, "carol", 3)
    c = alice.new_circle("friends").circle_id
    for friend in (bob, carol):
        friend.join_token(alice.invite(c, friend.me))
        alice.import_bundle(friend.export([c]))
    for p in (bob, carol):
        p.import_bundle(alice.export([c]))
    carol.send_text(c, "before")
    alice.import_bundle(carol.export([c]))
    alice.remove(c, carol.me)  # the cut: everything alice had of carol, "before" included
    carol.send_text(c, "after the cut")  # carol has not heard of the removal yet
    bob.import_bundle(carol.export([c]))
    assert "after the cut" in [e.text for e in bob.log(c)]  # bob could not know, yet
    bob.import_bundle(alice.export([c]))
    assert [e.text for e in bob.log(c)] == ["before"]
    assert set(bob.view(c).records) == set(alice.view(c).records)  # the same record set as alice
