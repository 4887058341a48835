"""Making untrusted text safe to show in a terminal, and short forms of keys.

Names and messages come from other people. Before they reach a terminal, C0
and C1 control characters (escape sequences start with one), bidi overrides
and isolates, and zero-width characters are replaced by a visible ``\\uXXXX``
form, and long names are cut.
"""

from __future__ import annotations

import unicodedata

_INVISIBLE = {
    *range(0x200B, 0x2010),  # zero-width space/joiners, LRM, RLM
    *range(0x202A, 0x202F),  # bidi embeddings and overrides
    *range(0x2060, 0x2065),  # word joiner, invisible operators
    *range(0x2066, 0x206A),  # bidi isolates
    0xFEFF,
    0x061C,
}


def safe(text: str, *, keep_newlines: bool = False) -> str:
    out = []
    for ch in text:
        o = ord(ch)
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif o < 0x20 or 0x7F <= o < 0xA0 or o in _INVISIBLE or unicodedata.category(ch) == "Cs":
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


def safe_name(name: str, limit: int = 32) -> str:
    name = safe(name)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def short_key(peer_id_text: str) -> str:
    """The one short form of a peer ID used in every listing: ``12D3KooW…abcdef``."""
    return peer_id_text[:8] + "…" + peer_id_text[-6:]
