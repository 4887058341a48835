"""Roster histories the fuzzer (``scripts/fuzz --target roster``) found where the incremental
fold (``protocol.fold.RosterIndex``) and the reference (``protocol.roster.fold``) disagreed.

Each case is the genesis and the roster records in the order a ``CircleView`` stored them
(``tests/protocol/data/*.msgpack``, msgpack list of raw signed records, genesis first).
"""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from protocol import records
from protocol.fold import RosterIndex
from protocol.roster import fold

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
