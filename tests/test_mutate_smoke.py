"""Smoke test for scripts/mutate.py: a tiny sample over one small module, twice with one seed.

It checks the promises, not the score: a table per module, a JSON report with one row
per mutant, the same mutants for the same seed, and the source file left untouched.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "mutate.py"
TESTS = "tests/protocol/test_guards_chain.py"


def _mutate(out: Path, *args: str) -> tuple[str, dict[str, Any]]:
    """``scripts/mutate.py ARGS --json OUT --quiet``: its output and its report."""
    p = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json", str(out), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=55,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout, json.loads(out.read_text())


def _run(out: Path, seed: int) -> tuple[str, dict[str, Any]]:
    return _mutate(out, "--module", "chain", "--sample", "4", "--seed", str(seed), "--tests", TESTS)


@pytest.mark.timeout(60)
def test_a_tiny_sample_runs_and_reports(tmp_path: Path) -> None:
    source = ROOT / "protocol" / "chain.py"
    before = hashlib.sha256(source.read_bytes()).hexdigest()

    stdout, report = _run(tmp_path / "a" / "mutation.json", seed=3)
    assert "module" in stdout and "score" in stdout and "\nchain " in stdout
    assert report["seed"] == 3 and report["modules"] == ["chain"]
    mutants = report["mutants"]
    assert isinstance(mutants, list) and len(mutants) == 4
    for m in mutants:
        assert m["status"] in ("killed", "timeout", "survived", "uncovered")
        assert m["key"].startswith("chain:") and m["line"] > 0
    (row,) = report["summary"]  # type: ignore[misc]
    assert row["module"] == "chain" and row["mutants"] == 4
    assert row["killed"] + row["survived"] == 4

    _, again = _run(tmp_path / "b.json", seed=3)
    assert [m["key"] for m in again["mutants"]] == [m["key"] for m in mutants]  # type: ignore[index, union-attr]
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before


def test_listing_names_every_mutant_once() -> None:
    p = subprocess.run(
        [sys.executable, str(SCRIPT), "--list", "--module", "chain"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    keys = [line.split(None, 1)[1] for line in p.stdout.splitlines()]
    assert len(keys) > 50 and len(set(keys)) == len(keys)
    assert any(":remove raise:" not in k and ":comparison:" in k for k in keys)


@pytest.mark.timeout(60)
def test_a_mutant_of_a_module_in_a_subpackage_is_the_code_its_tests_run(tmp_path: Path) -> None:
    """protocol/node/inboundcap.py: the raise that enforces the cap, removed, must fail a test.

    The child's loader once served ``protocol.node/inboundcap``, a name nothing imports, so every
    mutant of a protocol/node module ran the original code and "survived"."""
    _, report = _mutate(
        tmp_path / "m.json",
        *("--module", "node/inboundcap", "--match", "remove raise"),
        *("--tests", "tests/node/test_inbound_cap.py"),
    )
    [mutant] = report["mutants"]
    assert mutant["status"] == "killed", mutant
