"""Threat E: what a peer sends cannot grow the node's log without bound.

A js-libp2p peer that speaks no gossipsub stays connected past the node's pubsub repair
interval: before, each repair tried a pubsub stream and py-libp2p logged a multi-line
ERROR every 20 s. A peer that sends junk frames gets its lines cut to the budget (one
line per message, at most PER_MINUTE of a kind per minute).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol.node.logs import PER_MINUTE
from protocol.node.peers import REPAIR_S
from tests.attacks.conftest import JsPeer, chat_works
from tests.node.harness import Peer

pytestmark = pytest.mark.timeout(240)
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def _log(peer: Peer) -> str:
    return (peer.root / "logs" / "node.log").read_text(errors="replace")


def test_a_peer_without_gossipsub_is_not_asked_again_and_again(
    member_pair: tuple[Peer, Peer, str], js_peer: JsPeer, tmp_path: Path
) -> None:
    alice, bob, circle = member_pair
    report = js_peer(tmp_path, mode="dial", target=alice.addr, linger_ms=int((REPAIR_S + 6) * 1000))
    assert report["ok"], report
    log = _log(alice)
    assert "reopening its stream" not in log, "a repair asked a peer that speaks no gossipsub"
    stray = [line for line in log.splitlines() if not STAMP.match(line)]
    assert not stray, f"log entries over several lines: {stray[:5]}"
    chat_works(bob, alice, circle, "after the stranger left")


def test_junk_frames_leave_a_bounded_log(
    member_pair: tuple[Peer, Peer, str], js_peer: JsPeer, tmp_path: Path
) -> None:
    alice, _, _ = member_pair
    before = len(_log(alice).splitlines())
    report = js_peer(tmp_path, mode="fuzz", target=alice.addr, seed=7, rounds=6, frames=10,
                     only=["/meshsub/1.1.0"])  # fmt: skip
    assert report["ok"], report
    new = _log(alice).splitlines()[before:]
    closed = [line for line in new if "smallsocial.node.guard" in line]
    assert 0 < len(closed) <= PER_MINUTE, len(closed)
    assert len(new) < 4 * PER_MINUTE + 20, "\n".join(new[-40:])
