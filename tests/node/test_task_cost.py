"""A service task started per message finds its parent without walking every task (taskcost.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from libp2p.tools.anyio_service import Service, background_trio_service
from libp2p.tools.anyio_service.trio_tasks import FunctionTask

from protocol.node import taskcost

pytestmark = pytest.mark.timeout(30)


class _Busy(Service):
    """A service running many long tasks, like pubsub's sending task per peer."""

    def __init__(self, tasks: int) -> None:
        self.tasks = tasks
        self.child_parent: Any = "unset"

    async def run(self) -> None:
        for _ in range(self.tasks):
            self.manager.run_task(trio.sleep_forever)
        self.manager.run_task(self._spawns_a_child)
        await trio.sleep_forever()

    async def _spawns_a_child(self) -> None:
        me = trio.lowlevel.current_task()
        self.manager.run_task(trio.sleep, 0)
        self.child_parent = self.manager._find_parent_task(me)  # type: ignore[attr-defined]
        await trio.sleep_forever()


def _walks(monkeypatch: pytest.MonkeyPatch, messages: int) -> tuple[int, _Busy]:
    """Steps of the task walk while ``messages`` tasks are started from outside the service."""
    steps = 0
    walk = FunctionTask.iterate_tasks.__func__  # type: ignore[attr-defined]

    def counted(cls: type, *tasks: Any) -> Any:
        nonlocal steps
        for t in walk(cls, *tasks):
            steps += 1
            yield t

    service = _Busy(tasks=50)

    async def go() -> None:
        nonlocal steps
        async with background_trio_service(service) as manager:
            await trio.sleep(0.05)
            monkeypatch.setattr(FunctionTask, "iterate_tasks", classmethod(counted))
            for _ in range(messages):  # as a stream handler does: no service task is the caller
                manager.run_task(trio.sleep, 0)
            monkeypatch.undo()
            manager.cancel()

    trio.run(go)
    return steps, service


def test_tasks_started_per_message_walk_the_service_tasks_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FunctionTask, "iterate_tasks", FunctionTask.iterate_tasks)  # restored after
    taskcost.install()
    try:
        steps, service = _walks(monkeypatch, messages=100)
        assert 50 < steps < 2 * 55  # one walk over the ~52 tasks, not one per message (py-libp2p: 100 walks)
        assert service.child_parent is not None  # a task started from a service task still has it as parent
    finally:
        from libp2p.tools.anyio_service.trio_manager import TrioManager

        TrioManager._find_parent_task = taskcost.PY_LIBP2P  # type: ignore[method-assign]
