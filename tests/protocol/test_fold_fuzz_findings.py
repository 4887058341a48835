"""Roster histories the fuzzer (``scripts/fuzz --target roster``) found where the incremental
fold (``protocol.fold.RosterIndex``) and the reference (``protocol.roster.fold``) disagreed,
or where both wedged the circle (``wedge_*``: no rekey or removal the last members make applies).

Each case is the genesis and the roster records in the order a ``CircleView`` stored them
(``tests/protocol/data/*.msgpack``, msgpack list of raw signed records, genesis first).
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgpack
import pytest

from protocol import records
from protocol.fold import RosterIndex
from protocol.roster import fold

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import rosterkit

DATA = Path(__file__).parent / "data"


def _plain(s: object) -> tuple[object, ...]:
    return tuple(getattr(s, f) for f in ("members", "relays", "departed", "invites", "accepted",
                                          "rejected", "pending", "heads", "current_epoch"))  # fmt: skip


@pytest.mark.parametrize("case", sorted(p.name for p in DATA.glob("fold_*.msgpack")))
def test_the_incremental_fold_agrees_with_the_reference_after_every_record(case: str) -> None:
    """``fold_leave_sorted_before_a_walked_join``: a founder's leave, held until an invitation
    it cites arrived, sorts before a join already walked; the leave revokes the join's
    invitation, so the reference refuses the join. The index kept it (the join's tokens did
    not name its inviter) and showed a member nobody else would."""
    raws = msgpack.unpackb((DATA / case).read_bytes())
    genesis, recs = records.parse(raws[0]), [records.parse(r) for r in raws[1:]]
    index = RosterIndex(genesis)
    for i, r in enumerate(recs):
        index.add(r)
        assert _plain(index.state()) == _plain(fold(genesis, recs[: i + 1])), f"after record {i}"


@pytest.mark.parametrize("case", sorted(p.name for p in DATA.glob("wedge_*.msgpack")))
def test_the_last_members_can_still_rekey_and_remove(case: str) -> None:
    """``wedge_a_voided_removal_kept_its_voids``: the founder removed the one other member and,
    concurrently, left (the removal signed after the leave, citing the same heads). The walk
    met the removal first and voided the member's concurrent records; the leave then voided
    the removal, but its voids stayed, so every record the last member made (a rekey, too)
    was void: the circle was wedged. A voided removal now voids nothing.

    ``wedge_a_removal_voided_by_a_lapsing_leave``: an admin's leave, refused when first
    walked (it cites a point before the admin joined), sorts after the admin's later
    removal of the other member. Walked there it applied, voided the removal and the
    admin's join, then was refused and went out; the removal went out with it, so that
    member could never be removed. A departure voided by one that goes out is walked again."""
    raws = msgpack.unpackb((DATA / case).read_bytes())
    genesis, recs = records.parse(raws[0]), [records.parse(r) for r in raws[1:]]
    for state_of in (lambda rs: RosterIndex(genesis, rs).state(), lambda rs: fold(genesis, list(rs))):
        rosterkit.after_checks(genesis, recs, state_of)
