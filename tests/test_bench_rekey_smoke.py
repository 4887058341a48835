"""Smoke test for scripts/bench_rekey.py: it runs, and writes the rows it promises.

Behaviour only (the figures depend on the machine): a row per circle size, each rekey opened
by a recipient; the send/receive comparison is left to the real run (it runs bench_protocol
twice more)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_bench_rekey_quick(tmp_path: Path) -> None:
    out = tmp_path / "rekey.json"
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_rekey.py"), "--quick", "--no-compare", "--out",
         str(out)],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["members"] for r in rows] == [5, 15, 50]
    sizes = [r["record_bytes"] for r in rows]
    assert sizes == sorted(sizes) and sizes[0] > 80 * 5
    for r in rows:
        assert r["build"]["median_us"] > 0 and r["open"]["median_us"] > 0 and r["fold"]["median_us"] > 0
