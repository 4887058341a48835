"""The text form every invitation token shares, whatever its body: prefix, version, base32, checksum.

::

    token = "ssi" VERSION base32( len:u32be || body || checksum5 )   (lower case, no padding)

``checksum5`` is BLAKE2b-40 over ``"ssi" VERSION || len || body``. Whitespace anywhere
is ignored and either case is read, so a token that wrapped in a terminal, or was
upper-cased for a QR code's alphanumeric mode, still pastes. Each way the text can
fail has its own error class and sentence (:mod:`protocol.errors`); what the body
means is the version's own module (:mod:`protocol.invitation` for 1,
:mod:`protocol.shorttoken` for 2).
"""

from __future__ import annotations

import base64
import binascii
import re

from protocol import crypto
from protocol.errors import TokenMalformed, TokenMangled, TokenTruncated, TokenVersionError

PREFIX = "ssi"
VERSIONS = (1, 2)
"""Token formats this code reads: 1 (the records themselves) and 2 (short, signed ids)."""
MAX_TOKEN_BODY = 24 * 1024
_CHECKSUM = 5
_B32 = re.compile(r"[a-z2-7]*")


def frame(version: int, body: bytes) -> str:
    """The text of a token of ``version`` whose body is ``body``."""
    head = f"{PREFIX}{version}"
    framed = len(body).to_bytes(4, "big") + body
    payload = framed + crypto.checksum(head.encode() + framed, _CHECKSUM)
    return head + base64.b32encode(payload).decode().rstrip("=").lower()


def unframe(text: str) -> tuple[int, bytes]:
    """The version and body of a token's text, or the one error that says what is wrong with it."""
    t = "".join(str(text).split()).lower()
    if not t:
        raise TokenMalformed("The invitation is empty; paste the whole token.")
    m = re.match(rf"{PREFIX}(\d+)", t)
    if m is None:
        raise TokenMalformed(f"This is not a smallsocial invitation; tokens start with {PREFIX}.")
    version = int(m.group(1)[:6])
    if version not in VERSIONS:
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
    if crypto.checksum(f"{PREFIX}{version}".encode() + framed, _CHECKSUM) != check:
        raise TokenMangled("The invitation is damaged (its checksum does not match); copy it again exactly.")
    return version, framed[4:]
