"""Real member nodes as separate processes, for node tests.

``Peer(tmp, "alice")`` is one profile in a temporary data dir. ``peer.cli(...)``
runs the real ``smallsocial`` command line; ``peer.start()`` launches
``smallsocial run --json`` on 127.0.0.1 and waits for its address;
``peer.stop()`` sends SIGTERM, ``peer.kill()`` SIGKILL. Reads go straight to the
peer's SQLite file. ``wait_until`` polls a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def wait_until(
    cond: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")


class Peer:
    def __init__(self, data_dir: Path, name: str) -> None:
        self.data_dir = data_dir
        self.name = name
        self.root = data_dir / "profiles" / name
        self.proc: subprocess.Popen[str] | None = None
        self.events: list[dict[str, Any]] = []
        self.addr: str | None = None
        self._reader: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "SMALLSOCIAL_DATA_DIR": str(self.data_dir), "SMALLSOCIAL_PROFILE": self.name}
        env.pop("SMALLSOCIAL_PASSPHRASE", None)
        return env

    def cli(self, *args: str, ok: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            [sys.executable, "-m", "smallsocial_tui", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if ok:
            assert p.returncode == 0, (self.name, args, p.stdout, p.stderr)
        return p

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    @property
    def key(self) -> str:
        return str(self.json("id")["key"])

    # the node process --------------------------------------------------------
    STARTED = "NodeStarted"
    """The JSON line that carries the process's listen addresses."""

    def command(self, listen: str, peers: tuple[str, ...]) -> list[str]:
        args = [sys.executable, "-m", "smallsocial_tui", "run", "--json", "--listen", listen]
        for p in peers:
            args += ["--peer", p]
        return args

    def start(self, *peers: str, listen: str = LOOPBACK, timeout: float = 30) -> str:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        args = self.command(listen, peers)
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "stderr.log", "a") as err:
            self.proc = subprocess.Popen(
                args, env=self.env, stdout=subprocess.PIPE, stderr=err, text=True, stdin=subprocess.DEVNULL
            )
        self.addr = None
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        wait_until(
            lambda: self.addr is not None or self.proc is None or self.proc.poll() is not None,
            timeout,
            what=f"{self.name} to listen",
        )
        if self.addr is None:
            raise AssertionError(f"{self.name} node did not start: {(self.root / 'stderr.log').read_text()}")
        return self.addr

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            self.events.append(ev)
            if ev.get("event") == self.STARTED:
                self.addr = ev["addrs"][0]

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _reap(self) -> int:
        assert self.proc is not None
        code = self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        return code

    def stop(self) -> int:
        """SIGTERM, then the exit code (0 for a clean shutdown)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self._reap()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def saw(self, event: str, **fields: Any) -> bool:
        return any(
            e.get("event") == event and all(e.get(k) == v for k, v in fields.items()) for e in self.events
        )

    # reading the store -------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.root / 'store.sqlite3'}?mode=ro", uri=True, timeout=10)

    def record_ids(self, circle: str) -> set[str]:
        with self._db() as db:
            rows = db.execute("SELECT id FROM records WHERE circle = ?", (bytes.fromhex(circle),))
            return {bytes(r[0]).hex() for r in rows}

    def integrity_ok(self) -> bool:
        with self._db() as db:
            return bool(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def log(self, circle: str) -> list[dict[str, Any]]:
        out = self.cli("log", circle, "--json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def texts(self, circle: str) -> list[str]:
        return [e["text"] for e in self.log(circle)]
