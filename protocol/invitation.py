"""Invitation tokens: the text a person pastes to join a circle.

A token holds the signed invite (bound to the invitee's key), the circle's
genesis, the chain of joins and invites that links the inviter back to the
founder, the current epoch key and circle name sealed to the invitee (a leaked
token is useless to anyone else), and addresses where the circle can be
reached. Text form::

    ssi1 + base32( len:u32be || body || checksum5 )      (lower case, no padding)

``body`` is canonical msgpack ``{v, inv, gen, ch, sl, ad}``; ``checksum5`` is
BLAKE2b-40 over ``"ssi1" || len || body``. Whitespace anywhere is ignored, so a
token that wrapped in a terminal still pastes. Each way a token can fail has
its own error class and sentence (see :mod:`protocol.errors`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from protocol import crypto, records, schema, shallow, wire
from protocol.errors import (
    DecodeError,
    DecryptError,
    ProtocolError,
    TokenExpired,
    TokenInvalid,
    TokenMalformed,
    TokenMangled,
    TokenNotForYou,
    TokenReused,
    TokenTruncated,
    TokenVersionError,
)
from protocol.identity import Identity, peer_id
from protocol.records import Record

PREFIX = "ssi"
VERSION = 1
MAX_TOKEN_BODY = 24 * 1024
MAX_CHAIN = 32
_CHECKSUM = 5
_B32 = re.compile(r"[a-z2-7]*")

_BODY_SCHEMA = {
    "v": schema.one_of(VERSION),
    "inv": schema.some_bytes(4096, 1),
    "gen": schema.some_bytes(4096, 1),
    "ch": schema.list_of(schema.some_bytes(4096, 1), MAX_CHAIN),
    "sl": schema.some_bytes(1024, 1),
    "ad": schema.list_of(schema.text(schema.MAX_ADDR_CHARS), schema.MAX_ADDRS * 2),
}
_BODY_SHAPES = {
    **{name: shallow.PLAIN for name in _BODY_SCHEMA},
    "ch": shallow.list_of(MAX_CHAIN),
    "ad": shallow.list_of(schema.MAX_ADDRS * 2),
}
"""The first decoding pass of a token body (``protocol.shallow``): only ``ch`` and ``ad`` are lists."""
_SEALED_SCHEMA = {
    "c": schema.ident,
    "e": schema.ident,
    "k": schema.fixed_bytes(crypto.KEY_SIZE),
    "nm": schema.text(schema.MAX_NAME_CHARS * 4, 1),
}


@dataclass(frozen=True)
class Token:
    """A decoded token whose records verify; not yet opened for anyone."""

    invite: Record
    genesis: Record
    chain: tuple[Record, ...]
    sealed: bytes
    addrs: tuple[str, ...]

    @property
    def invitee(self) -> bytes:
        return bytes(self.invite.body["k"])

    @property
    def expires(self) -> int:
        return int(self.invite.body["x"])


@dataclass(frozen=True)
class OpenedInvitation:
    """A token opened by its invitee: everything needed to join."""

    token: Token
    epoch_id: bytes
    epoch_key: bytes
    name: str

    @property
    def circle_id(self) -> bytes:
        return self.token.genesis.id


def when(ts_s: int) -> str:
    shown = min(max(ts_s, 0), schema.MAX_TS_MS // 1000)  # any int: no expiry can make this raise
    return datetime.fromtimestamp(shown, UTC).strftime("%Y-%m-%d %H:%M UTC")


def make_token(
    invite: Record,
    genesis: Record,
    chain: Sequence[Record],
    epoch_id: bytes,
    epoch_key: bytes,
    name: str,
    addrs: Sequence[str] = (),
) -> str:
    """Encode a token for the invitee named in ``invite``."""
    sealed = crypto.seal(
        bytes(invite.body["k"]),
        wire.encode({"c": genesis.id, "e": epoch_id, "k": epoch_key, "nm": name}),
    )
    body = wire.encode(
        {
            "v": VERSION,
            "inv": invite.raw,
            "gen": genesis.raw,
            "ch": [r.raw for r in chain],
            "sl": sealed,
            "ad": list(addrs),
        }
    )
    if len(body) > MAX_TOKEN_BODY:
        raise TokenInvalid("The invitation would be too long; give fewer addresses.")
    head = f"{PREFIX}{VERSION}"
    framed = len(body).to_bytes(4, "big") + body
    payload = framed + crypto.checksum(head.encode() + framed, _CHECKSUM)
    return head + base64.b32encode(payload).decode().rstrip("=").lower()


def decode_token(text: str) -> Token:
    """Check a token's format, checksum and signatures; nothing about who opens it."""
    t = "".join(str(text).split()).lower()
    if not t:
        raise TokenMalformed("The invitation is empty; paste the whole token.")
    if not t.startswith(PREFIX):
        raise TokenMalformed(f"This is not a smallsocial invitation; tokens start with {PREFIX}{VERSION}.")
    m = re.match(rf"{PREFIX}(\d+)", t)
    if m is None:
        raise TokenMalformed(f"This is not a smallsocial invitation; tokens start with {PREFIX}{VERSION}.")
    if int(m.group(1)[:6]) != VERSION:
        raise TokenVersionError(
            f"This invitation uses format {m.group(1)[:6]}, which this smallsocial cannot read; "
            "upgrade smallsocial."
        )
    b32 = t[m.end() :]
    if not _B32.fullmatch(b32):
        bad = next(ch for ch in b32 if not _B32.fullmatch(ch))
        raise TokenMangled(
            f"The invitation contains {bad!r}, which cannot be in a token; copy it again exactly."
        )
    if len(b32) > (MAX_TOKEN_BODY + 16) * 8 // 5:
        raise TokenMangled("The invitation is far too long to be a token; copy only the token.")
    if len(b32) < 8 or len(b32) % 8 in (1, 3, 6):
        raise TokenTruncated("The invitation is cut short; copy the whole token.")
    try:
        payload = base64.b32decode(b32.upper() + "=" * (-len(b32) % 8))
    except (binascii.Error, ValueError) as e:
        raise TokenTruncated("The invitation is cut short; copy the whole token.") from e
    declared = int.from_bytes(payload[:4], "big")
    have = len(payload) - 4 - _CHECKSUM
    if declared > MAX_TOKEN_BODY:
        raise TokenMangled("The invitation is damaged (its length field is wrong); copy it again exactly.")
    if have < declared:
        raise TokenTruncated(
            f"The invitation is cut short ({max(have, 0)} of {declared} bytes); copy the whole token."
        )
    if have > declared:
        raise TokenMangled("The invitation has extra characters at the end; copy only the token.")
    framed, check = payload[:-_CHECKSUM], payload[-_CHECKSUM:]
    if crypto.checksum(f"{PREFIX}{VERSION}".encode() + framed, _CHECKSUM) != check:
        raise TokenMangled("The invitation is damaged (its checksum does not match); copy it again exactly.")
    try:
        body = shallow.decode_map(framed[4:], _BODY_SHAPES, len(_BODY_SHAPES), "a token body")
        schema.check(body, _BODY_SCHEMA)
        invite = records.parse(body["inv"])
        genesis = records.parse(body["gen"])
        chain = tuple(records.parse(raw) for raw in body["ch"])
    except ProtocolError as e:
        raise TokenInvalid(f"The invitation is intact but not valid ({e}); ask for a new one.") from e
    if invite.type != records.INVITE or genesis.type != records.GENESIS:
        raise TokenInvalid("The invitation does not hold an invite and a circle; ask for a new one.")
    if invite.circle != genesis.id:
        raise TokenInvalid(
            "The invite inside is for a different circle than the one it names; ask for a new one."
        )
    return Token(invite, genesis, chain, bytes(body["sl"]), tuple(body["ad"]))


def verify_chain(token: Token) -> None:
    """The inviter must link to the founder through joins and invites in the token."""
    cid = token.genesis.id
    founder = token.genesis.author
    by_join_author = {r.author: r for r in token.chain if r.type == records.JOIN and r.circle == cid}
    invites = {r.id: r for r in token.chain if r.type == records.INVITE and r.circle == cid}
    inviter = token.invite.author
    seen: set[bytes] = set()
    while inviter != founder:
        j = by_join_author.get(inviter)
        if j is None or inviter in seen:
            raise TokenInvalid(
                f"The invitation was signed by {peer_id(inviter)}, "
                "who does not link back to the circle's founder."
            )
        seen.add(inviter)
        inv = invites.get(bytes(j.body["i"]))
        if inv is None or bytes(inv.body["k"]) != inviter or int(j.body["ts"]) > int(inv.body["x"]) * 1000:
            raise TokenInvalid("The invitation's chain back to the founder is broken; ask for a new one.")
        inviter = inv.author


def open_token(text: str, me: Identity, now_s: int, used: Container[bytes] = ()) -> OpenedInvitation:
    """Everything a join needs, or the one error that says why this token cannot be used."""
    token = decode_token(text)
    if token.invitee != me.public_key:
        raise TokenNotForYou(
            f"This invitation is for {peer_id(token.invitee)}, not for your key {me.peer_id}; "
            "ask the sender to invite your key."
        )
    if token.invite.id in used:
        raise TokenReused("This invitation has already been used; each one works once.")
    if now_s > token.expires:
        raise TokenExpired(f"This invitation expired on {when(token.expires)}; ask for a new one.")
    verify_chain(token)
    try:
        inner = wire.decode(me.unseal(token.sealed), 2048)
        schema.check(inner, _SEALED_SCHEMA)
    except (DecryptError, DecodeError) as e:
        raise TokenInvalid(
            "The key inside the invitation does not open with your key; ask for a new one."
        ) from e
    if inner["c"] != token.genesis.id or inner["e"] != bytes(token.invite.body["e"]):
        raise TokenInvalid("The key inside the invitation is for another circle or epoch; ask for a new one.")
    return OpenedInvitation(token, bytes(inner["e"]), bytes(inner["k"]), str(inner["nm"]))
