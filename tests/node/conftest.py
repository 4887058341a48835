"""Fixtures for node tests: peers in a temporary data dir, always stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.node.harness import Peer


@pytest.fixture
def make_peer(tmp_path: Path) -> Iterator[Callable[[str], Peer]]:
    made: list[Peer] = []

    def make(name: str) -> Peer:
        p = Peer(tmp_path, name)
        p.cli("id", "--name", name)
        made.append(p)
        return p

    yield make
    for p in made:
        if p.running():
            p.kill()
