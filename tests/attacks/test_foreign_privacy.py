"""Threat D: a connected stranger learns nothing of a node's circles and gets none of their traffic.

Before, py-libp2p told every peer that connected which topics the node is in (its hello),
took anyone's subscription, and meshed with anyone who asked: a stranger that subscribed
to a circle's topic got every record and every presence (members' display names and
addresses). Now a member node tells a topic, takes a subscription and accepts a GRAFT
only for that circle's members, pending invitees and relays (protocol/node/guard.py).

The stranger is js-libp2p's gossipsub, subscribed to the circle's topic (as if it had
learnt the circle id from a leaked token), and made to GRAFT the node although it was
told nothing. The control is the same program with the identity of someone alice has
invited: it is told the topic and gets the circle's (encrypted) records.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from protocol import circle as circles
from protocol.identity import Identity
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from tests.attacks.conftest import CIRCLE, JsPeer
from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def _listen_while_they_chat(js_peer: JsPeer, tmp_path: Path, alice: Peer, bob: Peer, circle: str,
                            **more: Any) -> dict[str, Any]:  # fmt: skip
    done = threading.Event()

    def chat() -> None:
        for i in range(20):
            if done.wait(0.3):
                return
            (alice if i % 2 == 0 else bob).json("send", CIRCLE, f"private {i}")

    talker = threading.Thread(target=chat, daemon=True)
    talker.start()
    try:
        return js_peer(tmp_path, mode="listen", target=alice.addr, topic=circles.topic(bytes.fromhex(circle)),
                       push_graft=True, listen_ms=5000, **more)  # fmt: skip
    finally:
        done.set()
        talker.join(30)


def test_a_stranger_is_told_no_topic_and_gets_no_record(
    member_pair: tuple[Peer, Peer, str], js_peer: JsPeer, tmp_path: Path
) -> None:
    alice, bob, circle = member_pair
    report = _listen_while_they_chat(js_peer, tmp_path, alice, bob, circle)
    assert report["ok"], report
    assert report["told_topic"] is False and report["node_topics"] == [], report
    assert report["in_mesh"] is False, "alice took a stranger into the circle's mesh"
    assert report["received"] == 0, f"a stranger got {report['received']} of the circle's records"
    assert sum(t.startswith("private") for t in bob.texts(circle)) >= 5, "they did not chat meanwhile"


def test_an_invitee_is_told_and_gets_records(
    member_pair: tuple[Peer, Peer, str], js_peer: JsPeer, tmp_path: Path
) -> None:
    """The control: the same peer, with a key alice invited, is told and served."""
    alice, bob, circle = member_pair
    invitee = Identity.generate()
    alice.json("invite", CIRCLE, invitee.peer_id)
    report = _listen_while_they_chat(js_peer, tmp_path, alice, bob, circle, seed_hex=invitee.seed.hex())
    assert report["ok"] and report["peer_id"] == invitee.peer_id, report
    assert report["told_topic"] is True, report
    assert report["received"] >= 3, report


def test_a_members_record_in_an_unsigned_pubsub_message_is_delivered(
    member_pair: tuple[Peer, Peer, str], js_peer: JsPeer, tmp_path: Path
) -> None:
    """Pubsub's own signature decides nothing (guard.py, ``_push``): the record's does.

    Bob's record, published by js-libp2p under bob's peer ID with gossipsub's StrictNoSign
    (no from, seqno or signature), reaches alice's chat. Before, alice verified pubsub's
    signature on every receipt and dropped such a message."""
    alice, bob, circle = member_pair
    bob.stop()
    profile = Profile.open(ProfilePaths(bob.root))
    try:
        record = profile.send_text(bytes.fromhex(circle), "not signed by pubsub")
        seed = profile.identity.seed
    finally:
        profile.close()
    report = js_peer(tmp_path, mode="flood", target=alice.addr, topic=circles.topic(bytes.fromhex(circle)),
                     payloads=[record.raw.hex()], seed_hex=seed.hex(), nosign=True)  # fmt: skip
    assert report["ok"] and report["published"] == 1, report
    wait_until(lambda: "not signed by pubsub" in alice.texts(circle), 15, 0.2, "alice to get bob's record")
