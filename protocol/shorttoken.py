"""Short invitation tokens (format 2): the inviter's signed word instead of the records.

A format-1 token carried the invite, the genesis, the chain of joins and invites back to
the founder and the roster past: 1.2 k characters for a founder's first invitation, 5.6 k
after a removal. A format-2 token carries what the joiner needs to check the invitation
and reach the circle, at most :data:`MAX_CHARS` characters whatever the circle's history::

    body   = signed || sig                            (sig: 64 bytes)
    signed = canonical msgpack [c, i, a, x, sl, ad]
    sig    = Ed25519-sign(a, DOMAIN || invitee key || signed)

``c`` is the circle id, ``i`` the invite record's id, ``a`` the inviter's key, ``x`` the
invite's expiry (s), ``sl`` ``seal(invitee, msgpack [e, k, nm])`` (the epoch id, nil for
epoch 0 whose id is the circle id; its key; the circle name) and ``ad`` the addresses,
packed (:mod:`protocol.addrpack`). The signature covers the invitee's key, so the token
verifies for its invitee only, and the secret opens for them only.

The records come by sync on first contact, each checked against these ids (the genesis
hashes to ``c``, the invite to ``i``, and it must be ``a``'s, for the joiner, in the epoch
``e``); until the roster folds the joiner in, what they write is kept and not sent
(docs/protocol.md section 11, docs/security.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protocol import addrpack, crypto, schema, shallow, tokentext, wire
from protocol.errors import (
    DecodeError,
    DecryptError,
    ProtocolError,
    TokenInvalid,
    TokenNotForYou,
)
from protocol.identity import Identity
from protocol.records import Record

VERSION = 2
DOMAIN = b"smallsocial/v2/token\x00"
MAX_CHARS = 600
"""The longest token :func:`make` writes: it leaves out addresses (and, past them, shortens the
name) until the text fits, so any circle's token fits a QR code and a terminal line or two."""
SIG_SIZE = 64
_SEALED_MAX = 1024
_SIGNED_SCHEMA = {
    "c": schema.ident,
    "i": schema.ident,
    "a": schema.public_key,
    "x": schema.integer(0, schema.MAX_TS_MS // 1000),
    "sl": schema.some_bytes(_SEALED_MAX, crypto.SEAL_OVERHEAD + 1),
    "ad": schema.some_bytes(schema.MAX_ADDRS * (addrpack.MAX_TEXT + 2)),
}
_FIELDS = tuple(_SIGNED_SCHEMA)
_SECRET_SCHEMA = {
    "e": schema.optional(schema.ident),
    "k": schema.fixed_bytes(crypto.KEY_SIZE),
    "nm": schema.text(schema.MAX_NAME_CHARS * 4, 1),
}


@dataclass(frozen=True)
class ShortToken:
    """A decoded format-2 token: intact and well formed, its signature not yet checked."""

    circle_id: bytes
    invite_id: bytes
    inviter: bytes
    expires: int
    sealed: bytes
    addrs: tuple[str, ...]
    signed: bytes
    sig: bytes

    version = VERSION


@dataclass(frozen=True)
class Secret:
    """What the sealed part gives its invitee."""

    epoch_id: bytes
    epoch_key: bytes
    name: str


def _signed(c: bytes, i: bytes, a: bytes, x: int, sealed: bytes, ad: bytes) -> bytes:
    return wire.encode([c, i, a, x, sealed, ad])


def _length(signed_size: int) -> int:
    """Characters of a token whose ``signed`` part is ``signed_size`` bytes."""
    payload = 4 + signed_size + SIG_SIZE + 5
    return len(tokentext.PREFIX) + 1 + -(-payload * 8 // 5)


def make(
    inviter: Identity,
    invite: Record,
    epoch_id: bytes,
    epoch_key: bytes,
    name: str,
    addrs: Sequence[str] = (),
) -> str:
    """The token for the invitee ``invite`` names, at most :data:`MAX_CHARS` characters long.

    It carries as many of ``addrs`` as fit, taken in order. A name too long to leave room for
    one address, or for any (64 characters of four bytes each), is shortened (with "…").
    """
    cid, invitee, expires = invite.circle, bytes(invite.body["k"]), int(invite.body["x"])
    me = inviter.public_key
    packable = []
    for a in dict.fromkeys(addrs):
        try:
            addrpack.pack([a], me)
        except ProtocolError:
            continue  # an address no token can carry (not a multiaddr, too long)
        packable.append(a)

    def secret(nm: str) -> bytes:
        e = None if epoch_id == cid else epoch_id
        return wire.encode([e, epoch_key, nm])

    def size(nm: str, chosen: list[str]) -> int:
        sealed = b"\0" * (crypto.SEAL_OVERHEAD + len(secret(nm)))
        return _length(len(_signed(cid, invite.id, me, expires, sealed, addrpack.pack(chosen, me))))

    def shorter(nm: str, chosen: list[str]) -> str:
        while size(nm, chosen) > MAX_CHARS and len(nm) > 1:
            nm = nm[:-2].rstrip() + "…" if len(nm) > 2 else nm[:1]
        return nm

    def fitting(nm: str) -> list[str]:
        chosen: list[str] = []
        for a in packable:
            if size(nm, [*chosen, a]) <= MAX_CHARS:
                chosen.append(a)
        return chosen

    name = shorter(name, [])
    chosen = fitting(name)
    if packable and not chosen:  # room for one address, at the name's expense
        short = shorter(name, packable[:1])
        if size(short, packable[:1]) <= MAX_CHARS:
            name, chosen = short, fitting(short)
    sealed = crypto.seal(invitee, secret(name))
    signed = _signed(cid, invite.id, me, expires, sealed, addrpack.pack(chosen, me))
    sig = inviter.sign(DOMAIN + invitee + signed)
    return tokentext.frame(VERSION, signed + sig)


def decode(body: bytes) -> ShortToken:
    """A format-2 body's fields, or ``TokenInvalid`` saying why it is not one."""
    try:
        if len(body) <= SIG_SIZE:
            raise DecodeError("the body is shorter than its signature")
        signed, sig = body[:-SIG_SIZE], body[-SIG_SIZE:]
        values = shallow.decode_list(signed, len(_FIELDS), "a token")
        if len(values) != len(_FIELDS):
            raise DecodeError(f"a token holds {len(_FIELDS)} fields, not {len(values)}")
        fields = dict(zip(_FIELDS, values, strict=True))
        schema.check(fields, _SIGNED_SCHEMA)
        addrs = addrpack.unpack(fields["ad"], fields["a"], schema.MAX_ADDRS)
    except ProtocolError as e:
        raise TokenInvalid(f"The invitation is intact but not valid ({e}); ask for a new one.") from e
    return ShortToken(
        fields["c"], fields["i"], fields["a"], fields["x"], fields["sl"], tuple(addrs), signed, sig
    )


def verify(token: ShortToken, me: Identity) -> None:
    """The inviter signed this token for my key; else not for me, or forged."""
    if crypto.verify(token.inviter, token.sig, DOMAIN + me.public_key + token.signed):
        return
    try:
        me.unseal(token.sealed)
    except DecryptError:
        raise TokenNotForYou(
            f"This invitation is not for your key {me.peer_id}; ask the sender to invite your key."
        ) from None
    raise TokenInvalid("The invitation's signature does not hold; ask for a new one.")


def open_secret(token: ShortToken, me: Identity) -> Secret:
    """The epoch key and name sealed to me (after :func:`verify`)."""
    try:
        inner = wire.decode(me.unseal(token.sealed), 2048)
        if not isinstance(inner, list) or len(inner) != 3:
            raise DecodeError("the sealed part is not [epoch, key, name]")
        fields = dict(zip(_SECRET_SCHEMA, inner, strict=True))
        schema.check(fields, _SECRET_SCHEMA)
    except (DecryptError, DecodeError, ProtocolError) as e:
        raise TokenInvalid(
            "The key inside the invitation does not open with your key; ask for a new one."
        ) from e
    epoch = token.circle_id if fields["e"] is None else bytes(fields["e"])
    return Secret(epoch, bytes(fields["k"]), str(fields["nm"]))
