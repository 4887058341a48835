"""The logic of ``scripts/stress``: run the long (``slow``) fault tests and tabulate their figures.

Each fault test appends one JSON line of measured figures to the file named by
``$SMALLSOCIAL_STRESS_REPORT`` (see ``tests/faults/kit.py``); ``SMALLSOCIAL_STRESS=1``
selects the long settings and un-skips the ``slow`` tests. This runs pytest once in a
child process (``nice -n 5``), then prints one row per test: what it asserted held
(pass/fail from pytest) and the figures it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench-results"
PATHS = ["tests/faults", "tests/attacks/test_foreign_flood.py", "tests/relay/test_files_big.py"]

ROWS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # test name -> (fault, [(label, figure key)])
    "kill9": (
        "kill -9 loop",
        [
            ("rounds", "rounds"),
            ("acked", "acked"),
            ("lost", "lost"),
            ("duplicates", "duplicates"),
            ("integrity ok", "integrity_ok"),
            ("rekey rounds", "rekey_rounds"),
            (
                "rekeys acked / done unacked / not done",
                "rekey_acked|rekey_committed_unacked|rekey_not_committed",
            ),
            ("restart p50 s (until control.sock answers)", "restart_s_p50"),
            ("control.sock lag p50/max s", "control_after_start_s_p50|control_after_start_s_max"),
            ("peer caught up p50/max s", "bob_caught_up_s_p50|bob_caught_up_s_max"),
        ],
    ),
    "partition": (
        "partition and heal",
        [
            ("rounds", "rounds"),
            ("posted", "posted"),
            ("heal s (each round)", "heal_s"),
            ("heal max s", "heal_s_max"),
            ("within 10 s", "within_10s"),
            ("records", "records"),
            ("kept by d past the cut", "kept_by_d_past_cut"),
        ],
    ),
    "disk_full": (
        "disk full",
        [
            ("mode", "mode"),
            ("cycles", "cycles"),
            ("acked", "acked"),
            ("refused", "refused"),
            ("lost", "lost"),
            ("integrity", "integrity"),
            ("CLI says", "cli_refusal"),
        ],
    ),
    "flood": (
        "flood (non-member)",
        [
            ("rate", "rate_achieved"),
            ("flooding hosts", "flooding_peers"),
            ("published", "published"),
            ("reached alice's validator", "dropped_by_alice_validator"),
            ("stored", "stored_from_flood"),
            ("honest msgs", "honest"),
            ("baseline p50/p99 ms", "baseline.p50_ms|baseline.p99_ms"),
            ("flood p50/p99 ms", "flood.p50_ms|flood.p99_ms"),
            ("p99 ratio", "p99_ratio"),
        ],
    ),
    "foreign_flood": (
        "key-rotating js-libp2p flood, 1 MB every tenth message",
        [
            ("window s", "window_s"),
            ("attacker on a CPU of its own", "attacker_pinned"),
            ("identities", "identities"),
            ("published / 1 MB", "published|megabyte_messages"),
            ("quiet p50/p99 ms", "baseline.p50_ms|baseline.p99_ms"),
            ("attacker's processes alone p50/p99 ms", "control.p50_ms|control.p99_ms"),
            ("flood p50/p99 ms", "flood.p50_ms|flood.p99_ms"),
            ("p99 ratio control / flood", "control_p99_ratio|flood_p99_ratio"),
            (
                "alice CPU % quiet / control / flood",
                "baseline.alice_cpu_pct|control.alice_cpu_pct|flood.alice_cpu_pct",
            ),
        ],
    ),
}


def _get(figures: dict[str, Any], key: str) -> Any:
    value: Any = figures
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return "–"
        value = value[part]
    return value


def _cell(figures: dict[str, Any], key: str) -> str:
    return " / ".join(str(_get(figures, k)) for k in key.split("|"))


def table(lines: list[dict[str, Any]], outcomes: dict[str, str]) -> str:
    """One Markdown table per test that reported, in the order they ran."""
    out = []
    for figures in lines:
        name = str(figures.get("test", "?"))
        fault, cols = ROWS.get(name, (name, [(k, k) for k in sorted(figures) if k != "test"]))
        verdict = outcomes.get(name, "?")
        out.append(f"### {fault} — {verdict}\n")
        out.append("| " + " | ".join(label for label, _ in cols) + " |")
        out.append("|" + " --- |" * len(cols))
        out.append("| " + " | ".join(_cell(figures, key) for _, key in cols) + " |\n")
    return "\n".join(out)


def _outcomes(junit: Path) -> dict[str, str]:
    """pass/fail per reported test name, from pytest's junit XML (test_<name>... -> name)."""
    import xml.etree.ElementTree as ET

    names = {
        "test_kill_minus_9_loop": "kill9",
        "test_partition_and_heal": "partition",
        "test_disk_full_refuses_then_recovers": "disk_full",
        "test_flood_from_a_non_member": "flood",
        "test_key_rotating_flood_with_megabyte_messages_leaves_honest_traffic_flowing": "foreign_flood",
    }
    out: dict[str, str] = {}
    if not junit.exists():
        return out
    for case in ET.parse(junit).getroot().iter("testcase"):
        base = case.get("name", "").split("[")[0]
        name = names.get(base, base)
        if case.find("skipped") is not None:
            verdict = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            verdict = "FAILED"
        else:
            verdict = "passed"
        out[name] = verdict
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/stress", description=__doc__)
    ap.add_argument("-k", dest="keyword", help="pytest -k expression: run only matching tests")
    ap.add_argument("--markdown", type=Path, help="also write the summary table to this file")
    ap.add_argument("--no-nice", action="store_true", help="do not lower the tests' priority")
    args = ap.parse_args(argv)

    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = RESULTS / f"stress-{stamp}.jsonl"
    junit = RESULTS / f"stress-{stamp}.xml"
    env = {**os.environ, "SMALLSOCIAL_STRESS": "1", "SMALLSOCIAL_STRESS_REPORT": str(report)}
    cmd = [sys.executable, "-m", "pytest", "-m", "slow", *PATHS, "-q", "-p", "no:cacheprovider"]
    cmd += ["-o", "junit_family=xunit2", f"--junitxml={junit}", "-rA"]
    if args.keyword:
        cmd += ["-k", args.keyword]
    if not args.no_nice:
        cmd = ["nice", "-n", "5", *cmd]
    print("$", " ".join(cmd), flush=True)
    t0 = time.monotonic()
    code = subprocess.call(cmd, cwd=REPO, env=env)
    took = time.monotonic() - t0

    lines = []
    if report.exists():
        lines = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    text = table(lines, _outcomes(junit))
    summary = f"## Long fault tests ({took / 60:.1f} min, pytest exit {code})\n\n{text}\nfigures: {report}\n"
    print("\n" + summary)
    if args.markdown:
        args.markdown.write_text(summary)
    return code


if __name__ == "__main__":
    sys.exit(main())
