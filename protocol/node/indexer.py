"""The node's search indexer: the profile's search index kept caught up with its store.

:func:`follow` runs as one of the node's tasks. The node wakes it (:meth:`Indexer.due`)
whenever a record is committed (gossip, sync, my own command); it then indexes what the
store has beyond the index's watermark (:meth:`protocol.node.search.SearchIndex.catch_up`),
:data:`BATCH` records at a time, letting the node's other tasks run between batches, so a
profile's first backfill of a long history never holds the node up for more than a batch.
A relay has no index (it holds no keys): the task is not started for one.
"""

from __future__ import annotations

import logging
import sqlite3

import trio

from protocol.node.profile import Profile

LOG = logging.getLogger("smallsocial.node")
BATCH = 200
"""Records per turn (a few ms each: opening a message and one FTS5 insert)."""


class Indexer:
    """Wakes :func:`follow` when the store has new records."""

    def __init__(self) -> None:
        self._wanted = trio.Event()

    def due(self) -> None:
        self._wanted.set()

    async def wait(self) -> None:
        await self._wanted.wait()
        self._wanted = trio.Event()


async def follow(profile: Profile, indexer: Indexer) -> None:
    """Index what the store gains, batch by batch, for as long as the node runs."""
    indexer.due()  # a profile's history from before the index, or from before the last crash
    while True:
        await indexer.wait()
        while True:
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
            await trio.sleep(0)
