"""The search index: the plaintext of every message a profile can read, in an FTS5 table.

:class:`SearchIndex` keeps ``search.sqlite3`` in the profile directory (mode 0600, like the
store), apart from the store: the store keeps only ciphertext, and this file can be deleted
at any time and is rebuilt from the store on next need (docs/security.md says what it
exposes at rest).

It follows the store's ``records`` table by rowid: :meth:`SearchIndex.catch_up` takes the
``msg`` and ``carry`` records written since its watermark, a batch at a time, opens those
the profile holds the key of, and indexes them. So whoever writes the store (gossip, sync,
my sends, a bundle, the CLI without a node) is followed, a crash between the two files
loses nothing, and a profile made before the index is backfilled in batches (the node runs
them in the background; a search answers at once and says how many wait).

What a result shows is what the log shows (:mod:`protocol.timeline`): an edit replaces the
text (the newest by its author's time wins, whatever the order of arrival), a delete takes
the message out for good, a reaction is not indexed; an edit or delete that arrives before
its message waits in ``changes``. History carried into a fork is indexed in the child, with
the parent named. A message no longer in the store (purged past a removed member's cut) is
dropped from the index when a search meets it.

Rows are keyed newest first: an index row's rowid is its author's time in ms times 1024
(plus a probe for ties), so ``ORDER BY rowid DESC LIMIT n`` walks the matches from the
newest and stops after ``n``, however common the word.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from protocol import display, messages, records, searchtext, timeline
from protocol.errors import ProtocolError
from protocol.node import api, carrying
from protocol.node.paths import ProfilePaths
from protocol.node.store import CircleRow, Store
from protocol.view import CircleView

LOG = logging.getLogger(__name__)
VERSION = 1
"""The index's schema; another version is thrown away and rebuilt (the store has everything)."""
BATCH = 500
"""Records taken per transaction while catching up (the node yields to other tasks between)."""
TIES = 1024
"""Index rows per author millisecond before rowids of two times overlap (see the module doc)."""
MAX_LIMIT = 200
"""Results one search returns at most."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS msgs (
    rowid INTEGER PRIMARY KEY,
    circle BLOB NOT NULL,
    id BLOB NOT NULL,
    src BLOB NOT NULL,
    author BLOB NOT NULL,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    carried_from BLOB,
    edited INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    at INTEGER,
    UNIQUE (circle, id)
);
CREATE TABLE IF NOT EXISTS changes (
    circle BLOB NOT NULL,
    id BLOB NOT NULL,
    target BLOB NOT NULL,
    author BLOB NOT NULL,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT,
    PRIMARY KEY (circle, id)
);
CREATE INDEX IF NOT EXISTS changes_by_target ON changes (circle, target);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    text, tokenize='unicode61 remove_diacritics 2', prefix='2 3'
);
PRAGMA user_version = {VERSION};
"""
_TYPES = (records.MSG, records.CARRY)


class Profile(Protocol):
    """What this module reads of a :class:`protocol.node.profile.Profile`."""

    paths: ProfilePaths
    store: Store

    @property
    def me(self) -> bytes: ...
    @property
    def display_name(self) -> str: ...
    def view(self, circle_id: bytes) -> CircleView: ...
    def epoch_keys(self, circle_id: bytes) -> dict[bytes, bytes]: ...
    def log(self, circle_id: bytes) -> list[api.HistoryEntry]: ...
    def circle_name(self, row: CircleRow) -> str: ...
    def search_index(self) -> SearchIndex: ...


@dataclass(frozen=True)
class Hit:
    """One message found: where, by whom, when, and the snippet around the match."""

    circle: bytes
    id: bytes
    author: bytes
    ts: int
    kind: str
    snippet: str
    """The text around the match, each match between :data:`searchtext.OPEN` and ``CLOSE``."""
    edited: bool
    carried_from: bytes | None


def _create_private(path: Path) -> None:
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class SearchIndex:
    """One profile's search index (``paths.search``), following its store."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.path = profile.paths.search
        self.db = self._open()

    def _open(self, again: bool = True) -> sqlite3.Connection:
        _create_private(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA secure_delete=ON")  # a deleted message's row is overwritten, not left free
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version in (0, VERSION):
                db.executescript(SCHEMA)
                return db
            why = f"version {version}"
        except sqlite3.OperationalError:
            db.close()
            raise  # locked, or a full disk: not a reason to throw the index away
        except sqlite3.DatabaseError as e:  # not a database, or a damaged one
            why = str(e)
        db.close()
        if not again:
            raise sqlite3.OperationalError(f"the search index {self.path} cannot be rebuilt ({why})")
        LOG.warning("search index rebuilt from the store: %s", why)
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
        return self._open(again=False)

    def close(self) -> None:
        self.db.close()

    # following the store ---------------------------------------------------------------------
    def _mark(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'mark'").fetchone()
        return int(row[0]) if row else 0

    def pending(self) -> int:
        """Message records in the store not indexed yet."""
        mark = self._top()
        n = self.profile.store.db.execute(
            "SELECT count(*) FROM records WHERE rowid > ? AND type IN (?, ?)", (mark, *_TYPES)
        ).fetchone()[0]
        return int(n)

    def _top(self) -> int:
        """The watermark, lowered if the store's newest rows were deleted (their rowids come again)."""
        mark = self._mark()
        top = self.profile.store.db.execute("SELECT max(rowid) FROM records").fetchone()[0] or 0
        if top < mark:
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('mark', ?)", (top,))
            return int(top)
        return mark

    def catch_up(self, limit: int = BATCH) -> int:
        """Index up to ``limit`` records written since the watermark; how many remain (0: caught up)."""
        mark = self._top()
        rows = self.profile.store.db.execute(
            "SELECT rowid, id, raw FROM records WHERE rowid > ? AND type IN (?, ?) ORDER BY rowid LIMIT ?",
            (mark, *_TYPES, limit),
        ).fetchall()
        if not rows:
            return 0
        keys: dict[bytes, dict[bytes, bytes]] = {}
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self._mark() != mark:  # another process caught up meanwhile: start from its mark
                self.db.execute("ROLLBACK")
                return self.catch_up(limit)
            for _, rid, raw in rows:
                try:
                    rec = records.load(bytes(raw), bytes(rid))
                except ProtocolError:
                    continue  # a damaged row: the log does not show it either
                self._take(rec, keys)
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('mark', ?)", (rows[-1][0],))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return self.pending() if len(rows) == limit else 0

    def _take(self, rec: records.Record, keys: dict[bytes, dict[bytes, bytes]]) -> None:
        cid = rec.circle
        if cid not in keys:
            keys[cid] = self.profile.epoch_keys(cid)
        key = keys[cid].get(bytes(rec.body["e"]))
        if key is None:
            return  # not readable by me (before I joined, after I left, or a relay)
        if rec.type == records.MSG:
            try:
                content = messages.open_message(rec, key)
            except ProtocolError:
                return
            self._add(cid, rec, content, rec.id, None)
            return
        try:
            view = self.profile.view(cid)
            if view.genesis is None or rec.author != view.genesis.author:
                return  # only the founder's carry records count (carrying.carried)
            got = carrying.open_one(self.profile, cid, rec) or []
        except ProtocolError:
            return
        for c in got:
            self._add(cid, c.record, c.content, rec.id, c.record.circle)

    def _add(
        self, cid: bytes, rec: records.Record, c: messages.Content, src: bytes, carried_from: bytes | None
    ) -> None:
        if c.kind in timeline.CHANGES and c.ref is not None:
            self.db.execute(
                "INSERT OR IGNORE INTO changes (circle, id, target, author, ts, kind, text) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (cid, rec.id, c.ref, rec.author, c.ts, c.kind, c.text),
            )
            self._revise(cid, c.ref, [timeline.Change(c.kind, rec.author, c.ts, c.ref, c.text)])
            return
        if c.kind not in timeline.READABLE:
            return
        if self.db.execute("SELECT 1 FROM msgs WHERE circle = ? AND id = ?", (cid, rec.id)).fetchone():
            return
        rowid = self._free_rowid(max(0, min(c.ts, 2**52)) * TIES, rec.id)
        self.db.execute(
            "INSERT INTO msgs (rowid, circle, id, src, author, ts, kind, carried_from) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rowid, cid, rec.id, src, rec.author, c.ts, c.kind, carried_from),
        )
        self._put_text(rowid, c.text)
        waiting = self.db.execute(
            "SELECT kind, author, ts, target, text FROM changes WHERE circle = ? AND target = ?",
            (cid, rec.id),
        ).fetchall()
        if waiting:
            self._revise(cid, rec.id, [timeline.Change(*w) for w in waiting])

    def _free_rowid(self, base: int, record_id: bytes) -> int:
        """A free rowid at ``base`` (an author time times :data:`TIES`): a slot picked by the id,
        else the one after the highest taken from ``base`` on (ties stay in time order)."""
        rowid = base + int.from_bytes(record_id[:2]) % TIES
        while self.db.execute("SELECT 1 FROM msgs WHERE rowid = ?", (rowid,)).fetchone():
            top = self.db.execute(
                "SELECT max(rowid) FROM msgs WHERE rowid >= ? AND rowid < ?", (rowid, base + TIES)
            ).fetchone()[0]
            rowid = int(top) + 1  # past base + TIES only when a millisecond holds 1,024 messages
            base = rowid
        return rowid

    def _put_text(self, rowid: int, text: str | None) -> None:
        self.db.execute("INSERT INTO fts (rowid, text) VALUES (?, ?)", (rowid, searchtext.clean(text or "")))

    def _revise(self, cid: bytes, target: bytes, changes: list[timeline.Change]) -> None:
        """Apply changes to an indexed message, as :func:`timeline.fold` does (any order)."""
        row = self.db.execute(
            "SELECT m.rowid, m.author, m.edited, m.deleted, m.at, f.text FROM msgs m "
            "LEFT JOIN fts f ON f.rowid = m.rowid WHERE m.circle = ? AND m.id = ?",
            (cid, target),
        ).fetchone()
        if row is None:
            return  # its message has not come (or is not readable): the change waits
        rowid, author, edited, deleted, at, text = row
        before = version = timeline.Version(None if deleted else text, bool(edited), bool(deleted), at)
        for ch in changes:
            version = timeline.revise(version, bytes(author), ch) or version
        if version == before:
            return
        self.db.execute(
            "UPDATE msgs SET edited = ?, deleted = ?, at = ? WHERE rowid = ?",
            (version.edited, version.deleted, version.at, rowid),
        )
        if version.deleted or version.text != text:
            self.db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
            if not version.deleted:
                self._put_text(rowid, version.text)

    # searching -------------------------------------------------------------------------------
    def search(self, text: str, *, circle: bytes | None = None, limit: int = 20) -> list[Hit]:
        """Messages matching ``text`` (:func:`searchtext.fts_query`), newest first.

        Raises :class:`searchtext.SearchTextError` for text with nothing to search for.
        """
        query = searchtext.fts_query(text)
        limit = max(1, min(limit, MAX_LIMIT))
        where = "fts MATCH ?" + (" AND m.circle = ?" if circle is not None else "")
        args: tuple[object, ...] = (query, circle) if circle is not None else (query,)
        sql = (
            "SELECT m.rowid, m.circle, m.id, m.src, m.author, m.ts, m.kind, m.edited, m.carried_from, "
            f"snippet(fts, 0, '{searchtext.OPEN}', '{searchtext.CLOSE}', '…', 16) "
            f"FROM fts JOIN msgs m ON m.rowid = fts.rowid WHERE {where} ORDER BY fts.rowid DESC LIMIT ?"
        )
        while True:
            rows = self.db.execute(sql, (*args, limit)).fetchall()
            gone = [r[0] for r in rows if not self._in_store(bytes(r[3]))]
            if not gone:
                break
            with_tx = "BEGIN IMMEDIATE"
            self.db.execute(with_tx)
            for rowid in gone:  # purged from the store since: no longer readable
                self.db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
                self.db.execute("DELETE FROM msgs WHERE rowid = ?", (rowid,))
            self.db.execute("COMMIT")
        return [
            Hit(bytes(r[1]), bytes(r[2]), bytes(r[4]), r[5], r[6], r[9], bool(r[7]), r[8] and bytes(r[8]))
            for r in rows
        ]

    def forget(self, circle_id: bytes, record_ids: list[bytes]) -> int:
        """Drop what the index holds of these records (their epoch key was deleted: history
        forget), and merge the full-text index so no segment still holds their words; how
        many messages went."""
        if not record_ids:
            return 0
        gone = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for rid in record_ids:
                rows = self.db.execute(
                    "SELECT rowid FROM msgs WHERE circle = ? AND (src = ? OR id = ?)", (circle_id, rid, rid)
                ).fetchall()
                for (rowid,) in rows:
                    self.db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
                    self.db.execute("DELETE FROM msgs WHERE rowid = ?", (rowid,))
                    gone += 1
                self.db.execute("DELETE FROM changes WHERE circle = ? AND id = ?", (circle_id, rid))
            self.db.execute("INSERT INTO fts (fts) VALUES ('optimize')")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return gone

    def _in_store(self, record_id: bytes) -> bool:
        row = self.profile.store.db.execute("SELECT 1 FROM records WHERE id = ?", (record_id,)).fetchone()
        return row is not None


SYNC_LIMIT = 2000
"""Records a search indexes before it answers; more wait for the background (the node's
indexer, or the CLI's next batch) so that a first search on a large profile answers at once."""


def answer(
    profile: Profile, request_id: int, text: str, circle: bytes | None, limit: int
) -> api.SearchResults:
    """A search's answer, names filled in as the log shows them (petname first: :func:`display.who`)."""
    index = profile.search_index()
    left = index.catch_up(SYNC_LIMIT)
    hits = index.search(text, circle=circle, limit=limit)
    circles = {row.id: row for row in profile.store.circles()}
    contacts, known = profile.store.contacts(), profile.store.names()
    me, mine = profile.me, profile.display_name
    named: dict[bytes, str] = {}

    def circle_name(cid: bytes) -> str:
        if cid not in named:
            row = circles.get(cid)
            named[cid] = profile.circle_name(row) if row is not None else ""
        return named[cid]

    out = tuple(
        api.SearchHit(
            h.circle,
            circle_name(h.circle),
            h.id,
            h.author,
            display.who(h.author, me=me, my_name=mine, contacts=contacts, names=known),
            h.ts,
            h.kind,
            h.snippet,
            h.edited,
            h.carried_from,
        )
        for h in hits
    )
    return api.SearchResults(request_id, text, out, left)
