"""Shared fixtures for the TUI tests: a profile directory, a fake node with a small world, an app."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from smallsocial_tui.app.app import SmallSocialApp
from tests.tui.fake_node import FakeNode, ident

CHEAP_KDF = {"opslimit": 1, "memlimit": 8192}


@pytest.fixture
def paths(tmp_path: Path) -> ProfilePaths:
    return ProfilePaths(tmp_path / "profiles" / "alice")


@pytest.fixture
def profile_paths(paths: ProfilePaths) -> ProfilePaths:
    """A profile that exists already (no passphrase), so the app goes straight to the main screen."""
    Profile.create(paths, "alice", identity=ident(1)).close()
    return paths


def world() -> tuple[FakeNode, dict[str, bytes]]:
    """alice (me) in 'friends' with bob and carol; 'friends' has a fork 'games', which has 'chess'."""
    node = FakeNode()
    bob, carol = ident(2).public_key, ident(3).public_key
    node.contacts = {bob: "bob", carol: "carol"}
    friends = node.add_circle("friends", members=(bob, carol))
    games = node.add_circle("games", parent=friends, members=(bob,))
    chess = node.add_circle("chess", parent=games, members=(bob,))
    work = node.add_circle("work", members=(carol,))
    node.add_message(friends, bob, "hi all")
    node.add_message(friends, carol, "hello bob")
    return node, {
        "friends": friends,
        "games": games,
        "chess": chess,
        "work": work,
        "bob": bob,
        "carol": carol,
    }


def make_app(paths: ProfilePaths, node: FakeNode) -> SmallSocialApp:
    return SmallSocialApp(paths, node.factory, tz=UTC, clock=lambda: 1_700_000_000.0, kdf_limits=CHEAP_KDF)
