"""What a failing fault test prints: the seed and round it noted, each node's process state and log tails.

No node runs here: a :class:`kit.Node` is given a stand-in process (``sleep``) that dies by
SIGKILL behind the test's back, and a ``node.log``; :func:`kit.failure_report` must say the
process ended not by the test, and by which signal, and show the log's last lines.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.faults import kit


def test_the_report_names_seed_round_death_and_log_tail(tmp_path: Path) -> None:
    kit.note(seed=1234, round=84)
    node = kit.Node(tmp_path, "alice")
    logs = node.root / "logs"
    logs.mkdir(parents=True)
    (logs / "node.log").write_text("".join(f"line {i}\n" for i in range(100)))
    (node.root / "stderr.log").write_text("")
    node.proc = subprocess.Popen(["sleep", "60"], text=True)
    kit.WATCHED.append(node)
    try:
        os.kill(node.proc.pid, signal.SIGKILL)  # not through node.kill(): nobody told the harness
        node.proc.wait(10)
        report = kit.failure_report()
    finally:
        node.proc = None
    assert "seed 1234, round 84" in report
    assert "ENDED, NOT BY THE TEST: killed by signal SIGKILL" in report
    assert "line 99" in report and f"line {99 - kit.TAIL_LINES}" not in report
    assert "(stderr.log is empty)" in report
    assert "control.sock absent" in report and "node lock free" in report

    node.proc = None  # as after node.kill(): the test ended it; a short tail then
    short = kit.failure_report()
    assert "not running" in short and f"line {99 - kit.SHORT_TAIL}" not in short
