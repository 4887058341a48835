"""A member as a user runs it, inside one lab host: ``smallsocial run`` with no ``--listen``.

Every command (``id``, ``invite``, ``join``, ``send``, ``log``) runs in the
host's namespace too (``ip netns exec``, which execs, so a process's pid is the
program's own). Discovery is on: the suite's ``SMALLSOCIAL_DISCOVERY=off`` is
for everything outside the lab.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from protocol.node.reach import ENV
from smallsocial_tui.nodeproc import PROGRAM
from tests.netlab.lab import Lab
from tests.node.harness import Peer

LIVE: list[Member] = []
"""The lab nodes made in the running test (members and relays): a failed test's report shows
the tail of each one's log (tests/netlab/conftest.py)."""


class Member(Peer):
    def __init__(self, lab: Lab, host: str, data_dir: Path, name: str) -> None:
        super().__init__(data_dir, name, program=lab.cmd(host, *PROGRAM))
        self.lab = lab
        self.host = host
        self.extra_env[ENV] = "on"
        LIVE.append(self)

    def command(self, listen: str, peers: tuple[str, ...]) -> list[str]:
        args = [*self.program, "run", "--json"]
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
