"""CI's short fuzzing pass: the committed seed corpus plus a few thousand mutants, 0 failures.

The same harness as ``scripts/fuzz`` (``scripts/fuzzkit.py``: :func:`check_one` and the
targets), on the dependency-free ``mutate`` engine, so it needs only the ``test`` extra;
atheris (the ``fuzz`` extra) is for the long coverage-guided run. A failure message
names the exception and where it was raised; ``scripts/fuzz --target NAME`` saves
the inputs under ``fuzz-crashes/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import fuzzkit  # noqa: E402

MUTANTS = 2000
"""Per target; the whole pass takes a few seconds."""
CI_SLOW_MS = 250.0
"""CI machines are shared and noisy: here "slow" means a hang in small. scripts/fuzz checks 50 ms."""


@pytest.fixture(autouse=True)
def _ci_slow_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fuzzkit, "SLOW_MS", CI_SLOW_MS)


def test_every_target_has_a_committed_corpus() -> None:
    for name in fuzzkit.TARGETS:
        d = fuzzkit.CORPUS_DIR / name
        assert d.is_dir() and any(d.iterdir()), f"no seeds for {name}: run scripts/fuzz --make-corpus"
    size = sum(p.stat().st_size for p in fuzzkit.CORPUS_DIR.rglob("*") if p.is_file())
    assert size < 300_000


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(fuzzkit.TARGETS))
def test_short_pass_finds_nothing(name: str) -> None:
    target = fuzzkit.TARGETS[name]
    seeds = len(fuzzkit.load_corpus(target))
    stats = fuzzkit.run_mutation(target, seeds + MUTANTS, seed=0, crash_dir=None)
    assert stats.inputs == seeds + MUTANTS
    assert stats.failures == 0, stats.signatures


@pytest.mark.parametrize("name", sorted(fuzzkit.TARGETS))
def test_seeds_decode(name: str) -> None:
    # The corpus is worth something only if most of it gets past the first check.
    target = fuzzkit.TARGETS[name]
    ok = 0
    for data in fuzzkit.load_corpus(target):
        try:
            target.run(data)
        except BaseException as e:
            assert target.allowed(e), repr(e)
        else:
            ok += 1
    assert ok >= 1


def _target(fn: object) -> fuzzkit.Target:
    return fuzzkit.Target("probe", "a probe", fn, dict)  # type: ignore[arg-type]


def test_harness_reports_what_breaks_the_contract() -> None:
    def index_error(data: bytes) -> None:
        raise IndexError(data)

    def round_trip(data: bytes) -> None:
        fuzzkit.expect(False, "comes back different")

    def protocol_error(data: bytes) -> None:
        fuzzkit.wire.decode(b"\xc1", 10)

    s = fuzzkit.run_inputs(_target(index_error), [b"a", b"b"])
    assert (s.crashes, s.roundtrip) == (2, 0)
    assert len(s.signatures) == 1
    assert s.signatures[0].startswith("crash: IndexError at test_fuzz_corpus.py:")
    assert s.signatures[0].endswith(" in index_error")
    s = fuzzkit.run_inputs(_target(round_trip), [b"a"])
    assert (s.crashes, s.roundtrip) == (0, 1)
    assert fuzzkit.run_inputs(_target(protocol_error), [b"a"]).failures == 0


def test_bundle_value_errors_are_allowed_only_from_decode_bundle() -> None:
    bundle = fuzzkit.TARGETS["bundle"]
    assert fuzzkit.run_inputs(bundle, [b"not a bundle", b"SSB1\x00\x00"]).failures == 0
    try:
        int("x")
    except ValueError as e:
        assert not bundle.allowed(e)


def test_hang_guard_interrupts_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fuzzkit, "HANG_S", 0.2)

    def hang(data: bytes) -> None:
        while True:
            pass

    with fuzzkit.hang_guard():
        s = fuzzkit.run_inputs(_target(hang), [b"a"])
    assert s.crashes == 1 and s.signatures[0].startswith("crash: Hang")


def test_sync_regression_input_is_fast() -> None:
    # The vector that made sync.plan list 2**63 seqs (fixed in protocol/sync.py).
    data = (fuzzkit.CORPUS_DIR / "sync" / "regress_vector_huge_seq").read_bytes()
    failure, ms = fuzzkit.check_one(fuzzkit.TARGETS["sync"], data)
    assert failure is None and ms < CI_SLOW_MS


@pytest.mark.timeout(120)
def test_command_writes_json_and_a_table(tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "fuzz"), "--engine", "mutate", "--runs", "600"]
    cmd += ["--target", "wire", "--target", "token", "--json", str(out), "--crash-dir", str(tmp_path)]
    p = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "target" in p.stdout and "total" in p.stdout
    report = json.loads(out.read_text())
    assert report["inputs"] == 600 and report["failures"] == 0
    assert [t["target"] for t in report["targets"]] == ["wire", "token"]
    assert {"inputs", "crashes", "roundtrip", "slow", "exec_s", "max_ms"} <= set(report["targets"][0])


def test_slow_under_instrumentation_is_timed_again_without_it(tmp_path: Path) -> None:
    target = fuzzkit.TARGETS["wire"]
    (tmp_path / "wire").mkdir()
    (tmp_path / "wire" / "slow-0123").write_bytes(b"\x90")
    (tmp_path / "wire" / "slow-0123.txt").write_text("slow: one input took 61 ms")
    stats = fuzzkit.Stats("wire", "atheris", inputs=10, slow=1, signatures=["slow: one input took 61 ms"])
    fuzzkit.recheck_slow(target, stats, tmp_path)
    assert (stats.slow, stats.slow_instrumented, stats.signatures, stats.failures) == (0, 1, [], 0)
    assert not any((tmp_path / "wire").iterdir())
