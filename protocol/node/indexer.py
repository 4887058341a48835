"""The node's search indexer: the profile's search index kept caught up with its store.

:func:`follow` runs as one of the node's tasks. The node wakes it (:meth:`Indexer.due`)
whenever a record is committed (gossip, sync, my own command); it then indexes what the
store has beyond the index's watermark (:meth:`protocol.node.search.SearchIndex.catch_up`),
:data:`GATHER_S` after the wake (so a busy circle's records go in one transaction),
:data:`BATCH` records at a time, pausing between batches for :data:`YIELD` times as long
as the batch took: a profile's first backfill of a long history, or a catch-up of many
missed messages, never holds the node up for more than a batch, and indexing takes at most a
quarter of the node's time while there is a backlog (a search meanwhile says how many
messages wait), so syncing, serving and delivering keep the rest. While a sync pull is taking
batches in (:meth:`Indexer.pulling`) it does not start a batch at all: a catch-up of many
missed messages is committed first, and indexed after it.
A relay has no index (it holds no keys): the task is not started for one.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator

import trio

from protocol.node.profile import Profile

LOG = logging.getLogger("smallsocial.node")
BATCH = 200
"""Records per turn (a few ms each: opening a message and one FTS5 insert)."""
GATHER_S = 1.0
"""After the first record that wakes it, the indexer waits this long before it indexes: what
arrives meanwhile goes into the same transaction. One transaction a record (an FTS5 insert, the
watermark, a commit) was a sixth of a member's CPU in the relay benchmark's send phase, where each
node commits a record or two a second. A message is searchable at most about this long after it
is stored; a search meanwhile says how many wait."""
YIELD = 3.0
"""Between two batches of a backlog, a pause this many times the last batch's duration. Without
it, a member catching up 100,000 missed messages indexed them as fast as they came and took
2.6 times as long to hold them all (46 s against 17.5 s), and a holder indexing its own
backlog took 10 s to answer the first sync (0.4 s without)."""


class Indexer:
    """Wakes :func:`follow` when the store has new records, once no sync pull is under way."""

    def __init__(self) -> None:
        self._wanted = trio.Event()
        self._pulls = 0
        self._quiet = trio.Event()
        self._quiet.set()

    def due(self) -> None:
        self._wanted.set()

    @contextlib.contextmanager
    def pulling(self) -> Iterator[None]:
        """Around a sync pull: no indexing batch starts until every pull has ended. Without it,
        a member catching up 10,000 missed messages spent a third of its time indexing them
        between the sync batches (1.0-1.08 s to hold them all, 0.72-0.79 s without)."""
        if not self._pulls:
            self._quiet = trio.Event()
        self._pulls += 1
        try:
            yield
        finally:
            self._pulls -= 1
            if not self._pulls:
                self._quiet.set()

    async def quiet(self) -> None:
        """Return when no sync pull is under way."""
        while self._pulls:
            await self._quiet.wait()

    async def wait(self) -> None:
        await self._wanted.wait()
        self._wanted = trio.Event()

    def gathered(self) -> None:
        """Forget the wakes since :meth:`wait` returned: the turn about to start covers them."""
        self._wanted = trio.Event()


async def follow(profile: Profile, indexer: Indexer) -> None:
    """Index what the store gains, batch by batch, for as long as the node runs."""
    indexer.due()  # a profile's history from before the index, or from before the last crash
    while True:
        await indexer.wait()
        await trio.sleep(GATHER_S)
        indexer.gathered()  # what woke it meanwhile is in the store: this turn indexes it
        while True:
            await indexer.quiet()
            started = time.perf_counter()
            try:
                left = profile.search_index().catch_up(BATCH)
            except sqlite3.OperationalError as e:  # a full disk, a locked file: next commit retries
                LOG.warning("search index not updated: %s", e)
                break
            except Exception:  # a bug here must not end the node: search lags, the log says why
                LOG.exception("search index not updated")
                break
            if not left:
                break
            await trio.sleep(YIELD * (time.perf_counter() - started))
