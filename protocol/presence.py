"""Presence announcements: a member's signed, sealed "here is where to reach me", gossiped in a circle.

A ``presence`` record (``{v: 2, t, a, c, ts, e, n, x}``) is outside the authors' chains and
never stored as a record. Its content, the author's addresses and chosen display name, is
sealed under the circle's epoch key ``e`` (XChaCha20-Poly1305, nonce ``n``), bound as
associated data to the author, circle, time and epoch: only members read it. A relay
forwards it (it checks the signature, the author and the time) but cannot read it, and a
stranger never gets it (a node announces a circle's topic to members and relays only).

:func:`check` says whether the record may be believed and forwarded: the author is a
member (relays announce nothing: their addresses are in the roster's pin), and its time is
within ``max_skew_ms`` of the receiver's clock. :func:`open_presence` opens it with the
epoch key and checks that every address ends in the author's own ``/p2p/<peer ID>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protocol import crypto, records, schema, wire
from protocol.errors import ProtocolError, SchemaError
from protocol.identity import Identity, peer_id
from protocol.records import Record
from protocol.roster import RosterState

MAX_SKEW_MS = 5 * 60 * 1000
AAD_DOMAIN = b"smallsocial/v2/presence-aad\x00"
"""Prefix of a presence's associated data (no record domain is a prefix of it, nor it of one)."""
_content = schema.pair(
    schema.list_of(schema.text(schema.MAX_ADDR_CHARS, 1), schema.MAX_ADDRS, 1),
    schema.text(schema.MAX_NAME_CHARS * 4),
)


@dataclass(frozen=True)
class Presence:
    """What an opened presence says."""

    addrs: tuple[str, ...]
    name: str


def associated_data(author: bytes, circle_id: bytes, ts: int, epoch_id: bytes) -> bytes:
    """What the sealed content is bound to: ``AAD_DOMAIN || msgpack [a, c, ts, e]``."""
    return AAD_DOMAIN + wire.encode([author, circle_id, ts, epoch_id])


def announce(
    identity: Identity,
    circle_id: bytes,
    addrs: Sequence[str],
    now_ms: int,
    name: str,
    epoch_id: bytes,
    epoch_key: bytes,
    *,
    nonce: bytes | None = None,
) -> Record:
    """A signed announcement of where I am and the display name I chose ("" for none), sealed."""
    content = wire.encode([list(addrs), name[: schema.MAX_NAME_CHARS]])
    n = nonce if nonce is not None else crypto.random_bytes(crypto.NONCE_SIZE)
    aad = associated_data(identity.public_key, circle_id, now_ms, epoch_id)
    body = {
        "t": records.PRESENCE,
        "a": identity.public_key,
        "c": circle_id,
        "ts": now_ms,
        "e": epoch_id,
        "n": n,
        "x": crypto.aead_encrypt(epoch_key, content, n, aad),
    }
    return records.sign(identity, body)


def check(record: Record, roster: RosterState, now_ms: int, max_skew_ms: int = MAX_SKEW_MS) -> str | None:
    """Why a presence record is not to be believed (nor forwarded), or None."""
    if record.type != records.PRESENCE:
        return "not a presence announcement"
    if record.circle != roster.circle_id:
        return "the announcement is for another circle"
    if not roster.is_member(record.author):
        return "the announcement's author is not a member"
    if abs(int(record.body["ts"]) - now_ms) > max_skew_ms:
        return "the announcement is too old or from the future"
    return None


def open_presence(record: Record, epoch_key: bytes) -> Presence:
    """The addresses and name in a presence record; raises ProtocolError if they do not hold."""
    b = record.body
    aad = associated_data(record.author, record.circle, int(b["ts"]), bytes(b["e"]))
    plain = crypto.aead_decrypt(epoch_key, bytes(b["x"]), bytes(b["n"]), aad)
    content = wire.decode(plain, schema.MAX_PRESENCE_CONTENT)
    try:
        _content(content)
    except ProtocolError as e:
        raise SchemaError(f"the announcement's content: {e}") from e
    addrs, name = content
    suffix = "/p2p/" + peer_id(record.author)
    if not all(str(a).endswith(suffix) for a in addrs):
        raise SchemaError("an announced address is not the author's own")
    return Presence(tuple(str(a) for a in addrs), str(name))
