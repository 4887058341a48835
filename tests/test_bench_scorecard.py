"""The scorecard's memory row (scripts/benchkit/scorecard.py): per stored record, from a member
started again on its store when the run has it (what the history holds), with the figure right
after the catch-up beside it (what the catch-up's buffers leave resident); else the latter alone.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from benchkit.scorecard import _memory

pytestmark = pytest.mark.timeout(30)


def _scale(restarted: bool) -> dict[str, Any]:
    def one(after: float, again: float) -> dict[str, Any]:
        ss: dict[str, Any] = {"rss": {"rss_mib": after}}
        if restarted:
            ss["rss_restarted"] = {"rss_mib": again}
        return {"smallsocial": ss}

    return {"catchup": {"1000": one(97.2, 95.4), "100000": one(113.6, 104.4)}}


def test_the_row_counts_what_a_restarted_member_holds_and_shows_the_catch_up_beside_it() -> None:
    [row] = _memory(None, _scale(restarted=True))
    assert "started on a store of 1,000 -> 100,000" in row[0]
    assert row[2].startswith("95 bytes") and "right after catching up: 174 bytes" in row[2]
    assert row[4] == "met"


def test_without_a_restart_the_row_is_the_catch_up_figure() -> None:
    [row] = _memory(None, _scale(restarted=False))
    assert "after catching up" in row[0] and row[2].startswith("174 bytes")
    assert row[4].startswith("MISS")
