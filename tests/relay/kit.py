"""A relay process for tests, beside tests.node.harness's member peers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.node.harness import Peer


class RelayPeer(Peer):
    """``smallsocial relay --json`` as a process; its status arrives every ``status_interval`` s.

    ``start(*extra)`` passes extra relay flags (``--max-records 25``) instead of peers.
    """

    STARTED = "RelayStarted"
    status_interval = 0.5

    def command(self, listen: str, peers: tuple[str, ...]) -> list[str]:
        args = [sys.executable, "-m", "smallsocial_tui", "relay", "--json", "--listen", listen]
        return [*args, "--status-interval", str(self.status_interval), *peers]

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
