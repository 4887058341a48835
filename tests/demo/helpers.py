"""Shared helpers for the demo tests: processes by command line, the CLI, polling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text`` (zombies have none)."""
    found = []
    needle = text.encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "cmdline").read_bytes():
                found.append(int(d.name))
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    try:
        return state.read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def cli(data_dir: str, profile: str, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLSOCIAL_")}
    cmd = [sys.executable, "-m", "smallsocial_tui", "--data-dir", data_dir, "--profile", profile]
    p = subprocess.run(
        [*cmd, *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    if args[0] == "log":
        return [json.loads(line) for line in lines]
    return json.loads(p.stdout)


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
