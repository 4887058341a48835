"""``smallsocial search TEXT``: messages I can read that match, across circles, newest first.

With a running node the search goes through its control socket (the node owns the index's
writes and keeps it caught up at ingest); without one, the profile's index is opened here
and first brought up to date with the store (a profile's first search indexes its whole
history once: a line on stderr says so). The text follows :mod:`protocol.searchtext`'s
rules: all words, the last one a prefix, ``"quoted words"`` a phrase, accents and case
folded. ``--json`` prints one object per message found (as ``log --json`` does), each with
its ``snippet`` and the ``matches`` in it as ``[start, end]`` character offsets.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from protocol import searchtext
from protocol.identity import peer_id
from protocol.node import api
from smallsocial_tui import cli_kit
from smallsocial_tui.text import json_text, local_time, safe, safe_name

if TYPE_CHECKING:
    from protocol.node.profile import Profile

Add = Callable[[str, Any, str], argparse.ArgumentParser]
MAX_LIMIT = 200


def _offline(profile: Profile, cmd: api.SearchMessages) -> api.SearchResults:
    from protocol.node import search

    index = profile.search_index()
    left = index.pending()
    if left > search.SYNC_LIMIT:
        print(f"Indexing {left} messages for search (once)…", file=sys.stderr, flush=True)
    while index.catch_up(search.BATCH):
        pass
    return search.answer(profile, cmd.request_id, cmd.text, cmd.circle, cmd.limit)


def matches(snippet: str) -> tuple[str, list[list[int]]]:
    """The snippet's plain text, and where its matches are in it."""
    plain, spans, at = "", [], 0
    for piece, hit in searchtext.segments(snippet):
        if hit:
            spans.append([at, at + len(piece)])
        plain += piece
        at += len(piece)
    return plain, spans


def _line(h: api.SearchHit, bold: bool) -> str:
    when = local_time(h.ts).strftime("%Y-%m-%d %H:%M")
    body = ""
    for piece, hit in searchtext.segments(h.snippet):
        shown = safe(piece)
        body += f"\x1b[1m{shown}\x1b[0m" if hit and bold else shown
    extra = " (edited)" if h.edited else ""
    extra += " (carried)" if h.carried_from else ""
    return f"{when}  {safe_name(h.circle_name)}  {h.author_name}: {body}{extra}  [{h.id.hex()[:8]}]"


def cmd_search(args: argparse.Namespace) -> None:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise cli_kit.CliError(f"--limit is 1 to {MAX_LIMIT}.")
    try:
        searchtext.fts_query(args.text)
    except searchtext.SearchTextError as e:
        raise cli_kit.CliError(str(e)) from None
    profile = cli_kit.open_profile(args, create=False)
    circle = cli_kit.find_circle(profile, args.circle).id if args.circle else None
    cmd = api.SearchMessages(args.text, circle, args.limit)
    res = cli_kit.via_node(profile, cmd) or _offline(profile, cmd)
    if res.pending:
        print(f"{res.pending} messages are still being indexed; search again for all.", file=sys.stderr)
    if args.json:
        for h in res.hits:
            plain, spans = matches(h.snippet)
            row = {
                "id": h.id.hex(),
                "circle": h.circle.hex(),
                "circle_name": h.circle_name,
                "author": peer_id(h.author),
                "author_name": h.author_name,
                "ts": h.ts,
                "kind": h.kind,
                "snippet": plain,
                "matches": spans,
                "edited": h.edited,
                "carried_from": h.carried_from.hex() if h.carried_from else None,
            }
            print(json_text(row), flush=True)
        return
    if not res.hits:
        print("No message matches.", file=sys.stderr)
        return
    bold = sys.stdout.isatty()
    for h in res.hits:
        print(_line(h, bold), flush=True)


def register(add: Add) -> None:
    """Add ``search`` to the parser (``add`` is ``build_parser``'s helper)."""
    sp = add(
        "search",
        cmd_search,
        "find messages I can read, across circles, newest first: all the words, the last one "
        'a prefix, "quoted words" a phrase',
    )
    sp.add_argument("text", metavar="TEXT")
    sp.add_argument("--circle", metavar="CIRCLE", help="only this circle")
    sp.add_argument("--limit", type=int, default=20, help=f"at most N results (1 to {MAX_LIMIT}; default 20)")
