"""Suite-wide settings, applied at import so every subprocess a test starts inherits them.

``SMALLSOCIAL_DISCOVERY=off``: nodes listen on 127.0.0.1 and nothing multicasts or
maps ports. Only the lab tests (``tests/netlab``) turn it on, inside their namespaces.

``SMALLSOCIAL_REKEY_CHECK=off``: nodes start no scheduled rekeys (a join makes one due within
a minute), so tests that count records or epochs see only their own. The rekey tests
(tests/node/test_rekey_nodes.py) turn it on for their nodes.

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
from protocol.node.rekeying import CHECK_ENV

os.environ[ENV] = "off"
os.environ.setdefault(CHECK_ENV, "off")


@pytest.fixture(autouse=True)
def _unfreeze_after_each_test() -> Iterator[None]:
    yield
    gc.unfreeze()
