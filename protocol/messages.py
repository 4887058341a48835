"""Chat messages: content kinds, encryption under the epoch key, signing.

A message record (type ``msg``) carries in clear only what routing and
ordering need: circle ``c``, author ``a``, chain position ``q``/``p``, epoch id
``e``, and the secretbox nonce ``n``. Everything a person wrote, and when, is
inside the ciphertext ``x``: a canonical msgpack map ``{k, ts, tx?, re?}``,
encrypted with XChaCha20-Poly1305 whose associated data (:func:`associated_data`)
binds the author, circle, chain position and epoch: a ciphertext opens only inside
the record it was sealed for, so nobody can re-sign another's words as their own.

Kinds: ``text`` (tx), ``reply`` (tx, re), ``react`` (tx = the reaction, re),
``edit`` (tx, re = the message edited), ``delete`` (re), ``file`` (fl = an encoded
:class:`protocol.files.FileInfo`; its text, for readers, is the file's summary
``[file] name (size)``, never on the wire), ``circle`` (cb = a circle handed to a person's
devices in their self circle, :mod:`protocol.node.selfcircle`; no text, shown to nobody).
Any other kind is refused (a fork is
announced by its own ``fork`` record, not by a message). A message of any kind but
``file`` has no ``fl`` key at all, so its bytes are as before files existed.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import crypto, files, records, schema, shallow, wire
from protocol.chain import ChainPos
from protocol.errors import OversizeError, SchemaError
from protocol.identity import Identity
from protocol.records import Record

TEXT = "text"
REPLY = "reply"
REACT = "react"
EDIT = "edit"
DELETE = "delete"
FILE = "file"
CIRCLE = "circle"
KINDS = (TEXT, REPLY, REACT, EDIT, DELETE, FILE, CIRCLE)
MAX_REACTION_BYTES = 64

_NEEDS = {
    TEXT: (True, False),
    REPLY: (True, True),
    REACT: (True, True),
    EDIT: (True, True),
    DELETE: (False, True),
    FILE: (True, False),  # the text is the descriptor's summary (Content.__post_init__)
    CIRCLE: (False, False),  # the payload is cb
}
_PLAIN_SCHEMA = {
    "k": schema.one_of(*KINDS),
    "ts": schema.timestamp,
    "tx": schema.optional(schema.text(schema.MAX_TEXT_BYTES)),
    "re": schema.optional(schema.ident),
    "fl": schema.optional(schema.some_bytes(files.MAX_DESCRIPTOR, 1)),
    "cb": schema.optional(schema.some_bytes(schema.MAX_TEXT_BYTES, 1)),
}
_PLAIN_SHAPES = {name: shallow.PLAIN for name in _PLAIN_SCHEMA}
MAX_PLAINTEXT = schema.MAX_TEXT_BYTES + 256


@dataclass(frozen=True)
class Content:
    """What a person wrote: the plaintext of a message."""

    kind: str
    ts: int
    text: str | None = None
    ref: bytes | None = None
    file: files.FileInfo | None = None
    """A ``file`` message's descriptor (its ``text`` is then the descriptor's summary)."""
    circle: bytes | None = None
    """A ``circle`` message's payload (docs/protocol.md 8.5, circles after the link)."""

    def __post_init__(self) -> None:
        if self.kind == FILE and self.file is not None and self.text is None:
            object.__setattr__(self, "text", self.file.summary())

    def validate(self) -> None:
        if (self.kind == CIRCLE) != (self.circle is not None):
            raise SchemaError("only a circle message carries a circle, and it must")
        if self.circle is not None and not 0 < len(self.circle) <= schema.MAX_TEXT_BYTES:
            raise SchemaError(f"a circle message carries 1..{schema.MAX_TEXT_BYTES} bytes")
        if (self.kind == FILE) != (self.file is not None):
            raise SchemaError("only a file message carries a file, and it must")
        if self.file is not None:
            self.file.validate()
            if self.ref is not None or self.text != self.file.summary():
                raise SchemaError("a file message has the wrong fields")
            return
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
        if self.file is not None:
            return wire.encode(
                {"k": self.kind, "ts": self.ts, "tx": None, "re": None, "fl": self.file.encode()}
            )
        if self.circle is not None:
            return wire.encode({"k": self.kind, "ts": self.ts, "tx": None, "re": None, "cb": self.circle})
        return wire.encode({"k": self.kind, "ts": self.ts, "tx": self.text, "re": self.ref})

    @classmethod
    def decode(cls, data: bytes) -> Content:
        if len(data) > MAX_PLAINTEXT:
            raise OversizeError(f"{len(data)} bytes is over the limit of {MAX_PLAINTEXT}")
        # The bounded first pass (protocol/shallow.py): four or five plain fields, nothing nested.
        obj = shallow.decode_map(bytes(data), _PLAIN_SHAPES, len(_PLAIN_SHAPES), "a message")
        if "fl" not in obj:
            obj["fl"] = None
        elif obj["fl"] is None:
            raise SchemaError("a message without a file has no fl field")  # one byte form per message
        if "cb" not in obj:
            obj["cb"] = None
        elif obj["cb"] is None or obj["fl"] is not None:
            raise SchemaError("a message without a circle has no cb field")
        schema.check(obj, _PLAIN_SCHEMA)
        if obj["cb"] is not None:
            if obj["k"] != CIRCLE or obj["tx"] is not None or obj["re"] is not None:
                raise SchemaError("a circle message has the wrong fields")
            content = cls(CIRCLE, int(obj["ts"]), circle=obj["cb"])
            content.validate()
            return content
        if obj["k"] == FILE:
            if obj["fl"] is None or obj["tx"] is not None or obj["re"] is not None:
                raise SchemaError("a file message has the wrong fields")
            content = cls(FILE, int(obj["ts"]), file=files.FileInfo.decode(obj["fl"]))
            content.validate()
            return content
        if obj["fl"] is not None:
            raise SchemaError("only a file message carries a file")
        content = cls(str(obj["k"]), int(obj["ts"]), obj["tx"], obj["re"])
        content.validate()
        return content


AAD_DOMAIN = b"smallsocial/v2/msg-aad\x00"
"""Prefix of a message's associated data (no record domain is a prefix of it, nor it of one)."""


def associated_data(author: bytes, circle_id: bytes, seq: int, prev: bytes | None, epoch_id: bytes) -> bytes:
    """What a message's ciphertext is bound to: ``AAD_DOMAIN || msgpack [a, c, q, p, e]``."""
    return AAD_DOMAIN + wire.encode([author, circle_id, seq, prev, epoch_id])


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
    """Encrypt ``content`` under the epoch key, bound to this record's place, then sign."""
    nonce = nonce or crypto.random_bytes(crypto.NONCE_SIZE)
    body = {
        "t": records.MSG,
        "a": identity.public_key,
        "c": circle_id,
        "q": pos.seq,
        "p": pos.prev,
        "e": epoch_id,
        "n": nonce,
        "x": crypto.aead_encrypt(
            epoch_key,
            content.encode(),
            nonce,
            associated_data(identity.public_key, circle_id, pos.seq, pos.prev, epoch_id),
        ),
    }
    return records.sign(identity, body)


def open_message(record: Record, epoch_key: bytes, *, handoff: bool = False) -> Content:
    """Decrypt and decode a verified message record: the receive path's last step.

    A ``circle`` message (a handoff) opens only when ``handoff`` (in a self circle, for
    :mod:`protocol.node.selfcircle`); anywhere else it is refused like a malformed one.

    The associated data is rebuilt from the record's own signed fields, so a ciphertext
    lifted into another record (another author, circle, seq, predecessor or epoch) fails
    with ``DecryptError``."""
    if record.type != records.MSG:
        raise SchemaError(f"a {record.type} record is not a chat message")
    b = record.body
    aad = associated_data(record.author, record.circle, record.seq, record.prev, bytes(b["e"]))
    plain = crypto.aead_decrypt(epoch_key, bytes(b["x"]), bytes(b["n"]), aad)
    content = Content.decode(plain)
    if content.kind == CIRCLE and not handoff:
        raise SchemaError("a circle handoff is read only in its person's self circle")
    return content
