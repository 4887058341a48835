"""Fixtures for the protocol-core tests; the helpers live in ``proto_kit``.

``tests/protocol`` is deliberately not a package (its name would shadow the real
``protocol`` package), so pytest puts this directory on ``sys.path`` and the test
modules import ``proto_kit`` by its (unique) top-level name.
"""

from __future__ import annotations

import pytest
from proto_kit import ALICE, BOB, CAROL, World, new_world


@pytest.fixture
def world() -> World:
    """A circle with only its founder, alice."""
    return new_world()


@pytest.fixture
def world3() -> World:
    """Alice founded the circle; bob and carol joined through alice's invites."""
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    w.invite_and_join(ALICE, CAROL)
    assert set(w.roster.members) == {ALICE.public_key, BOB.public_key, CAROL.public_key}
    return w
