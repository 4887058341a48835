"""Profile.join_token ends in the state ingesting the token's records would (ingest.settle_departures).

A token may carry a removed member's message past their cut *before* the removal that sets
the cut: taken in order, the message is accepted (its author is a member then) and the
removal comes after. Gossip and sync then purge it (``Store.purge_after_cut``); a join must
too, or the joiner keeps a record every other member refuses, and their stores never agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nacl.pwhash

from protocol import invitation, records
from protocol.node.paths import resolve
from protocol.node.profile import Profile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "protocol"))

from proto_kit import ADDR, ALICE, CAROL, DAVE, NOW_MS, new_world

CHEAP = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


def test_a_message_past_the_cut_before_the_removal_in_a_token_is_not_kept(tmp_path: Path) -> None:
    w = new_world()
    inv_carol, join_carol = w.invite_and_join(ALICE, CAROL)
    late = w.message(CAROL, "past my cut")  # alice never sees it: her removal cuts at the join
    rm, rk = w.remove(ALICE, CAROL)
    assert int(rm.body["s"]) == join_carol.seq < late.seq
    inv_dave = w.invite(ALICE, DAVE)
    epoch_id = bytes(inv_dave.body["e"])
    chain = [inv_carol, join_carol, late, rm, *rk.before, rk.record]
    token = invitation.make_token(inv_dave, w.genesis, chain, epoch_id, w.keys[epoch_id], w.new.name, [ADDR])

    dave = Profile.create(
        resolve(str(tmp_path), "dave"), "dave", None, lambda: NOW_MS / 1000 + 10, DAVE, **CHEAP
    )
    cid = dave.join_token(token)

    stored = {r.id for r in dave.store.load_records(cid)}
    assert {inv_carol.id, join_carol.id, rm.id, rk.record.id} <= stored
    assert late.id not in stored
    assert late.id not in dave.view(cid).records
    gone = dave.view(cid).roster.departed[CAROL.public_key]
    assert gone.cut == join_carol.seq
    assert dave.me in dave.view(cid).roster.members
    assert not [r for r in dave.store.load_records(cid) if r.type == records.MSG]
