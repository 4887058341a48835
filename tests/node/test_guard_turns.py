"""One forwarder's messages take turns: a flood in one RPC cannot hold the event loop.

py-libp2p starts a task per message of an RPC; trio runs all ready tasks of a batch
before it polls the sockets again. Without :class:`protocol.node.guard.Turns`, a peer
whose RPC carries a hundred records to refuse was a hundred validations ahead of any
other peer's message.
"""

from __future__ import annotations

import time

import trio

from protocol.node.guard import Turns

VALIDATION_S = 0.0005  # about what refusing a stranger's record costs


def _order(turns: Turns | None, flood: int = 100) -> list[str]:
    done: list[str] = []

    async def validate(who: str) -> None:
        end = time.perf_counter() + VALIDATION_S  # synchronous work, as a validator's
        while time.perf_counter() < end:
            pass
        done.append(who)

    async def push(who: str) -> None:  # what GuardedPubsub.push_msg does for each message
        if turns is None:
            await validate(who)
        else:
            await turns.run(who.split()[0], lambda: validate(who))

    async def main() -> None:
        async with trio.open_nursery() as n:
            for i in range(flood):  # one RPC of the flooder: a task per message, at once
                n.start_soon(push, f"flooder {i}")
            await trio.sleep(0)  # the member's message arrives a moment later
            n.start_soon(push, "member 0")

    trio.run(main)
    return done


def test_a_members_message_waits_for_one_flood_message_not_the_whole_rpc() -> None:
    done = _order(Turns())
    assert len(done) == 101
    assert done.index("member 0") <= 3, done[:10]
    assert sorted(done) == sorted([f"flooder {i}" for i in range(100)] + ["member 0"])


def test_without_turns_the_member_waits_for_the_whole_rpc() -> None:
    """The scheduling this guards against (so the test above is not vacuous)."""
    done = _order(None)
    assert done.index("member 0") == 100


def test_idle_forwarders_are_forgotten() -> None:
    turns = Turns()

    async def main() -> None:
        async with trio.open_nursery() as n:
            for i in range(50):
                n.start_soon(turns.run, f"peer {i % 5}", lambda: trio.sleep(0))
        assert len(turns) == 0

    trio.run(main)
