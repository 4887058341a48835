"""Suite-wide settings, applied at import so every subprocess a test starts inherits them.

``SMALLSOCIAL_DISCOVERY=off``: nodes listen on 127.0.0.1 and nothing multicasts or
maps ports. Only the lab tests (``tests/netlab``) turn it on, inside their namespaces.

A node started in the test process freezes what is alive then (``gc.freeze``, see
``Node.run``); each test ends with the collector back to normal, so one test's garbage is
not kept for the rest of the session.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

from protocol.node.reach import ENV

os.environ[ENV] = "off"


@pytest.fixture(autouse=True)
def _unfreeze_after_each_test() -> Iterator[None]:
    yield
    gc.unfreeze()
