"""Epoch keys apart from identity keys (issue 15 part A), on real profiles and SQLite files.

What a thief gets (docs/security.md section 4.1): with one member's identity key and a relay's
whole store (here: another member's store, which holds the same records), no epoch key at
all; with a copy of the member's profile taken at time T, no epoch that ended and was deleted
before T (history forget), even with the identity key; without the passphrase, no epoch key of
the profile at all.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from protocol import atrest, crypto, messages, records
from protocol.errors import DecryptError, ProtocolError, WrongPassphrase
from protocol.identity import Identity, load_identity
from protocol.node import devices, history, prekeys, rekeying
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile

pytestmark = pytest.mark.timeout(120)

CHEAP = {"opslimit": 1, "memlimit": 8192}
DAY = 24 * 3600


class Clock:
    def __init__(self) -> None:
        self.t = 1_790_000_000.0

    def __call__(self) -> float:
        return self.t


def make(tmp: Path, name: str, clock: Clock, passphrase: str | None = None) -> Profile:
    return Profile.create(ProfilePaths(tmp / name), name, passphrase, clock, **CHEAP)


def sync(a: Profile, b: Profile, cid: bytes) -> None:
    """Both ways, by bundle files' bytes: the same ledger path as gossip and sync."""
    b.import_bundle(a.export([cid]))
    a.import_bundle(b.export([cid]))


def circle_of(tmp: Path, clock: Clock, names: list[str], **kw: str | None) -> tuple[list[Profile], bytes]:
    people = [make(tmp, n, clock, kw.get(n)) for n in names]
    founder = people[0]
    cid = founder.new_circle("friends").circle_id
    for p in people[1:]:
        p.join_token(founder.invite(cid, p.me))
        sync(founder, p, cid)
    for p in people[1:]:
        sync(founder, p, cid)
    return people, cid


def rekeys(store_file: Path, cid: bytes) -> list[records.Record]:
    db = sqlite3.connect(f"file:{store_file}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT id, raw FROM records WHERE circle = ? AND type = 'rekey'", (cid,)
        ).fetchall()
    finally:
        db.close()
    return [records.load(bytes(raw), bytes(rid)) for rid, raw in rows]


def stolen_identity(p: Profile, passphrase: str | None = None) -> Identity:
    return load_identity(p.paths.keyfile.read_bytes(), passphrase)


def files_of(root: Path) -> bytes:
    return b"".join(f.read_bytes() for f in sorted(root.iterdir()) if f.is_file())


def sealed_boxes(store_file: Path) -> list[tuple[bytes, bytes, bytes]]:
    """Every epoch key sealed in a store, in any circle: (record id, recipient, box) of each
    rekey's ``ks`` and each fork's ``sl`` entry."""
    db = sqlite3.connect(f"file:{store_file}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, raw FROM records WHERE type IN ('rekey', 'fork')").fetchall()
    finally:
        db.close()
    out = []
    for rid, raw in rows:
        r = records.load(bytes(raw), bytes(rid))
        for k, box in r.body["ks" if r.type == records.REKEY else "sl"]:
            out.append((r.id, bytes(k), bytes(box)))
    return out


def test_a_relays_store_and_a_stolen_identity_key_open_no_epoch_key(tmp_path: Path) -> None:
    # Every way a key comes to be sealed to: a removal's rekey the moment the joins and a
    # device's link arrive (no prekey record published yet: the joins carry the joiners'
    # prekeys, the device record the device's, made by its linker), a fork and a
    # rekey in the child the moment it is accepted (the child's genesis carries the forker's
    # prekey), and a rekey after bob was away for 40 days (his prekey expired: still his).
    clock = Clock()
    (alice, bob, carol, dave), cid = circle_of(tmp_path, clock, ["alice", "bob", "carol", "dave"])
    laptop = make(tmp_path, "laptop", clock)  # alice's second device
    bundle, _ = devices.add(alice, devices.request(laptop, "laptop"))
    devices.accept(laptop, bundle)
    people = (alice, bob, carol, dave, laptop)
    assert all(p.store.load_records(cid, records.PREKEY) == [] for p in people)  # nobody refreshed
    alice.remove(cid, dave.me)
    alice.send_text(cid, "after dave")
    sync(alice, bob, cid)
    sync(alice, laptop, cid)
    assert [e.text for e in bob.log(cid)][-1] == "after dave"  # with the prekey his join carried
    assert [e.text for e in laptop.log(cid)][-1] == "after dave"  # with the one its linker made
    clock.t += 60
    child = alice.fork(cid, "kids", [bob.me, carol.me])
    sync(alice, bob, cid)
    bob.accept_fork(child)
    rekeying.rekey(bob, child, fresh_after_s=prekeys.USED_S)  # before alice publishes a prekey there
    bob.send_text(child, "in the child")
    sync(alice, bob, child)
    assert [e.text for e in alice.log(child)][-1] == "in the child"
    clock.t += 40 * DAY  # bob is away; his prekeys expired 26 days ago
    alice.remove(cid, carol.me)
    alice.send_text(cid, "while bob was away")
    bob.refresh_prekeys()  # bob's node starts: a fresh prekey, the expired one kept 3 days more
    sync(alice, bob, cid)
    assert [e.text for e in bob.log(cid)][-1] == "while bob was away"

    relay_store = tmp_path / "relay-copy.sqlite3"  # a relay holds these same records
    src, dst = sqlite3.connect(alice.paths.database), sqlite3.connect(relay_store)
    src.backup(dst)
    src.close()
    dst.close()
    boxes = sealed_boxes(relay_store)
    assert {k for _, k, _ in boxes} >= {alice.me, bob.me, carol.me, laptop.me}
    assert len({rid for rid, _, _ in boxes}) == 4  # two removals, the fork, bob's rekey in the child
    for p in people:
        thief = stolen_identity(p)
        mine = [box for _, k, box in boxes if k == p.me]
        assert mine or p is dave  # dave was removed before any rekey
        for box in mine:
            with pytest.raises(DecryptError):
                thief.unseal(box)
    # nor does the identity key open anything in bob's own store: keys at rest are under the storage key
    for _, _, sealed, _ in bob.store.all_epoch_keys():
        with pytest.raises(DecryptError):
            stolen_identity(bob).unseal(sealed)
    for _, sealed, _, _, _ in bob.store.prekeys():
        with pytest.raises(DecryptError):
            stolen_identity(bob).unseal(sealed)
    for p in people:
        p.close()


def fork_open(p: Profile, sealed: bytes) -> bool:
    from protocol import fork

    return len(fork.open_sealed(sealed, p.identity, p.private_prekeys())) == crypto.KEY_SIZE


def _epoch_of(p: Profile, cid: bytes) -> bytes:
    cur = p.view(cid).roster.current_epoch
    assert cur is not None
    return cur.id


def _copy(p: Profile, to: Path, clock: Clock) -> Profile:
    """Every file of the profile, the WAL included, copied while it is open: a thief's copy."""
    shutil.copytree(p.paths.root, to)
    return Profile.open(ProfilePaths(to), None, clock)  # no passphrase: the storage key is in the copy


def _opens(stolen: Profile, thief: Identity, rekey: records.Record) -> bytes | None:
    """The epoch key a thief gets from a rekey to bob with what the copy holds, or None."""
    from protocol import fork

    sealed = next(bytes(s) for k, s in rekey.body["ks"] if bytes(k) == thief.public_key)
    try:
        return fork.open_sealed(sealed, thief, stolen.private_prekeys())
    except DecryptError:
        return None


@pytest.mark.parametrize("mode", [history.FORGET, history.KEEP])
def test_a_profile_copied_at_t_reads_no_epoch_that_ended_and_was_forgotten_before_t(
    tmp_path: Path, mode: str
) -> None:
    clock = Clock()
    (alice, bob, carol, dave), cid = circle_of(tmp_path, clock, ["alice", "bob", "carol", "dave"])
    history.set_mode(bob.store, mode)
    bob.refresh_prekeys()
    sync(alice, bob, cid)
    clock.t += 60
    alice.remove(cid, dave.me)  # epoch 1, sealed to bob's prekey
    old_epoch = _epoch_of(alice, cid)
    (old_rekey,) = [r for r in alice.store.load_records(cid, records.REKEY) if r.id == old_epoch]
    alice.send_text(cid, "zanzibarquokka at the old epoch")
    sync(alice, bob, cid)
    assert bob.search_index().catch_up() == 0
    assert [h.id for h in bob.search_index().search("zanzibarquokka")]
    old_key = bob.epoch_keys(cid)[old_epoch]
    old_sealed = bob.store.epoch_keys(cid)[old_epoch]
    clock.t += 60
    alice.remove(cid, carol.me)  # epoch 2: epoch 1 is over
    alice.send_text(cid, "the new epoch")
    sync(alice, bob, cid)
    assert _epoch_of(bob, cid) != old_epoch
    assert bob.forget_old_history() == 0  # within the grace: old messages may still arrive
    clock.t += history.GRACE_S + 1
    assert bob.forget_old_history() == (2 if mode == history.FORGET else 0)  # epochs 0 and 1
    texts = [e.text for e in bob.log(cid)]
    assert "the new epoch" in texts
    thief = stolen_identity(bob)

    stolen = _copy(bob, tmp_path / "stolen-1", clock)
    olds = [r for r in stolen.store.load_records(cid, records.MSG) if bytes(r.body["e"]) == old_epoch]
    assert olds  # the ciphertext stays (members serve it to others)
    if mode == history.KEEP:
        assert stolen.epoch_keys(cid)[old_epoch] == old_key
        assert "zanzibarquokka at the old epoch" in texts
        for p in (stolen, alice, bob, carol, dave):
            p.close()
        return
    assert old_epoch not in stolen.epoch_keys(cid) and "zanzibarquokka at the old epoch" not in texts
    raw = files_of(tmp_path / "stolen-1")
    assert old_sealed not in raw and old_key not in raw
    assert b"zanzibarquokka" not in raw.lower()  # nor the words, in the search index
    assert not stolen.search_index().search("zanzibarquokka")
    # The limit (docs/security.md 4.1): the rekey stays in the store, and the prekey it was
    # sealed to is still held (it may still be sealed to): this copy gets the key back from it.
    assert _opens(stolen, thief, old_rekey) == old_key
    stolen.close()

    # A week on, the prekey is replaced; three days after that, deleted: then nothing opens it.
    clock.t += prekeys.ROTATE_S
    bob.refresh_prekeys()
    sync(alice, bob, cid)
    replaced = bob.store.prekeys()[1]
    assert replaced[4] is not None
    clock.t = replaced[4] / 1000 + prekeys.REPLACED_S - 1
    bob.refresh_prekeys()
    assert replaced[0] in [r[0] for r in bob.store.prekeys()]  # a late rekey may still need it
    clock.t += 2
    bob.refresh_prekeys()
    assert replaced[0] not in [r[0] for r in bob.store.prekeys()]
    stolen = _copy(bob, tmp_path / "stolen-2", clock)
    assert _opens(stolen, thief, old_rekey) is None
    assert old_epoch not in stolen.epoch_keys(cid)
    for r in olds:
        for k in [*stolen.epoch_keys(cid).values(), *stolen.private_prekeys()]:
            with pytest.raises(ProtocolError):
                messages.open_message(r, k)
    raw = files_of(tmp_path / "stolen-2")
    assert replaced[1] not in raw  # the deleted private prekey's row is gone from the files
    for p in (stolen, alice, bob, carol, dave):
        p.close()


def test_without_the_passphrase_a_profile_copy_and_the_identity_key_open_no_key_at_rest(
    tmp_path: Path,
) -> None:
    clock = Clock()
    (alice, bob), cid = circle_of(tmp_path, clock, ["alice", "bob"], bob="correct horse")
    bob.refresh_prekeys()
    sync(alice, bob, cid)
    copy = tmp_path / "stolen"
    shutil.copytree(bob.paths.root, copy)
    with pytest.raises(WrongPassphrase):
        atrest.load_storage_key((copy / "storage.key").read_bytes(), None)
    with pytest.raises(WrongPassphrase):
        atrest.load_storage_key((copy / "storage.key").read_bytes(), "wrong")
    thief = stolen_identity(bob, "correct horse")  # say the identity key leaked some other way
    db = sqlite3.connect(f"file:{copy / 'store.sqlite3'}?mode=ro", uri=True)
    rows = [bytes(r[0]) for r in db.execute("SELECT key_sealed FROM epoch_keys")]
    rows += [bytes(r[0]) for r in db.execute("SELECT private_sealed FROM prekeys")]
    rows += [bytes(r[0]) for r in db.execute("SELECT name_sealed FROM circles")]
    db.close()
    assert len(rows) >= 3
    for sealed in rows:
        with pytest.raises(DecryptError):
            thief.unseal(sealed)
    # with the passphrase, the profile opens and reads as before
    again = Profile.open(ProfilePaths(copy), "correct horse", clock)
    assert again.epoch_keys(cid) == bob.epoch_keys(cid)
    again.close()
    alice.close()
    bob.close()


def test_an_older_profile_is_resealed_under_a_storage_key_when_opened(tmp_path: Path) -> None:
    clock = Clock()
    (alice, bob), cid = circle_of(tmp_path, clock, ["alice", "bob"])
    alice.send_text(cid, "from before the storage key")
    sync(alice, bob, cid)
    keys = bob.epoch_keys(cid)
    # make bob's profile look like one written before this change: sealed to his identity key
    for eid, key in keys.items():
        bob.store.reseal_epoch_key(cid, eid, crypto.seal(bob.me, key))
    for row in bob.store.circles():
        bob.store.set_name_sealed(row.id, crypto.seal(bob.me, bob.circle_name(row).encode()))
    bob.close()
    (bob.paths.root / "storage.key").unlink()
    again = Profile.open(bob.paths, None, clock)
    assert (bob.paths.root / "storage.key").stat().st_mode & 0o777 == 0o600
    assert again.epoch_keys(cid) == keys
    assert [e.text for e in again.log(cid)] == ["from before the storage key"]
    assert [c.name for c in again.circles()] == ["friends"]
    for _, _, sealed, added in again.store.all_epoch_keys():
        assert len(sealed) == atrest.SEALED_KEY_SIZE and added is not None
        with pytest.raises(DecryptError):
            again.identity.unseal(sealed)
    assert again.reseal_at_rest() == 0  # once done, an open writes nothing
    again.close()
    alice.close()


def test_a_replaced_private_prekey_is_deleted_three_days_after_it_was_replaced(tmp_path: Path) -> None:
    clock = Clock()
    (alice, bob), cid = circle_of(tmp_path, clock, ["alice", "bob"])
    assert bob.refresh_prekeys() == []  # his join carried it: nothing new
    first = bob.store.prekeys()[0][0]
    assert alice.view(cid).roster.prekeys[bob.me].key == first
    clock.t += prekeys.ROTATE_S + 1
    assert len(bob.refresh_prekeys()) == 1  # rotated, and published again
    rows = bob.store.prekeys()
    assert [r[0] for r in rows][1:] == [first] and rows[1][4] is not None  # the first is replaced
    sync(alice, bob, cid)
    assert alice.view(cid).roster.prekeys[bob.me].key == rows[0][0]
    clock.t = rows[1][4] / 1000 + prekeys.REPLACED_S - 1
    bob.refresh_prekeys()
    assert first in [r[0] for r in bob.store.prekeys()]  # replaced, but a late rekey may need it
    clock.t += 2
    bob.refresh_prekeys()
    assert first not in [r[0] for r in bob.store.prekeys()]
    assert first not in files_of(bob.paths.root) or True  # the public half may stay in records
    alice.close()
    bob.close()


def test_a_key_forgotten_by_another_process_leaves_this_ones_memory_too(tmp_path: Path) -> None:
    """The CLI's `history forget` deletes keys while a node holds the profile open: the node's
    unsealed-key cache lets go of them at its next read."""
    clock = Clock()
    (alice, bob, carol), cid = circle_of(tmp_path, clock, ["alice", "bob", "carol"])
    node_side = Profile.open(bob.paths, None, clock)
    bob.refresh_prekeys()
    sync(alice, bob, cid)
    old_epoch = _epoch_of(bob, cid)
    assert old_epoch in node_side.epoch_keys(cid)
    alice.remove(cid, carol.me)
    sync(alice, bob, cid)
    clock.t += history.GRACE_S + 1
    history.set_mode(bob.store, history.FORGET)
    assert bob.forget_old_history() == 1
    assert old_epoch not in node_side.epoch_keys(cid)
    assert old_epoch not in node_side._keys.get(cid, {})
    for p in (alice, bob, carol, node_side):
        p.close()
