"""node.log across node starts: each start appends and says so, an exit says so, a crash leaves its traceback.

A user's report is only as good as the log's last lines. A real ``smallsocial run`` is
started, SIGKILLed, started again and stopped: the log keeps the first start's lines and
gains a "log opened" line per start (with its pid), and a "log closed" line only for the
process that exited normally. A process that calls ``setup_logging`` and then crashes in
C leaves Python's fatal-error traceback at the end of node.log.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.node.harness import Peer

REPO = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def test_each_start_appends_and_a_killed_node_shows_no_exit(make_peer: Callable[[str], Peer]) -> None:
    alice = make_peer("alice")
    log = alice.root / "logs" / "node.log"
    alice.start()
    assert alice.proc is not None
    first = alice.proc.pid
    alice.kill()
    before = _lines(log)
    alice.start()
    assert alice.proc is not None
    second = alice.proc.pid
    assert alice.stop() == 0
    after = _lines(log)

    assert after[: len(before)] == before  # appended to, not started afresh
    opened = [int(m.group(1)) for line in after if (m := re.search(r"log opened: pid (\d+)", line))]
    closed = [int(m.group(1)) for line in after if (m := re.search(r"log closed: pid (\d+)", line))]
    assert opened == [first, second]
    assert closed == [second]  # the SIGKILLed node could not say goodbye
    assert "arguments: run --json" in next(line for line in after if f"pid {second}," in line)


def test_a_crash_leaves_its_traceback_in_node_log(tmp_path: Path) -> None:
    code = (
        "import faulthandler, sys\n"
        "from pathlib import Path\n"
        "from protocol.node.host import setup_logging\n"
        "setup_logging(Path(sys.argv[1]))\n"
        "faulthandler._sigsegv()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    p = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode != 0
    text = (tmp_path / "node.log").read_text(errors="replace")
    assert "log opened: pid" in text and "log closed" not in text
    assert "Fatal Python error: Segmentation fault" in text, text[-2000:]
    assert "<string>" in text.split("Fatal Python error")[1]  # where it crashed
