"""``run_demo`` end to end: the printed conversation, a stand-in TUI, and being killed."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import smallsocial_tui.demo as demo_mod
from smallsocial_tui.demo import run_demo
from smallsocial_tui.demo.world import YOU
from tests.demo.helpers import alive, processes_mentioning, wait_until

pytestmark = pytest.mark.timeout(90)

DIR = re.compile(r"/\S*smallsocial-demo-[A-Za-z0-9_]+")


def test_no_tui_prints_the_conversation_and_keeps_data_when_asked() -> None:
    out = io.StringIO()
    code = run_demo(
        friends=1, keep=True, tui=False, interval=(0.5, 1.0), fork_after=(1.5, 1.5), duration=8, out=out
    )
    text = out.getvalue()
    assert code == 0, text
    data_dir = DIR.search(text)
    assert data_dir, text
    try:
        assert "[demo-friends] alice:" in text
        assert "invited to the side circle side-quest" in text
        assert f"The demo's data is kept in {data_dir.group(0)}" in text
        assert processes_mentioning(data_dir.group(0)) == []
    finally:
        shutil.rmtree(data_dir.group(0), ignore_errors=True)


def test_the_tui_gets_you_with_friends_online_and_cleanup_follows(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_run_app(data_dir: str | None, profile: str | None) -> int:
        assert data_dir is not None
        seen["dir"] = data_dir
        seen["profile"] = profile
        seen["you"] = (Path(data_dir) / "profiles" / YOU / "identity.key").exists()
        seen["pids"] = pids = processes_mentioning(data_dir)
        seen["alive"] = all(alive(p) for p in pids)
        return 0

    monkeypatch.setattr(demo_mod, "_tui_runner", lambda: fake_run_app)
    out = io.StringIO()
    assert run_demo(friends=2, tui=True, out=out) == 0
    assert seen["profile"] == YOU and seen["you"] and seen["alive"]
    assert len(seen["pids"]) == 2  # type: ignore[arg-type]
    assert "Opening smallsocial as 'you'" in out.getvalue()
    assert not any(alive(p) for p in seen["pids"])  # type: ignore[attr-defined]
    assert not Path(str(seen["dir"])).exists()


def test_a_tui_that_crashes_still_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, str] = {}

    def crashing_run_app(data_dir: str | None, profile: str | None) -> int:
        seen["dir"] = str(data_dir)
        raise RuntimeError("boom")

    monkeypatch.setattr(demo_mod, "_tui_runner", lambda: crashing_run_app)
    with pytest.raises(RuntimeError, match="boom"):
        run_demo(friends=1, tui=True, out=io.StringIO())
    assert processes_mentioning(seen["dir"]) == []
    assert not Path(seen["dir"]).exists()


def _read_until(proc: subprocess.Popen[str], lines: list[str], want: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if want in line:
            return
    raise AssertionError("the demo ended early:\n" + "".join(lines))


@pytest.mark.parametrize(
    ("sig", "code", "args"),
    [
        # the demo's own entry point, with short bot intervals
        (
            signal.SIGTERM,
            143,
            ["-m", "smallsocial_tui.demo", "--no-tui", "--friends", "2", "--interval", "0.5", "1"],
        ),
        # `smallsocial demo` without a terminal prints instead of opening the TUI; ctrl-c ends it
        (signal.SIGINT, 0, ["-m", "smallsocial_tui", "demo", "--friends", "1"]),
        # ... even when started the way a shell starts a background job (`demo &` in a
        # script, a CI runner): with SIGINT ignored, which Python would keep
        (signal.SIGINT, 0, ["-m", "smallsocial_tui", "demo", "--friends", "1", "--sigint-ignored"]),
    ],
)
def test_killing_the_demo_cleans_up(sig: int, code: int, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLSOCIAL_")}
    ignored = "--sigint-ignored" in args
    args = [a for a in args if a != "--sigint-ignored"]
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored else None,
    )
    lines: list[str] = []
    try:
        _read_until(proc, lines, "Press Ctrl-C")
        data_dir = DIR.search("".join(lines))
        assert data_dir, lines
        children = processes_mentioning(data_dir.group(0))
        assert len(children) >= 2, children  # friends and "you"
        _read_until(proc, lines, "[demo-friends] alice:")
        proc.send_signal(sig)
        assert proc.stdout is not None
        rest = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
        rest.start()
        assert proc.wait(30) == code, "".join(lines)
        rest.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    wait_until(lambda: not any(alive(p) for p in children), 10, "the demo's nodes to exit")
    assert processes_mentioning(data_dir.group(0)) == []
    assert not Path(data_dir.group(0)).exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_demo_killed_outright_leaves_no_node_running() -> None:
    """SIGKILL gives no chance to clean up; the nodes still go (the data dir stays, in /tmp)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLSOCIAL_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallsocial_tui.demo", "--no-tui", "--friends", "1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    data_dir = None
    try:
        _read_until(proc, lines, "Press Ctrl-C")
        data_dir = DIR.search("".join(lines))
        assert data_dir, lines
        children = processes_mentioning(data_dir.group(0))
        assert len(children) == 2, children
        proc.kill()
        proc.wait(10)
        wait_until(lambda: not any(alive(p) for p in children), 15, "the orphaned nodes to stop")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if data_dir:
            shutil.rmtree(data_dir.group(0), ignore_errors=True)
