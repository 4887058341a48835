"""Smoke test for scripts/bench_refusal.py: it runs, refuses every case, and writes its JSON.

Behaviour only: timings depend on the machine, so no figure is asserted here (the
attack tests in tests/attacks/test_spec_refusal.py hold a margin instead).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_refusal.py"


@pytest.mark.timeout(120)
def test_one_rep_writes_every_case(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "refusal.json"
    p = subprocess.run(
        [sys.executable, str(SCRIPT), "--reps", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert p.returncode == 0, p.stderr
    data = json.loads(out.read_text())
    rows = {r["case"]: r for r in data["rows"]}
    assert len(rows) == 19 and "worst record refusal" in p.stdout
    for name, r in rows.items():
        # every case is refused (the stranger's rekey parses, and the circle then drops it)
        assert r["parse"].endswith("Error") or r["parse"] == "TokenInvalid" or "stranger" in name, (name, r)
        assert r["bytes"] <= 262_144 or name.startswith(("token", "sync records", "pin offer"))
