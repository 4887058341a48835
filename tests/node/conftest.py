"""Fixtures for node tests: peers in a temporary data dir, always stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from protocol.node.paths import resolve
from protocol.node.profile import Profile
from tests.node.harness import Peer

Circle = tuple[Profile, Profile, Profile, bytes]


def three_friends(tmp_path: Path) -> Circle:
    """alice's circle "friends" with bob and carol in it, each knowing the others' joins (after a
    first sync), as profiles only: the caller closes them."""
    alice, bob, carol = (Profile.create(resolve(str(tmp_path), n), n) for n in ("alice", "bob", "carol"))
    c = alice.new_circle("friends").circle_id
    for friend in (bob, carol):
        friend.join_token(alice.invite(c, friend.me))
        alice.import_bundle(friend.export([c]))
    for friend in (bob, carol):
        friend.import_bundle(alice.export([c]))
    return alice, bob, carol, c


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Circle]:
    """:func:`three_friends`, closed after the test."""
    circle = three_friends(tmp_path)
    yield circle
    for p in circle[:3]:
        p.close()


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
