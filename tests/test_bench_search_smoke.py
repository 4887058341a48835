"""Smoke test for scripts/bench_search.py: it runs, and writes the rows it promises.

Behaviour only (the figures depend on the machine): every query finds what the generated
history holds, and the baselines of the same run are there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(180)
def test_bench_search_quick(tmp_path: Path) -> None:
    out = tmp_path / "search.json"
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_search.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    res = json.loads(out.read_text())
    assert res["messages"] == 2000
    rows = {r["query"]: r for r in res["rows"]}
    assert list(rows) == ["rare word", "common word", "prefix", "phrase", "common word, one circle"]
    assert rows["rare word"]["matching"] == 3 == rows["rare word"]["returned_of_200"]
    assert rows["common word"]["returned_of_200"] == 200
    assert rows["common word, one circle"]["returned_of_200"] > 0
    for r in rows.values():
        assert r["index"]["p50_ms"] > 0 and r["answer"]["p50_ms"] > 0
    assert rows["rare word"]["like_baseline"]["p50_ms"] > 0 and res["decrypt_all_baseline"]["p50_ms"] > 0
    assert res["ingest_us_per_message"]["with_index"] > 0 and res["search_bytes"] > 0
