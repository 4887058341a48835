"""Smoke test for scripts/bench_node.py: ``--quick`` runs and writes the rows it promises.

Behaviour only: timings depend on the machine (and on what else runs on it), so
no latency, throughput or memory figure is judged here, only that each is there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_node.py"

LATENCY_ROWS = {"paced 50 msg/s", "burst (unpaced)"}
CATCHUP_ROW = "catch-up 1,000 missed"
MEMORY_ROW = "RSS of the receiving process"
PHASE_KEYS = {"sent", "delivered", "delivery_pct", "p50_ms", "p99_ms", "throughput_msg_s"}
CATCHUP_KEYS = {"n", "received", "from_spawn_s", "from_ready_s", "startup_s"}


@pytest.mark.timeout(180)
def test_quick_run_writes_expected_json(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "bench_node.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file(), "the JSON file was not written (its folder should be created)"

    result = json.loads(out.read_text())
    assert result["benchmark"] == "node" and result["mode"] == "quick"
    for key in ("python", "cpu_count", "platform", "libp2p"):
        assert result["machine"][key], key

    rows = {row["name"]: row for row in result["rows"]}
    assert set(rows) == {*LATENCY_ROWS, CATCHUP_ROW, MEMORY_ROW}
    for name in LATENCY_ROWS:
        row = rows[name]
        assert row["kind"] == "latency"
        for system in ("baseline", "smallsocial"):
            assert set(row[system]) >= PHASE_KEYS, (name, system)
            assert row[system]["sent"] == row["n"]
            assert 0 <= row[system]["delivered"] <= row["n"]
        assert {"p50", "p99", "throughput"} <= set(row["ratio"])
        assert set(row["stages"]) >= {"submit_to_sent_p50_ms", "published_to_received_p50_ms"}

    catchup = rows[CATCHUP_ROW]
    for system in ("baseline", "smallsocial"):
        assert set(catchup[system]) >= CATCHUP_KEYS, system
        assert catchup[system]["received"] == catchup["n"] == 1000
    assert {"from_spawn", "from_ready"} <= set(catchup["ratio"])

    memory = rows[MEMORY_ROW]
    for system in ("baseline", "smallsocial"):
        assert memory[system]["rss_mib"] > 0
    assert result["smallsocial_extra"]["sender_stop"]["stopped"] is True

    # The table goes to stdout too.
    for name in LATENCY_ROWS:
        assert name in proc.stdout
    assert "catch-up" in proc.stdout and "RSS" in proc.stdout
