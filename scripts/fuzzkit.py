"""The fuzzing harness behind ``scripts/fuzz``: targets, the contract, and two engines.

Every decoder that takes bytes or text from outside is a *target*: a function of one
input (``bytes``) that feeds it to the decoder and, when the decoder returns a value,
checks that the value round-trips. The contract (THREATS.md 15, 17, 19): a decoder
returns a value or raises from the :class:`~protocol.errors.ProtocolError` family.
Anything else is a failure, of one of three kinds:

- ``crash``: any other exception (IndexError, KeyError, TypeError, RecursionError,
  MemoryError, an unwrapped UnicodeError, ...), or the process dying;
- ``roundtrip``: what decoded does not come back the same through encode/decode;
- ``slow``: one input that takes longer than :data:`SLOW_MS` (a hang in small).

Engines: ``atheris`` (coverage-guided libFuzzer, optional: ``pip install
'smallsocial[fuzz]'``), run in one child process per target with ``protocol`` and
``base58`` instrumented; and ``mutate``, a seeded mutation loop over the corpus
with no dependency, which the CI test uses (``tests/test_fuzz_corpus.py``). Both
call the same :func:`check_one`.

The world the targets run in is the circle of ``tests/vectors/records.json``
(fixed identities, fixed clock), so seeds from the vectors are valid records of
it and mutations of them reach the validator (:class:`~protocol.view.CircleView`).
Random mutations cannot forge a signature, so the ``*_signed`` targets sign the
fuzzed body bytes themselves: those reach the schema, the roster fold, the chain
tracker, forks, presence and message decryption.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import json
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from protocol import (
    actions,
    addrpack,
    crypto,
    fork,
    identity,
    invitation,
    messages,
    presence,
    records,
    shallow,
    sync,
    wire,
)
from protocol.chain import Duplicate
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.node import ingest, syncwire
from protocol.records import Record
from protocol.view import CircleView, Dropped, Held, Stored

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT / "tests" / "fuzz_corpus"
VECTORS = ROOT / "tests" / "vectors"
CRASH_DIR = ROOT / "fuzz-crashes"
WORK_DIR = ROOT / "fuzz-work"
RESULTS = ROOT / "bench-results" / "fuzz.json"

SLOW_MS = 50.0
"""No single input may take longer (checked again twice before it counts)."""
DEFAULT_RUNS = 1_000_000
MEMORY_LIMIT = 3 << 30
"""Address-space cap for the mutate engine's process (libFuzzer has -rss_limit_mb)."""


# ---- the world: the circle of the test vectors ------------------------------------------------


def ident(n: int) -> Identity:
    return Identity.from_seed(bytes([n]) * 32)


ALICE, BOB, CAROL, DAVE, EVE, MALLORY = (ident(n) for n in range(1, 7))
PEOPLE = (ALICE, BOB, CAROL, DAVE, EVE, MALLORY)
SIGNERS = {p.public_key: p for p in PEOPLE}


def _hex(s: str) -> bytes:
    return bytes.fromhex(s)


@dataclass(frozen=True)
class World:
    """The vectors' circle, fully built: what a member node holds."""

    genesis: Record
    history: tuple[Record, ...]
    epoch_keys: dict[bytes, bytes]
    token: str
    """The vectors' format-1 token (records ride in it: the ``token_records`` seeds)."""
    token2: str
    """The vectors' short token (format 2)."""
    token_me: Identity
    token_now_s: int
    now_ms: int
    extra: dict[str, bytes]
    """Seeds made here with fixed inputs: a presence, a message by Alice, a sync want."""

    def view(self) -> CircleView:
        return CircleView(self.genesis, self.history)


@functools.cache
def world() -> World:
    recs = json.loads((VECTORS / "records.json").read_text())
    parsed = [records.parse(_hex(r["raw_hex"])) for r in recs["records"]]
    genesis, history = parsed[0], tuple(parsed[1:])
    keys = {genesis.id: _hex(recs["records"][0]["inputs"]["epoch_key"]["bin"])}
    for r, p in zip(recs["records"], parsed, strict=True):
        if r["type"] == "rekey":
            keys[p.id] = _hex(r["epoch_key_hex"])
    tok = json.loads((VECTORS / "token.json").read_text())
    now_ms = max(int(r.body.get("ts", 0)) for r in parsed) + 60_000
    view = CircleView(genesis, history)
    extra: dict[str, bytes] = {}
    epoch = view.roster.current_epoch
    assert epoch is not None
    extra["presence"] = presence.announce(
        BOB,
        genesis.id,
        [f"/ip4/127.0.0.1/tcp/4001/p2p/{BOB.peer_id}"],
        now_ms,
        "bob",
        epoch.id,
        keys[epoch.id],
    ).raw
    content = messages.Content(messages.TEXT, now_ms, "fuzz me ✓")
    msg = messages.seal(
        ALICE,
        genesis.id,
        view.next_pos(ALICE.public_key),
        epoch.id,
        keys[epoch.id],
        content,
        nonce=b"\x07" * 24,
    )
    extra["msg_alice"] = msg.raw
    extra["content"] = content.encode()
    reply = messages.Content(messages.REPLY, now_ms, "re", msg.id)
    extra["content_reply"] = reply.encode()
    extra["content_react"] = messages.Content(messages.REACT, now_ms, "👍", msg.id).encode()
    rk = actions.rekey(ALICE, view.roster, view.next_pos(ALICE.public_key), now_ms)
    extra["rekey_alice"] = rk.record.raw
    return World(
        genesis,
        history,
        keys,
        tok["format1"]["text"],
        tok["text"],
        BOB,
        int(tok["open_as_bob_at_s"]),
        now_ms,
        extra,
    )


# ---- targets ----------------------------------------------------------------------------------


class RoundTripError(AssertionError):
    """A value that decoded does not come back the same."""


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise RoundTripError(what)


def as_text(data: bytes) -> str:
    """Input bytes as pasted text; invalid UTF-8 becomes lone surrogates, as in ``sys.argv``."""
    return data.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Target:
    name: str
    doc: str
    run: Callable[[bytes], object]
    seeds: Callable[[], dict[str, bytes]]
    text: bool = False
    """Inputs are text (token, peer ID): the mutator also works on the text alphabet."""
    allowed: Callable[[BaseException], bool] = lambda e: isinstance(e, ProtocolError)


class _Views:
    """A CircleView to feed, rebuilt only after a record changed it (rebuilding costs ~1 ms)."""

    def __init__(self) -> None:
        self._view: CircleView | None = None

    def get(self) -> CircleView:
        if self._view is None:
            self._view = world().view()
        return self._view

    def spoiled(self) -> None:
        self._view = None


_views = _Views()


def _check_record(rec: Record) -> None:
    """What holds for every record that parsed: one byte form, same id, same body."""
    again = records.parse(rec.raw)
    expect(again.id == rec.id == records.record_id(rec.raw), "record id changes on re-parse")
    expect(wire.encode([rec.body_bytes, rec.sig]) == rec.raw, "record bytes are not canonical")
    expect(wire.encode(dict(rec.body)) == rec.body_bytes, "record body is not canonical")
    expect(records.validate_body(wire.decode(rec.body_bytes, records.MAX_RECORD_SIZE)) == rec.type, "type")


def _feed_view(rec: Record) -> None:
    """The validator path: CircleView.add must return an outcome, never raise."""
    view = _views.get()
    try:
        out = view.add(rec)
    except BaseException:
        _views.spoiled()
        raise
    if isinstance(out, Stored):
        _views.spoiled()  # the next input starts from the vectors' circle again
    if not isinstance(out, (Stored, Held, Dropped, Duplicate)):
        raise TypeError(f"CircleView.add returned {out!r}")
    if isinstance(out, Stored) and rec.type == records.MSG:
        key = world().epoch_keys.get(bytes(rec.body["e"]))
        if key is not None:
            try:
                content = messages.open_message(rec, key)
            except ProtocolError:
                return
            expect(messages.Content.decode(content.encode()) == content, "message content round trip")
    if isinstance(out, Stored) and rec.type == records.FORK:
        fork.check_against(view.roster, rec)
        with contextlib.suppress(ProtocolError):
            fork.open_fork(rec, BOB)


def t_wire(data: bytes) -> object:
    value = wire.decode(data, 1 << 16)
    expect(wire.encode(value) == data, "wire.decode accepted a non-canonical encoding")
    return value


def t_record(data: bytes) -> object:
    rec = records.parse(data)
    _check_record(rec)
    out = world().view().receive(data)
    if not isinstance(out, (Stored, Held, Dropped, Duplicate)):
        raise TypeError(f"CircleView.receive returned {out!r}")
    return rec


def _sign_body(body_bytes: bytes) -> bytes:
    """``[body, sig]`` with a correct signature by the author the body names (else Alice)."""
    try:
        body = wire.decode(body_bytes, records.MAX_RECORD_SIZE)
    except ProtocolError:
        body = None
    t = body.get("t") if isinstance(body, dict) else None
    a = body.get("a") if isinstance(body, dict) else None
    signer = SIGNERS.get(a, ALICE) if isinstance(a, bytes) else ALICE
    dom = records.DOMAINS[t] if isinstance(t, str) and t in records.DOMAINS else records.domain("msg")
    return wire.encode([body_bytes, signer.sign(dom + body_bytes)])


def t_record_signed(data: bytes) -> object:
    raw = _sign_body(data)
    rec = records.parse(raw)
    _check_record(rec)
    expect(rec.body_bytes == data, "the signed body is not the body carried")
    _feed_view(rec)
    if rec.type == records.PRESENCE:
        presence.check(rec, _views.get().roster, world().now_ms)
    return rec


def _reference_parse(raw: bytes) -> tuple[Any, ...] | None:
    """records.parse as it was: the generic ``wire.decode``, then the schema and the signature."""
    try:
        outer = wire.decode(raw, records.MAX_RECORD_SIZE)
        if not isinstance(outer, list) or len(outer) != 2:
            return None
        body_bytes, sig = outer
        if not isinstance(body_bytes, bytes) or not isinstance(sig, bytes) or len(sig) != records.SIG_SIZE:
            return None
        body = wire.decode(body_bytes, records.MAX_RECORD_SIZE)
        t = records.validate_body(body)
    except ProtocolError:
        return None
    return tuple(body.items()) if crypto.verify(body["a"], sig, records.DOMAINS[t] + body_bytes) else None


def t_record_first_pass(data: bytes) -> object:
    """The bounded first pass (protocol/shallow.py) accepts exactly what the generic decoder did."""
    raw = _sign_body(data)
    ref = _reference_parse(raw)
    rec: Record | None = None
    for fast_max in (shallow.FAST_MAX, 0):  # msgpack's one-call path for small bodies, and without it
        old, shallow.FAST_MAX = shallow.FAST_MAX, fast_max
        try:
            rec = records.parse(raw)
        except ProtocolError:
            rec = None
        finally:
            shallow.FAST_MAX = old
        verdict = "accepted" if rec else "refused"
        expect((rec is None) == (ref is None), f"records.parse {verdict} what wire.decode did not")
        expect(rec is None or tuple(rec.body.items()) == ref, "records.parse decoded another body")
    return rec


def t_presence(data: bytes) -> object:
    rec = records.parse(_sign_body(data))
    _check_record(rec)
    roster = _views.get().roster
    why = presence.check(rec, roster, world().now_ms)
    expect(why is None or isinstance(why, str), "presence.check returned a non-reason")
    for key in world().epoch_keys.values():
        with contextlib.suppress(ProtocolError):  # what a member does next: open it
            presence.open_presence(rec, key)
    return why


def t_token(data: bytes) -> object:
    w = world()
    text = as_text(data)
    tok = invitation.decode_token(text)
    # Semantic round trip: the decoded parts framed again decode to the same parts.
    if isinstance(tok, invitation.ShortToken):
        again = invitation.decode_token(_frame_token(tok.signed + tok.sig, 2))
        packed = addrpack.pack(tok.addrs, tok.inviter)
        expect(addrpack.unpack(packed, tok.inviter, 8) == list(tok.addrs), "addresses round trip")
    else:
        again = invitation.decode_token(_frame_token(_token_body(tok)))
    expect(again == tok, "token round trip")
    try:
        opened = invitation.open_token(text, w.token_me, w.token_now_s)
    except ProtocolError:
        return tok
    expect(opened.circle_id == tok.circle_id, "opened token names another circle")
    return opened


def _token_body(tok: invitation.Token) -> bytes:
    return wire.encode(
        {
            "v": invitation.V1,
            "inv": tok.invite.raw,
            "gen": tok.genesis.raw,
            "ch": [r.raw for r in tok.chain],
            "sl": tok.sealed,
            "ad": list(tok.addrs),
        }
    )


def _frame_token(body: bytes, version: int = 1) -> str:
    """Wrap body bytes in a well-formed token frame of ``version`` (right length and checksum)."""
    head = f"{invitation.PREFIX}{version}"
    framed = len(body).to_bytes(4, "big") + body
    payload = framed + crypto.checksum(head.encode() + framed, 5)
    return head + base64.b32encode(payload).decode().rstrip("=").lower()


def t_token_body(data: bytes) -> object:
    return t_token(_frame_token(data).encode())


def t_token2_body(data: bytes) -> object:
    return t_token(_frame_token(data, 2).encode())


@functools.cache
def _held() -> dict[bytes, set[int]]:
    return world().view().held_seqs()


def t_sync(data: bytes) -> object:
    decoded = 0
    try:
        cid, vec = sync.decode_vector(data)
    except ProtocolError:
        pass
    else:
        decoded += 1
        expect(all(q >= 1 for q in vec.values()), "a vector seq below 1")
        expect(sync.encode_vector(cid, vec) == data, "vector message is not canonical")
        expect(sync.decode_vector(sync.encode_vector(cid, vec)) == (cid, vec), "vector round trip")
        sync.plan(_held(), vec)  # what syncer.serve does with a request's vector
    try:
        cid, ranges = sync.decode_want(data)
    except ProtocolError:
        pass
    else:
        decoded += 1
        expect(all(1 <= r.first <= r.last for r in ranges), "an empty wanted range")
        expect(sync.decode_want(sync.encode_want(cid, ranges)) == (cid, sorted(ranges)), "want round trip")
    expect(decoded <= 1, "a message that is both a vector and a want")
    return decoded


def t_syncstream(data: bytes) -> object:
    """A sync stream as ``syncer._read_frame`` reads it, each frame handled as pull/serve do."""
    i, frames = 0, 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        syncwire.check_length(n)
        body = data[i + 4 : i + 4 + n]
        if len(body) < n:
            break  # the stream ended inside a frame: EOFError in the node, not a decoder's business
        i += 4 + n
        frames += 1
        tag, payload = body[:1], body[1:]
        if tag == syncwire.VECTOR:
            cid, vec = sync.decode_vector(payload)
            expect(sync.encode_vector(cid, vec) == payload, "vector frame round trip")
            sync.plan(_held(), vec)
        elif tag == syncwire.RECORDS:
            raws = syncwire.parse_records(payload)
            expect(syncwire.records_frame(raws) == syncwire.frame(tag, payload), "records frame round trip")
            for raw in raws:
                with contextlib.suppress(ProtocolError):
                    _check_record(records.parse(raw))
        else:
            payload[:200].decode(errors="replace")
    return frames


def raised_in(e: BaseException, fn: Callable[..., Any]) -> bool:
    """Whether ``e`` was raised in ``fn`` itself (its traceback's innermost frame runs fn's code)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code is fn.__code__


def _bundle_error(e: BaseException) -> bool:
    """decode_bundle reports a bad file with ValueError (the CLI prints it): allowed from it alone."""
    return isinstance(e, ProtocolError) or (type(e) is ValueError and raised_in(e, ingest.decode_bundle))


def t_bundle(data: bytes) -> object:
    raws = ingest.decode_bundle(data)
    expect(ingest.encode_bundle(raws) == data, "bundle round trip")
    view = world().view()
    for raw in raws:
        out = view.receive(raw)
        if not isinstance(out, (Stored, Held, Dropped, Duplicate)):
            raise TypeError(f"CircleView.receive returned {out!r}")
    return len(raws)


def t_peer_id(data: bytes) -> object:
    text = as_text(data)
    key = identity.parse_peer_id(text)
    expect(identity.peer_id(key) == text.strip(), "peer ID round trip")
    return key


def t_content(data: bytes) -> object:
    c = messages.Content.decode(data)
    expect(c.encode() == data, "message content round trip")
    return c


def t_keyfile(data: bytes) -> object:
    identity.keyfile_is_encrypted(data)
    ident_ = identity.load_identity(data, None)  # never a passphrase: no Argon2 in the loop
    expect(identity.load_identity(identity.dump_identity(ident_)).seed == ident_.seed, "key file round trip")
    return ident_


# ---- seeds ------------------------------------------------------------------------------------


def _vector_records() -> dict[str, bytes]:
    recs = json.loads((VECTORS / "records.json").read_text())["records"]
    out = {r["name"]: _hex(r["raw_hex"]) for r in recs}
    w = world()
    out["presence"] = w.extra["presence"]
    out["msg_alice"] = w.extra["msg_alice"]
    out["rekey_alice"] = w.extra["rekey_alice"]
    return out


def _vector_bodies() -> dict[str, bytes]:
    return {name: records.parse(raw).body_bytes for name, raw in _vector_records().items()}


def seeds_wire() -> dict[str, bytes]:
    d = json.loads((VECTORS / "wire.json").read_text())
    out = {f"value_{i}": _hex(v["hex"]) for i, v in enumerate(d["values"])}
    out |= {f"reject_{i}": _hex(v["hex"]) for i, v in enumerate(d["rejects"])}
    out |= {f"body_{k}": v for k, v in list(_vector_bodies().items())[:4]}
    return out


def seeds_signed() -> dict[str, bytes]:
    return _vector_bodies()


def seeds_presence() -> dict[str, bytes]:
    w = world()
    body = records.parse(w.extra["presence"]).body_bytes
    epoch = records.parse(w.extra["presence"]).body["e"]
    alice = presence.announce(
        ALICE,
        w.genesis.id,
        [f"/ip4/10.0.0.1/udp/9/quic-v1/p2p/{ALICE.peer_id}"],
        w.now_ms - 1,
        "",
        epoch,
        b"k" * 32,
    )
    return {"presence_bob": body, "presence_alice": alice.body_bytes}


def seeds_token() -> dict[str, bytes]:
    w = world()
    vec = json.loads((VECTORS / "token.json").read_text())
    out: dict[str, bytes] = {}
    for fmt, t, errs in (("", w.token2, vec["errors"]), ("format1_", w.token, vec["format1"]["errors"])):
        wrapped = "\n".join(t[i : i + 60] for i in range(0, len(t), 60))
        out |= {f"{fmt}token_bob": t.encode(), f"{fmt}token_wrapped": wrapped.encode()}
        out[f"{fmt}token_upper"] = t.upper().encode()
        out |= {f"{fmt}error_{e['case']}": e["text"].encode("utf-8", "surrogateescape") for e in errs}
    return out


def seeds_token2_body() -> dict[str, bytes]:
    w = world()
    tok = invitation.decode_token(w.token2)
    assert isinstance(tok, invitation.ShortToken)
    inv = next(r for r in w.history if r.id == tok.invite_id)
    others = ["/dns4/relay.example/tcp/4001", f"/ip6/2001:db8::1/tcp/1/p2p/{EVE.peer_id}"] * 4
    bare = invitation.decode_token(
        invitation.make_short_token(ALICE, inv, tok.circle_id, b"\x22" * 32, "friends", others)
    )
    assert isinstance(bare, invitation.ShortToken)
    return {"token2_bob_body": tok.signed + tok.sig, "token2_other_addrs": bare.signed + bare.sig}


def seeds_token_body() -> dict[str, bytes]:
    tok = invitation.decode_token(world().token)
    bare = invitation.Token(tok.invite, tok.genesis, (), tok.sealed, ("/dns4/relay.example/tcp/4001",) * 3)
    return {"token_bob_body": _token_body(tok), "token_other_addrs": _token_body(bare)}


def seeds_sync() -> dict[str, bytes]:
    d = json.loads((VECTORS / "sync.json").read_text())
    w = world()
    held = w.view().held_seqs()
    vec = sync.encode_vector(w.genesis.id, sync.vector(held))
    want = sync.encode_want(
        w.genesis.id, [sync.Range(BOB.public_key, 2, 9), sync.Range(ALICE.public_key, 1, 1)]
    )
    return {
        "vector": _hex(d["vector_message_hex"]),
        "want": _hex(d["want_message_hex"]),
        "vector_world": vec,
        "want_world": want,
        # Regression: sync.plan listed every seq up to this one (a hang, then MemoryError).
        "regress_vector_huge_seq": sync.encode_vector(w.genesis.id, {BOB.public_key: 2**63 - 1}),
    }


def seeds_syncstream() -> dict[str, bytes]:
    raws = list(_vector_records().values())
    s = seeds_sync()
    return {
        "pull_reply": syncwire.records_frame(raws[:6])
        + syncwire.records_frame(raws[6:])
        + syncwire.frame(syncwire.VECTOR, s["vector_world"]),
        "request": syncwire.frame(syncwire.VECTOR, s["vector"]),
        "denied": syncwire.frame(syncwire.DENIED, b"not a member of that circle"),
    }


def seeds_bundle() -> dict[str, bytes]:
    raws = list(_vector_records().values())
    return {"bundle_all": ingest.encode_bundle(raws), "bundle_two": ingest.encode_bundle(raws[1:3])}


def seeds_peer_id() -> dict[str, bytes]:
    d = json.loads((VECTORS / "identities.json").read_text())["identities"]
    out = {name: v["peer_id"].encode() for name, v in d.items()}
    out["spaced"] = f"  {ALICE.peer_id}\n".encode()
    return out


def seeds_content() -> dict[str, bytes]:
    w = world()
    return {k: v for k, v in w.extra.items() if k.startswith("content")}


def seeds_keyfile() -> dict[str, bytes]:
    sealed = identity.dump_identity(
        ALICE, "pw", opslimit=1, memlimit=8192, salt=b"\x01" * 16, nonce=b"\x02" * 24
    )
    return {"plain": identity.dump_identity(ALICE), "sealed": sealed}


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("wire", "protocol.wire.decode (canonical msgpack)", t_wire, seeds_wire),
        Target("record", "records.parse, then CircleView.receive", t_record, _vector_records),
        Target(
            "record_signed",
            "fuzzed record bodies signed by their author: schema, CircleView, forks, messages",
            t_record_signed,
            seeds_signed,
        ),
        Target(
            "record_first_pass",
            "signed record bodies: records.parse's bounded first pass against the generic decoder",
            t_record_first_pass,
            seeds_signed,
        ),
        Target("presence", "signed presence bodies into presence.check", t_presence, seeds_presence),
        Target("token", "invitation token text: decode_token, open_token", t_token, seeds_token, text=True),
        Target(
            "token_body",
            "token bodies in a valid frame: msgpack, schema, records",
            t_token_body,
            seeds_token_body,
        ),
        Target(
            "token2_body",
            "short token bodies (format 2) in a valid frame: msgpack, schema, addresses, signature",
            t_token2_body,
            seeds_token2_body,
        ),
        Target("sync", "sync.decode_vector and sync.decode_want", t_sync, seeds_sync),
        Target(
            "syncstream",
            "sync stream frames (syncwire): check_length, parse_records, decode_vector",
            t_syncstream,
            seeds_syncstream,
        ),
        Target(
            "bundle",
            "offline bundle: ingest.decode_bundle, each record into CircleView",
            t_bundle,
            seeds_bundle,
            allowed=_bundle_error,
        ),
        Target("peer_id", "identity.parse_peer_id", t_peer_id, seeds_peer_id, text=True),
        Target("content", "messages.Content.decode (message plaintext)", t_content, seeds_content),
        Target("keyfile", "identity.load_identity (no passphrase)", t_keyfile, seeds_keyfile),
    ]
}

# Targets that drive a node's state (a join with a token's records, a sync session), with two
# more failure kinds (``foreign``, ``wedged``): scripts/fuzzstate.py.
import fuzzstate  # noqa: E402

TARGETS |= {t.name: t for t in fuzzstate.targets()}

# Random roster histories into CircleView; kinds crash and wedged: scripts/fuzzroster.py.
import fuzzroster  # noqa: E402

TARGETS |= {t.name: t for t in fuzzroster.targets()}


# ---- the contract -----------------------------------------------------------------------------


@dataclass
class Failure:
    target: str
    kind: str  # crash | roundtrip | slow
    summary: str
    detail: str
    data: bytes = field(repr=False)

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.data).hexdigest()[:16]

    @property
    def signature(self) -> str:
        """What groups failures with one cause: kind, exception and where it was raised."""
        return f"{self.kind}: {self.summary}"


def _where(e: BaseException) -> str:
    """The innermost frame in protocol/ (else the innermost frame of the target)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.name not in ("_on_alarm", "check_one")]
    inner = [f for f in frames if "/protocol/" in f.filename] or frames
    if not inner:
        return "?"
    f = inner[-1]
    return f"{Path(f.filename).name}:{f.lineno} in {f.name}"


class Hang(BaseException):
    """Raised by the SIGALRM guard: one input ran for :data:`HANG_S` seconds."""


HANG_S = 2.0
_guard = {"on": False}


def _on_alarm(signum: int, frame: object) -> None:
    raise Hang(f"no answer within {HANG_S:.0f} s")


@contextlib.contextmanager
def hang_guard() -> Iterator[None]:
    """Interrupt any input that runs :data:`HANG_S` seconds (main thread only; not under
    libFuzzer or pytest-timeout, which own SIGALRM and catch hangs themselves)."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    _guard["on"] = True
    try:
        yield
    finally:
        _guard["on"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_one(target: Target, data: bytes) -> tuple[Failure | None, float]:
    """Run one input; the failure (if the contract broke) and the time it took in ms."""
    t0 = time.perf_counter()
    try:
        if _guard["on"]:
            signal.setitimer(signal.ITIMER_REAL, HANG_S)
        try:
            target.run(data)
        finally:
            if _guard["on"]:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except RoundTripError as e:
        ms = (time.perf_counter() - t0) * 1000
        f = Failure(target.name, "roundtrip", f"{e} ({_where(e)})", traceback.format_exc(), data)
        return f, ms
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        ms = (time.perf_counter() - t0) * 1000
        if target.allowed(e):
            return None, ms
        kind = getattr(e, "fuzz_kind", "crash")  # fuzzstate's Foreign and Wedged
        summary = f"{type(e).__name__} at {_where(e)}" + (f": {e}" if kind != "crash" else "")
        return Failure(target.name, kind, summary, traceback.format_exc(), data), ms
    return None, (time.perf_counter() - t0) * 1000


def confirm_slow(target: Target, data: bytes) -> float:
    """The best of two more runs: a slow input counts only if it is slow every time."""
    best = float("inf")
    for _ in range(2):
        _, ms = check_one(target, data)
        best = min(best, ms)
    return best


def save_failure(f: Failure, crash_dir: Path) -> Path:
    d = crash_dir / f.target
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{f.kind}-{f.digest}"
    path.write_bytes(f.data)
    path.with_suffix(".txt").write_text(f"{f.signature}\n\n{f.detail}")
    return path


@dataclass
class Stats:
    target: str
    engine: str
    inputs: int = 0
    crashes: int = 0
    roundtrip: int = 0
    slow: int = 0
    foreign: int = 0
    """Records of another circle, or by someone the circle does not know, stored (fuzzstate)."""
    wedged: int = 0
    """Circles where remove, rekey or posting no longer works after the input (fuzzstate)."""
    seconds: float = 0.0
    max_ms: float = 0.0
    coverage: int | None = None
    features: int | None = None
    corpus: int | None = None
    signatures: list[str] = field(default_factory=list)
    error: str | None = None
    slow_instrumented: int = 0
    """Inputs over the time limit under atheris' instrumentation, but not when timed without it."""

    @property
    def failures(self) -> int:
        found = self.crashes + self.roundtrip + self.slow + self.foreign + self.wedged
        return found + (1 if self.error else 0)

    @property
    def exec_s(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def record(self, f: Failure, crash_dir: Path | None) -> None:
        kind = "crashes" if f.kind == "crash" else f.kind  # roundtrip, slow, foreign, wedged
        setattr(self, kind, getattr(self, kind) + 1)
        if f.signature not in self.signatures:
            self.signatures.append(f.signature)
        if crash_dir is not None:
            save_failure(f, crash_dir)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "exec_s": round(self.exec_s, 1), "failures": self.failures}


class Runner:
    """Counts and checks inputs for one target; shared by both engines."""

    def __init__(self, target: Target, engine: str, crash_dir: Path | None) -> None:
        world(), _held(), _views.get()  # build the world now, not inside the first timed input
        self.target = target
        self.stats = Stats(target.name, engine)
        self.crash_dir = crash_dir

    def __call__(self, data: bytes) -> Failure | None:
        f, ms = check_one(self.target, data)
        self.stats.inputs += 1
        if f is None and ms > SLOW_MS:
            ms = confirm_slow(self.target, data)
            if ms > SLOW_MS:
                f = Failure(self.target.name, "slow", f"one input took {ms:.0f} ms", "", data)
        self.stats.max_ms = max(self.stats.max_ms, ms)
        if f is not None:
            self.stats.record(f, self.crash_dir)
        return f


# ---- corpus -----------------------------------------------------------------------------------


def make_corpus(corpus_dir: Path = CORPUS_DIR) -> dict[str, int]:
    """Write every target's seeds under ``corpus_dir/<target>/<name>`` (sealed parts are random)."""
    counts = {}
    for t in TARGETS.values():
        d = corpus_dir / t.name
        d.mkdir(parents=True, exist_ok=True)
        seeds = t.seeds()
        for name, data in seeds.items():
            (d / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)).write_bytes(data)
        counts[t.name] = len(seeds)
    return counts


def load_corpus(target: Target, corpus_dir: Path = CORPUS_DIR) -> list[bytes]:
    """The committed corpus of a target, or its generated seeds when there is none."""
    d = corpus_dir / target.name
    files = sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []
    if files:
        return [p.read_bytes() for p in files]
    return list(target.seeds().values())


# ---- engine 1: seeded mutation (no dependencies) ----------------------------------------------

_INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xCC, 0xCF, 0xD0]
_INTERESTING += [0xD3, 0xD4, 0xD8, 0xC7, 0xC9, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0x90, 0x80, 0xA0]
_BOUNDS = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF]
_TEXT_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyz234567ABCDEFGHJKLMNPQRSTUVWXYZ189o0lI =\n\t\u00e9\u0130\u212a\udcff"
)
_DICT = [b"ssi1", b"12D3KooW", b"\xa1t", b"\xa1v\x01", b"\xa3msg", b"\xc4\x20", b"\x92", b"\xc0", b"/p2p/"]


def mutate(data: bytes, rng: random.Random, pool: list[bytes], text: bool = False) -> bytes:
    """One to four random edits of ``data``: the libFuzzer-style basics, msgpack- and text-aware."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        how = rng.randrange(11)
        n = len(out)
        i = rng.randrange(n) if n else 0
        if how == 0 and n:
            out[i] ^= 1 << rng.randrange(8)
        elif how == 1 and n:
            out[i] = rng.choice(_INTERESTING)
        elif how == 2:
            out[i:i] = rng.randbytes(rng.randint(1, 8))
        elif how == 3 and n:
            del out[i : i + rng.randint(1, 16)]
        elif how == 4 and n:
            del out[rng.randrange(n) :]
        elif how == 5 and n:
            j = rng.randrange(n)
            out[j:j] = out[i : i + rng.randint(1, 32)]
        elif how == 6 and pool:
            other = rng.choice(pool)
            if other:
                a = rng.randrange(len(other))
                out[i : i + rng.randint(0, 16)] = other[a : a + rng.randint(1, 64)]
        elif how == 7 and n:
            width = rng.choice([1, 2, 4, 8])
            v = rng.choice(_BOUNDS) + rng.choice([-1, 0, 0, 1])
            out[i : i + width] = (v % (1 << (8 * width))).to_bytes(width, "big")
        elif how == 8:
            out[i:i] = rng.choice(_DICT)
        elif how == 9 and text:
            s = as_text(bytes(out))
            if s:
                k = rng.randrange(len(s))
                s = s[:k] + rng.choice(_TEXT_ALPHABET) + s[k + rng.randint(0, 1) :]
            out = bytearray(s.encode("utf-8", "surrogateescape"))
        elif how == 10 and n:
            j = rng.randrange(n)
            out[i], out[j] = out[j], out[i]
    return bytes(out)


_FIELDS = ["v", "t", "a", "c", "q", "p", "h", "ts", "e", "k", "x", "n", "i", "r", "s", "ks", "pe", "ad", "g"]
_FIELDS += ["iv", "sl", "nm", "pol", "par", "inv", "gen", "ch", "vec", "want", "tx", "re", "kdf", "seed"]


def _leaf(rng: random.Random, like: Any) -> Any:
    """A value of an interesting shape: the edges of every type the schemas check."""
    k = rng.randrange(12)
    if k == 0:
        return None
    if k == 1:
        return rng.random() < 0.5
    if k == 2:
        return rng.choice([0, 1, -1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 1 << 20, 255, 256])
    if k == 3 and isinstance(like, int) and not isinstance(like, bool):
        return like + rng.choice([-1, 1, 1 << 20, -(1 << 20)])
    if k == 4:
        return rng.randbytes(rng.choice([0, 1, 15, 16, 23, 24, 31, 32, 33, 63, 64, 65, 80]))
    if k == 5 and isinstance(like, bytes) and like:
        b = bytearray(like)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if k == 6:
        return rng.choice(
            ["", "msg", "invite", "join", "rekey", "fork", "presence", "genesis", "admin", "\u202e"]
        )
    if k == 7:
        return rng.choice(list(SIGNERS))
    if k == 8:
        return [like] * rng.choice([0, 1, 2, 65, 257])
    if k == 9:
        return {rng.choice(_FIELDS): like}
    if k == 10:
        return rng.choice([[], {}, [[]], [[[[[[[[[]]]]]]]]]])
    return like


def _nodes(tree: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, tree
    if isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _nodes(v, (*path, i))
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield from _nodes(v, (*path, k))


def _replace(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(tree, list):
        return [_replace(v, rest, value) if i == head else v for i, v in enumerate(tree)]
    return {k: _replace(v, rest, value) if k == head else v for k, v in tree.items()}


def mutate_tree(data: bytes, rng: random.Random, max_size: int = 1 << 20) -> bytes | None:
    """Decode ``data`` as msgpack, change one node (or a map's keys), encode again; None if not msgpack.

    Nested byte strings that hold msgpack themselves (a record's body, a token's records)
    are mutated the same way half of the time, so a signed body two levels down changes
    in a structured way too.
    """
    try:
        tree = wire.decode(data, max_size)
    except ProtocolError:
        return None
    nodes = list(_nodes(tree))
    path, node = rng.choice(nodes)
    inner = mutate_tree(node, rng) if isinstance(node, bytes) and rng.random() < 0.5 else None
    if inner is not None:
        new = inner
    elif isinstance(node, dict) and node and rng.random() < 0.4:
        new = dict(node)
        if rng.random() < 0.5:
            del new[rng.choice(list(new))]
        else:
            new[rng.choice(_FIELDS)] = _leaf(rng, rng.choice(list(node.values())))
    elif isinstance(node, list) and node and rng.random() < 0.4:
        new = list(node)
        i = rng.randrange(len(new))
        new.insert(i, new[i]) if rng.random() < 0.5 else new.pop(i)
    else:
        new = _leaf(rng, node)
    try:
        return wire.encode(_replace(tree, path, new))
    except ProtocolError:
        return None


def mutation_inputs(seeds: list[bytes], n: int, rng: random.Random, text: bool = False) -> Iterator[bytes]:
    """Every seed once, then ``n`` mutants (a mutant of a mutant a quarter of the time)."""
    yield from seeds
    pool = list(seeds)
    last = rng.choice(pool) if pool else b""
    for _ in range(n):
        base = last if rng.random() < 0.25 else rng.choice(pool) if pool else b""
        tree = mutate_tree(base, rng) if not text and rng.random() < 0.5 else None
        last = tree if tree is not None else mutate(base, rng, pool, text)
        yield last


def run_mutation(
    target: Target,
    runs: int,
    seconds: float | None = None,
    seed: int = 0,
    crash_dir: Path | None = CRASH_DIR,
    corpus_dir: Path = CORPUS_DIR,
) -> Stats:
    """Corpus plus mutants through :func:`check_one`, for ``runs`` inputs or ``seconds``."""
    runner = Runner(target, "mutate", crash_dir)
    seeds = load_corpus(target, corpus_dir)
    rng = random.Random(f"{seed}/{target.name}")
    t0 = time.perf_counter()
    deadline = t0 + seconds if seconds else None
    for data in mutation_inputs(seeds, max(runs - len(seeds), 0), rng, target.text):
        runner(data)
        if deadline is not None and runner.stats.inputs % 64 == 0 and time.perf_counter() > deadline:
            break
    runner.stats.seconds = time.perf_counter() - t0
    return runner.stats


def run_inputs(target: Target, inputs: Iterable[bytes], crash_dir: Path | None = None) -> Stats:
    """Given inputs (a corpus, regression cases) through :func:`check_one`."""
    runner = Runner(target, "inputs", crash_dir)
    t0 = time.perf_counter()
    for data in inputs:
        runner(data)
    runner.stats.seconds = time.perf_counter() - t0
    return runner.stats


# ---- engine 2: atheris (coverage-guided libFuzzer), one child process per target ---------------


def have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def child_main(
    name: str, runs: int, seconds: float | None, stats_path: Path, seed: int, crash_dir: Path
) -> int:
    """In the child: fuzz one target under libFuzzer. ``protocol`` was imported instrumented."""
    import atheris

    target = TARGETS[name]
    runner = Runner(target, "atheris", crash_dir)
    t0 = time.perf_counter()
    last_write = [0.0]

    def write() -> None:
        runner.stats.seconds = time.perf_counter() - t0
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(runner.stats.as_json()))
        tmp.replace(stats_path)

    def one(data: bytes) -> None:
        f = runner(data)
        now = time.perf_counter()
        if f is not None or runner.stats.inputs >= runs or now - last_write[0] > 1.0:
            last_write[0] = now
            write()

    work = WORK_DIR / name
    work.mkdir(parents=True, exist_ok=True)
    seeds = CORPUS_DIR / name
    biggest = max((len(s) for s in load_corpus(target)), default=0)
    args = [
        sys.argv[0],
        str(work),
        *([str(seeds)] if seeds.is_dir() else []),
        f"-runs={runs}",
        f"-seed={seed or 1}",
        f"-max_len={min(max(4096, 2 * biggest), 65536)}",
        "-timeout=2",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={crash_dir / name}/libfuzzer-",
        *([f"-max_total_time={max(int(seconds), 1)}"] if seconds else []),
    ]
    (crash_dir / name).mkdir(parents=True, exist_ok=True)
    write()

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        # Half of the time a structured change of the msgpack tree (see mutate_tree), so the
        # coverage feedback also works on well-formed bodies, not only on broken bytes.
        rng = random.Random(seed)
        if not target.text and rng.random() < 0.5:
            out = mutate_tree(data, rng)
            if out is not None and len(out) <= max_size:
                return out
        return bytes(atheris.Mutate(data, max_size))

    atheris.Setup(args, one, custom_mutator=mutator)
    atheris.Fuzz()  # exits the process when done
    return 0


_COV = re.compile(r"cov: (\d+) ft: (\d+) corp: (\d+)")


def run_atheris(
    target: Target, runs: int, seconds: float | None, seed: int, script: Path, crash_dir: Path
) -> Stats:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    stats_path = WORK_DIR / f"{target.name}.stats.json"
    stats_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(script), "--child", target.name, "--runs", str(runs), "--seed", str(seed)]
    cmd += ["--crash-dir", str(crash_dir)]
    if seconds:
        cmd += ["--seconds", str(seconds)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    wall = time.perf_counter() - t0
    try:
        stats = Stats(
            **{k: v for k, v in json.loads(stats_path.read_text()).items() if k in Stats.__dataclass_fields__}
        )
    except (OSError, ValueError):
        stats = Stats(target.name, "atheris")
    cov = _COV.findall(p.stderr)
    if cov:
        stats.coverage, stats.features, stats.corpus = (int(x) for x in cov[-1])
    done = re.search(r"stat::number_of_executed_units: (\d+)", p.stderr)
    if p.returncode != 0 or done is None:
        tail = "\n".join(p.stderr.splitlines()[-30:])
        stats.error = f"the fuzzing process ended with status {p.returncode} after {wall:.0f} s"
        crash_dir.mkdir(parents=True, exist_ok=True)
        (crash_dir / f"{target.name}-process.txt").write_text(tail)
    recheck_slow(target, stats, crash_dir)
    return stats


def recheck_slow(target: Target, stats: Stats, crash_dir: Path) -> None:
    """Time each input the instrumented child found slow again here, uninstrumented.

    Coverage instrumentation makes the protocol code several times slower, so the
    :data:`SLOW_MS` budget is about the code as it runs in a node: only inputs that
    are slow here too count.
    """
    d = crash_dir / target.name
    confirmed = []
    for path in sorted(d.glob("slow-*")) if d.is_dir() else []:
        if path.suffix == ".txt":
            continue
        ms = confirm_slow(target, path.read_bytes())
        if ms > SLOW_MS:
            confirmed.append(f"slow: one input took {ms:.0f} ms")
            path.with_suffix(".txt").write_text(f"slow: {ms:.0f} ms without instrumentation\n")
        else:
            stats.slow -= 1
            stats.slow_instrumented += 1
            path.unlink()
            path.with_suffix(".txt").unlink(missing_ok=True)
    stats.signatures = [s for s in stats.signatures if not s.startswith("slow:")] + confirmed


# ---- the command ------------------------------------------------------------------------------


def _cells(name: str, engine: str, rows: list[Stats], coverage: str) -> list[str]:
    """One line of the table: a target's figures, or the total of all of them."""
    inputs, seconds = sum(s.inputs for s in rows), sum(s.seconds for s in rows)
    return [
        name,
        engine,
        f"{inputs:,}",
        str(sum(s.crashes + (1 if s.error else 0) for s in rows)),
        *(str(sum(getattr(s, k) for s in rows)) for k in ("roundtrip", "slow", "foreign", "wedged")),
        f"{inputs / seconds:,.0f}" if seconds else "0",
        f"{max((s.max_ms for s in rows), default=0):.1f}",
        coverage,
    ]


def table(rows: list[Stats]) -> str:
    head = ["target", "engine", "inputs", "crashes", "roundtrip", "slow", "foreign", "wedged"]
    head += ["exec/s", "max ms", "coverage"]
    body = [
        _cells(
            s.target, s.engine, [s], "-" if s.coverage is None else f"{s.coverage} edges / {s.features} ft"
        )
        for s in rows
    ]
    body.append(_cells("total", "", rows, ""))
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        cells = zip(r, widths, strict=True)
        return "  ".join(c.ljust(w) if i < 2 or i == 10 else c.rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/fuzz",
        description="Fuzz every decoder of outside bytes and text; exit 1 on any crash, round-trip "
        "failure or slow input (saved under fuzz-crashes/).",
    )
    p.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="inputs in total, split over the targets")
    p.add_argument("--target", action="append", choices=sorted(TARGETS), help="only this target (repeatable)")
    p.add_argument("--seconds", type=float, help="time limit per target")
    p.add_argument("--engine", choices=["auto", "atheris", "mutate"], default="auto")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, default=RESULTS, help=f"default {RESULTS.relative_to(ROOT)}")
    p.add_argument("--crash-dir", type=Path, default=CRASH_DIR, help=f"default {CRASH_DIR.relative_to(ROOT)}")
    p.add_argument("--make-corpus", action="store_true", help="(re)write tests/fuzz_corpus/ and exit")
    p.add_argument("--list", action="store_true", help="list the targets and exit")
    p.add_argument("--child", metavar="TARGET", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None, script: Path | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.child:
        stats_path = WORK_DIR / f"{args.child}.stats.json"
        return child_main(args.child, args.runs, args.seconds, stats_path, args.seed, args.crash_dir)
    if args.list:
        for t in TARGETS.values():
            print(f"{t.name:14} {t.doc}")
        return 0
    if args.make_corpus:
        for name, n in make_corpus().items():
            print(f"{name:14} {n} seeds")
        return 0
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if have_atheris() else "mutate"
    elif engine == "atheris" and not have_atheris():
        print(
            "atheris is not installed: pip install 'smallsocial[fuzz]', or use --engine mutate",
            file=sys.stderr,
        )
        return 2
    if engine == "mutate":
        # A runaway allocation should be a MemoryError we report, not the OOM killer.
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    names = args.target or list(TARGETS)
    per = max(-(-args.runs // len(names)), 1)  # rounded up: at least --runs in total
    crash_dir: Path = args.crash_dir.resolve()
    for name in names:  # what an earlier run saved for these targets is stale now
        shutil.rmtree(crash_dir / name, ignore_errors=True)
        (crash_dir / f"{name}-process.txt").unlink(missing_ok=True)
    script = script or Path(sys.argv[0]).resolve()
    rows: list[Stats] = []
    t0 = time.perf_counter()
    for name in names:
        target = TARGETS[name]
        if engine == "atheris":
            s = run_atheris(target, per, args.seconds, args.seed, script, crash_dir)
        else:
            with hang_guard():
                s = run_mutation(target, per, args.seconds, args.seed, crash_dir)
        rows.append(s)
        status = "ok" if not s.failures else f"{s.failures} FAILED"
        print(f"{name:14} {s.inputs:>9,} inputs  {s.exec_s:>8,.0f}/s  {status}", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    print(table(rows))
    failed = sum(s.failures for s in rows)
    for s in rows:
        for sig in s.signatures:
            print(f"  {s.target}: {sig}")
        if s.error:
            print(f"  {s.target}: {s.error} (see {crash_dir / s.target}-process.txt)")
        if s.slow_instrumented:
            n = s.slow_instrumented
            print(f"  {s.target}: {n} input(s) over {SLOW_MS:.0f} ms only under instrumentation")
    print(f"{sum(s.inputs for s in rows):,} inputs in {wall:.0f} s, {failed} failures", end="")
    print(f"; inputs saved under {crash_dir}/" if failed else "")
    sys.path.insert(0, str(Path(__file__).parent))
    from benchkit import machine_info

    report = {
        "command": "scripts/fuzz " + " ".join(sys.argv[1:] if argv is None else argv),
        "engine": engine,
        "runs_requested": args.runs,
        "wall_s": round(wall, 1),
        "inputs": sum(s.inputs for s in rows),
        "failures": failed,
        "slow_ms": SLOW_MS,
        "targets": [s.as_json() for s in rows],
        "machine": machine_info(ROOT, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z")),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 1 if failed else 0
