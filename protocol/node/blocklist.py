"""Peers this node refuses to talk to: a plain file of peer IDs, re-read when it changes.

The file is ``<profile>/blocked`` (one peer ID per line, ``#`` comments), or the
path in ``$SMALLSOCIAL_BLOCK_FILE``. The node neither dials a blocked peer nor
keeps a connection from one, and drops gossip it forwards. Editing the file
takes effect within a few seconds (the dialer checks it; the file is looked at no more than
once every ``FRESH_S``: gossip asks per message), which is also how tests cut the network into
groups (a partition) or put two members behind "NATs" that only reach a relay.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

ENV = "SMALLSOCIAL_BLOCK_FILE"

FRESH_S = 1.0
"""How long a look at the file holds (seconds): a relay asked per gossip message, and the
``stat`` per message was 1% of its CPU."""


class BlockList:
    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.clock = clock
        self._mtime: float | None = None
        self._peers: frozenset[str] = frozenset()
        self._looked = -float("inf")

    @classmethod
    def for_profile(cls, root: Path) -> BlockList:
        env = os.environ.get(ENV)
        return cls(Path(env) if env else root / "blocked")

    @property
    def peers(self) -> frozenset[str]:
        """The blocked peer IDs, re-read if the file changed (or appeared, or went away)."""
        now = self.clock()
        if now - self._looked < FRESH_S:
            return self._peers
        self._looked = now
        try:
            mtime: float | None = self.path.stat().st_mtime_ns
        except OSError:
            mtime = None
        if mtime != self._mtime:
            self._mtime = mtime
            self._peers = frozenset(self._read()) if mtime is not None else frozenset()
        return self._peers

    def _read(self) -> list[str]:
        try:
            text = self.path.read_text(errors="replace")
        except OSError:
            return []
        return [w for line in text.splitlines() if (w := line.split("#", 1)[0].strip())]

    def blocked(self, peer_id: str) -> bool:
        return peer_id in self.peers
