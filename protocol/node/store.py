"""The local store: one SQLite file per profile, WAL mode, versioned schema.

Holds the identity's public part and display name, contacts (petnames),
circles, every accepted raw record (deduplicated by record id, one per
author and seq), epoch keys, private prekeys and circle names sealed under the profile's
storage key (:mod:`protocol.atrest`; older profiles' rows sealed to the identity key are
re-sealed when the profile opens), per-profile settings, the
outbox of records to publish, read markers, used invitations, known peer
addresses, records held until their dependencies arrive, and the short tokens
(format 2) I joined with while the roster has not confirmed them, and how loudly
each circle notifies me (loud, quiet, muted). Writes that belong together happen in
one transaction (``with store.tx():``); a caller acknowledges only after it returns.

Past 400 lines: the schema, its migrations and every query on it in one place, so that a
transaction never spans two modules and a table change is one diff.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from protocol import records
from protocol.records import Record
from protocol.view import ChainRow

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        public_key BLOB NOT NULL,
        display_name TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE contacts (
        key BLOB PRIMARY KEY,
        petname TEXT NOT NULL UNIQUE,
        added_at INTEGER NOT NULL
    );
    CREATE TABLE circles (
        id BLOB PRIMARY KEY,
        parent BLOB,
        name_sealed BLOB NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('member', 'invited', 'left', 'removed')),
        fork_record BLOB,
        added_at INTEGER NOT NULL
    );
    CREATE TABLE records (
        id BLOB PRIMARY KEY,
        circle BLOB NOT NULL,
        author BLOB NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        raw BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        UNIQUE (circle, author, seq)
    );
    CREATE INDEX records_by_circle ON records (circle, type);
    CREATE TABLE epoch_keys (
        circle BLOB NOT NULL,
        epoch BLOB NOT NULL,
        key_sealed BLOB NOT NULL,
        PRIMARY KEY (circle, epoch)
    );
    CREATE TABLE outbox (
        record BLOB PRIMARY KEY REFERENCES records (id),
        circle BLOB NOT NULL,
        queued_at INTEGER NOT NULL,
        sent_at INTEGER
    );
    CREATE TABLE read_markers (
        circle BLOB PRIMARY KEY,
        record BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE used_invites (
        invite BLOB PRIMARY KEY,
        circle BLOB NOT NULL,
        used_at INTEGER NOT NULL
    );
    CREATE TABLE peer_addrs (
        circle BLOB NOT NULL,
        addr TEXT NOT NULL,
        source TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        PRIMARY KEY (circle, addr)
    );
    CREATE TABLE held (
        id BLOB PRIMARY KEY,
        circle BLOB NOT NULL,
        raw BLOB NOT NULL,
        reason TEXT NOT NULL,
        received_at INTEGER NOT NULL
    );
    """,
    # 2: find unsent outbox records without scanning everything ever sent
    """
    CREATE INDEX outbox_unsent ON outbox (queued_at) WHERE sent_at IS NULL;
    """,
    # 3: roster records that reuse an author's chain position, kept as evidence and for the fold
    """
    CREATE TABLE conflicts (
        id BLOB PRIMARY KEY,
        circle BLOB NOT NULL,
        raw BLOB NOT NULL,
        received_at INTEGER NOT NULL
    );
    """,
    # 4: circles a relay serves (status 'relay': it stores and forwards, holds no key); counters
    """
    CREATE TABLE circles_v4 (
        id BLOB PRIMARY KEY,
        parent BLOB,
        name_sealed BLOB NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('member', 'invited', 'left', 'removed', 'relay')),
        fork_record BLOB,
        added_at INTEGER NOT NULL
    );
    INSERT INTO circles_v4 SELECT id, parent, name_sealed, status, fork_record, added_at FROM circles;
    DROP TABLE circles;
    ALTER TABLE circles_v4 RENAME TO circles;
    CREATE INDEX records_by_received ON records (circle, received_at);
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE expired (
        circle BLOB NOT NULL,
        author BLOB NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (circle, author, seq)
    );
    """,
    # 5: display names members announce about themselves (signed presence), newest wins
    """
    CREATE TABLE names (
        key BLOB PRIMARY KEY,
        name TEXT NOT NULL,
        ts INTEGER NOT NULL
    );
    """,
    # 6: a short token's signed word, kept until the roster confirms the join it made
    """
    CREATE TABLE tickets (
        circle BLOB PRIMARY KEY,
        invite BLOB NOT NULL,
        inviter BLOB NOT NULL,
        epoch BLOB NOT NULL,
        join_seq INTEGER NOT NULL,
        contacts BLOB NOT NULL,
        added_at INTEGER NOT NULL
    );
    """,
    # 7: how loudly each circle notifies me (no row: quiet); the CLI and the TUI both set it
    """
    CREATE TABLE notify_levels (
        circle BLOB PRIMARY KEY,
        level TEXT NOT NULL CHECK (level IN ('loud', 'muted')),
        updated_at INTEGER NOT NULL
    );
    """,
    # 8: a record's chain link (its ``p``; b'' for none) beside it, so a circle's view is built
    # from columns without decoding each message (NULL: written before; read from ``raw``)
    """
    ALTER TABLE records ADD COLUMN link BLOB;
    """,
    # 9: my private prekeys (sealed under the storage key); when each epoch key came (an epoch
    # is over once a later one's key is held: docs/security.md); per-profile settings
    """
    CREATE TABLE prekeys (
        public BLOB PRIMARY KEY,
        private_sealed BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        replaced_at INTEGER
    );
    ALTER TABLE epoch_keys ADD COLUMN added_at INTEGER;
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The store cannot be opened or used (a newer schema, a damaged file)."""


@dataclass(frozen=True)
class Ticket:
    """What a short token said, kept until the roster confirms the join made with it."""

    circle: bytes
    invite: bytes
    inviter: bytes
    epoch: bytes
    join_seq: int
    """Where my join made with it sits in my chain: what I write after it waits for the roster."""
    contacts: tuple[bytes, ...]
    """The keys the token named (its inviter, the peers of its addresses): whom I may sync
    the circle with before its roster can tell me who is in it."""


@dataclass(frozen=True)
class CircleRow:
    id: bytes
    parent: bytes | None
    name_sealed: bytes
    status: str
    fork_record: bytes | None
    added_at: int


def _create_private(path: Path) -> None:
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


PAGE_SIZE = 8192
"""SQLite's page size for a new store (bytes)."""


class Store:
    """A profile's SQLite database."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create_private(path)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10)
        # Only a new, empty file takes it (before WAL, which fixes it); an older store keeps its
        # 4 KiB pages. Inserting 100,000 records (a catch-up) took 18% less with 8 KiB pages.
        self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        # A deleted epoch key or private prekey is overwritten, not left in a free page for a
        # later copy of the file to find (history forget, prekey deletion: docs/security.md).
        self.db.execute("PRAGMA secure_delete=ON")
        self._depth = 0
        self.on_rollback: Callable[[], None] | None = None
        self._tx_cache: dict[tuple[str, bytes], object] = {}
        """Reads that only this store's own writes can change while it holds the write lock
        (a circle's row, its sealed epoch keys): kept inside one transaction, gone at its end."""
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"This data directory was written by a newer smallsocial (schema {version}); "
                "upgrade smallsocial."
            )
        for n in range(version, SCHEMA_VERSION):
            with self.tx():
                for stmt in MIGRATIONS[n].split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)
                self.db.execute(f"PRAGMA user_version = {n + 1}")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction (nested calls join the outer one); committed when the block ends."""
        if self._depth:
            self._depth += 1
            try:
                yield self.db
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.db
            self._depth = 0
            self._tx_cache.clear()
            self.db.execute("COMMIT")
        except BaseException:
            self._tx_cache.clear()
            # A failed COMMIT (a full disk) may leave the transaction open, or SQLite may have
            # rolled it back already; either way nothing of it is kept, and whoever cached
            # state from inside it (the profile's views) must drop that cache.
            self._depth = 0
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if self.on_rollback is not None:
                self.on_rollback()
            raise

    # identity -------------------------------------------------------------
    def identity_row(self) -> tuple[bytes, str] | None:
        row = self.db.execute("SELECT public_key, display_name FROM identity WHERE id = 1").fetchone()
        return (bytes(row[0]), str(row[1])) if row else None

    def set_identity(self, public_key: bytes, name: str, now: int) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO identity (id, public_key, display_name, created_at) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key, "
                "display_name = excluded.display_name",
                (public_key, name, now),
            )

    # contacts -------------------------------------------------------------
    def set_contact(self, key: bytes, petname: str, now: int) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM contacts WHERE petname = ? AND key != ?", (petname, key))
            db.execute(
                "INSERT INTO contacts (key, petname, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET petname = excluded.petname",
                (key, petname, now),
            )

    def contacts(self) -> dict[bytes, str]:
        return {bytes(k): str(n) for k, n in self.db.execute("SELECT key, petname FROM contacts")}

    # how loudly circles notify ----------------------------------------------
    def notify_level(self, circle_id: bytes) -> str:
        """``loud``, ``quiet`` (the default) or ``muted``."""
        row = self.db.execute("SELECT level FROM notify_levels WHERE circle = ?", (circle_id,)).fetchone()
        return str(row[0]) if row else "quiet"

    def notify_levels(self) -> dict[bytes, str]:
        """The circles whose level is not the default (quiet)."""
        return {bytes(c): str(v) for c, v in self.db.execute("SELECT circle, level FROM notify_levels")}

    def set_notify_level(self, circle_id: bytes, level: str, now: int) -> None:
        if level not in ("loud", "quiet", "muted"):
            raise ValueError("A notification level is loud, quiet or muted.")
        with self.tx() as db:
            db.execute("DELETE FROM notify_levels WHERE circle = ?", (circle_id,))
            if level != "quiet":
                db.execute(
                    "INSERT INTO notify_levels (circle, level, updated_at) VALUES (?, ?, ?)",
                    (circle_id, level, now),
                )

    # circles --------------------------------------------------------------
    def add_circle(
        self,
        circle_id: bytes,
        parent: bytes | None,
        name_sealed: bytes,
        status: str,
        now: int,
        fork_record: bytes | None = None,
    ) -> None:
        self._tx_cache.pop(("circle", circle_id), None)
        with self.tx() as db:
            db.execute(
                "INSERT INTO circles (id, parent, name_sealed, status, fork_record, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status",
                (circle_id, parent, name_sealed, status, fork_record, now),
            )

    def set_parent(self, circle_id: bytes, parent: bytes | None) -> None:
        self._tx_cache.pop(("circle", circle_id), None)
        with self.tx() as db:
            db.execute("UPDATE circles SET parent = ? WHERE id = ?", (parent, circle_id))

    def set_circle_status(self, circle_id: bytes, status: str) -> None:
        self._tx_cache.pop(("circle", circle_id), None)
        with self.tx() as db:
            db.execute("UPDATE circles SET status = ? WHERE id = ?", (status, circle_id))

    def _circle_rows(self, where: str, args: tuple[object, ...] = ()) -> list[CircleRow]:
        rows = self.db.execute(
            f"SELECT id, parent, name_sealed, status, fork_record, added_at FROM circles {where}", args
        )
        return [
            CircleRow(bytes(r[0]), bytes(r[1]) if r[1] else None, bytes(r[2]), r[3], r[4], int(r[5]))
            for r in rows
        ]

    def circles(self, *statuses: str) -> list[CircleRow]:
        """Every circle here, oldest first (only those in ``statuses`` when given)."""
        if not statuses:
            return self._circle_rows("ORDER BY added_at, id")
        marks = ",".join("?" * len(statuses))
        return self._circle_rows(f"WHERE status IN ({marks}) ORDER BY added_at, id", statuses)

    def invited_children(self, parent: bytes) -> list[CircleRow]:
        """The fork invitations of ``parent`` not accepted yet (children in state "invited")."""
        return self._circle_rows("WHERE parent = ? AND status = 'invited'", (parent,))

    def circle(self, circle_id: bytes) -> CircleRow | None:
        if self._depth and ("circle", circle_id) in self._tx_cache:  # a sync batch asks per record
            return cast(CircleRow | None, self._tx_cache["circle", circle_id])
        rows = self._circle_rows("WHERE id = ?", (circle_id,))
        if self._depth:
            self._tx_cache["circle", circle_id] = rows[0] if rows else None
        return rows[0] if rows else None

    # records --------------------------------------------------------------
    def add_record(self, record: Record, now: int, *, outbox: bool = False) -> bool:
        """Store a record once; True if it was new. ``outbox``: also queue it for publishing."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO records (id, circle, author, seq, type, raw, received_at, link) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, record.circle, record.author, record.seq, record.type, record.raw, now,
                 record.prev or b""),
            )  # fmt: skip
            new = cur.rowcount == 1
            if new and outbox:
                db.execute(
                    "INSERT INTO outbox (record, circle, queued_at) VALUES (?, ?, ?)",
                    (record.id, record.circle, now),
                )
            db.execute("DELETE FROM held WHERE id = ?", (record.id,))
        return new

    def add_records(self, batch: list[Record], now: int) -> None:
        """Store accepted records of one circle's sync answer at once (not queued for publishing):
        one statement for the batch, and the held area cleared of them only if it holds any of
        the circle's (it nearly never does)."""
        if not batch:
            return
        with self.tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO records (id, circle, author, seq, type, raw, received_at, link) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.id, r.circle, r.author, r.seq, r.type, r.raw, now, r.prev or b"") for r in batch],
            )
            held = "SELECT 1 FROM held WHERE circle = ? LIMIT 1"
            if any(db.execute(held, (c,)).fetchone() for c in {r.circle for r in batch}):
                db.executemany("DELETE FROM held WHERE id = ?", [(r.id,) for r in batch])

    def remove_record(self, record_id: bytes) -> None:
        """Delete a record wherever it is kept: chain (and outbox), conflicts, or the held area."""
        with self.tx() as db:
            for table, col in (("outbox", "record"), ("records", "id"), ("conflicts", "id"), ("held", "id")):
                db.execute(f"DELETE FROM {table} WHERE {col} = ?", (record_id,))

    def raw_records(self, circle_id: bytes) -> list[bytes]:
        rows = self.db.execute("SELECT raw FROM records WHERE circle = ? ORDER BY author, seq", (circle_id,))
        return [bytes(r[0]) for r in rows]

    def load_records(self, circle_id: bytes, record_type: str | None = None) -> list[Record]:
        """Stored records of a circle (of one type when given), checked against their ids
        (``records.load``: a damaged row is an error, not a crash; each signature was verified
        before the row was written)."""
        where, args = ("circle = ?", (circle_id,)) if record_type is None else (
            "circle = ? AND type = ?", (circle_id, record_type))  # fmt: skip
        rows = self.db.execute(f"SELECT id, raw FROM records WHERE {where} ORDER BY author, seq", args)
        return [records.load(raw, bytes(rid)) for rid, raw in rows]

    def load_chain_rows(self, circle_id: bytes) -> tuple[list[Record], Iterator[ChainRow]]:
        """A circle's stored records for building its view: whole (checked against their ids,
        as :meth:`load_records`) where the view keeps them whole, roster records and the genesis,
        or where the row predates the ``link`` column, in (author, seq) order; and every other
        as a :data:`ChainRow` read from columns, its bytes not decoded, in (author, seq) order,
        as the rows come from SQLite (a circle's messages are never all in memory at once)."""
        whole = tuple(sorted({records.GENESIS, *records.ROSTER_TYPES}))
        marks = ",".join("?" * len(whole))
        rows = self.db.execute(
            f"SELECT id, raw, link FROM records WHERE circle = ? AND (link IS NULL OR type IN ({marks})) "
            "ORDER BY author, seq",
            (circle_id, *whole),
        ).fetchall()
        full: list[Record] = []
        unlinked: list[tuple[bytes, bytes]] = []
        for rid, raw, link in rows:
            rec = records.load(raw, bytes(rid))
            full.append(rec)
            if link is None:
                unlinked.append((rec.prev or b"", rec.id))
        if unlinked:  # rows from before the column: filled in once, read from columns next time
            with self.tx() as db:
                db.executemany("UPDATE records SET link = ? WHERE id = ?", unlinked)
        return full, self._chain_rows(circle_id, whole, {rid for _, rid in unlinked})

    def _chain_rows(self, circle_id: bytes, whole: tuple[str, ...], given: set[bytes]) -> Iterator[ChainRow]:
        marks = ",".join("?" * len(whole))
        cur = self.db.execute(
            f"SELECT id, author, seq, link, type FROM records WHERE circle = ? AND link IS NOT NULL "
            f"AND type NOT IN ({marks}) ORDER BY author, seq",
            (circle_id, *whole),
        )
        try:
            for rid, author, seq, link, rtype in cur:
                if rid not in given:  # filled in just now: already among the whole ones
                    yield bytes(rid), bytes(author), int(seq), bytes(link) or None, str(rtype)
        finally:  # left before the end (a chain the view cannot build from rows): let go of it
            with contextlib.suppress(sqlite3.ProgrammingError):  # the store closed meanwhile
                cur.close()

    def raws_of_type(self, circle_id: bytes, rtype: str) -> list[bytes]:
        """The bytes of a circle's chain records of one type (forks: few), in storage order."""
        rows = self.db.execute(
            "SELECT raw FROM records WHERE circle = ? AND type = ? ORDER BY rowid", (circle_id, rtype)
        )
        return [bytes(r[0]) for r in rows]

    def raws(self, ids: list[bytes]) -> list[bytes]:
        """The bytes of these records, wherever each is kept (chain or conflicts), in no order."""
        out = []
        for table in ("records", "conflicts"):
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                marks = ",".join("?" * len(part))
                out += [
                    bytes(r[0])
                    for r in self.db.execute(f"SELECT raw FROM {table} WHERE id IN ({marks})", part)
                ]
        return out

    def outbox(self) -> list[tuple[bytes, bytes]]:
        rows = self.db.execute(
            "SELECT o.record, r.raw FROM outbox o JOIN records r ON r.id = o.record "
            "WHERE o.sent_at IS NULL ORDER BY o.queued_at, r.author, r.seq"
        )
        return [(bytes(a), bytes(b)) for a, b in rows]

    # epoch keys -----------------------------------------------------------
    def add_epoch_key(
        self, circle_id: bytes, epoch_id: bytes, key_sealed: bytes, now: int | None = None
    ) -> None:
        """Keep an epoch key (sealed by the caller); ``now`` (seconds) is when it came."""
        self._tx_cache.pop(("keys", circle_id), None)
        with self.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO epoch_keys (circle, epoch, key_sealed, added_at) VALUES (?, ?, ?, ?)",
                (circle_id, epoch_id, key_sealed, now),
            )

    def reseal_epoch_key(self, circle_id: bytes, epoch_id: bytes, key_sealed: bytes) -> None:
        """Replace a stored epoch key's sealed bytes (the storage-key migration)."""
        self._tx_cache.pop(("keys", circle_id), None)
        with self.tx() as db:
            db.execute(
                "UPDATE epoch_keys SET key_sealed = ? WHERE circle = ? AND epoch = ?",
                (key_sealed, circle_id, epoch_id),
            )

    def all_epoch_keys(self) -> list[tuple[bytes, bytes, bytes, int | None]]:
        """Every stored epoch key: (circle, epoch, sealed bytes, when it came or None)."""
        rows = self.db.execute("SELECT circle, epoch, key_sealed, added_at FROM epoch_keys")
        return [(bytes(c), bytes(e), bytes(k), None if t is None else int(t)) for c, e, k, t in rows]

    def set_epoch_key_added(self, circle_id: bytes, epoch_id: bytes, now: int) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE epoch_keys SET added_at = ? WHERE circle = ? AND epoch = ? AND added_at IS NULL",
                (now, circle_id, epoch_id),
            )

    # my private prekeys -------------------------------------------------------
    def add_prekey(self, public: bytes, private_sealed: bytes, created_ms: int, expires_ms: int) -> None:
        with self.tx() as db:
            db.execute("UPDATE prekeys SET replaced_at = ? WHERE replaced_at IS NULL", (created_ms,))
            db.execute(
                "INSERT INTO prekeys (public, private_sealed, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (public, private_sealed, created_ms, expires_ms),
            )

    def prekeys(self) -> list[tuple[bytes, bytes, int, int, int | None]]:
        """My prekeys, newest first: (public, private sealed, created, expires, replaced; ms)."""
        rows = self.db.execute(
            "SELECT public, private_sealed, created_at, expires_at, replaced_at FROM prekeys "
            "ORDER BY created_at DESC, public"
        )
        return [(bytes(p), bytes(k), int(c), int(x), None if r is None else int(r)) for p, k, c, x, r in rows]

    def reseal_prekey(self, public: bytes, private_sealed: bytes) -> None:
        with self.tx() as db:
            db.execute("UPDATE prekeys SET private_sealed = ? WHERE public = ?", (private_sealed, public))

    def drop_prekey(self, public: bytes) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM prekeys WHERE public = ?", (public,))

    # settings -----------------------------------------------------------------
    def setting(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, name: str, value: str) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def epoch_keys(self, circle_id: bytes) -> dict[bytes, bytes]:
        if self._depth and ("keys", circle_id) in self._tx_cache:
            return dict(cast(dict[bytes, bytes], self._tx_cache["keys", circle_id]))
        rows = self.db.execute("SELECT epoch, key_sealed FROM epoch_keys WHERE circle = ?", (circle_id,))
        keys = {bytes(e): bytes(k) for e, k in rows}
        if self._depth:
            self._tx_cache["keys", circle_id] = dict(keys)
        return keys

    # invitations, peers, held records, read markers ----------------------
    def mark_invite_used(self, invite_id: bytes, circle_id: bytes, now: int) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO used_invites (invite, circle, used_at) VALUES (?, ?, ?)",
                (invite_id, circle_id, now),
            )

    def used_invites(self) -> set[bytes]:
        return {bytes(r[0]) for r in self.db.execute("SELECT invite FROM used_invites")}

    def add_ticket(self, t: Ticket, now: int) -> None:
        """Keep a short token's word (the newest one per circle)."""
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO tickets (circle, invite, inviter, epoch, join_seq, contacts, "
                "added_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (t.circle, t.invite, t.inviter, t.epoch, t.join_seq, b"".join(t.contacts), now),
            )

    def ticket(self, circle_id: bytes) -> Ticket | None:
        row = self.db.execute(
            "SELECT invite, inviter, epoch, join_seq, contacts FROM tickets WHERE circle = ?", (circle_id,)
        ).fetchone()
        if row is None:
            return None
        keys = bytes(row[4])
        contacts = tuple(keys[i : i + 32] for i in range(0, len(keys), 32))
        return Ticket(circle_id, bytes(row[0]), bytes(row[1]), bytes(row[2]), int(row[3]), contacts)

    def drop_ticket(self, circle_id: bytes) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM tickets WHERE circle = ?", (circle_id,))

    def unqueued(self, circle_id: bytes, author: bytes, above: int) -> list[bytes]:
        """Ids of ``author``'s records of a circle past seq ``above`` never queued for publishing."""
        rows = self.db.execute(
            "SELECT id FROM records WHERE circle = ? AND author = ? AND seq > ? "
            "AND id NOT IN (SELECT record FROM outbox) ORDER BY seq",
            (circle_id, author, above),
        )
        return [bytes(r[0]) for r in rows]

    def queue(self, circle_id: bytes, record_ids: list[bytes], now: int) -> None:
        """Queue stored records for publishing."""
        with self.tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO outbox (record, circle, queued_at) VALUES (?, ?, ?)",
                [(rid, circle_id, now) for rid in record_ids],
            )

    def checkpoint(self) -> None:
        """Move the WAL into the database file and truncate it: no copy of a deleted row stays there."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def set_name_sealed(self, circle_id: bytes, name_sealed: bytes) -> None:
        with self.tx() as db:
            db.execute("UPDATE circles SET name_sealed = ? WHERE id = ?", (name_sealed, circle_id))

    def drop_epoch_key(self, circle_id: bytes, epoch_id: bytes) -> None:
        self._tx_cache.pop(("keys", circle_id), None)
        with self.tx() as db:
            db.execute("DELETE FROM epoch_keys WHERE circle = ? AND epoch = ?", (circle_id, epoch_id))

    def add_peer_addrs(self, circle_id: bytes, addrs: list[str], source: str, now: int) -> None:
        with self.tx() as db:
            db.executemany(
                "INSERT INTO peer_addrs (circle, addr, source, added_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (circle, addr) DO UPDATE SET added_at = excluded.added_at, "
                # a signed presence announcement is the strongest source; nothing downgrades it
                "source = CASE WHEN peer_addrs.source = 'presence' THEN 'presence' ELSE excluded.source END",
                [(circle_id, a, source, now) for a in addrs],
            )

    def peer_addrs(self, circle_id: bytes) -> list[str]:
        rows = self.db.execute(
            "SELECT addr FROM peer_addrs WHERE circle = ? ORDER BY added_at DESC", (circle_id,)
        )
        return [str(r[0]) for r in rows]

    MAX_HELD_PER_CIRCLE = 5000

    def hold(self, record: Record, reason: str, now: int) -> bool:
        """Keep a record until its dependencies arrive; False when the circle's held area is full."""
        with self.tx() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM held WHERE circle = ?", (record.circle,)).fetchone()
            if count >= self.MAX_HELD_PER_CIRCLE:
                return False
            db.execute(
                "INSERT OR IGNORE INTO held (id, circle, raw, reason, received_at) VALUES (?, ?, ?, ?, ?)",
                (record.id, record.circle, record.raw, reason, now),
            )
        return True

    def held(self, circle_id: bytes) -> list[bytes]:
        return [bytes(r[0]) for r in self.db.execute("SELECT raw FROM held WHERE circle = ?", (circle_id,))]

    def set_read_marker(self, circle_id: bytes, record_id: bytes, now: int) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO read_markers (circle, record, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (circle) DO UPDATE SET record = excluded.record, "
                "updated_at = excluded.updated_at",
                (circle_id, record_id, now),
            )

    def read_marker(self, circle_id: bytes) -> bytes | None:
        row = self.db.execute("SELECT record FROM read_markers WHERE circle = ?", (circle_id,)).fetchone()
        return bytes(row[0]) if row else None

    def integrity_ok(self) -> bool:
        return bool(self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    # what the node needs ----------------------------------------------------
    def circle_of(self, record_id: bytes) -> bytes | None:
        row = self.db.execute("SELECT circle FROM records WHERE id = ?", (record_id,)).fetchone()
        return bytes(row[0]) if row else None

    def unsent(self, record_id: bytes) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM outbox WHERE record = ? AND sent_at IS NULL", (record_id,)
        ).fetchone()
        return row is not None

    def mark_sent(self, record_id: bytes, now: int) -> None:
        with self.tx() as db:
            db.execute("UPDATE outbox SET sent_at = ? WHERE record = ?", (now, record_id))

    def raw_range(self, circle_id: bytes, author: bytes, first: int, last: int) -> list[bytes]:
        rows = self.db.execute(
            "SELECT raw FROM records WHERE circle = ? AND author = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (circle_id, author, first, last),
        )
        return [bytes(r[0]) for r in rows]

    def data_version(self) -> int:
        """Changes whenever another connection commits to the database."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def add_conflict(self, record: Record, now: int) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO conflicts (id, circle, raw, received_at) VALUES (?, ?, ?, ?)",
                (record.id, record.circle, record.raw, now),
            )
            db.execute("DELETE FROM held WHERE id = ?", (record.id,))

    def conflicts(self, circle_id: bytes) -> list[bytes]:
        return [
            bytes(r[0]) for r in self.db.execute("SELECT raw FROM conflicts WHERE circle = ?", (circle_id,))
        ]

    # what the UI asks ---------------------------------------------------------
    def after_marker(self, circle_id: bytes, not_author: bytes) -> list[tuple[bytes, bytes]]:
        """(id, raw) of others' message records stored after the circle's read marker (all without one)."""
        rows = self.db.execute(
            "SELECT id, raw FROM records WHERE circle = ? AND type = ? AND author != ? AND rowid > "
            "COALESCE((SELECT r.rowid FROM records r JOIN read_markers m ON m.record = r.id "
            "WHERE m.circle = ?), 0) ORDER BY rowid",
            (circle_id, records.MSG, not_author, circle_id),
        )
        return [(bytes(rid), bytes(raw)) for rid, raw in rows]

    # what a relay needs ---------------------------------------------------------
    def usage(self, circle_id: bytes) -> tuple[int, int]:
        """(records, bytes) stored for a circle."""
        n, size = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(raw)), 0) FROM records WHERE circle = ?", (circle_id,)
        ).fetchone()
        return int(n), int(size)

    def expire_messages(self, circle_id: bytes, before: int) -> int:
        """Delete a circle's message records received before ``before``; roster records stay."""
        with self.tx() as db:
            ids = [
                (r[0],)
                for r in db.execute(
                    "SELECT id FROM records WHERE circle = ? AND type = ? AND received_at < ? "
                    "AND id NOT IN (SELECT record FROM outbox WHERE sent_at IS NULL)",
                    (circle_id, records.MSG, before),
                )
            ]
            db.executemany(
                "INSERT OR IGNORE INTO expired (circle, author, seq) SELECT circle, author, seq "
                "FROM records WHERE id = ?",
                ids,
            )
            db.executemany("DELETE FROM outbox WHERE record = ?", ids)
            db.executemany("DELETE FROM records WHERE id = ?", ids)
        return len(ids)

    def expired_seqs(self, circle_id: bytes) -> list[tuple[bytes, int]]:
        """(author, seq) of message records deleted by retention: not to be fetched again."""
        rows = self.db.execute("SELECT author, seq FROM expired WHERE circle = ?", (circle_id,))
        return [(bytes(a), int(q)) for a, q in rows]

    def bump(self, name: str, by: int = 1) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (name, by),
            )

    def counters(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.db.execute("SELECT name, value FROM counters")}

    # names people give themselves --------------------------------------------------
    def set_name(self, key: bytes, name: str, ts: int) -> bool:
        """Keep ``key``'s self-chosen name if newer than what we hold; True if it changed."""
        with self.tx() as db:
            row = db.execute("SELECT name, ts FROM names WHERE key = ?", (key,)).fetchone()
            if row is not None and (int(row[1]) >= ts or str(row[0]) == name):
                if str(row[0]) == name and int(row[1]) < ts:
                    db.execute("UPDATE names SET ts = ? WHERE key = ?", (ts, key))
                return False
            db.execute(
                "INSERT INTO names (key, name, ts) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET name = excluded.name, ts = excluded.ts",
                (key, name, ts),
            )
        return True

    def names(self) -> dict[bytes, str]:
        return {bytes(k): str(n) for k, n in self.db.execute("SELECT key, name FROM names")}

    def purge_after_cut(self, circle_id: bytes, author: bytes, cut: int) -> int:
        """Delete a departed author's messages and forks past their cut; roster records stay."""
        with self.tx() as db:
            ids = [
                (r[0],)
                for r in db.execute(
                    "SELECT id FROM records WHERE circle = ? AND author = ? AND seq > ? "
                    "AND type IN (?, ?, ?)",
                    (circle_id, author, cut, records.MSG, records.FORK, records.CARRY),
                )
            ]
            db.executemany("DELETE FROM outbox WHERE record = ?", ids)
            db.executemany("DELETE FROM records WHERE id = ?", ids)
        return len(ids)

    def stored_at(self, record_id: bytes) -> tuple[int, int] | None:
        """Where and when a record was stored: its row number (rows only grow) and ``received_at``."""
        row = self.db.execute("SELECT rowid, received_at FROM records WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def messages_after(self, circle_id: bytes, rowid: int) -> list[tuple[int, bytes, bytes]]:
        """A circle's messages stored after row ``rowid``: (row, id, raw), in storing order."""
        rows = self.db.execute(
            "SELECT rowid, id, raw FROM records WHERE circle = ? AND type = ? AND rowid > ? ORDER BY rowid",
            (circle_id, records.MSG, rowid),
        )
        return [(int(n), bytes(rid), bytes(raw)) for n, rid, raw in rows]
