"""Smoke test for scripts/bench_relay.py: a tiny ``--quick`` run writes the figures it promises.

Behaviour only: timings depend on the machine (and on what else runs on it), so
no latency, CPU, memory or rate is judged here, only that each figure is there,
that direct and relayed circles both ran, that every target got a verdict, and
that no message was lost (every one reached its live receiver and the relay's
store). Both kinds of member: light ones (the default: our host stack publishing records
made beforehand, ``benchkit/relayload.py``) and whole nodes (``--members-as nodes``, whose
sync fills what gossip drops).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_relay.py"

LATENCY_KEYS = {"circles", "expected", "delivered", "lost", "not_stored_by_relay", "p50_ms", "p99_ms"}
CPU_KEYS = {"cpu_pct_one_core", "cpu_s", "wall_s", "members_cpu_cores"}


@pytest.mark.timeout(150)
@pytest.mark.parametrize("members_as", ["light", "nodes"])
def test_quick_tiny_run_writes_expected_json_and_loses_nothing(tmp_path: Path, members_as: str) -> None:
    out = tmp_path / "nested" / "relay.json"
    args = ["--quick", "--circles", "4", "--rate", "8", "--duration", "3", "--workers", "1"]
    args += ["--members-as", members_as]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--settle", "60", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file(), "the JSON file was not written (its folder should be created)"

    result = json.loads(out.read_text())
    assert result["benchmark"] == "relay" and result["mode"] == "quick"
    for key in ("python", "cpu_count", "platform", "libp2p", "loadavg"):
        assert result["machine"][key], key
    plan = result["plan"]
    assert (plan["circles"], plan["members"], plan["live"], plan["rate"]) == (4, 5, 2, 8.0)
    assert "simulated" in result and "offline" in result["simulated"]

    res = result["results"]
    assert res["setup"]["relay_circles"] == 4  # the relay took every pinned circle
    assert res["setup"]["live_nodes"] == 8
    assert res["setup"]["members_as"] == members_as
    relay = res["relay"]
    assert set(relay["busy"]) >= CPU_KEYS and set(relay["idle"]) >= CPU_KEYS
    assert relay["rss_mib"]["peak"] > 0 and relay["rss_mib"]["end"] > 0
    assert relay["store_rate_per_s"] is not None and relay["store_rate_per_s"] > 0
    assert relay["exit_code"] == 0  # SIGTERM stops it cleanly
    # CPU per message counts the drain after sending: the relay's count still for DRAINED_S
    assert relay["drain"]["wall_s"] >= 2.5  # bench_relay.DRAINED_S
    cpu_s = relay["busy"]["cpu_s"] + relay["drain"]["cpu_s"]
    assert relay["cpu_ms_per_message"] == round(1000 * cpu_s / res["send"]["acked"], 2)
    assert res["members"]["exit_codes"] == [0]

    acked = res["send"]["acked"]
    assert acked > 0 and res["send"]["failed"] == 0
    for kind in ("direct", "relayed"):
        lat = res["latency"][kind]
        assert set(lat) >= LATENCY_KEYS, kind
        assert lat["circles"] == 2
        assert lat["expected"] > 0 and lat["p50_ms"] is not None and lat["p99_ms"] is not None
        assert lat["lost"] == 0 and lat["not_stored_by_relay"] == 0, kind
    assert res["latency"]["direct"]["expected"] + res["latency"]["relayed"]["expected"] == acked
    assert res["latency_ratio_p50"] is not None and res["latency_ratio_p50"] > 0
    loss = res["loss"]
    assert loss["lost"] == 0 and loss["not_stored_by_relay"] == 0 and loss["wrong_receiver"] == 0
    assert result["baseline"]["p50_ms"] == res["latency"]["direct"]["p50_ms"]

    verdicts = {t["target"]: t["verdict"] for t in result["targets"]}
    assert len(verdicts) == 3
    assert all(v in {"PASS", "MISS"} for v in verdicts.values())
    assert verdicts["messages lost (live receivers + relay store)"] == "PASS"

    assert "targets:" in proc.stdout and "relayed latency" in proc.stdout


def test_a_light_sender_has_a_record_for_every_slot_of_a_phase() -> None:
    """The send phase gives each sender a slot every period from an offset under one period."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from benchkit.relayload import per_sender

    for duration, period in ((60.0, 1.0), (5.0, 1.0), (3.0, 0.4), (8.0, 3.0)):
        for offset in (0.0, period / 2, period * 0.999):
            slots = sum(1 for j in range(10_000) if offset + j * period < duration)
            assert per_sender(duration, period) >= slots, (duration, period, offset)
