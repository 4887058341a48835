"""Invitation tokens: the text a person pastes to join a circle, in either format.

Format 2 (:mod:`protocol.shorttoken`, what :func:`make_short_token` writes) carries the
inviter's signed word: the circle and invite ids, the inviter's key, the expiry, the epoch
key and circle name sealed to the invitee, and packed addresses, in at most 600 characters;
the records come by sync. Format 1 (:func:`make_token`, what earlier releases wrote, still
read) holds the records themselves: the signed invite (bound to the invitee's key), the
circle's genesis, the chain of joins and invites that links the inviter back to the
founder, the sealed secret, and addresses. Both share the text form of
:mod:`protocol.tokentext`; a format-1 body is canonical msgpack ``{v, inv, gen, ch, sl, ad}``.

A leaked token is useless to anyone else: its secret is sealed to the invitee. Each way a
token can fail has its own error class and sentence (see :mod:`protocol.errors`).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from protocol import crypto, records, schema, shallow, shorttoken, tokentext, wire
from protocol.errors import (
    DecodeError,
    DecryptError,
    ProtocolError,
    TokenExpired,
    TokenInvalid,
    TokenNotForYou,
    TokenReused,
)
from protocol.identity import Identity, peer_id
from protocol.records import Record
from protocol.shorttoken import ShortToken

PREFIX = tokentext.PREFIX
VERSION = shorttoken.VERSION
"""The format :func:`make_short_token` writes; :data:`protocol.tokentext.VERSIONS` are read."""
V1 = 1
MAX_TOKEN_BODY = tokentext.MAX_TOKEN_BODY
MAX_CHAIN = 32

_BODY_SCHEMA = {
    "v": schema.one_of(V1),
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
    """A decoded format-1 token whose records verify; not yet opened for anyone."""

    invite: Record
    genesis: Record
    chain: tuple[Record, ...]
    sealed: bytes
    addrs: tuple[str, ...]

    version = V1

    @property
    def invitee(self) -> bytes:
        return bytes(self.invite.body["k"])

    @property
    def expires(self) -> int:
        return int(self.invite.body["x"])

    @property
    def circle_id(self) -> bytes:
        return self.genesis.id

    @property
    def invite_id(self) -> bytes:
        return self.invite.id

    @property
    def inviter(self) -> bytes:
        return self.invite.author


AnyToken = Token | ShortToken


@dataclass(frozen=True)
class OpenedInvitation:
    """A token opened by its invitee: everything needed to join."""

    token: AnyToken
    epoch_id: bytes
    epoch_key: bytes
    name: str

    @property
    def circle_id(self) -> bytes:
        return self.token.circle_id


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
    """Encode a format-1 token for the invitee named in ``invite`` (what earlier releases wrote)."""
    sealed = crypto.seal(
        bytes(invite.body["k"]),
        wire.encode({"c": genesis.id, "e": epoch_id, "k": epoch_key, "nm": name}),
    )
    body = wire.encode(
        {
            "v": V1,
            "inv": invite.raw,
            "gen": genesis.raw,
            "ch": [r.raw for r in chain],
            "sl": sealed,
            "ad": list(addrs),
        }
    )
    if len(body) > MAX_TOKEN_BODY:
        raise TokenInvalid("The invitation would be too long; give fewer addresses.")
    return tokentext.frame(V1, body)


make_short_token = shorttoken.make
"""Encode a format-2 token (:mod:`protocol.shorttoken`) for the invitee named in the invite."""


def decode_token(text: str) -> AnyToken:
    """Check a token's format, checksum and (format 1) signatures; nothing about who opens it."""
    version, body = tokentext.unframe(text)
    if version == shorttoken.VERSION:
        return shorttoken.decode(body)
    return _decode_v1(body)


def _decode_v1(framed_body: bytes) -> Token:
    try:
        body = shallow.decode_map(framed_body, _BODY_SHAPES, len(_BODY_SHAPES), "a token body")
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


def _usable(invite_id: bytes, expires: int, now_s: int, used: Container[bytes]) -> None:
    if invite_id in used:
        raise TokenReused("This invitation has already been used; each one works once.")
    if now_s > expires:
        raise TokenExpired(f"This invitation expired on {when(expires)}; ask for a new one.")


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
    """Everything a join needs, or the one error that says why this token cannot be used.

    Format 2 is checked as far as its signed word goes (for my key, by its inviter, unused,
    unexpired); the records it names are checked when sync brings them (protocol.md 11)."""
    token = decode_token(text)
    if isinstance(token, ShortToken):
        shorttoken.verify(token, me)
        _usable(token.invite_id, token.expires, now_s, used)
        secret = shorttoken.open_secret(token, me)
        return OpenedInvitation(token, secret.epoch_id, secret.epoch_key, secret.name)
    if token.invitee != me.public_key:
        raise TokenNotForYou(
            f"This invitation is for {peer_id(token.invitee)}, not for your key {me.peer_id}; "
            "ask the sender to invite your key."
        )
    _usable(token.invite.id, token.expires, now_s, used)
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
