"""Rekeys with real member nodes as separate processes (issue 15).

- A 3-member circle set to rekey every 5 messages: after 5 messages one rekey happens (epoch
  +1, whichever node starts it), and all three read the message sent after it.
- ``smallsocial rekey CIRCLE`` and ``rekey --all`` on a running node: the node rekeys, its
  friends get the new epoch and read what is sent under it.

These nodes look at their schedules every half second and wait at most a second of jitter
(the suite runs nodes without scheduled rekeys otherwise, tests/conftest.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import pytest

from protocol import records, rekeysched, roster
from protocol.identity import parse_peer_id
from protocol.node.rekeying import CHECK_ENV, JITTER_ENV
from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)

FAST = {CHECK_ENV: "0.5", JITTER_ENV: "1"}


def epoch(p: Peer, circle: str) -> int:
    rows = p.json("circle", "list")
    return int(next(c["epoch"] for c in rows if c["id"] == circle))


def rekeys(p: Peer, circle: str) -> int:
    with p._db() as db:
        q = "SELECT COUNT(*) FROM records WHERE circle = ? AND type = 'rekey'"
        return int(db.execute(q, (bytes.fromhex(circle),)).fetchone()[0])


def rekey_story(peers: list[Peer], circle: str) -> str:
    """Each rekey alice holds (who made it, its number, the epoch it follows, when) and the
    peers' log lines about rekeys: what a failing bound needs to be read."""
    names = {parse_peer_id(p.key): p.name for p in peers}
    with peers[0]._db() as db:
        q = "SELECT raw, received_at FROM records WHERE circle = ? AND type = 'rekey' ORDER BY received_at"
        rows = db.execute(q, (bytes.fromhex(circle),)).fetchall()
    lines = []
    for raw, at in rows:
        r = records.parse(bytes(raw))
        who = names.get(r.author, r.author.hex()[:8])
        lines.append(f"{who} e={r.body['e']} pe={bytes(r.body['pe']).hex()[:8]} id={r.id.hex()[:8]} at={at}")
    logs = []
    for p in peers:
        log = p.root / "logs" / "node.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        logs += [f"{p.name}: {ln}" for ln in text.splitlines() if "rekey" in ln.lower() or "epoch" in ln]
    return "\n".join(lines + logs)


def roster_of(p: Peer, circle: str) -> roster.RosterState:
    """The circle's roster as ``p``'s store has it."""
    with p._db() as db:
        q = "SELECT raw FROM records WHERE circle = ? AND type NOT IN ('msg', 'presence')"
        recs = [records.parse(bytes(r[0])) for r in db.execute(q, (bytes.fromhex(circle),))]
    genesis = next(r for r in recs if r.type == records.GENESIS)
    return roster.fold(genesis, [r for r in recs if r.is_roster])


def join_rekey_pending(p: Peer, circle: str) -> bool:
    """The current epoch's key went out in an invitation that was used: a rekey is due for
    that join (it may wait for the joiner's first prekey, which comes late on a busy machine)."""
    state = roster_of(p, circle)
    return state.current_epoch is not None and rekeysched.joined_under(state, state.current_epoch.id)


def settled(peers: list[Peer], circle: str, quiet_s: float = 3.0) -> int:
    """Wait until every peer has the same epoch, none is owed a join's rekey, and it stays so
    for ``quiet_s``; that epoch."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = {epoch(p, circle) for p in peers}
        counts = {rekeys(p, circle) for p in peers}
        if len(seen) == 1 and len(counts) == 1 and not join_rekey_pending(peers[0], circle):
            time.sleep(quiet_s)
            if {epoch(p, circle) for p in peers} == seen and {rekeys(p, circle) for p in peers} == counts:
                return seen.pop()
        time.sleep(0.3)
    raise AssertionError("the peers' epochs did not settle")


def circle_of_three(
    make_peer: Callable[[str], Peer], schedule: tuple[str, ...] = ()
) -> tuple[list[Peer], str]:
    alice, bob, carol = make_peer("alice"), make_peer("bob"), make_peer("carol")
    circle = alice.json("circle", "new", "friends")["id"]
    if schedule:
        alice.cli("rekey-every", "friends", *schedule)
    for p in (alice, bob, carol):
        p.extra_env.update(FAST)
        p.start()
    for friend in (bob, carol):
        friend.json("join", alice.json("invite", "friends", friend.key)["token"])
        wait_until(lambda f=friend: alice.saw("MemberJoined", circle=circle, member=f.key), 30, what="a join")
    for p in (bob, carol):
        wait_until(lambda p=p: p.json("members", "friends") and len(p.json("members", "friends")) == 3, 30)
    return [alice, bob, carol], circle


def test_five_messages_make_one_rekey_and_everyone_reads_the_next(make_peer: Callable[[str], Peer]) -> None:
    peers, circle = circle_of_three(make_peer, ("--messages", "5"))
    alice, bob, carol = peers
    # The joins came under keys that travelled in tokens: those epochs end on their own first.
    start = settled(peers, circle)
    assert start >= 1
    if roster_of(alice, circle).needs_rekey:
        # carol's invitation handed out an epoch older than bob's join rekey, which was sealed
        # before she joined: the next sender would rekey first (for her), before the five.
        alice.cli("rekey", "friends")
        start = settled(peers, circle)
    assert not roster_of(alice, circle).needs_rekey
    assert bob.cli("rekey-every", "friends").stdout.startswith(
        "friends rekeys at least every 7 days and every 5 "
    )
    before = rekeys(alice, circle)
    for i, p in enumerate((alice, bob, carol, alice, bob)):
        p.json("send", "friends", f"message {i}")
    try:
        wait_until(lambda: all(epoch(p, circle) > start for p in peers), 60, what="the rekey after 5")
    except AssertionError:
        seen = [(p.name, epoch(p, circle), rekeys(p, circle), len(p.texts(circle))) for p in peers]
        raise AssertionError(f"{seen}\n" + "\n".join(p.stderr_text()[-2000:] for p in peers)) from None
    # One scheduled rekey. Members who start one before they see another's each open an epoch
    # with the same number, and rule 4 makes one of them current for all: start + 1 whatever
    # happens, and no more rekeys than members.
    assert settled(peers, circle) == start + 1, rekey_story(peers, circle)
    assert 1 <= rekeys(alice, circle) - before <= len(peers), rekey_story(peers, circle)
    carol.json("send", "friends", "after the rekey")
    for p in peers:
        wait_until(lambda p=p: "after the rekey" in p.texts(circle), 45, what=f"{p.name} reads it")
        assert [f"message {i}" for i in range(5)] == [t for t in p.texts(circle) if t.startswith("message")]
    assert any(p.saw("Rekeyed", request_id=None) for p in peers)  # told the UI: a scheduled one


def test_rekey_command_on_a_running_node(make_peer: Callable[[str], Peer]) -> None:
    peers, circle = circle_of_three(make_peer)
    alice, bob, carol = peers
    start = settled(peers, circle)
    out = alice.cli("rekey", "friends").stdout.strip()
    assert out == f"Rekeyed friends: epoch {start + 1}, sealed to 3 devices."
    assert alice.saw("Rekeyed")  # the running node did it (its event stream), not the CLI alone
    wait_until(lambda: all(epoch(p, circle) == start + 1 for p in peers), 30, what="the new epoch")
    alice.json("circle", "new", "solo")
    got = alice.json("rekey", "--all")
    assert sorted((r["name"], r["epoch"], r["keys"]) for r in got) == [
        ("friends", start + 2, 3),
        ("solo", 1, 1),
    ]
    bob.json("send", "friends", "under the newest key")
    wait_until(lambda: "under the newest key" in carol.texts(circle), 45, what="carol reads it")
    bad = bob.cli("rekey", "solo", ok=False)
    assert bad.returncode == 1 and "No circle matches 'solo'" in bad.stderr
    for p in peers:
        assert p.stop() == 0


def test_rekey_offline_is_published_when_the_node_next_runs(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.start()
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 30, what="bob's join")
    assert alice.stop() == 0
    out = alice.cli("rekey", "friends").stdout.strip()
    assert out == "Rekeyed friends: epoch 1, sealed to 2 devices."
    with sqlite3.connect(alice.root / "store.sqlite3") as db:
        unsent = db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
    assert unsent >= 1
    alice.start(bob.addr or "")
    wait_until(lambda: epoch(bob, circle) == 1, 45, what="bob gets the offline rekey")
    alice.json("send", "friends", "sent under epoch 1")
    wait_until(lambda: "sent under epoch 1" in bob.texts(circle), 45, what="bob reads it")
