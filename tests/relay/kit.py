"""A relay process for tests, beside tests.node.harness's member peers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smallsocial_tui.nodeproc import RelayProc
from tests.node.harness import Peer


class RelayPeer(RelayProc, Peer):
    """``smallsocial relay --json`` from the shared harness; ``status`` is its last ``RelayStatus`` line.

    ``start(*extra)`` passes extra relay flags (``--max-records 25``) instead of peers.
    """

    @property
    def status(self) -> dict[str, Any]:  # type: ignore[override]
        return self.status_line


def block(peer: Peer, *others: Peer) -> None:
    """``peer`` refuses ``others``: a simulated NAT or partition."""
    (peer.root / "blocked").write_text("".join(o.key + "\n" for o in others))


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]
