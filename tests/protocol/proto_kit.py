"""Shared helpers for the protocol-core tests (imported by conftest.py and the test modules).

Everything is deterministic where the core lets it be: identities come from
fixed seeds, the clock is the constant ``NOW_MS`` (the core never reads a
clock; times are passed in), and nonces/keys are passed explicitly wherever
a builder accepts them. Sealed boxes (rekeys, tokens) stay random, which is
fine: no test depends on their exact bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from protocol import actions, circle, invitation, messages, records, wire
from protocol.chain import ChainPos
from protocol.circle import NewCircle
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import RosterState, fold
from protocol.view import CircleView, Stored

NOW_MS = 1_790_000_000_000
"""A fixed "now" (2026-09-21 14:13 UTC) passed to every builder."""
NOW_S = NOW_MS // 1000
ADDR = "/ip4/127.0.0.1/tcp/4001"


def ident(n: int) -> Identity:
    """The fixed test identity number ``n``."""
    return Identity.from_seed(bytes([n]) * 32)


ALICE = ident(1)
BOB = ident(2)
CAROL = ident(3)
DAVE = ident(4)
EVE = ident(5)
MALLORY = ident(6)

_counter = iter(range(1, 1 << 30))


def nonce16() -> bytes:
    """A fresh, deterministic-per-run 16-byte nonce."""
    return next(_counter).to_bytes(16, "big")


def nonce24() -> bytes:
    return next(_counter).to_bytes(24, "big")


def stored(outcome: object) -> Stored:
    """Assert that a CircleView outcome is a clean ``Stored`` and return it."""
    assert isinstance(outcome, Stored), outcome
    assert outcome.note is None, outcome.note
    return outcome


@dataclass
class World:
    """One circle seen by a single validator (``view``), plus the keys each epoch uses.

    Every helper builds a record from the view's current state, feeds it to
    the view and asserts that it was stored without a note, so a test that
    uses it starts from a known-good history.
    """

    new: NewCircle
    view: CircleView
    keys: dict[bytes, bytes] = field(default_factory=dict)
    """Epoch id -> epoch key, as the founder learns them."""
    history: list[Record] = field(default_factory=list)

    @property
    def genesis(self) -> Record:
        return self.new.genesis

    @property
    def cid(self) -> bytes:
        return self.new.circle_id

    @property
    def roster(self) -> RosterState:
        return self.view.roster

    def pos(self, who: Identity) -> ChainPos:
        return self.view.next_pos(who.public_key)

    def add(self, record: Record) -> Stored:
        out = stored(self.view.add(record))
        self.history.append(record)
        return out

    def invite(self, by: Identity, invitee: Identity, *, role: str = "member", ttl_s: int = 3600) -> Record:
        rec = actions.invite(
            by, self.roster, self.pos(by), invitee.public_key, NOW_MS, role=role, ttl_s=ttl_s, nonce=nonce16()
        )
        self.add(rec)
        return rec

    def token(self, inv: Record, chain: Iterable[Record] = ()) -> str:
        epoch_id = bytes(inv.body["e"])
        return invitation.make_token(
            inv, self.genesis, list(chain), epoch_id, self.keys[epoch_id], self.new.name, [ADDR]
        )

    def short_token(self, by: Identity, inv: Record, addrs: Iterable[str] = (ADDR,)) -> str:
        """A format-2 token for ``inv``, signed by its inviter ``by``."""
        epoch_id = bytes(inv.body["e"])
        return invitation.make_short_token(by, inv, epoch_id, self.keys[epoch_id], self.new.name, list(addrs))

    def join(self, who: Identity, inv: Record, *, ts: int = NOW_MS) -> Record:
        rec = actions.join(who, inv, self.pos(who), ts)
        self.add(rec)
        return rec

    def invite_and_join(self, by: Identity, who: Identity, *, role: str = "member") -> tuple[Record, Record]:
        inv = self.invite(by, who, role=role)
        return inv, self.join(who, inv)

    def remove(self, by: Identity, target: Identity) -> tuple[Record, actions.Rekeyed]:
        cut, cut_id = self.view.chains.head(target.public_key)
        rm, rk = actions.remove(by, self.roster, self.pos(by), target.public_key, cut, NOW_MS, cut_id=cut_id)
        self.add(rm)
        self.add(rk.record)
        self.keys[rk.record.id] = rk.key
        return rm, rk

    def rekey(self, by: Identity) -> actions.Rekeyed:
        rk = actions.rekey(by, self.roster, self.pos(by), NOW_MS)
        self.add(rk.record)
        self.keys[rk.record.id] = rk.key
        return rk

    def current(self) -> tuple[bytes, bytes]:
        """(id, key) of the current epoch."""
        cur = self.roster.current_epoch
        assert cur is not None
        return cur.id, self.keys[cur.id]

    def message(
        self,
        who: Identity,
        text: str = "hello",
        *,
        epoch: tuple[bytes, bytes] | None = None,
        pos: ChainPos | None = None,
    ) -> Record:
        """A message record (not fed to the view)."""
        eid, key = epoch or self.current()
        return messages.seal(
            who,
            self.cid,
            pos or self.pos(who),
            eid,
            key,
            messages.Content(messages.TEXT, NOW_MS, text),
            nonce=nonce24(),
        )

    def post(self, who: Identity, text: str = "hello") -> Record:
        rec = self.message(who, text)
        self.add(rec)
        return rec

    def refold(self) -> RosterState:
        """The roster folded from scratch from every roster record fed so far."""
        return fold(self.genesis, [r for r in self.history if r.is_roster])


def new_world(founder: Identity = ALICE, name: str = "friends", *, invite_policy: str = "member") -> World:
    new = circle.create(
        founder,
        name,
        NOW_MS,
        nonce=nonce16(),
        epoch_key=bytes([0xEE]) * 32,
        name_nonce=nonce24(),
        invite_policy=invite_policy,
    )
    w = World(new, CircleView(new.genesis))
    w.keys[new.circle_id] = new.epoch_key
    return w


def raw_record(author: Identity, body: dict[str, object], *, sign_type: str | None = None) -> bytes:
    """Encode ``body`` as a record signed by ``author`` without any of ``records.sign``'s checks.

    ``sign_type`` picks the signing domain (default: the body's own type), so
    tests can forge cross-domain and wrong-author records.
    """
    full = {"v": records.VERSION, **body}
    body_bytes = wire.encode(full)
    sig = author.sign(records.domain(sign_type or str(full["t"])) + body_bytes)
    return wire.encode([body_bytes, sig])


def roster_body(
    author: Identity,
    cid: bytes,
    t: str,
    *,
    heads: Iterable[bytes],
    seq: int = 1,
    prev: bytes | None = None,
    ts: int = NOW_MS,
    **fields: object,
) -> dict[str, object]:
    """A roster-record body built by hand (bypassing the ``actions`` builders' own checks)."""
    return {
        "t": t,
        "a": author.public_key,
        "c": cid,
        "q": seq,
        "p": prev,
        "h": sorted(heads),
        "ts": ts,
        **fields,
    }
