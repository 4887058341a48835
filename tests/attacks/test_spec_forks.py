"""Issue 10, class 8: unbounded fork invitations.

docs/protocol.md section 12: a member may post fork records in a circle, each inviting
chosen members to a new child circle; an invitee's node offers each child as an "invited"
circle. Nothing bounded how many: one member could send ten thousand, and every command then
listed, named and summarised ten thousand circles. The promise (docs/security.md): a node
offers at most ``fork.MAX_PENDING_PER_INVITER`` fork invitations from one member of a circle
and ``fork.MAX_PENDING_PER_CIRCLE`` in all at a time; the others stay records of the parent
(synced, verifiable), so one member cannot bury the others' invitations or slow every command.

The attacker is a member (mallory) using only their own key and the public paths: their
profile makes ordinary fork records, which reach alice by an offline bundle (the same ingest
as sync), and alice is observed through the CLI as a subprocess.
"""

from __future__ import annotations

import time
from pathlib import Path

from protocol import fork
from tests.attacks.spec_kit import circle, cli, cli_json, share

FLOOD = 60


def _invited(listing: list[dict[str, object]], parent: bytes) -> list[dict[str, object]]:
    return [c for c in listing if c["status"] == "invited" and c["parent"] == parent.hex()]


def test_one_member_cannot_flood_a_node_with_fork_invitations(tmp_path: Path) -> None:
    (alice, bob, mallory), cid = circle(tmp_path, "alice", "bob", "mallory")
    for i in range(FLOOD):
        mallory.fork(cid, f"spam {i}", [alice.me])
    bob_child = bob.fork(cid, "real plans", [alice.me])
    share(mallory, alice, cid)
    share(bob, alice, cid)
    # Every fork record is kept in the parent (the log stays complete and syncs)...
    forks = [r for r in alice.view(cid).records.values() if r.type == "fork"]
    assert len(forks) == FLOOD + 1
    listing = cli_json(alice, "circle", "list")
    offered = _invited(listing, cid)
    # ...but only MAX_PENDING_PER_INVITER of mallory's are offered, and bob's is not buried.
    assert len(offered) == fork.MAX_PENDING_PER_INVITER + 1
    assert bob_child.hex() in {c["id"] for c in offered}


def test_accepting_one_makes_room_for_another(tmp_path: Path) -> None:
    (alice, mallory), cid = circle(tmp_path, "alice", "mallory")
    children = [mallory.fork(cid, f"plan {i}", [alice.me]) for i in range(fork.MAX_PENDING_PER_INVITER + 1)]
    share(mallory, alice, cid)
    offered = [c.id for c in alice.store.invited_children(cid)]
    assert len(offered) == fork.MAX_PENDING_PER_INVITER
    alice.accept_fork(offered[0])
    later = mallory.fork(cid, "one more", [alice.me])
    share(mallory, alice, cid)
    waiting = {c.id for c in alice.store.invited_children(cid)}
    assert later in waiting and len(waiting) == fork.MAX_PENDING_PER_INVITER
    assert set(children) - waiting - {offered[0]}, "the one that did not fit is not offered late"


def test_the_cli_stays_fast_after_a_fork_flood(tmp_path: Path) -> None:
    """`smallsocial circle list` and a command naming a circle by id cost what a handful of
    circles cost, not what the flood cost (each flooded child used to be listed and named)."""
    (alice, mallory), cid = circle(tmp_path, "alice", "mallory")
    for i in range(FLOOD):
        mallory.fork(cid, f"spam {i}", [alice.me])
    share(mallory, alice, cid)
    t = time.perf_counter()
    p = cli(alice, "members", cid.hex())
    took = time.perf_counter() - t
    assert p.returncode == 0, p.stderr
    assert len(_invited(cli_json(alice, "circle", "list"), cid)) == fork.MAX_PENDING_PER_INVITER
    assert took < 10, took
