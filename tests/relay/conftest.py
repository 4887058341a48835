"""Fixtures for relay tests: member peers and relays in one temporary data dir, always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.node.conftest import make_peer  # noqa: F401  (the member-peer fixture)
from tests.relay.kit import RelayPeer


@pytest.fixture
def make_relay(tmp_path: Path) -> Iterator[Callable[[str], RelayPeer]]:
    made: list[RelayPeer] = []

    def make(name: str = "relay") -> RelayPeer:
        r = RelayPeer(tmp_path, name)
        made.append(r)
        return r

    yield make
    for r in made:
        if r.running():
            r.kill()
