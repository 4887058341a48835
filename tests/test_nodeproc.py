"""The shared process harness (smallsocial_tui.nodeproc) on small real child processes.

The node and relay side (start, control socket, stop, kill) is exercised by every kit that
builds on it (tests/node, tests/faults, tests/relay, tests/netlab, the demo); here are the
parts those do not pin down: arrival stamps, stdin commands, ending by pid, and the
sentence when a process ends before the line awaited.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from smallsocial_tui.nodeproc import ARRIVAL, JsonProc, NodeProc, ProcError

pytestmark = pytest.mark.timeout(60)

ECHO = (
    "import json, sys\n"
    "print(json.dumps({'ev': 'ready'}), flush=True)\n"
    "print('not json', flush=True)\n"
    "for line in sys.stdin:\n"
    "    print(json.dumps({'ev': 'echo', **json.loads(line)}), flush=True)\n"
)


def test_lines_are_kept_with_their_arrival_and_commands_go_in_on_stdin(tmp_path: Path) -> None:
    p = JsonProc("echo", stderr_path=tmp_path / "echo.stderr", stdin=True)
    seen: list[dict[str, object]] = []
    p.subscribe(seen.append)
    p.spawn([sys.executable, "-c", ECHO])
    try:
        assert p.wait_for(lambda: p.find("ready", key="ev"), 20, "ready")
        p.send({"n": 7})
        echo = p.wait_for(lambda: p.find("echo", key="ev", n=7), 20, "the echo")
        assert isinstance(echo[ARRIVAL], float) and echo[ARRIVAL] >= p.events[0][ARRIVAL]
        assert [e["ev"] for e in p.events] == ["ready", "echo"]  # the line that is no JSON is skipped
    finally:
        code = p.close(timeout=10)
    assert code == 0 and len(seen) == 2


def test_a_process_that_ends_first_is_reported_with_its_stderr(tmp_path: Path) -> None:
    p = JsonProc("short", stderr_path=tmp_path / "short.stderr")
    p.spawn([sys.executable, "-c", "import sys; sys.exit('no address today')"])
    with pytest.raises(ProcError, match=r"(?s)it ended waiting for its address.*no address today"):
        p.wait_for(lambda: None, 20, "its address")
    assert p.reap() == 1


def test_stop_and_kill_go_by_pid_and_leave_no_process(tmp_path: Path) -> None:
    node = NodeProc(tmp_path, "x")
    node.spawn([sys.executable, "-c", "import time; time.sleep(60)"])
    pid = node.pid
    assert pid is not None and node.running()
    node.kill()
    assert node.proc is None and not node.running()
    node.spawn([sys.executable, "-c", "import time; time.sleep(60)"])
    assert node.stop(10) == -signal.SIGTERM  # a plain python ends by the signal; a node exits 0
    assert node.proc is None
