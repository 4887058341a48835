"""What a user types into search, as an SQLite FTS5 query, and a snippet's highlighted parts.

Pure functions, no IO: :func:`fts_query` turns free text into a query FTS5 always parses
(every term is a quoted string, so ``AND``, ``NEAR``, ``*``, ``(`` or an odd number of
quotes in what the user typed never reach FTS5's syntax); :func:`segments` splits a snippet
marked with :data:`OPEN` and :data:`CLOSE` into (text, highlighted) parts for the CLI and
the TUI to draw.

The rules:

- Words are matched as whole tokens, case and accents folded (the index's tokenizer is
  ``unicode61 remove_diacritics 2``: ``cafe`` finds ``Café``); all of them must occur.
- The last word is a prefix (``hel`` finds ``hello``), unless it was quoted or the text
  ends with a space.
- ``"two words"`` is a phrase: those tokens next to each other, in that order.
- Control characters are spaces (a NUL would end the query inside SQLite).
- A term with no letter or digit (``-``, ``?!``) is not searched for; text with no
  searchable term at all is a :class:`SearchTextError` with one sentence.
"""

from __future__ import annotations

import re
import unicodedata

OPEN = "\x02"
"""Marks the start of a match in a snippet (a control character, removed from indexed text)."""
CLOSE = "\x03"
"""Marks the end of a match in a snippet."""
MAX_QUERY = 500
"""Characters of search text taken (more is refused: nobody types that much to find a message)."""
_TERM = re.compile(r'"([^"]*)"?|(\S+)')


class SearchTextError(ValueError):
    """Search text with nothing to search for; its message is one sentence for the user."""


def searchable(term: str) -> bool:
    """Whether ``term`` has a character the tokenizer keeps (a letter, a digit, or private use)."""
    return any(unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Co" for ch in term)


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts_query(text: str) -> str:
    """The FTS5 query for what the user typed (raises :class:`SearchTextError`)."""
    if len(text) > MAX_QUERY:
        raise SearchTextError(f"Search for at most {MAX_QUERY} characters.")
    parts: list[tuple[str, bool]] = []  # (term, typed as a phrase)
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)  # NUL ends C strings
    for m in _TERM.finditer(text):
        phrase, word = m.group(1), m.group(2)
        term = " ".join((phrase if phrase is not None else word).split())
        if term and searchable(term):
            parts.append((term, phrase is not None))
    if not parts:
        raise SearchTextError("Search for at least one word with a letter or a digit in it.")
    out = [_quoted(t) for t, _ in parts]
    phrase = parts[-1][1]
    if not phrase and not text[-1:].isspace():
        out[-1] += "*"
    return " ".join(out)


def clean(text: str) -> str:
    """Indexed text: the snippet markers, if someone wrote them, become spaces."""
    return text.replace(OPEN, " ").replace(CLOSE, " ")


def segments(snippet: str) -> tuple[tuple[str, bool], ...]:
    """A snippet's parts in order, each with whether it is a match."""
    out: list[tuple[str, bool]] = []
    for i, piece in enumerate(re.split(f"[{OPEN}{CLOSE}]", snippet)):
        if piece:
            out.append((piece, i % 2 == 1))
    return tuple(out)
