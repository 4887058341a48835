"""The relay: a node with no circle keys that stores, forwards and serves pinned circles.

:class:`RelayNode` is a :class:`Node` whose circles have the status ``relay``.
It learns a circle only from a member's pin offer (:mod:`protocol.node.pinning`)
whose roster names its key as the circle's relay; from then on it subscribes
to the circle's topic, validates every record (signature, membership, chain:
roster records are readable to it, content is not), stores what is valid,
forwards it in the gossip mesh and serves sync to members, and to nobody else.

Limits (:class:`Quota`, from ``relay.toml`` and flags): per circle a number of
records and of bytes (past either, new *message* records of that circle are
refused — not stored, not forwarded — and counted; roster records are always
taken, because later records cannot be validated without them), a retention
in days (older message records are deleted hourly and never fetched again),
and a number of circles (further offers are refused).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from protocol import circle, pinning, records
from protocol.identity import peer_id
from protocol.node import pinning as pinstream
from protocol.node.host import LOG
from protocol.node.node import Node
from protocol.records import Record
from protocol.view import Stored

DAY_S = 86_400


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


class RelayNode(Node):
    """A headless relay for the circles pinned to it."""

    is_relay = True

    def __init__(
        self,
        *args: Any,
        quota: Quota | None = None,
        sweep_interval: float = 3600.0,
        announce: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.announce = list(announce or [])
        self.quota = quota or Quota()
        self.sweep_interval = sweep_interval
        self._usage: dict[bytes, list[int]] = {}
        self._quota_logged: dict[bytes, float] = {}

    # hooks into Node -----------------------------------------------------------
    def _more_handlers(self) -> None:
        self.host.set_stream_handler(TProtocol(pinstream.PROTOCOL), self._serve_pin)

    def _more_tasks(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._sweeper)

    async def _serve_pin(self, stream: Any) -> None:
        await pinstream.serve(self, stream)

    def drop(self, circle_id: bytes | None, reason: str) -> None:
        self.reject(circle_id, reason)

    def _validator(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        cid = next((self._topics[t] for t in msg.topicIDs if t in self._topics), None)
        if cid is not None and self._over_quota(cid, msg.data):
            return False
        return super()._validator(forwarder, msg)

    def take(self, record: Record, source: ID | None) -> bool:
        if self._over_quota(record.circle, record.raw, record):
            return False
        stored = super().take(record, source)
        if stored:
            use = self._use(record.circle)
            use[0] += 1
            use[1] += len(record.raw)
        return stored

    def held_seqs(self, circle_id: bytes) -> dict[bytes, set[int]]:
        held = super().held_seqs(circle_id)
        for author, seq in self.profile.store.expired_seqs(circle_id):
            held.setdefault(author, set()).add(seq)  # deleted by retention: do not fetch again
        return held

    def public_addrs(self) -> list[str]:
        """The ``--announce`` addresses when given (a box behind a port forward), else the bound ones."""
        if not self.announce:
            return super().public_addrs()
        me = peer_id(self.profile.me)
        return [a if "/p2p/" in a else f"{a}/p2p/{me}" for a in self.announce]

    def known_addrs(self) -> list[str]:
        """Only ``--peer`` addresses: members dial the relay (many cannot be dialled at all)."""
        return [a for a in dict.fromkeys(self.extra_peers) if "/p2p/" in a]

    # what a relay does ------------------------------------------------------------
    def reject(self, circle_id: bytes | None, reason: str) -> None:
        """A bad record or offer: logged, counted (persistently), never stored."""
        self.stats["rejected"] += 1
        self.profile.store.bump("rejected")
        LOG.info("rejected: %s", reason)

    async def adopt(self, offer: pinning.Offer, pid: ID) -> str | None:
        """Take a circle a member offered; None when taken, else why not (one sentence)."""
        store = self.profile.store
        row = store.circle(offer.circle_id)
        if row is None:
            if sum(1 for c in store.circles() if c.status == "relay") >= self.quota.circles:
                LOG.info(
                    "refused circle %s: at the limit of %d circles",
                    offer.circle_id.hex()[:12],
                    self.quota.circles,
                )
                return f"This relay already serves its limit of {self.quota.circles} circles."
            ledger = self.profile.ledger
            ledger.open_circle(offer.genesis, circle.parent_of(offer.genesis), ledger.seal(b""), "relay")
            self.profile.forget_views()
            LOG.info("now relaying circle %s, pinned by %s", offer.circle_id.hex()[:12], pid)
        elif row.status != "relay":
            return "This relay is a member of that circle, not its relay."
        for r in offer.accepted:
            out = self.profile.ledger.commit(r).outcome
            if isinstance(out, Stored):
                self._use(r.circle)[0] += 1
        await self.join_topic(offer.circle_id)
        for peer in {pid, *self._connected}:  # other members may already be here, holding more
            self.want_sync(peer, offer.circle_id)
        return None

    def _use(self, circle_id: bytes) -> list[int]:
        use = self._usage.get(circle_id)
        if use is None:
            use = self._usage[circle_id] = list(self.profile.store.usage(circle_id))
        return use

    def _over_quota(self, circle_id: bytes, raw: bytes, record: Record | None = None) -> bool:
        """True (logged at most once a minute per circle, and counted) if a message must be refused."""
        n, size = self._use(circle_id)
        if n < self.quota.records and size + len(raw) <= self.quota.bytes:
            return False
        if record is None:
            try:
                record = records.parse(raw)
            except Exception:
                return False  # the validator's own checks drop it, with a reason
        if record.is_roster or record.type in (records.GENESIS, records.PRESENCE):
            return False
        self.stats["over_quota"] += 1
        self.profile.store.bump("over_quota")
        now = trio.current_time()
        if now - self._quota_logged.get(circle_id, -1e9) >= 60:
            self._quota_logged[circle_id] = now
            LOG.warning(
                "circle %s is at its quota (%d records, %d bytes; limits %d, %d): refusing new messages",
                circle_id.hex()[:12], n, size, self.quota.records, self.quota.bytes,
            )  # fmt: skip
        return True

    async def _sweeper(self) -> None:
        while True:
            self.sweep()
            await trio.sleep(self.sweep_interval)

    def sweep(self) -> int:
        """Delete message records past the retention; returns how many."""
        cutoff = int(self.profile.clock()) - int(self.quota.retention_days * DAY_S)
        total = 0
        for c in self.profile.store.circles():
            if c.status == "relay":
                n = self.profile.store.expire_messages(c.id, cutoff)
                if n:
                    LOG.info("retention: deleted %d message(s) of circle %s", n, c.id.hex()[:12])
                    self._usage.pop(c.id, None)
                    total += n
        if total:
            self.profile.forget_views()
        return total

    def status(self) -> dict[str, Any]:
        store = self.profile.store
        circles = [c for c in store.circles() if c.status == "relay"]
        members: set[bytes] = set()
        n = size = 0
        for c in circles:
            members |= set(self.profile.view(c.id).roster.members)
            cn, cs = self._use(c.id)
            n, size = n + cn, size + cs
        counters = store.counters()
        return {
            "key": peer_id(self.profile.me),
            "addrs": self.public_addrs(),
            "circles": len(circles),
            "members": len(members),
            "records": n,
            "bytes": size,
            "peers": len(self._connected),
            "rejected": counters.get("rejected", 0),
            "over_quota": counters.get("over_quota", 0),
        }
