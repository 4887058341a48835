"""A service task's parent found once per trio task, not by a walk of every task (py-libp2p 0.8.1).

Pubsub starts a task per received message (``manager.run_task(self.push_msg, ...)``), and
py-libp2p's trio service manager looks for the new task's parent on every call
(``TrioManager._find_parent_task``): a recursive walk over every task the service runs
until one's trio task is the caller's. Pubsub runs a sending task per peer, and the caller
here is a stream handler, which is no service task: the walk goes over all of them, finds
nothing, and the message's task becomes a root task. On a relay that is O(connected peers)
per received message (176 generator steps per message with 20 members in a profile of
``bench_relay.py --quick``; ten times that with 200).

A trio task's answer never changes while it runs: a service task's trio task is set when
it starts and is the caller only from inside it, and any other trio task never becomes a
service task (each service task gets a new one). :func:`install` makes every manager
remember the answer per trio task (weakly: a finished task is forgotten) and walk only for
a trio task it has not seen. Process-wide, as py-libp2p keeps the method on the class.
"""

from __future__ import annotations

import weakref
from typing import Any

import trio
from libp2p.tools.anyio_service.trio_manager import TrioManager

PY_LIBP2P = TrioManager._find_parent_task
"""py-libp2p's own lookup, a walk of every task."""
_parents: weakref.WeakKeyDictionary[TrioManager, weakref.WeakKeyDictionary[trio.lowlevel.Task, Any]] = (
    weakref.WeakKeyDictionary()
)


def _find_parent_once(self: TrioManager, trio_task: trio.lowlevel.Task) -> Any:
    """``TrioManager._find_parent_task``, walked once per trio task."""
    known = _parents.get(self)
    if known is None:
        known = _parents[self] = weakref.WeakKeyDictionary()
    try:
        return known[trio_task]
    except KeyError:
        parent = known[trio_task] = PY_LIBP2P(self, trio_task)
        return parent


def install() -> None:
    """Every trio service manager in this process remembers its tasks' parents (idempotent)."""
    TrioManager._find_parent_task = _find_parent_once  # type: ignore[method-assign]
