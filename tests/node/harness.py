"""Real member nodes as separate processes, for node tests.

``Peer(tmp, "alice")`` is one profile in a temporary data dir, run by the shared process
harness (:class:`smallsocial_tui.nodeproc.NodeProc`): ``peer.cli(...)`` runs the real
``smallsocial`` command line; ``peer.start()`` launches ``smallsocial run --json`` on
127.0.0.1 and waits for its address; ``peer.stop()`` sends SIGTERM, ``peer.kill()`` SIGKILL.
Reads go straight to the peer's SQLite file. ``wait_until`` polls a condition with a deadline.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from smallsocial_tui.nodeproc import LOOPBACK, NodeProc

__all__ = ["LOOPBACK", "Peer", "wait_until"]


def wait_until(
    cond: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")


class Peer(NodeProc):
    """A member node of the shared harness (:mod:`smallsocial_tui.nodeproc`), plus store reads."""

    # reading the store -------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.root / 'store.sqlite3'}?mode=ro", uri=True, timeout=10)

    def record_ids(self, circle: str) -> set[str]:
        with self._db() as db:
            rows = db.execute("SELECT id FROM records WHERE circle = ?", (bytes.fromhex(circle),))
            return {bytes(r[0]).hex() for r in rows}

    def integrity_ok(self) -> bool:
        with self._db() as db:
            return bool(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def log(self, circle: str) -> list[dict[str, Any]]:
        out = self.cli("log", circle, "--json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def texts(self, circle: str) -> list[str]:
        return [e["text"] for e in self.log(circle)]
