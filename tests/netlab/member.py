"""A member as a user runs it, inside one lab host: ``smallsocial run`` with no ``--listen``.

Every command (``id``, ``invite``, ``join``, ``send``, ``log``) runs in the
host's namespace too (``ip netns exec``, which execs, so a process's pid is the
program's own). Discovery is on: the suite's ``SMALLSOCIAL_DISCOVERY=off`` is
for everything outside the lab.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from protocol.node.reach import ENV
from tests.netlab.lab import Lab
from tests.node.harness import Peer


class Member(Peer):
    def __init__(self, lab: Lab, host: str, data_dir: Path, name: str) -> None:
        super().__init__(data_dir, name)
        self.lab = lab
        self.host = host
        self.extra_env: dict[str, str] = {}

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, ENV: "on", **self.extra_env}

    def cli(self, *args: str, ok: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            self.lab.cmd(self.host, sys.executable, "-m", "smallsocial_tui", *args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if ok:
            assert p.returncode == 0, (self.name, args, p.stdout, p.stderr)
        return p

    def command(self, listen: str, peers: tuple[str, ...]) -> list[str]:
        args = self.lab.cmd(self.host, sys.executable, "-m", "smallsocial_tui", "run", "--json")
        for p in peers:
            args += ["--peer", p]
        return args

    def started(self) -> dict[str, Any]:
        return next(e for e in self.events if e.get("event") == "NodeStarted")

    def announced(self) -> list[str]:
        """The addresses the node gives friends now (the last NodeStarted or AddressesChanged)."""
        ev = [e for e in self.events if e.get("event") in ("NodeStarted", "AddressesChanged")]
        return list(ev[-1]["addrs"]) if ev else []

    def reach(self) -> str:
        """The reachability state the node last reported ("" before its first report)."""
        ev = [e for e in self.events if e.get("event") == "Reachability"]
        return str(ev[-1]["state"]) if ev else ""

    def peer_addrs(self) -> list[str]:
        """Addresses this member's store holds for others (tokens, presence, connections)."""
        with self._db() as db:
            return [str(r[0]) for r in db.execute("SELECT addr FROM peer_addrs")]
