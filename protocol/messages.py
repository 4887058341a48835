"""Chat messages: content kinds, encryption under the epoch key, signing.

A message record (type ``msg``) carries in clear only what routing and
ordering need: circle ``c``, author ``a``, chain position ``q``/``p``, epoch id
``e``, and the secretbox nonce ``n``. Everything a person wrote, and when, is
inside the ciphertext ``x``: a canonical msgpack map ``{k, ts, tx?, re?}``.

Kinds: ``text`` (tx), ``reply`` (tx, re), ``react`` (tx = the reaction, re),
``edit`` (tx, re = the message edited), ``delete`` (re). Any other kind is
refused (a fork is announced by its own ``fork`` record, not by a message).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import crypto, records, schema, wire
from protocol.chain import ChainPos
from protocol.errors import SchemaError
from protocol.identity import Identity
from protocol.records import Record

TEXT = "text"
REPLY = "reply"
REACT = "react"
EDIT = "edit"
DELETE = "delete"
KINDS = (TEXT, REPLY, REACT, EDIT, DELETE)
MAX_REACTION_BYTES = 64

_NEEDS = {
    TEXT: (True, False),
    REPLY: (True, True),
    REACT: (True, True),
    EDIT: (True, True),
    DELETE: (False, True),
}
_PLAIN_SCHEMA = {
    "k": schema.one_of(*KINDS),
    "ts": schema.uint,
    "tx": schema.optional(schema.text(schema.MAX_TEXT_BYTES)),
    "re": schema.optional(schema.ident),
}


@dataclass(frozen=True)
class Content:
    """What a person wrote: the plaintext of a message."""

    kind: str
    ts: int
    text: str | None = None
    ref: bytes | None = None

    def validate(self) -> None:
        needs_text, needs_ref = _NEEDS.get(self.kind, (None, None))
        if needs_text is None:
            raise SchemaError(f"unknown message kind {self.kind!r}")
        if needs_text != (self.text is not None) or needs_ref != (self.ref is not None):
            raise SchemaError(f"a {self.kind} message has the wrong fields")
        if self.kind in (TEXT, REPLY, EDIT) and (not self.text or not self.text.strip()):
            raise SchemaError("a message cannot be empty")
        if self.text is not None and len(self.text.encode()) > schema.MAX_TEXT_BYTES:
            raise SchemaError(f"a message has at most {schema.MAX_TEXT_BYTES} bytes of text")
        if self.kind == REACT and (not self.text or len(self.text.encode()) > MAX_REACTION_BYTES):
            raise SchemaError("a reaction is 1 to 64 bytes")

    def encode(self) -> bytes:
        self.validate()
        return wire.encode({"k": self.kind, "ts": self.ts, "tx": self.text, "re": self.ref})

    @classmethod
    def decode(cls, data: bytes) -> Content:
        obj = wire.decode(data, schema.MAX_TEXT_BYTES + 256)
        schema.check(obj, _PLAIN_SCHEMA)
        content = cls(str(obj["k"]), int(obj["ts"]), obj["tx"], obj["re"])
        content.validate()
        return content


def seal(
    identity: Identity,
    circle_id: bytes,
    pos: ChainPos,
    epoch_id: bytes,
    epoch_key: bytes,
    content: Content,
    *,
    nonce: bytes | None = None,
) -> Record:
    """Encrypt ``content`` under the epoch key, then sign: the send path."""
    nonce = nonce or crypto.random_bytes(crypto.NONCE_SIZE)
    body = {
        "t": records.MSG,
        "a": identity.public_key,
        "c": circle_id,
        "q": pos.seq,
        "p": pos.prev,
        "e": epoch_id,
        "n": nonce,
        "x": crypto.box_encrypt(epoch_key, content.encode(), nonce),
    }
    return records.sign(identity, body)


def open_message(record: Record, epoch_key: bytes) -> Content:
    """Decrypt and decode a verified message record: the receive path's last step."""
    if record.type != records.MSG:
        raise SchemaError(f"a {record.type} record is not a chat message")
    plain = crypto.box_decrypt(epoch_key, bytes(record.body["x"]), bytes(record.body["n"]))
    return Content.decode(plain)
