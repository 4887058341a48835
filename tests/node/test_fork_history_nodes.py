"""Carried history over the network: running nodes, the real CLI through the control socket.

alice, bob and carol chat in ``friends``; alice forks ``trip`` with bob carrying the last two
messages (``--history last:2``); bob accepts the fork invitation and, after sync, reads exactly
those two with their original authors, times and ids, marked carried, before the child's own
messages. ``--history none`` still forks an empty child; a bad choice is one sentence.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def test_an_invitee_reads_the_carried_history_after_sync(make_peer: Callable[[str], Peer]) -> None:
    alice, bob, carol = make_peer("alice"), make_peer("bob"), make_peer("carol")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.start()
    carol.start()
    for p in (bob, carol):
        p.json("join", alice.json("invite", "friends", p.key)["token"])
        wait_until(lambda p=p: alice.saw("MemberJoined", circle=circle, member=p.key), 30, what="join")
    for p, text in [(alice, "where to?"), (bob, "the coast"), (carol, "the hills"), (bob, "coast, really")]:
        p.json("send", "friends", text)
        wait_until(lambda text=text: text in alice.texts(circle), 45, what=f"alice to have {text!r}")
    parent = alice.log(circle)
    assert [e["text"] for e in parent] == ["where to?", "the coast", "the hills", "coast, really"]

    bad = alice.cli("fork", "friends", "trip", "--member", bob.key, "--history", "lots", ok=False)
    assert bad.returncode == 1 and "not a history choice" in bad.stderr and len(bad.stderr.splitlines()) == 1

    empty = alice.json("fork", "friends", "quiet", "--member", bob.key)
    assert empty["carried"] == 0 and alice.log(empty["id"]) == []
    forked = alice.json("fork", "friends", "trip", "--member", bob.key, "--history", "last:2")
    assert forked["carried"] == 2
    child = forked["id"]
    mine = alice.log(child)
    assert [(e["id"], e["author"], e["ts"], e["text"]) for e in mine] == [
        (e["id"], e["author"], e["ts"], e["text"]) for e in parent[-2:]
    ]
    assert all(e["carried_from"] == circle for e in mine)
    assert "(carried)" in alice.cli("log", "trip").stdout

    wait_until(lambda: bob.saw("CircleForked", circle=child), 45, what="bob to be invited to trip")
    bob.json("join", child[:12])
    wait_until(lambda: len(bob.log(child)) == 2, 60, what="bob to read the carried history")
    got = bob.log(child)
    assert [(e["id"], e["author"], e["ts"], e["text"], e["carried_from"]) for e in got] == [
        (e["id"], e["author"], e["ts"], e["text"], circle) for e in parent[-2:]
    ]
    assert bob.saw("HistoryCarried", circle=child, count=2)
    bob.json("send", child, "packing now")
    wait_until(lambda: "packing now" in alice.texts(child), 45, what="alice to read bob in the child")
    assert [e["text"] for e in alice.log(child)] == ["the hills", "coast, really", "packing now"]
    assert alice.log(child)[-1]["carried_from"] is None
    for p in (alice, bob, carol):
        assert p.stop() == 0
