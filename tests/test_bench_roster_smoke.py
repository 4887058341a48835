"""Smoke test for scripts/bench_roster.py: it runs, and writes the rows it promises.

Behaviour only (the figures depend on the machine): every history is taken in whole by the
index and by CircleView, and the old full fold is measured as the baseline in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(180)
def test_bench_roster_quick(tmp_path: Path) -> None:
    out = tmp_path / "roster.json"
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_roster.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["history"] for r in rows] == ["chain-100", "churn-300"]
    for r in rows:
        assert r["old_full_fold_per_record_s"] > 0 and r["incremental_s"] > 0
        assert r["incremental_refolds"] == 0, r
    assert rows[1]["members_ever"] == 300
