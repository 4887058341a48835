"""The node's indexer leaves most of the node's time to the node while it works off a backlog,
and indexes the records that come close together in one turn (one transaction), soon after."""

from __future__ import annotations

import time
from typing import Any

import pytest
import trio

from protocol.node import indexer


class _Index:
    """A backlog of ``batches`` batches, each taking ``cost`` seconds of (blocking) work."""

    def __init__(self, batches: int, cost: float) -> None:
        self.left, self.cost, self.calls = batches, cost, list[float]()

    def catch_up(self, limit: int) -> int:
        self.calls.append(time.perf_counter())
        time.sleep(self.cost)
        self.left -= 1
        return self.left * limit


class _Profile:
    def __init__(self, index: _Index) -> None:
        self.index = index

    def search_index(self) -> _Index:
        return self.index


@pytest.mark.timeout(30)
def test_a_backlog_is_indexed_a_batch_then_a_pause() -> None:
    index = _Index(batches=4, cost=0.05)
    ticks = 0

    async def main() -> None:
        nonlocal ticks
        async with trio.open_nursery() as nursery:
            nursery.start_soon(indexer.follow, _Profile(index), indexer.Indexer())  # type: ignore[arg-type]

            async def node_work() -> None:  # the node's other tasks: do they get turns?
                nonlocal ticks
                while index.left > 0:
                    ticks += 1
                    await trio.sleep(0.005)

            await node_work()
            nursery.cancel_scope.cancel()

    trio.run(main)
    gaps = [b - a for a, b in zip(index.calls, index.calls[1:], strict=False)]
    assert len(index.calls) == 4
    # each batch (0.05 s of work) is followed by a pause of about YIELD times that
    assert all(g >= 0.05 * (1 + indexer.YIELD) * 0.9 for g in gaps), gaps
    assert ticks >= 3 * 10, ticks  # meanwhile the node ran (each pause ~0.15 s / 5 ms ticks)


def test_the_pause_is_what_the_module_says() -> None:
    assert indexer.YIELD >= 1.0  # at most half the node's time to indexing a backlog
    _: Any = indexer.BATCH


@pytest.mark.timeout(30)
def test_no_batch_is_indexed_while_a_sync_pull_takes_records_in() -> None:
    index = _Index(batches=2, cost=0.01)
    idx = indexer.Indexer()
    during: list[int] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            with idx.pulling():  # a catch-up under way: its batches are committed first
                nursery.start_soon(indexer.follow, _Profile(index), idx)  # type: ignore[arg-type]
                for _ in range(20):
                    idx.due()
                    await trio.sleep(0.01)
                during.append(len(index.calls))
            with trio.fail_after(5):
                while index.left > 0:  # the pull ended: the backlog is indexed now
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert during == [0]
    # Both batches were indexed after the pull. A third call may come before the cancel lands
    # (the due() marks made during the pull are still pending), which is no harm.
    assert len(index.calls) >= 2 and index.left <= 0


class _Counting:
    """An index that is always caught up after one call; the calls' times."""

    def __init__(self) -> None:
        self.calls = list[float]()

    def catch_up(self, limit: int) -> int:
        self.calls.append(time.perf_counter())
        return 0


@pytest.mark.timeout(30)
def test_records_that_come_together_are_indexed_in_one_turn_soon_after() -> None:
    index, idx = _Counting(), indexer.Indexer()
    assert indexer.GATHER_S == 1.0
    marks: list[float] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            marks.append(time.perf_counter())
            nursery.start_soon(indexer.follow, _Profile(index), idx)  # type: ignore[arg-type]
            for _ in range(10):  # ten records committed over half a second
                idx.due()
                await trio.sleep(0.05)
            await trio.sleep(1.5)
            marks.append(time.perf_counter())
            idx.due()  # one more, alone
            await trio.sleep(1.5)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert len(index.calls) == 2, index.calls  # one turn for the ten, one for the last
    first, second = index.calls[0] - marks[0], index.calls[1] - marks[1]
    assert 0.9 <= first <= 1.4, first  # after the gathering wait, not at each record
    assert 0.9 <= second <= 1.4, second  # and a lone record is searchable a second later
