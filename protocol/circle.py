"""Circles: the genesis record, circle ids, topic names, names, ancestry.

A circle is created by a signed genesis (founder, 16-byte nonce, policy,
optional parent link ``{c: parent circle id, r: parent roster hash}``). Its id
is the genesis record id; its gossipsub topic is derived from the id. The
circle's display name travels encrypted under the epoch-0 key (and, in
invitations, sealed to the invitee), so a relay or a topic subscriber never
sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from protocol import crypto, records
from protocol.errors import SchemaError
from protocol.identity import Identity
from protocol.records import Record

TOPIC_PREFIX = "/smallsocial/1/circle/"


@dataclass(frozen=True)
class NewCircle:
    """What the founder keeps after creating a circle."""

    genesis: Record
    epoch_key: bytes
    name: str

    @property
    def circle_id(self) -> bytes:
        return self.genesis.id


def topic(circle_id: bytes) -> str:
    """The gossipsub topic name of a circle."""
    return TOPIC_PREFIX + circle_id.hex()


def seal_name(epoch_key: bytes, name: str, nonce: bytes) -> bytes:
    return nonce + crypto.box_encrypt(epoch_key, name.encode(), nonce)


def open_name(epoch_key: bytes, genesis: Record) -> str:
    """The circle's name, opened with its epoch-0 key."""
    box = bytes(genesis.body["nm"])
    data = crypto.box_decrypt(epoch_key, box[crypto.NONCE_SIZE :], box[: crypto.NONCE_SIZE])
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise SchemaError("the circle name is not valid UTF-8") from e


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise SchemaError("A circle needs a name.")
    if len(name) > 64:
        raise SchemaError("A circle name has at most 64 characters.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise SchemaError("A circle name cannot contain control characters.")
    return name


def create(
    founder: Identity,
    name: str,
    now_ms: int,
    *,
    invite_policy: str = "member",
    parent: tuple[bytes, bytes] | None = None,
    nonce: bytes | None = None,
    epoch_key: bytes | None = None,
    name_nonce: bytes | None = None,
    prekey: tuple[bytes, int] | None = None,
) -> NewCircle:
    """Create a genesis. ``parent`` is ``(parent circle id, parent roster hash)`` for a fork;
    ``prekey`` (public key, expiry in ms) the founder's first prekey, carried in the genesis
    (format 2; None writes format 1, without one)."""
    name = check_name(name)
    key = epoch_key or crypto.random_bytes(crypto.KEY_SIZE)
    body = {
        "t": records.GENESIS,
        "a": founder.public_key,
        "ts": now_ms,
        "n": nonce or crypto.random_bytes(16),
        "pol": {"inv": invite_policy},
        "nm": seal_name(key, name, name_nonce or crypto.random_bytes(crypto.NONCE_SIZE)),
        "par": None if parent is None else {"c": parent[0], "r": parent[1]},
    }
    body = records.with_prekey(body, prekey)
    return NewCircle(genesis=records.sign(founder, body), epoch_key=key, name=name)


def parent_of(genesis: Record) -> bytes | None:
    par = genesis.body.get("par")
    return bytes(par["c"]) if par else None


def ancestry(circle_id: bytes, geneses: Mapping[bytes, Record]) -> list[bytes]:
    """Ids from ``circle_id`` up to its root, using only genesis records.

    Stops at the first ancestor whose genesis is unknown (it is still listed)
    and at a cycle (impossible with honest hashes, refused anyway).
    """
    chain = [circle_id]
    seen = {circle_id}
    current = circle_id
    while current in geneses:
        parent = parent_of(geneses[current])
        if parent is None or parent in seen:
            break
        chain.append(parent)
        seen.add(parent)
        current = parent
    return chain
