"""The error family of the protocol core.

Every failure the core can report derives from :class:`ProtocolError`, so a
caller may catch one class or a specific one (the pynacl style). Messages are
one sentence a person can act on; what a person reads goes through :func:`sentence`
(the CLI, a command's ``CommandFailed``), which starts it with a capital and ends it
with a full stop, as the node's and the CLI's own sentences are.

- :class:`DecodeError` and subclasses: bytes from outside (the network, a
  file, a pasted token) that are not a well-formed record.
- :class:`VerifyError`: well-formed but not authentic (bad signature, wrong
  author, wrong domain).
- :class:`TokenError` and subclasses: an invitation token that cannot be used,
  each case with its own sentence.
- :class:`IdentityError`: key files, passphrases and peer-ID text.
- :class:`RosterError`: an action the roster does not allow (local misuse).
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Root of every error raised by :mod:`protocol`."""


class DecodeError(ProtocolError):
    """Bytes that are not a well-formed record or message."""


class OversizeError(DecodeError):
    """Input larger than the limit for its kind; refused before decoding."""


class MalformedError(DecodeError):
    """Not valid msgpack, trailing bytes, bad UTF-8, ext types, too deep."""


class NonCanonicalError(DecodeError):
    """Valid msgpack, but not the one canonical encoding of its value."""


class SchemaError(DecodeError):
    """Decoded, but a field is missing, unknown, of the wrong type or out of range."""


class VerifyError(ProtocolError):
    """A record whose signature does not verify for its claimed author."""


class DecryptError(ProtocolError):
    """Ciphertext that the key at hand does not open."""


class IdentityError(ProtocolError):
    """Key files, passphrases and peer-ID text."""


class WrongPassphrase(IdentityError):
    """The passphrase does not open the identity file."""


class BadPeerId(IdentityError):
    """Text that is not a valid smallsocial key (libp2p Ed25519 peer ID)."""


class RosterError(ProtocolError):
    """A local action the circle's roster does not allow."""


class TokenError(ProtocolError):
    """An invitation token that cannot be used."""


class TokenMalformed(TokenError):
    """Not an invitation token at all."""


class TokenVersionError(TokenError):
    """A token from a newer (or unknown) format version."""


class TokenMangled(TokenError):
    """A token whose checksum does not match: changed in transit."""


class TokenTruncated(TokenError):
    """A token that is cut short."""


class TokenInvalid(TokenError):
    """A token whose content is intact but not a valid invitation."""


class TokenNotForYou(TokenError):
    """An invitation bound to another key."""


class TokenExpired(TokenError):
    """An invitation past its expiry."""


class TokenReused(TokenError):
    """An invitation that has already been used."""


def sentence(error: BaseException | str) -> str:
    """An error as a person reads it: ``a message cannot be empty`` -> ``A message cannot be empty.``"""
    text = str(error).strip()
    if not text:
        return text
    first = text.split()[0]
    if first.isalpha() and not (len(first) >= 8 and all(c in "abcdef" for c in first)):  # not an id
        text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."
