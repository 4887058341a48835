"""Fuzz targets that drive a node's state, for ``scripts/fuzz`` (registered in fuzzkit.TARGETS).

- ``token_records``: an invitation token whose carried records (``ch``), invite and genesis
  are fuzzed, taken in by the node's own :meth:`Profile.join_token` (``open_token``, then
  every carried record through the circle's ``CircleView`` in ``_admit_token_records``).
  The input is a token *skeleton*: the token body with record **bodies** where the token
  has raw records; the harness signs each body with the key it names (as fuzzkit's
  ``_sign_body`` does) and seals the epoch key to the invitee, so mutations reach the
  validator instead of dying at a signature.
- ``sync_session``: a stream of sync frames (``syncwire``) that a member node (bob, holding
  the vectors' circle) runs with the node's own ``syncer.pull`` (answer frames: records
  through ``Node.take`` and ``ingest``, strangers settled at the end) and ``syncer.serve``
  (a session that starts with a ``V`` frame is a peer's request, answered to one of the six
  people in turn).

Both run on a real SQLite store (in memory, copied per input from a template built once)
and check, besides fuzzkit's contract (only ``ProtocolError`` escapes):

- **nothing foreign is stored**: every row the input added is of the circle it concerns;
  each stored, conflicting or held record's author is someone that circle knows (founder,
  member, departed member, invitee), a message's or fork's author a member or departed
  member; no other circle's rows change; a refused join leaves the store as it was.
- **no wedged circle** (:class:`Wedged`): afterwards an admin removes a member with the
  rekey that goes with it (or a member rekeys), everyone left posts under the new key, the
  profile's own user included, through ``Ledger.commit`` and ``Profile.send``.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
from libp2p.peer.id import ID

from protocol import actions, circle, crypto, invitation, messages, records, sync, wire
from protocol.chain import ChainPos
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.node import syncer, syncwire
from protocol.node.core import NodeCore
from protocol.node.host import LOG
from protocol.node.node import Node
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from protocol.node.store import Store
from protocol.records import Record
from protocol.view import Stored


def _fk() -> Any:
    import fuzzkit  # fuzzkit imports this module for its TARGETS: resolved at call time

    return fuzzkit


class Wedged(AssertionError):
    """After an input, the circle no longer lets its members remove, rekey or post."""

    fuzz_kind = "wedged"


class Foreign(AssertionError):
    """A record of another circle, or by someone the circle does not know, was stored."""

    fuzz_kind = "foreign"


# ---- a profile on an in-memory copy of a template store ----------------------------------------


class MemStore(Store):
    """The node's Store on an in-memory SQLite database, optionally a copy of another."""

    def __init__(self, template: sqlite3.Connection | None = None) -> None:
        self.path = Path(":memory:")
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        self._depth = 0
        self.on_rollback = None
        self._tx_cache = {}
        if template is not None:
            template.backup(self.db)
        self.db.execute("PRAGMA foreign_keys=ON")
        if template is None:
            self._migrate()

    def load_records(self, circle_id: bytes, record_type: str | None = None) -> list[Record]:
        """As Store.load_records, with the parse of bytes seen before remembered (it is pure)."""
        out = [parsed(raw) for raw in self.raw_records(circle_id)]
        return out if record_type is None else [r for r in out if r.type == record_type]


_parsed: dict[bytes, Record] = {}


def parsed(raw: bytes) -> Record:
    rec = _parsed.get(raw)
    if rec is None:
        rec = records.parse(raw)
        if len(_parsed) > 100_000:
            _parsed.clear()
        _parsed[raw] = rec
    return rec


@dataclass(frozen=True)
class Other:
    """A second circle everyone is in (alice founded it): its records must never change."""

    genesis: Record
    records: tuple[Record, ...]
    key: bytes


def _now_s() -> int:
    return _fk().world().now_ms // 1000


@functools.cache
def other() -> Other:
    fk = _fk()
    now = fk.world().now_ms - 30_000
    new = circle.create(fk.ALICE, "other", now)
    view_recs: list[Record] = []
    from protocol.view import CircleView

    view = CircleView(new.genesis)
    for n, p in enumerate(fk.PEOPLE[1:], start=1):
        inv = actions.invite(
            fk.ALICE,
            view.roster,
            view.next_pos(fk.ALICE.public_key),
            p.public_key,
            now + n,
            nonce=bytes([n]) * 16,
        )
        view.add(inv)
        join = actions.join(p, inv, ChainPos(), now + n)
        view.add(join)
        view_recs += [inv, join]
    epoch = view.roster.current_epoch
    assert epoch is not None
    msg = messages.seal(
        fk.ALICE,
        new.genesis.id,
        view.next_pos(fk.ALICE.public_key),
        epoch.id,
        new.epoch_key,
        messages.Content(messages.TEXT, now, "the other circle"),
        nonce=b"\x05" * 24,
    )
    view.add(msg)
    view_recs.append(msg)
    assert len(view.records) == len(view_recs)
    return Other(new.genesis, tuple(view_recs), new.epoch_key)


@functools.cache
def template(who: bytes, world_status: str | None) -> sqlite3.Connection:
    """A store for ``who``: the other circle, and the vectors' circle when ``world_status``."""
    fk = _fk()
    w = fk.world()
    me = fk.SIGNERS[who]
    store = MemStore()
    now = _now_s()
    store.set_identity(who, "me", now)
    o = other()
    with store.tx():
        store.add_circle(o.genesis.id, None, crypto.seal(who, b"other"), "member", now)
        for r in (o.genesis, *o.records):
            store.add_record(r, now)
        store.add_epoch_key(o.genesis.id, o.genesis.id, crypto.seal(who, o.key))
        if world_status is not None:
            store.add_circle(w.genesis.id, None, crypto.seal(who, b"friends"), world_status, now)
            for r in (w.genesis, *w.history):
                store.add_record(r, now)
            view = w.view()
            for eid, key in w.epoch_keys.items():
                if eid == w.genesis.id or any(
                    bytes(k) == me.public_key for k, _ in view.roster_records[eid].body["ks"]
                ):
                    store.add_epoch_key(w.genesis.id, eid, crypto.seal(who, key))
    return store.db


def profile(me: Identity, world_status: str | None) -> Profile:
    store = MemStore(template(me.public_key, world_status))
    return Profile(ProfilePaths(Path("/nonexistent/fuzz-profile")), me, store, clock=lambda: float(_now_s()))


Row = tuple[str, bytes, bytes, bytes]


def rows(p: Profile) -> set[Row]:
    out: set[Row] = set()
    for table in ("records", "conflicts", "held"):
        for rid, cid, raw in p.store.db.execute(f"SELECT id, circle, raw FROM {table}"):
            out.add((table, bytes(rid), bytes(cid), bytes(raw)))
    return out


def circles(p: Profile) -> dict[bytes, tuple[str, bytes | None]]:
    return {c.id: (c.status, c.parent) for c in p.store.circles()}


def check_nothing_foreign(
    p: Profile,
    cid: bytes,
    before: set[Row],
    before_circles: dict[bytes, tuple[str, bytes | None]],
    invite_id: bytes | None = None,
) -> None:
    """What the input left in the store: only records of ``cid``, by people ``cid`` knows."""
    after = rows(p)
    if {r for r in before if r[2] != cid} != {r for r in after if r[2] != cid}:
        raise Foreign("rows of another circle changed")
    new_circles = {c: v for c, v in circles(p).items() if c not in before_circles}
    for c, (status, parent) in new_circles.items():
        if c != cid and not (status == "invited" and parent == cid):
            raise Foreign(f"a new circle {c.hex()[:12]} ({status})")
    row = p.store.circle(cid)
    if row is None or row.status == "invited" or after == before:
        return
    p.forget_views()  # the view as the store gives it (after a restart)
    view = p.view(cid)
    roster = view.roster
    for table, rid, c, raw in after:
        if c != cid:
            continue
        rec = parsed(raw)
        if rec.circle != cid or rec.id != rid:
            raise Foreign(f"a record of circle {rec.circle.hex()[:12]} stored under {cid.hex()[:12]}")
        if table != "held" and rec.type == records.GENESIS:
            if rec.id != cid:
                raise Foreign("a second genesis")
            continue
        if rec.author == p.me:
            continue  # the profile's own records (a join whose invite is pending is stored)
        if not view.known(rec.author) and not (table == "held" and rid == invite_id):
            raise Foreign(f"a {rec.type} by a stranger in {table}")
        if table == "records" and rec.type in (records.MSG, records.FORK):
            gone = roster.departed.get(rec.author)
            if rec.author not in roster.members and (gone is None or rec.seq > gone.cut):
                raise Foreign(f"a {rec.type} by a non-member in {table}")


# ---- liveness ------------------------------------------------------------------------------------

_usable_seen: dict[tuple[bytes, bytes, frozenset[bytes]], None] = {}


def _take(p: Profile, rec: Record, what: str) -> None:
    out = p.ledger.commit(rec).outcome
    if not isinstance(out, Stored) or out.conflict:
        raise Wedged(f"{what} was not stored: {out}")


def check_usable(p: Profile, cid: bytes) -> None:
    """No wedge: an admin removes a member (+ rekey), or a member rekeys; then all left post."""
    key = (p.me, cid, frozenset(rid for _, rid, c, _ in rows(p) if c == cid))
    if key in _usable_seen:
        return  # the same state was checked already (a cache: most inputs end in a few states)
    fk = _fk()
    now = fk.world().now_ms + 1000
    view = p.view(cid)
    roster = view.roster
    members = [fk.SIGNERS[k] for k in sorted(roster.members) if k in fk.SIGNERS]
    if len(members) != len(roster.members):
        raise Wedged("a member nobody holds the key of")  # every key in the world is a signer's
    if not members:
        raise Wedged("no members")
    founder = fk.SIGNERS.get(roster.founder)
    admins = [m for m in members if roster.may_admin(m.public_key)]
    actor = founder if founder in admins else (admins[0] if admins else members[0])
    a = actor.public_key
    try:
        targets = [k for k in sorted(roster.members) if k not in (roster.founder, a)]
        targets.sort(key=lambda k: k == p.me)  # keep the profile's own user when possible
        if actor in admins and targets:
            target = targets[0]
            cut, cut_id = view.chains.head(target)
            rm, rk = actions.remove(actor, roster, view.next_pos(a), target, cut, now, cut_id=cut_id)
            for r in rk.before:
                _take(p, r, "a merge rekey")
            _take(p, rm, "the removal")
            _take(p, rk.record, "the removal's rekey")
            after = p.view(cid).roster
            if rm.id not in after.accepted or target not in after.departed:
                raise Wedged(f"the removal did not apply: {after.rejected.get(rm.id)}")
        else:
            rk = actions.rekey(actor, roster, view.next_pos(a), now)
            for r in rk.before:
                _take(p, r, "a merge rekey")
            _take(p, rk.record, "the rekey")
            after = p.view(cid).roster
        if rk.record.id not in after.accepted:
            raise Wedged(f"the rekey did not apply: {after.rejected.get(rk.record.id)}")
        if after.needs_rekey or after.current_epoch is None or after.current_epoch.id != rk.record.id:
            raise Wedged("the rekey is not the current epoch")
        view = p.view(cid)
        for m in members:
            k = m.public_key
            if k not in after.members:
                continue
            if k == p.me:
                p.send_text(cid, "still here")
            else:
                msg = messages.seal(
                    m, cid, view.next_pos(k), rk.record.id, rk.key, messages.Content(messages.TEXT, now, "hi")
                )
                _take(p, msg, "a member's message")
    except ProtocolError as e:
        raise Wedged(f"{type(e).__name__}: {e}") from e
    if len(_usable_seen) > 200_000:
        _usable_seen.clear()
    _usable_seen[key] = None


@contextlib.contextmanager
def quiet() -> Iterator[list[logging.LogRecord]]:
    """The node's log off (and kept): a flood of "dropped a record" lines is not the point."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    h = Keep()
    old = LOG.level, LOG.propagate
    LOG.addHandler(h)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    try:
        yield seen
    finally:
        LOG.removeHandler(h)
        LOG.setLevel(old[0])
        LOG.propagate = old[1]


# ---- target 1: token_records ---------------------------------------------------------------------


def _body_map(b: object) -> dict[Any, Any] | None:
    if not isinstance(b, bytes):
        return None
    try:
        m = wire.decode(b, records.MAX_RECORD_SIZE)
    except ProtocolError:
        return None
    return m if isinstance(m, dict) else None


def build_token(data: bytes) -> tuple[str, Identity]:
    """The token text a skeleton stands for, and who opens it (the invitee, else bob)."""
    fk = _fk()
    w = fk.world()
    try:
        spec = wire.decode(data, invitation.MAX_TOKEN_BODY * 2)
    except ProtocolError:
        spec = None
    if not isinstance(spec, dict):
        return _frame(data), fk.BOB  # a plain token body
    body = dict(spec)
    for k in ("inv", "gen"):
        if isinstance(body.get(k), bytes):
            body[k] = fk._sign_body(body[k])
    if isinstance(body.get("ch"), list):
        body["ch"] = [fk._sign_body(b) if isinstance(b, bytes) else b for b in body["ch"]]
    inv = _body_map(spec.get("inv"))
    invitee = inv.get("k") if inv else None
    me = fk.SIGNERS.get(invitee, fk.BOB) if isinstance(invitee, bytes) else fk.BOB
    if "sl" not in body:
        gen = body.get("gen")
        cid = records.record_id(gen) if isinstance(gen, bytes) else w.genesis.id
        e = inv.get("e") if inv else None
        key = w.epoch_keys.get(e, bytes(32)) if isinstance(e, bytes) else bytes(32)
        inner = wire.encode({"c": cid, "e": e if isinstance(e, bytes) else cid, "k": key, "nm": "friends"})
        body["sl"] = crypto.seal(me.public_key, inner)
    body.setdefault("v", invitation.V1)
    return _frame(wire.encode(body)), me


def _frame(raw: bytes) -> str:
    if len(raw) > invitation.MAX_TOKEN_BODY:  # refused on its length: skip base32 (slow in Python)
        return f"{invitation.PREFIX}{invitation.V1}" + "a" * (len(raw) * 8 // 5 + 8)
    return str(_fk()._frame_token(raw))


@functools.cache
def _departed() -> dict[bytes, str]:
    return {k: d.kind for k, d in _fk().world().view().roster.departed.items()}


def t_token_records(data: bytes) -> object:
    text, me = build_token(data)
    p = profile(me, _departed().get(me.public_key))  # a departed member still holds the circle
    before, before_circles = rows(p), circles(p)
    try:
        with quiet():
            cid = p.join_token(text)
    except ProtocolError:
        if rows(p) != before or circles(p) != before_circles:
            raise Foreign("a refused join changed the store") from None
        raise
    invite_id = invitation.decode_token(text).invite_id
    check_nothing_foreign(p, cid, before, before_circles, invite_id)
    check_usable(p, cid)
    return cid


def _skeleton(inv: Record, gen: Record, chain: list[Record], addrs: list[str] | None = None) -> bytes:
    return wire.encode(
        {
            "v": invitation.V1,
            "inv": inv.body_bytes,
            "gen": gen.body_bytes,
            "ch": [r.body_bytes for r in chain],
            "ad": addrs if addrs is not None else ["/ip4/127.0.0.1/tcp/4001"],
        }
    )


@functools.cache
def _extra() -> dict[str, Record]:
    """Records of the vectors' circle made here with fixed inputs (the seeds of both targets)."""
    fk = _fk()
    w = fk.world()
    view = w.view()
    ro = view.roster
    now = w.now_ms - 1000
    A, B, M = fk.ALICE, fk.BOB, fk.MALLORY
    epoch = ro.current_epoch
    assert epoch is not None
    key = w.epoch_keys[epoch.id]
    out: dict[str, Record] = {}

    def msg(who: Identity, pos: ChainPos, text: str, eid: bytes = epoch.id, k: bytes = key) -> Record:
        c = messages.Content(messages.TEXT, now, text)
        return messages.seal(who, w.genesis.id, pos, eid, k, c, nonce=bytes([len(out)]) * 24)

    invites = [
        ("inv_mallory", A, M),
        ("inv_dave", A, fk.DAVE),
        ("inv_carol", A, fk.CAROL),
        ("bob_inv_mallory", B, M),
    ]
    for n, (name, by, whom) in enumerate(invites, start=0x11):
        out[name] = actions.invite(
            by, ro, view.next_pos(by.public_key), whom.public_key, now, nonce=bytes([n]) * 16
        )
    out["msg_alice"] = msg(A, view.next_pos(A.public_key), "alice again")
    out["msg_alice_twin"] = msg(A, view.next_pos(A.public_key), "alice, another version")
    out["msg_bob"] = msg(B, view.next_pos(B.public_key), "bob again")
    out["msg_mallory"] = msg(M, ChainPos(), "not a member", w.genesis.id, b"\x42" * 32)
    carol_last = max((r for r in w.history if r.author == fk.CAROL.public_key), key=lambda r: r.seq)
    out["msg_carol_late"] = msg(fk.CAROL, ChainPos(carol_last.seq + 1, carol_last.id), "after the cut")
    heads = list(ro.heads)

    def first(who: Identity, t: str, **fields: object) -> Record:
        """``who``'s first record in the circle, citing its heads, signed whatever it says."""
        body = {"t": t, "a": who.public_key, "c": w.genesis.id, "q": 1, "p": None, "h": heads, "ts": now}
        return records.sign(who, body | fields)

    invite = {"k": M.public_key, "r": "admin", "x": now // 1000 + 3600, "n": b"\x15" * 16, "e": epoch.id}
    out["eve_invite"] = first(fk.EVE, records.INVITE, **invite)  # the pinned relay is no member
    out["mallory_remove"] = first(M, records.REMOVE, k=A.public_key, s=0, sh=None)
    # a roster record for a position alice already used (equivocation, kept as evidence)
    out["pin_alice_twin"] = actions.pin(
        A, ro, view.next_pos(A.public_key), M.public_key, ["/ip4/127.0.0.1/tcp/9"], now
    )
    out["join_mallory"] = actions.join(M, out["inv_mallory"], ChainPos(), now)
    out["msg_mallory_member"] = msg(M, ChainPos(2, out["join_mallory"].id), "now a member")
    cut, cut_id = view.chains.head(B.public_key)
    rmb, rkb = actions.remove(A, ro, view.next_pos(A.public_key), B.public_key, cut, now, cut_id=cut_id)
    out["remove_bob"], out["remove_bob_rekey"] = rmb, rkb.record
    out["leave_alice"] = actions.leave(A, ro, view.next_pos(A.public_key), now)
    return out


def seeds_token_records() -> dict[str, bytes]:
    fk = _fk()
    w = fk.world()
    x = _extra()
    o = other()
    tok = invitation.decode_token(w.token)
    hist = list(w.history)
    bob_chain = [r for r in hist if r.type == records.JOIN and r.author == fk.BOB.public_key] + [hist[0]]
    strangers = [x["msg_mallory"], x["eve_invite"], x["mallory_remove"], x["msg_carol_late"]]
    return {
        "bob_vectors": _skeleton(tok.invite, tok.genesis, list(tok.chain), list(tok.addrs)),
        "mallory_full": _skeleton(x["inv_mallory"], w.genesis, hist),
        "mallory_by_bob": _skeleton(x["bob_inv_mallory"], w.genesis, bob_chain),
        "mallory_reversed_twice": _skeleton(x["inv_mallory"], w.genesis, [*reversed(hist), *hist]),
        "mallory_strangers": _skeleton(x["inv_mallory"], w.genesis, [*hist, *strangers]),
        "mallory_other_circle": _skeleton(x["inv_mallory"], w.genesis, [*hist, o.genesis, *o.records]),
        "mallory_twins": _skeleton(
            x["inv_mallory"], w.genesis, [*hist, x["msg_alice"], x["msg_alice_twin"], x["pin_alice_twin"]]
        ),
        "dave_again": _skeleton(x["inv_dave"], w.genesis, hist[-4:]),
        "carol_again": _skeleton(x["inv_carol"], w.genesis, [x["msg_carol_late"]]),
        "other_invite": _skeleton(o.records[0], o.genesis, list(o.records[1:4])),
    }


# ---- target 2: sync_session -----------------------------------------------------------------------


class _Stream:
    """A libp2p stream played from the input (reads) into a list of written bytes."""

    def __init__(self, data: bytes, peer: Identity) -> None:
        self.data, self.at = data, 0
        self.out = bytearray()
        self.muxed_conn = SimpleNamespace(peer_id=ID.from_base58(peer.peer_id))

    async def read(self, n: int | None = None) -> bytes:
        chunk = self.data[self.at : self.at + (n or 65536)]
        self.at += len(chunk)
        return chunk

    async def write(self, b: bytes) -> None:
        self.out += b

    async def close(self) -> None:
        pass


class _Node:
    """What syncer.pull and syncer.serve use of a Node: the real take and drop, and its core."""

    take = Node.take
    take_batch = Node.take_batch
    drop = Node.drop
    _apply = Node._apply
    _touched_topics = Node._touched_topics
    feed = Node.feed
    _now = Node._now

    def __init__(self, p: Profile, stream: _Stream) -> None:
        self.profile = p
        self.core = NodeCore(p)
        self.stats: collections.Counter[str] = collections.Counter()
        self.host = self
        self.stream = stream
        self.indexer = self  # Node.feed wakes the search indexer after a commit: none here
        self.relay = None  # a member's node

    def due(self) -> None:
        pass

    async def new_stream(self, pid: ID, protocols: list[str]) -> _Stream:
        return self.stream

    def emit(self, event: object) -> None:
        pass

    def want_sync(self, pid: ID, cid: bytes | None) -> None:
        pass

    def reconsider_peers(self, topics: object = None) -> None:
        pass

    def start_soon(self, fn: object, *args: object) -> None:
        pass


def _frames(out: bytes) -> list[tuple[bytes, bytes]]:
    got, i = [], 0
    while i < len(out):
        n = int.from_bytes(out[i : i + 4], "big")
        got.append((out[i + 4 : i + 5], out[i + 5 : i + 4 + n]))
        i += 4 + n
    return got


def _check_answer(p: Profile, peer: Identity, request: bytes, out: bytes) -> None:
    """What serve wrote: records of the circle asked for, for those who may have them."""
    cid, _ = sync.decode_vector(request)
    row = p.store.circle(cid)
    roster = p.view(cid).roster if row and row.status != "invited" else None
    k = peer.public_key
    departed = roster is not None and k in roster.departed
    allowed = roster is not None and (roster.is_member(k) or k in roster.relays or departed)
    frames = _frames(out)
    if not allowed:
        if [t for t, _ in frames] != [syncwire.DENIED]:
            raise Foreign("a sync answer to someone who is not in the circle")
        return
    for tag, payload in frames:
        if tag != syncwire.RECORDS:
            continue
        for raw in syncwire.parse_records(payload):
            rec = records.parse(raw)
            if rec.circle != cid:
                raise Foreign("serve sent a record of another circle")
            if departed and not rec.is_roster:
                raise Foreign("serve sent a departed member more than roster records")


def _ended(e: BaseException) -> bool:
    """The stream ended inside a frame: EOFError from the syncer's reader (the node logs it)."""
    return isinstance(e, EOFError) and bool(_fk().raised_in(e, syncer._read_exactly))


def sync_allowed(e: BaseException) -> bool:
    return isinstance(e, ProtocolError) or _ended(e)


def build_stream(data: bytes) -> bytes:
    """The frames a skeleton stands for: ``[[tag, payload], ...]`` where an ``R`` payload is a
    list of record bodies the harness signs (so mutated bodies reach the validator). Input
    that is not such a list is the byte stream itself."""
    fk = _fk()
    try:
        spec = wire.decode(data, syncwire.MAX_FRAME)
    except ProtocolError:
        return data
    if not isinstance(spec, list):
        return data
    out = bytearray()
    for item in spec:
        tag, payload = (item[0], item[1]) if isinstance(item, list) and len(item) == 2 else ("?", item)
        t = tag.encode()[:1] if isinstance(tag, str) and tag else b"?"
        if t == syncwire.RECORDS and isinstance(payload, list):
            raws = [fk._sign_body(b) if isinstance(b, bytes) else b for b in payload]
            out += syncwire.frame(t, wire.encode(raws))
        else:
            out += syncwire.frame(t, payload if isinstance(payload, bytes) else wire.encode(payload))
    return bytes(out)


async def _session(p: Profile, data: bytes, log: list[logging.LogRecord]) -> int:
    """Play the input as sync sessions: answers to bob's pulls, and requests bob serves."""
    fk = _fk()
    cid = fk.world().genesis.id
    stream = _Stream(data, fk.ALICE)
    node = _Node(p, stream)
    sessions = requests = 0
    while stream.at < len(data) and sessions < 64:
        sessions += 1
        head = data[stream.at : stream.at + 5]
        if head[4:5] == syncwire.VECTOR:
            peer = fk.PEOPLE[requests % len(fk.PEOPLE)]
            requests += 1
            n = int.from_bytes(head[:4], "big")
            req = _Stream(data[stream.at : stream.at + 4 + n], peer)
            stream.at += 4 + n
            del log[:]
            await syncer.serve(node, req)
            for r in log:  # serve logs what ended it; only the protocol's refusals may
                e = r.args[1] if isinstance(r.args, tuple) and len(r.args) > 1 else None
                if isinstance(e, BaseException) and not isinstance(e, ProtocolError):
                    raise e
            _check_answer(p, peer, req.data[5:], bytes(req.out))
        else:
            await syncer.pull(node, ID.from_base58(fk.ALICE.peer_id), cid)
    return sessions


def t_sync_session(data: bytes) -> object:
    fk = _fk()
    w = fk.world()
    p = profile(fk.BOB, "member")
    cid = w.genesis.id
    before, before_circles = rows(p), circles(p)
    err: BaseException | None = None
    with quiet() as log:
        try:
            trio.run(_session, p, build_stream(data), log)
        except BaseException as e:
            if not sync_allowed(e):
                raise
            err = e  # the session ends there; what it stored stays, and is checked
    check_nothing_foreign(p, cid, before, before_circles)
    check_usable(p, cid)
    if err is not None:
        raise err
    return None


def seeds_sync_session() -> dict[str, bytes]:
    fk = _fk()
    w = fk.world()
    x = _extra()
    o = other()
    hist = list(w.history)
    held = w.view().held_seqs()
    vec = ["V", sync.encode_vector(w.genesis.id, sync.vector(held))]
    empty = ["V", sync.encode_vector(w.genesis.id, {})]
    other_vec = ["V", sync.encode_vector(o.genesis.id, {})]

    def rf(recs: list[Record]) -> list[object]:
        return ["R", [r.body_bytes for r in recs]]

    def sk(*frames: list[object]) -> bytes:
        return wire.encode(list(frames))

    new = [x["inv_mallory"], x["join_mallory"], x["msg_mallory_member"], x["msg_alice"]]
    strangers = [x["msg_mallory"], x["eve_invite"], x["mallory_remove"], x["msg_carol_late"]]
    raw_new = syncwire.records_frame([r.raw for r in new])
    raw_vec = syncwire.frame(syncwire.VECTOR, bytes(vec[1]))  # type: ignore[arg-type]
    return {
        "pull_known": sk(rf(hist), vec),
        "pull_new": sk(rf(new), vec),
        "pull_new_reversed": sk(rf(list(reversed(new))), vec),
        "pull_strangers": sk(rf(strangers), rf([w.genesis, o.genesis, *o.records]), vec),
        "pull_twins": sk(rf([x["msg_alice"], x["msg_alice_twin"], x["pin_alice_twin"]]), vec),
        "pull_remove_me": sk(rf([x["remove_bob"], x["remove_bob_rekey"], x["msg_alice"]]), vec),
        "pull_founder_leaves": sk(rf([x["leave_alice"]]), vec),
        "requests": sk(vec, empty, vec, empty, vec, other_vec),
        "pull_then_serve": sk(rf(new[:2]), vec, empty, empty, empty),
        "denied": sk(["D", b"not a member of that circle"], rf(new), vec),
        "raw_stream": raw_new + raw_vec,
        "raw_cut_short": (raw_new + raw_vec)[:-7],
    }


def targets() -> list[Any]:
    """fuzzkit's Target entries for this module's targets."""
    Target = _fk().Target
    return [
        Target(
            "token_records",
            "token skeletons (records signed, key sealed) into Profile.join_token; nothing foreign, no wedge",
            t_token_records,
            seeds_token_records,
        ),
        Target(
            "sync_session",
            "sync frames (R bodies signed) via syncer.pull/serve on a member store: no foreign, no wedge",
            t_sync_session,
            seeds_sync_session,
            allowed=sync_allowed,
        ),
    ]
