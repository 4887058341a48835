"""`smallsocial search` on real profiles with real nodes: a friend's message is found, and edits,
deletes and a node that stops follow; the same search without a node reads the index itself."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def indexed(peer: Peer, word: str) -> bool:
    """Whether the word is in the peer's index file (read-only: no search, no catch-up)."""
    try:
        db = sqlite3.connect(f"file:{peer.root / 'search.sqlite3'}?mode=ro", uri=True, timeout=5)
        try:
            return bool(db.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (word,)).fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:
        return False


def found(peer: Peer, *args: str) -> list[dict[str, object]]:
    out = peer.cli("search", *args, "--json").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_a_friends_message_is_found_and_edits_and_deletes_follow(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.json("send", "friends", "an old note about the lighthouse")  # before the index exists
    alice.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.start()

    sent = bob.json("send", "friends", "Meet at the Lighthouse café tomorrow")
    # alice's node indexes it as it arrives (its indexer task), before anyone searches
    wait_until(lambda: indexed(alice, "tomorrow"), 30, what="the index to take bob's message")
    wait_until(lambda: indexed(bob, "tomorrow"), 30, what="bob's own message in his index")
    wait_until(lambda: found(alice, "lighthouse cafe"), 30, what="bob's message in alice's search")
    hit = found(alice, "lighthouse cafe")[0]
    assert (hit["id"], hit["circle"], hit["circle_name"]) == (sent["id"], circle, "friends")
    assert hit["snippet"] == "Meet at the Lighthouse café tomorrow"
    # his name as he announced it (presence), as the log shows it
    wait_until(lambda: found(alice, "lighthouse cafe")[0]["author_name"] == "bob", 30, what="bob's name")
    assert hit["matches"] == [[12, 22], [23, 27]]
    assert [h["snippet"] for h in found(alice, "lighthouse")] == [
        "Meet at the Lighthouse café tomorrow",
        "an old note about the lighthouse",
    ]
    text = alice.cli("search", "lightho").stdout
    assert "friends  bob: Meet at the Lighthouse café tomorrow" in text and sent["id"][:8] in text

    bob.json("edit", "friends", sent["id"], "Meet at the harbour instead")
    wait_until(lambda: found(alice, "harbour"), 30, what="the edit in alice's search")
    assert [h["snippet"] for h in found(alice, "lighthouse")] == ["an old note about the lighthouse"]
    assert found(alice, "harbour")[0]["edited"] is True

    bob.json("delete", "friends", sent["id"])
    wait_until(lambda: not found(alice, "harbour"), 30, what="the delete in alice's search")

    # Without a node, the CLI opens the index itself (and catches up what the node did not see).
    alice.stop()
    assert [h["snippet"] for h in found(alice, "lighthouse")] == ["an old note about the lighthouse"]
    assert found(alice, "old note", "--circle", "friends")[0]["author_name"] == "alice"
    bad = alice.cli("search", "?!", ok=False)
    assert bad.returncode == 1 and "at least one word" in bad.stderr
    for suffix in ("", "-wal", "-shm"):
        f = alice.root / f"search.sqlite3{suffix}"
        assert not f.exists() or (f.stat().st_mode & 0o777) == 0o600
