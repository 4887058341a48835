"""Benchmark processes on the shared process harness, and what they cost (CPU seconds, RSS).

:class:`Worker` is :class:`smallsocial_tui.nodeproc.JsonProc` with the workers' protocol
(:mod:`benchkit.wire`): commands on stdin, replies matched by ``"q"``, every other line kept
in :attr:`Worker.lines` with ``"t_read"`` (``time.time()`` when it was read).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from smallsocial_tui.nodeproc import Event, JsonProc

ROOT = Path(__file__).resolve().parents[2]


def die_with_parent() -> None:
    """In a child before exec: get SIGTERM if the benchmark process dies, so nothing is left behind."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Worker(JsonProc):
    """One benchmark process (started at once); its stdout lines are parsed and kept as they arrive."""

    def __init__(
        self,
        name: str,
        args: list[str],
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        orphan_dies: bool = False,
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            name,
            stderr_path=log_dir / f"{name}.stderr",
            stdin=True,
            cwd=ROOT,
            preexec=die_with_parent if orphan_dies else None,
        )
        self.lines = self.events
        self.replies: dict[Any, Event] = {}
        self._q = itertools.count(1)
        self.spawn(args, env)

    @classmethod
    def script(cls, script: Path, role: str, cfg: dict[str, Any], log_dir: Path, name: str) -> Worker:
        """``SCRIPT --worker ROLE CONFIG``: how every benchmark script runs its own workers."""
        return cls(name, [sys.executable, str(script), "--worker", role, json.dumps(cfg)], log_dir)

    def take(self, obj: Event) -> None:
        obj.setdefault("t_read", time.time())
        if obj.get("ev") == "reply":
            self.replies[obj.get("q")] = obj
        else:
            self.events.append(obj)

    def line(self, ev: str, **match: Any) -> Event | None:
        """The first line with ``"ev": ev`` and these fields."""
        return self.find(ev, key="ev", **match)

    def first(self, ev: str, **match: Any) -> Callable[[], Event | None]:
        """A condition for :meth:`wait_for`: that line has arrived."""
        return lambda: self.line(ev, **match)

    def ask(self, op: dict[str, Any]) -> int:
        q = next(self._q)
        self.send({**op, "q": q})
        return q

    def answer(self, q: int, timeout: float, what: str) -> dict[str, Any]:
        return self.wait_for(lambda: self.replies.pop(q, None), timeout, what)  # type: ignore[no-any-return]

    def request(self, op: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        return self.answer(self.ask(op), timeout, op["op"])

    def rss(self) -> dict[str, float | None]:
        assert self.proc is not None
        return rss_of(self.proc.pid)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_of(pid: int) -> dict[str, float | None]:
    """Resident set size now and its peak, in MiB (psutil if present, else /proc)."""
    rss: float | None = None
    hwm: float | None = None
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        rss = psutil.Process(pid).memory_info().rss / 2**20
    except Exception:
        pass
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, val = line.partition(":")
            if key == "VmRSS" and rss is None:
                rss = int(val.split()[0]) / 1024
            elif key == "VmHWM":
                hwm = int(val.split()[0]) / 1024
    except OSError:
        pass
    return {
        "rss_mib": None if rss is None else round(rss, 1),
        "peak_mib": None if hwm is None else round(hwm, 1),
    }
