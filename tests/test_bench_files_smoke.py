"""Smoke test for scripts/bench_files.py: a tiny run writes every figure it promises (timings not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_files.py"


@pytest.mark.timeout(150)
def test_tiny_run_writes_the_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "files.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--mb", "0.6", "--rounds", "2", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert data["size_bytes"] == 600_000 and len(data["rounds"]) == 2
    keys = {"tcp_s", "seal_s", "fetch_s", "assemble_s", "total_s"}
    assert set(data["median_s"]) == keys and all(v > 0 for v in data["median_s"].values())
    assert "| plain TCP copy (baseline) |" in proc.stdout and "fetch vs plain copy" in proc.stdout
