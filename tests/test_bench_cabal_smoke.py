"""Smoke test for the cabal-core catch-up baseline (scripts/benchkit/cabal.py, scripts/cabalbench).

It runs and reports what it promises for 200 messages; timings depend on the machine, so
only that they are positive numbers is checked. Without node and npm it skips, except under
CI, where that is a failure (as for the foreign-peer tests in tests/attacks).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

from benchkit.cabal import missing_tools, run_catchup  # noqa: E402


@pytest.mark.timeout(780)  # npm ci on first use (up to 600 s), then bench.mjs (up to 150 s)
def test_cabal_catchup_reports_200_messages(tmp_path: Path) -> None:
    why = missing_tools()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the cabal-core baseline: {why}")
        pytest.skip(why)

    result = run_catchup(200, tmp_path, print)

    assert result["n"] == 200
    for key in ("replicated_s", "indexed_s", "write_s"):
        value = result[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), key
        assert value > 0, key
    assert result["storage"] == "disk"
    assert result["cabal_core"] == "16.0.3"
    assert list(tmp_path.iterdir()) == [], "bench.mjs left its cabals behind"
