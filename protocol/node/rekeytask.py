"""The running node's scheduled rekeys: a task that looks at every circle now and then.

Every few seconds (sooner when a circle's jitter ends, :meth:`Rekeyer.wait_s`) it asks
:class:`protocol.node.rekeying.Rekeyer` which circles are due, rekeys them, kicks the
outbox so the rekeys go out, and tells the UI (``Rekeyed`` without a request id).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import trio

from protocol.node import api
from protocol.node.profile import Profile
from protocol.node.rekeying import CHECK_ENV, Rekeyer


async def follow(profile: Profile, kick: Callable[[], None], emit: Callable[[api.Event], None]) -> None:
    if os.environ.get(CHECK_ENV) == "off":
        return  # the test suite's default (tests/conftest.py): rekey tests turn it on
    rekeyer = Rekeyer(profile)
    while True:
        await trio.sleep(rekeyer.wait_s(profile.clock()))
        done = rekeyer.due(profile.clock())
        if done:
            kick()
            emit(api.Rekeyed(None, tuple(done)))
