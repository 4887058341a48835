"""The circle summary carries the circle's file limit (``CircleSummary.file_cap``), so the TUI
can show it: the default until an admin sets one with ``SetFileCap``, then that."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import files
from protocol.node import api
from tests.node.test_queries import Driver

pytestmark = pytest.mark.timeout(60)


def test_overview_carries_the_file_limit(tmp_path: Path) -> None:
    alice = Driver(tmp_path, "alice")
    alice.node.start()
    try:
        c = alice.call(api.CreateCircle("friends"), api.CircleCreated).circle
        (s,) = alice.call(api.LoadOverview(), api.OverviewLoaded).circles
        assert s.file_cap == files.MAX_FILE_BYTES
        alice.call(api.SetFileCap(c, 10 * 2**20), api.CommandDone)
        (s,) = alice.call(api.LoadOverview(), api.OverviewLoaded).circles
        assert s.file_cap == 10 * 2**20
        alice.call(api.SetFileCap(c, 0), api.CommandDone)
        (s,) = alice.call(api.LoadOverview(), api.OverviewLoaded).circles
        assert s.file_cap == 0
    finally:
        assert alice.node.stop()
