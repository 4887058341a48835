"""The lab fixture: namespaces built for a test and removed after it, or a skip with the reason.

``lab`` is a fresh :class:`tests.netlab.lab.Lab` per test (building one takes
about a second; a test may move a host's address). ``member(host, name)`` is a
real ``smallsocial run`` process inside that host's namespace, with default
settings: discovery on (inside the lab only) and its own data directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.netlab.lab import Lab, why_not
from tests.netlab.member import Member

_REASON = why_not() if os.environ.get("SMALLSOCIAL_NETLAB", "on") != "off" else "SMALLSOCIAL_NETLAB=off"


@pytest.fixture
def lab() -> Iterator[Lab]:
    if _REASON:
        pytest.skip(_REASON)
    lab = Lab(f"s{os.getpid() % 1000:03d}-")
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def member(lab: Lab, tmp_path: Path) -> Iterator[Callable[[str, str], Member]]:
    made: list[Member] = []

    def make(host: str, name: str) -> Member:
        m = Member(lab, host, tmp_path / host, name)
        m.cli("id", "--name", name)
        made.append(m)
        return m

    yield make
    for m in made:
        if m.running():
            m.kill()
