"""The block list: a blocked peer is disconnected, not redialled, and let back in when unblocked."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import trio
import trio.testing
from libp2p.peer.id import ID

from protocol.identity import Identity
from protocol.node import blocklist, events, limits, peers
from protocol.node.blocklist import BlockList
from protocol.node.node import Node
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from tests.node.harness import Peer, wait_until


def test_blocklist_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    now = [0.0]
    bl = BlockList(tmp_path / "blocked", clock=lambda: now[0])
    assert bl.peers == frozenset()
    (tmp_path / "blocked").write_text("# friends I fell out with\n12D3KooWabc  # since Tuesday\n\n")
    now[0] += blocklist.FRESH_S
    assert bl.blocked("12D3KooWabc") and not bl.blocked("12D3KooWxyz")
    (tmp_path / "blocked").unlink()
    now[0] += blocklist.FRESH_S
    assert bl.peers == frozenset()


def test_blocklist_file_is_looked_at_once_a_second_at_most(tmp_path: Path) -> None:
    now = [0.0]
    bl = BlockList(tmp_path / "blocked", clock=lambda: now[0])
    assert not bl.blocked("12D3KooWabc")
    (tmp_path / "blocked").write_text("12D3KooWabc\n")
    now[0] += blocklist.FRESH_S - 0.01
    assert not bl.blocked("12D3KooWabc")  # gossip asks per message: no stat each time
    now[0] += 0.01
    assert bl.blocked("12D3KooWabc")


def test_a_blocked_peer_is_cut_off_until_unblocked(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.start()
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 30, what="bob's join")

    (alice.root / "blocked").write_text(bob.key + "\n")
    wait_until(lambda: bob.saw("PeerDisconnected", peer_id=alice.key), 15, what="alice to drop bob")
    bob.json("send", "friends", "can you hear me?")
    time.sleep(5)  # bob's node redials and publishes meanwhile; alice must refuse all of it
    assert "can you hear me?" not in alice.texts(circle)

    (alice.root / "blocked").write_text("")
    wait_until(lambda: "can you hear me?" in alice.texts(circle), 30, what="the message after unblocking")
    assert alice.stop() == 0 and bob.stop() == 0


def test_a_peer_forwarding_invalid_records_is_graylisted_for_a_while(tmp_path: Path) -> None:
    profile = Profile.create(resolve(str(tmp_path), "alice"), "alice")
    node = Node(profile, lambda ev: None)
    flooder, honest = Identity.generate().peer_id, Identity.generate().peer_id

    async def main() -> None:
        for _ in range(limits.STRIKES - 1):
            node.feed(events.PeerFaulted(flooder))
        assert not node.peers.refused(flooder)  # a few bad records: could be a glitch
        await trio.sleep(limits.STRIKE_WINDOW + 1)
        for _ in range(limits.STRIKES - 1):
            node.feed(events.PeerFaulted(flooder))
        assert not node.peers.refused(flooder)  # the old strikes have aged out of the window
        node.feed(events.PeerFaulted(flooder))
        assert node.peers.refused(flooder) and not node.peers.refused(honest)
        await trio.sleep(limits.GRAYLIST_S + 1)
        assert not node.peers.refused(flooder)  # graylisting ends; the block list is for good

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    profile.close()


def test_a_connected_peer_missing_from_pubsub_gets_its_stream_reopened(tmp_path: Path) -> None:
    """py-libp2p gives up on a pubsub stream that timed out while the connection stays up."""
    profile = Profile.create(resolve(str(tmp_path), "alice"), "alice")
    node = Node(profile, lambda ev: None)
    ensured: list[ID] = []

    class StubPubsub:
        peers: ClassVar[dict[ID, object]] = {}

        async def ensure_peer_stream(self, pid: ID, timeout: float) -> bool:
            ensured.append(pid)
            return True

        def reconsider(self, pid: ID) -> None:
            pass

    pid = ID.from_base58(Identity.generate().peer_id)

    async def main() -> None:
        async with trio.open_nursery() as n:
            node._nursery = n
            node.pubsub = StubPubsub()  # type: ignore[assignment]
            node.peers.repair(pid, 100.0)
            await trio.testing.wait_all_tasks_blocked()
            assert ensured == [pid]
            node.peers.repair(pid, 100.0 + peers.REPAIR_S / 2)  # checked recently: leave it
            await trio.testing.wait_all_tasks_blocked()
            assert ensured == [pid]
            StubPubsub.peers[pid] = object()  # in pubsub now: nothing to mend
            node.peers.repair(pid, 101.0 + peers.REPAIR_S)
            await trio.testing.wait_all_tasks_blocked()
            assert ensured == [pid]

    trio.run(main)
    profile.close()
