"""Carried history: a parent circle's messages brought into a fork, checkable by its members.

The forker chooses what to carry (:class:`HistoryChoice`: none, all, the last N messages, the
last D days) and posts, in the *child* circle, ``carry`` records in their own chain. Each is
sealed under the child's epoch key (XChaCha20-Poly1305, associated data binding author,
circle, chain position and epoch as a message's does) and holds, per carried message, the
parent's original signed ``msg`` record, byte for byte, and that message's *reveal key*: the
HChaCha20 subkey of the parent's epoch key for that message's nonce
(:func:`protocol.crypto.hchacha20`). The reveal key opens that one ciphertext and nothing
else of the parent's epoch, so a child member checks, for every carried message, the
author's signature over the original record *and* that the text shown is what that signed
ciphertext holds (:func:`open_carry`). What stays on the forker's word is written in
docs/protocol.md, section "Carried history".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol import crypto, messages, records, schema, timeline, wire
from protocol.chain import ChainPos
from protocol.errors import DecodeError, DecryptError, ProtocolError, SchemaError
from protocol.identity import Identity
from protocol.records import Record

NONE = "none"
ALL = "all"
LAST = "last"
DAYS = "days"

MAX_CARRIED = 5000
"""Most parent records one fork carries (messages and the reactions and edits to them)."""
MAX_DAYS = 3650
MAX_ITEMS = 2048
"""Most carried records in one ``carry`` record (a bound for the decoder; size binds first)."""
REVEAL_SIZE = 32
_ITEM_OVERHEAD = 48
"""msgpack framing of one ``[raw, reveal]`` pair, generously."""
MAX_PLAIN = records.MAX_CARRY_BYTES - crypto.AEAD_OVERHEAD
"""The sealed plaintext of one ``carry`` record is at most this many bytes."""
AAD_DOMAIN = b"smallsocial/v1/carry-aad\x00"
"""Prefix of a carry record's associated data (distinct from a message's)."""

_PLAIN_SCHEMA = {
    "pc": schema.ident,
    "it": schema.list_of(
        schema.pair(schema.some_bytes(records.MAX_RECORD_SIZE, 1), schema.fixed_bytes(REVEAL_SIZE)),
        MAX_ITEMS,
        1,
    ),
}


@dataclass(frozen=True)
class HistoryChoice:
    """What history a fork carries: ``none``, ``all``, ``last`` ``count`` messages or ``days``."""

    mode: str = NONE
    count: int = 0

    def __str__(self) -> str:
        return self.mode if self.mode in (NONE, ALL) else f"{self.mode}:{self.count}"

    @classmethod
    def parse(cls, text: str) -> HistoryChoice:
        """``none``, ``all``, ``last:N`` or ``days:D``; a one-sentence ``ValueError`` otherwise."""
        t = text.strip().lower()
        if t in (NONE, ALL):
            return cls(t)
        mode, _, num = t.partition(":")
        if mode not in (LAST, DAYS) or not num.isdigit():
            raise ValueError(f"{text!r} is not a history choice; use none, all, last:N (messages) or days:D.")
        n = int(num)
        top = MAX_CARRIED if mode == LAST else MAX_DAYS
        if not 1 <= n <= top:
            raise ValueError(f"{mode}:N takes a number from 1 to {top}, not {num}.")
        return cls(mode, n)


NO_HISTORY = HistoryChoice()


@dataclass(frozen=True)
class Carried:
    """One carried message, checked: the parent's signed record and what it says."""

    record: Record
    content: messages.Content


def reveal_key(epoch_key: bytes, record: Record) -> bytes:
    """The key that opens this one message record's ciphertext (and no other)."""
    return crypto.hchacha20(epoch_key, bytes(record.body["n"])[:16])


def select(
    opened: Sequence[tuple[Record, messages.Content]],
    deleted: Iterable[bytes],
    choice: HistoryChoice,
    now_ms: int,
) -> list[tuple[Record, messages.Content]]:
    """The records to carry: the chosen text and reply messages (deleted ones never), then the
    reactions and edits to them, at most :data:`MAX_CARRIED` in all, in the authors' time order.

    A message whose nonce shares its first 16 bytes with another message of the same epoch is
    never carried: its reveal key would open the other one too (nonces are random, so only a
    broken or hostile author's messages ever do)."""
    if choice.mode == NONE:
        return []
    gone = set(deleted)
    prefixes = Counter(_prefix(r) for r, _ in opened)
    opened = [(r, c) for r, c in opened if prefixes[_prefix(r)] == 1]
    readable = sorted(
        ((r, c) for r, c in opened if c.kind in timeline.READABLE and r.id not in gone),
        key=lambda rc: (rc[1].ts, rc[0].author, rc[0].seq),
    )
    if choice.mode == LAST:
        readable = readable[-choice.count :]
    elif choice.mode == DAYS:
        since = now_ms - choice.count * 86_400_000
        readable = [rc for rc in readable if rc[1].ts >= since]
    readable = readable[-MAX_CARRIED:]
    ids = {r.id for r, _ in readable}
    changes = [
        (r, c)
        for r, c in opened
        if c.kind in (messages.REACT, messages.EDIT) and c.ref in ids and c.ref not in gone
    ]
    changes = sorted(changes, key=lambda rc: (rc[1].ts, rc[0].author, rc[0].seq))
    picked = readable + changes[: MAX_CARRIED - len(readable)]
    return sorted(picked, key=lambda rc: (rc[1].ts, rc[0].author, rc[0].seq))


def _prefix(record: Record) -> tuple[bytes, bytes]:
    """What a reveal key opens: one epoch's messages whose nonce starts with these 16 bytes."""
    return bytes(record.body["e"]), bytes(record.body["n"])[:16]


def associated_data(author: bytes, circle_id: bytes, seq: int, prev: bytes | None, epoch_id: bytes) -> bytes:
    """What a carry record's ciphertext is bound to: ``AAD_DOMAIN || msgpack [a, c, q, p, e]``."""
    return AAD_DOMAIN + wire.encode([author, circle_id, seq, prev, epoch_id])


def chunks(items: Sequence[tuple[bytes, bytes]]) -> list[list[tuple[bytes, bytes]]]:
    """``(raw, reveal)`` pairs in groups whose sealed plaintext fits one carry record."""
    out: list[list[tuple[bytes, bytes]]] = []
    size = budget = MAX_PLAIN - 64  # the map's keys and the parent id
    for raw, key in items:
        need = len(raw) + len(key) + _ITEM_OVERHEAD
        if not out or size + need > budget or len(out[-1]) >= MAX_ITEMS:
            out.append([])
            size = 0
        out[-1].append((raw, key))
        size += need
    return out


def seal(
    identity: Identity,
    child_id: bytes,
    pos: ChainPos,
    epoch_id: bytes,
    epoch_key: bytes,
    parent_id: bytes,
    items: Sequence[tuple[Record, bytes]],
    now_ms: int,
    *,
    nonces: Sequence[bytes] = (),
) -> list[Record]:
    """The carry records for ``items`` (parent records and their reveal keys), from ``pos`` on."""
    out: list[Record] = []
    for i, group in enumerate(chunks([(r.raw, k) for r, k in items])):
        plain = wire.encode({"pc": parent_id, "it": [[raw, k] for raw, k in group]})
        nonce = nonces[i] if i < len(nonces) else crypto.random_bytes(crypto.NONCE_SIZE)
        aad = associated_data(identity.public_key, child_id, pos.seq, pos.prev, epoch_id)
        body = {
            "t": records.CARRY,
            "a": identity.public_key,
            "c": child_id,
            "q": pos.seq,
            "p": pos.prev,
            "ts": now_ms,
            "e": epoch_id,
            "n": nonce,
            "x": crypto.aead_encrypt(epoch_key, plain, nonce, aad),
        }
        rec = records.sign(identity, body)
        out.append(rec)
        pos = pos.after(rec.id)
    return out


def open_carry(record: Record, epoch_key: bytes, parent_id: bytes) -> list[Carried]:
    """Open and check a carry record of a circle forked from ``parent_id`` (raises ``ProtocolError``).

    Every carried record must be a message of the parent whose author's signature verifies
    and whose signed ciphertext the revealed key opens, bound to its own place (the
    message's associated data); one that fails refuses the whole carry record.
    """
    if record.type != records.CARRY:
        raise SchemaError(f"a {record.type} record is not carried history")
    b = record.body
    aad = associated_data(record.author, record.circle, record.seq, record.prev, bytes(b["e"]))
    plain = crypto.aead_decrypt(epoch_key, bytes(b["x"]), bytes(b["n"]), aad)
    try:
        obj = wire.decode(plain, MAX_PLAIN)
    except DecodeError as e:
        raise SchemaError(f"carried history does not decode ({e})") from e
    schema.check(obj, _PLAIN_SCHEMA)
    if bytes(obj["pc"]) != parent_id:
        raise SchemaError("carried history names another circle than the one forked")
    out: list[Carried] = []
    for raw, key in obj["it"]:
        rec = records.parse(bytes(raw))  # VerifyError: not the author's signature
        if rec.type != records.MSG or rec.circle != parent_id:
            raise SchemaError("a carried record is not a message of the parent circle")
        rb = rec.body
        msg_aad = messages.associated_data(rec.author, rec.circle, rec.seq, rec.prev, bytes(rb["e"]))
        try:
            content = messages.Content.decode(
                crypto.xchacha_subkey_decrypt(bytes(key), bytes(rb["x"]), bytes(rb["n"]), msg_aad)
            )
        except DecryptError as e:
            raise DecryptError("a carried message's revealed key does not open what its author signed") from e
        except ProtocolError as e:
            raise SchemaError(f"a carried message's content is malformed ({e})") from e
        out.append(Carried(rec, content))
    return out
