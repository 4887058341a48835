"""Gossip that py-libp2p drops on its way to a peer reaches it by a nudge; nothing else is nudged.

py-libp2p's queue per peer holds 32 RPCs and drops past that, silently. A receiver notices a
dropped record at its author's next one (a gap) and pulls; the tail of a burst has no next
one. The node now hears of each drop (guard.py) and nudges that peer to pull a second later.
It used to nudge every connected peer after every burst it sent, dropped or not: a sync
stream per sending member every 5 s, 11% of a relay's CPU with 200 members.

Two real nodes on 127.0.0.1, periodic sync off. alice's queue for bob refuses her messages
while the test says so, as a full queue would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from protocol import circle
from protocol.node import api, syncer
from protocol.node.core import HINT_DELAY, HINT_EVERY
from protocol.node.node import Node
from protocol.node.paths import resolve
from protocol.node.profile import Profile

pytestmark = pytest.mark.timeout(60)

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Profile, Profile, bytes]]:
    alice = Profile.create(resolve(str(tmp_path), "alice"), "alice")
    bob = Profile.create(resolve(str(tmp_path), "bob"), "bob")
    c = alice.new_circle("friends").circle_id
    bob.join_token(alice.invite(c, bob.me))
    alice.import_bundle(bob.export([c]))
    yield alice, bob, c
    alice.close()
    bob.close()


def _texts(got: list[api.Event]) -> list[str]:
    return [e.text for e in got if isinstance(e, api.MessageReceived) and e.text is not None]


def _run(pair: tuple[Profile, Profile, bytes], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """alice sends "one" and "two" with nothing dropped, waits 6.5 s, then "three" with her queue
    for bob refusing it: what bob got, when, and the sync streams each side served."""
    alice_p, bob_p, c = pair
    at_bob: list[api.Event] = []
    served: dict[str, int] = {"alice": 0, "bob": 0}
    out: dict[str, Any] = {}
    serve = syncer.serve

    async def counted(node: Any, stream: Any) -> None:
        served["alice" if node.profile is alice_p else "bob"] += 1
        await serve(node, stream)

    async def until(cond: Any, timeout: float) -> bool:
        with trio.move_on_after(timeout):
            while not cond():
                await trio.sleep(0.05)
            return True
        return False

    async def go() -> None:
        alice = Node(alice_p, lambda e: None, listen=[LOOPBACK], sync_interval=600)
        bob = Node(bob_p, at_bob.append, listen=[LOOPBACK], sync_interval=600)
        topic = circle.topic(c)
        async with trio.open_nursery() as n:
            await n.start(alice.run)
            await n.start(bob.run)
            assert await bob.peers.connect(alice.public_addrs()[0])
            bob_id = bob.host.get_id()
            assert await until(lambda: bob_id in alice.pubsub.peer_topics.get(topic, set()), 20)
            await trio.sleep(1.0)  # the pulls both ways on connect are over
            monkeypatch.setattr(syncer, "serve", counted)

            alice.submit_nowait(api.SendMessage(c, "one"))
            alice.submit_nowait(api.SendMessage(c, "two"))
            assert await until(lambda: _texts(at_bob) == ["one", "two"], 10), _texts(at_bob)
            # Long enough for a nudge after a send, as the node made before (HINT_DELAY after the
            # outbox drained, HINT_EVERY after its previous one: the start-up records').
            await trio.sleep(HINT_EVERY + HINT_DELAY + 0.5)
            out["served_after_plain_sends"] = dict(served)

            queue = alice.pubsub.peer_queues[bob_id]
            inner = queue._queue  # py-libp2p's bounded deque: the one that refuses when full
            push = inner.push

            def refusing(rpc: Any, priority: bool = False) -> bool:
                return False if rpc.publish else push(rpc, priority)

            inner.push = refusing
            t0 = trio.current_time()
            alice.submit_nowait(api.SendMessage(c, "three"))
            got = await until(lambda: "three" in _texts(at_bob), 10)
            out["three_after_s"] = trio.current_time() - t0 if got else None
            out["texts"] = _texts(at_bob)
            out["served"] = dict(served)
            inner.push = push
            alice.stop()
            bob.stop()
            n.cancel_scope.cancel()

    trio.run(go)
    return out


def test_a_message_dropped_on_its_way_arrives_by_a_nudge_and_plain_sends_nudge_nobody(
    pair: tuple[Profile, Profile, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _run(pair, monkeypatch)
    # Delivered by gossip, the first two cost no sync stream on either side.
    assert out["served_after_plain_sends"] == {"alice": 0, "bob": 0}, out
    # The dropped one: alice nudges bob (a stream bob serves), bob pulls it from alice.
    assert out["three_after_s"] is not None, out
    assert out["three_after_s"] < 5.0, out  # HINT_DELAY, then one pull; periodic sync is off
    assert out["texts"] == ["one", "two", "three"], out
    assert out["served"]["bob"] >= 1 and out["served"]["alice"] >= 1, out
