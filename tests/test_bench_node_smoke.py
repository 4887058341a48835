"""Smoke test for scripts/bench_node.py: ``--quick`` runs and writes the figures it promises.

Behaviour only: timings depend on the machine (and on what else runs on it), so
no latency, rate, memory or time is judged here, only that each is there, that
the two systems ran side by side, and that every target got a verdict.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_node.py"

SYSTEMS = ("bare", "smallsocial")
LATENCY_RATES = {"5", "50"}
PHASE_KEYS = {"expected", "delivered", "lost", "p50_ms", "p99_ms", "achieved_rate", "pass", "cpu"}
CATCHUP_KEYS = {"received", "from_spawn_s", "from_listening_s", "startup_s"}


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
    assert set(result["sizes"]) == {"2"}

    for system in SYSTEMS:
        res = result["sizes"]["2"][system]
        assert res["members"] == 2 and res["system"] == system
        assert res["connect"]["connect_ms"]["n"] == 1  # member 1 dials member 0
        assert res["connect"]["mesh_sizes"] == [1, 1]
        assert set(res["latency"]) == LATENCY_RATES
        for rate, phase in res["latency"].items():
            assert set(phase) >= PHASE_KEYS, (system, rate)
            assert phase["receivers"] == 1
            assert 0 <= phase["delivered"] <= phase["expected"]
        search = res["search"]
        assert search["steps"], system
        for step in search["steps"]:
            assert set(step) >= PHASE_KEYS
        best = search["highest_zero_loss"]
        assert best is None or any(s["offered_rate"] == best and s["pass"] for s in search["steps"])
        assert len(res["rss"]["per_member_mib"]) == 2 and res["rss"]["mean_mib"] > 0
        assert len(res["rss_idle"]["per_member_mib"]) == 2 and res["rss_idle"]["mean_mib"] > 0
        assert res["stop"]["stop_s"]["n"] == 2
    smallsocial = result["sizes"]["2"]["smallsocial"]
    assert smallsocial["stop"]["all_clean"] is True
    for phase in smallsocial["latency"].values():
        assert set(phase["stages"]) >= {"submit_to_sent_p50_ms", "published_to_committed_p50_ms"}
        assert phase["lost"] == 0  # every acknowledged message committed at the receiver

    catchup = result["catchup"]
    assert catchup["n"] == 2000
    for system in SYSTEMS:
        assert set(catchup[system]) >= CATCHUP_KEYS, system
        assert catchup[system]["received"] == catchup["n"]

    verdicts = {(t["members"], t["target"]): t["verdict"] for t in result["targets"]}
    assert len(verdicts) == 6 + 1  # six for N = 2, and the catch-up
    assert any(target.startswith("catch-up of 2,000") for _, target in verdicts)
    assert all(v in {"PASS", "MISS", "n/a"} for v in verdicts.values())

    # The table and the verdicts go to stdout too.
    assert "bare gossipsub" in proc.stdout and "smallsocial" in proc.stdout
    assert "targets:" in proc.stdout and "catch-up" in proc.stdout
