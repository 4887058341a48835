"""``leave``, ``remove``, ``mute`` and ``notify`` offline (no node): text, ``--json``, and one
sentence for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.node.paths import resolve
from protocol.node.profile import Profile
from tests.cli.test_offline_flow import Cli

pytestmark = pytest.mark.timeout(120)


def _bundle(src: Cli, dst: Cli, tmp_path: Path) -> None:
    out = tmp_path / "b.bundle"
    src.run("export", "-o", str(out))
    dst.run("import", str(out))


def test_subtree_commands_offline(tmp_path: Path) -> None:
    alice, bob = Cli(tmp_path, "alice"), Cli(tmp_path, "bob")
    alice.run("id", "--name", "alice")
    bob_key = bob.json("id", "--name", "bob")["key"]
    friends = alice.json("circle", "new", "friends")["id"]
    bob.run("join", alice.json("invite", "friends", bob_key)["token"])
    for _ in range(2):
        _bundle(bob, alice, tmp_path)
        _bundle(alice, bob, tmp_path)

    def fork(parent: str, name: str) -> str:
        cid = str(alice.json("fork", parent, name, "--member", bob_key)["id"])
        _bundle(alice, bob, tmp_path)
        bob.run("join", cid)
        for _ in range(2):
            _bundle(bob, alice, tmp_path)
            _bundle(alice, bob, tmp_path)
        return cid

    side = fork("friends", "side")
    deeper = fork("side", "deeper")

    muted = alice.json("mute", "friends", "--subtree")
    assert muted["level"] == "muted" and [c["id"] for c in muted["circles"]] == [friends, side, deeper]
    assert "deeper is muted" in alice.run("mute", "deeper").stdout
    assert alice.json("mute", "side", "--off")["level"] == "quiet"
    assert alice.json("notify", "friends", "loud")["circles"][0]["id"] == friends
    p = Profile.open(resolve(str(tmp_path), "alice"))
    assert p.store.notify_levels() == {bytes.fromhex(friends): "loud", bytes.fromhex(deeper): "muted"}
    p.close()
    listed = {c["id"]: c["notify"] for c in alice.json("circle", "list")}
    assert (listed[friends], listed[side], listed[deeper]) == ("loud", "quiet", "muted")
    tree = alice.run("circle", "list").stdout
    assert ", loud)" in tree and ", muted)" in tree
    bad = alice.run("notify", "friends", "shouty", ok=False)  # a usage mistake: argparse, exit 2
    assert bad.returncode == 2 and "choose from 'loud', 'quiet', 'muted'" in bad.stderr
    assert "No circle matches" in alice.fails("mute", "nowhere")

    # remove --subtree: from friends and both forks alice founded
    out = alice.json("remove", "friends", bob_key, "--subtree")
    assert [c["id"] for c in out["from"]] == [friends, side, deeper] and out["skipped"] == []
    assert "Removed bob" not in alice.fails("remove", "friends", bob_key, "--subtree")

    # leave without --subtree: the hint names what stays and how to leave it
    text = alice.run("leave", "side").stdout
    assert "You left side." in text and "still in 1 circle(s) under it: deeper" in text
    assert f"leave {side[:12]} --subtree" in text
    assert [c["id"] for c in alice.json("leave", "deeper", "--subtree")["left"]] == [deeper]
    assert "not a member" in alice.fails("leave", "side", "--subtree")
