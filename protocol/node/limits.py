"""The node's limits, sans-IO: a rate per author, strikes and graylisting per peer, a relay's quota.

Time is passed in (seconds on any monotonic clock); nothing here sleeps, dials or reads a
clock. :class:`~protocol.node.core.NodeCore` consults them; the relay's :class:`Quota` comes
from ``relay.toml`` and flags (:meth:`Quota.load`), and :class:`RelayPolicy` is what makes a
node a relay: its quota and per-circle usage.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from protocol import records
from protocol.node.store import Store
from protocol.records import Record

LOG = logging.getLogger("smallsocial.node")
STRIKES = 20
STRIKE_WINDOW = 10.0
GRAYLIST_S = 120.0
"""A peer that forwards ``STRIKES`` invalid records within ``STRIKE_WINDOW`` s is refused this long."""
MAX_TRACKED = 10_000
"""Peers whose recent strikes are remembered at once."""
DAY_S = 86_400


class RateLimit:
    """A token bucket per author: ``rate`` records/s with bursts of ``burst``.

    ``clock``, when given, replaces the time passed to :meth:`allow` (a test driving a node's
    validator outside its run).
    """

    MAX_AUTHORS = 10_000
    """Buckets kept at once: keys are free, and a flood of fresh ones must not grow memory."""

    def __init__(self, rate: float = 100.0, burst: float = 400.0, clock: Callable[[], float] | None = None):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[bytes, tuple[float, float]] = {}

    def allow(self, author: bytes, now: float) -> bool:
        now = self.clock() if self.clock is not None else now
        if author not in self._buckets and len(self._buckets) >= self.MAX_AUTHORS:
            # Forget the oldest half; a forgotten author starts again with a full bucket.
            for old in list(self._buckets)[: self.MAX_AUTHORS // 2]:
                del self._buckets[old]
        tokens, last = self._buckets.get(author, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[author] = (tokens, now)
            return False
        self._buckets[author] = (tokens - 1, now)
        return True


class Strikes:
    """Strikes per peer in a sliding window; too many graylist the peer for ``GRAYLIST_S``.

    Honest nodes validate before they forward, so an honest peer never forwards an invalid
    record; a peer that does, over and over, is cut off for a while. Records an honest
    peer might still forward (a member I do not know yet) weigh less.
    """

    def __init__(self) -> None:
        self.gray: dict[str, float] = {}
        self.recent: dict[str, list[tuple[float, float]]] = {}

    def graylisted(self, peer: str, now: float) -> bool:
        until = self.gray.get(peer)
        if until is not None and until <= now:
            del self.gray[peer]
            return False
        return until is not None

    def strike(self, peer: str, weight: float, now: float) -> bool:
        """Count one strike; True when it graylists ``peer`` (then disconnect it)."""
        if peer not in self.recent and len(self.recent) >= MAX_TRACKED:
            # Bound the table: peer IDs are free, so a flooder may bring a new one each time.
            self.recent = {p: r for p, r in self.recent.items() if r and now - r[-1][0] < STRIKE_WINDOW}
            while len(self.recent) >= MAX_TRACKED:
                del self.recent[next(iter(self.recent))]
        recent = [(t, w) for t, w in self.recent.get(peer, []) if now - t < STRIKE_WINDOW]
        recent.append((now, weight))
        self.recent[peer] = recent
        if sum(w for _, w in recent) < STRIKES or peer in self.gray:
            return False
        self.gray[peer] = now + GRAYLIST_S
        self.recent.pop(peer, None)
        LOG.warning("graylisted %s for %.0f s: %d invalid records in %.0f s", peer, GRAYLIST_S,
                    len(recent), STRIKE_WINDOW)  # fmt: skip
        return True


class QuotaError(ValueError):
    """A bad relay configuration: one sentence."""


@dataclass(frozen=True)
class Quota:
    records: int = 1_000_000
    """Records stored per circle."""
    bytes: int = 1024**3
    """Bytes of records stored per circle."""
    retention_days: float = 365.0
    """Message records older than this are deleted."""
    circles: int = 1000
    """Circles this relay takes."""

    @classmethod
    def load(cls, path: Path | None, **overrides: Any) -> Quota:
        """Defaults, then ``[quota]`` of a TOML file, then flags (None means unset)."""
        q = cls()
        if path is not None:
            try:
                data = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
                raise QuotaError(f"Cannot read the relay config {path}: {e}.") from None
            section = data.get("quota", {})
            known = {f.name for f in fields(cls)}
            if not isinstance(section, dict) or set(section) - known:
                raise QuotaError(f"The [quota] section of {path} takes only: {', '.join(sorted(known))}.")
            q = replace(q, **section)
        q = replace(q, **{k: v for k, v in overrides.items() if v is not None})
        for f in fields(q):
            v = getattr(q, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                raise QuotaError(f"The quota {f.name} must be a positive number, not {v!r}.")
        return q


class RelayPolicy:
    """A relay's quota and per-circle usage (records, bytes), counted from the store once.

    Past either limit, new *message* records of a circle are refused (not stored, not
    forwarded); roster records, genesis and presence always pass, because later records
    cannot be validated without them.
    """

    def __init__(self, quota: Quota, store: Store, announce: list[str] | None = None) -> None:
        self.quota, self.store = quota, store
        self.announce = list(announce or [])
        """Addresses to give members instead of the bound ones (a box behind a port forward)."""
        self.usage: dict[bytes, list[int]] = {}
        self.logged: dict[bytes, float] = {}

    def use(self, circle_id: bytes) -> list[int]:
        """``[records, bytes]`` stored for a circle (kept up to date by :meth:`stored`)."""
        use = self.usage.get(circle_id)
        if use is None:
            use = self.usage[circle_id] = list(self.store.usage(circle_id))
        return use

    def stored(self, record: Record) -> None:
        use = self.use(record.circle)
        use[0] += 1
        use[1] += len(record.raw)

    def over(self, circle_id: bytes, raw: bytes, record: Record | None, now: float) -> bool:
        """True (logged at most once a minute per circle, and counted) if a message must be refused."""
        n, size = self.use(circle_id)
        if n < self.quota.records and size + len(raw) <= self.quota.bytes:
            return False
        if record is None:
            try:
                record = records.parse(raw)
            except Exception:
                return False  # the validator's own checks drop it, with a reason
        if record.is_roster or record.type in (records.GENESIS, records.PRESENCE):
            return False
        self.store.bump("over_quota")
        if now - self.logged.get(circle_id, -1e9) >= 60:
            self.logged[circle_id] = now
            LOG.warning(
                "circle %s is at its quota (%d records, %d bytes; limits %d, %d): refusing new messages",
                circle_id.hex()[:12], n, size, self.quota.records, self.quota.bytes,
            )  # fmt: skip
        return True

    def expired(self, circle_id: bytes) -> list[tuple[bytes, int]]:
        """(author, seq) deleted by retention: never fetched again."""
        return self.store.expired_seqs(circle_id)

    def sweep(self, now_s: int) -> int:
        """Delete message records past the retention (``now_s``: wall-clock seconds); how many."""
        cutoff = now_s - int(self.quota.retention_days * DAY_S)
        total = 0
        for c in self.store.circles("relay"):
            n = self.store.expire_messages(c.id, cutoff)
            if n:
                LOG.info("retention: deleted %d message(s) of circle %s", n, c.id.hex()[:12])
                self.usage.pop(c.id, None)
                total += n
        return total
