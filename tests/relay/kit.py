"""A relay process for tests, beside tests.node.harness's member peers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.node.harness import LOOPBACK, Peer, wait_until


class RelayPeer(Peer):
    """``smallsocial relay --json`` as a process; its status arrives every ``status_interval`` s."""

    def start(
        self, *extra: str, listen: str = LOOPBACK, timeout: float = 30, status_interval: float = 0.5
    ) -> str:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        args = [sys.executable, "-m", "smallsocial_tui", "relay", "--json", "--listen", listen]
        args += ["--status-interval", str(status_interval), *extra]
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
            what="the relay to listen",
        )
        if self.addr is None:
            raise AssertionError(f"relay did not start: {(self.root / 'stderr.log').read_text()}")
        return self.addr

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            self.events.append(ev)
            if ev.get("event") == "RelayStarted":
                self.addr = ev["addrs"][0]

    @property
    def status(self) -> dict[str, Any]:
        last = [e for e in self.events if e.get("event") == "RelayStatus"]
        return last[-1] if last else {}

    @property
    def key(self) -> str:
        return self.addr.rsplit("/p2p/", 1)[1] if self.addr else ""


def block(peer: Peer, *others: Peer) -> None:
    """``peer`` refuses ``others``: a simulated NAT or partition."""
    (peer.root / "blocked").write_text("".join(o.key + "\n" for o in others))


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]
