"""Smoke test for scripts/bench_protocol.py: it runs, and writes the rows it promises.

Behaviour only: timings depend on the machine, so no figure is asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_protocol.py"

EXPECTED_ROWS = {
    "send: messages.seal": ("us/op", "ratio"),
    "receive: records.parse + open_message": ("us/op", "ratio"),
    "roster fold: 1,000 members": ("ms", "value"),
    "roster fold: 10 members": ("ms", "value"),
}
ROW_KEYS = {
    "name",
    "value",
    "p90",
    "unit",
    "baseline",
    "baseline_p90",
    "ratio",
    "target",
    "target_on",
    "pass",
}


@pytest.mark.timeout(120)
def test_quick_run_writes_expected_json(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file(), "the JSON file was not written (its folder should be created)"

    result = json.loads(out.read_text())
    assert result["mode"] == "quick"
    machine = result["machine"]
    for key in ("python", "cpu_count", "platform"):
        assert machine[key], key

    rows = {row["name"]: row for row in result["rows"]}
    assert set(rows) == set(EXPECTED_ROWS)
    for name, (unit, target_on) in EXPECTED_ROWS.items():
        row = rows[name]
        assert set(row) >= ROW_KEYS, name
        assert row["unit"] == unit
        assert row["target_on"] == target_on
        assert isinstance(row["pass"], bool)
        assert row["value"] > 0 and row["p90"] >= row["value"]
        if target_on == "ratio":
            assert row["baseline"] > 0
            assert row["ratio"] == pytest.approx(row["value"] / row["baseline"], rel=0.01)
            assert row["pass"] == (row["ratio"] <= row["target"])
        else:
            assert row["baseline"] is None and row["ratio"] is None
            assert row["pass"] == (row["value"] < row["target"])

    stage_paths = {s["path"] for s in result["stages_us"]}
    assert stage_paths == {"send", "receive"}
    assert result["fixture"]["records_1000"] == 2 * 999 + 2 * 100

    # The table goes to stdout too.
    for name in EXPECTED_ROWS:
        assert name in proc.stdout
