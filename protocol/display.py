"""Making untrusted text safe to show in a terminal, and short forms of keys.

Names and messages come from other people. Before they reach a terminal, every
character that is invisible or changes how others are drawn is replaced by a
visible ``\\uXXXX`` form: C0 and C1 controls (escape sequences start with one),
every format character (category Cf: bidi overrides and isolates, zero-width
characters, tag characters U+E0000-E007F, ...), line and paragraph separators
(Zl, Zp), surrogates, and every other Unicode default-ignorable code point
(variation selectors, Hangul fillers, the combining grapheme joiner, ...). Long
names are cut. :func:`name_key` is the form two names are compared in for
look-alikes, :func:`json_text` the one way JSON is printed, and :func:`who` how a
member's key (or one of their devices' keys) is shown by name (the TUI's and the CLI's one rule).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from protocol.identity import peer_id
from protocol.schema import MAX_TS_MS

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): drawn as nothing.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_IGNORABLE = frozenset(o for lo, hi in _IGNORABLE_RANGES for o in range(lo, hi + 1))
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_EMOJI_STYLE = (0xFE0E, 0xFE0F)  # text/emoji presentation selectors


def hidden(ch: str) -> bool:
    """True for a character :func:`safe` never shows as itself."""
    o = ord(ch)
    if 0x20 <= o < 0x7F:
        return False
    return o in _IGNORABLE or unicodedata.category(ch) in _HIDDEN_CATEGORIES or 0x7F <= o < 0xA0


def safe(text: str, *, keep_newlines: bool = False, strict: bool = False) -> str:
    """``text`` with every hidden character (:func:`hidden`) written as a visible ``\\uXXXX``.

    One exception unless ``strict``: a presentation selector (U+FE0E, U+FE0F) right
    after a visible symbol (category So or Sk, as in "❤️") stays, since it changes how
    that symbol looks, never hides anything. Names are always shown strictly.
    """
    out = []
    prev = ""
    for ch in text:
        o = ord(ch)
        emoji_style = (
            not strict
            and o in _EMOJI_STYLE
            and prev != ""
            and unicodedata.category(prev) in ("So", "Sk")
            and not hidden(prev)
        )
        if (keep_newlines and ch == "\n") or emoji_style or not hidden(ch):
            out.append(ch)
        else:
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        prev = ch
    return "".join(out)


def name_key(name: str) -> str:
    """The form two names are compared in for look-alikes.

    Hidden characters dropped, then NFKC, case-folded and spaces collapsed: "bob",
    "Bob", "bob" with a tag character and "ｂｏｂ" all compare equal.
    """
    shown = "".join(ch for ch in name if not hidden(ch))
    return " ".join(unicodedata.normalize("NFKC", shown).casefold().split())


def json_text(obj: Any) -> str:
    """JSON for a terminal or a pipe: pure ASCII, every non-ASCII and control character escaped (DEL too)."""
    return json.dumps(obj, ensure_ascii=True).replace("\x7f", "\\u007f")


def local_time(ts_ms: int, tz: tzinfo | None = None) -> datetime:
    """A record's ms timestamp as a datetime in ``tz`` (local when None), for any int at all.

    Valid records hold 0..``MAX_TS_MS``, which every time zone can show; anything
    else (a value from an older store, a bug) is clamped into that range, so no
    timestamp can make a reader raise.
    """
    clamped = min(max(int(ts_ms), 0), MAX_TS_MS)
    try:
        return datetime.fromtimestamp(clamped / 1000, tz)
    except (OverflowError, ValueError, OSError):
        return datetime.fromtimestamp(0, tz or UTC)


def safe_name(name: str, limit: int = 32) -> str:
    name = safe(name, strict=True)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def short_key(peer_id_text: str) -> str:
    """The one short form of a peer ID used in every listing: ``12D3KooW…abcdef``."""
    return peer_id_text[:8] + "…" + peer_id_text[-6:]


def who(
    key: bytes,
    *,
    me: bytes,
    my_name: str,
    contacts: Mapping[bytes, str],
    names: Mapping[bytes, str],
    limit: int = 24,
    persons: Mapping[bytes, bytes] | None = None,
) -> str:
    """How a key is shown, always terminal-safe: my name, a petname, an announced name, or the short key.

    ``persons`` maps a device's key to its person's (``RosterState.person_of``): a device is
    shown as the person it belongs to, under the person's name.

    A petname (``contacts``, mine, never sent) comes first; then the name a member announced
    for themselves (``names``, from presence). Anyone may call themselves "alice" (or
    "alice" plus invisible characters): when an announced name looks like a name I already
    use, the short key is shown beside it. Only when nothing is known, the short key alone.
    """
    if persons is not None:
        key = persons.get(key, key)
        me = persons.get(me, me)
    if key == me and my_name:
        return safe_name(my_name, limit)
    pet = contacts.get(key)
    if pet:
        return safe_name(pet, limit)
    name = " ".join(names.get(key, "").split())
    if name:
        shown = safe_name(name, limit)
        taken = {name_key(p) for p in contacts.values()} | {name_key(my_name)}
        return f"{shown} ({short_key(peer_id(key))})" if name_key(name) in taken else shown
    return short_key(peer_id(key))
