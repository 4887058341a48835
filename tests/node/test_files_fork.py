"""A file carried into a fork is fetchable there: by a member of both circles, and by one
invited into the fork alone, from a member that keeps its blobs under the parent."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol import files
from tests.node.files_kit import blob_paths
from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def _sha(path: Path) -> bytes:
    return hashlib.sha256(path.read_bytes()).digest()


def test_a_carried_file_is_fetched_in_the_fork(make_peer: Callable[[str], Peer], tmp_path: Path) -> None:
    alice, bob, carol = make_peer("alice"), make_peer("bob"), make_peer("carol")
    parent = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    wait_until(lambda: alice.saw("MemberJoined", circle=parent, member=bob.key), 30, what="bob's join")
    src = tmp_path / "map.png"
    src.write_bytes(os.urandom(2 * files.CHUNK_SIZE + 4321))
    sent = alice.json("send-file", "friends", str(src))
    wait_until(lambda: any(e["id"] == sent["id"] for e in bob.log(parent)), 45, what="bob to see the file")

    forked = alice.json("fork", "friends", "trip", "--member", bob.key, "--history", "last:1")
    child = forked["id"]
    assert forked["carried"] == 1 and [e["id"] for e in alice.log(child)] == [sent["id"]]
    # The sender reads it in the fork from the blobs it has (under the parent), no network needed.
    mine = alice.json("get", "trip", sent["id"], "-o", str(tmp_path / "alice.png"))
    assert _sha(Path(mine["path"])) == _sha(src)

    wait_until(lambda: bob.saw("CircleForked", circle=child), 45, what="bob to be invited to trip")
    bob.json("join", child[:12])
    wait_until(lambda: [e["id"] for e in bob.log(child)] == [sent["id"]], 60, what="bob to read it carried")
    got = bob.json("get", "trip", sent["id"], "-o", str(tmp_path / "bob.png"))
    assert _sha(Path(got["path"])) == _sha(src)

    # carol is in the fork only: she asks in the fork, and alice serves the parent's blobs to her.
    carol.start()
    carol.json("join", alice.json("invite", "trip", carol.key)["token"])
    wait_until(lambda: alice.saw("MemberJoined", circle=child, member=carol.key), 30, what="carol's join")
    wait_until(lambda: [e["id"] for e in carol.log(child)] == [sent["id"]], 60, what="carol to read it")
    assert carol.cli("circle", "list").stdout.count("friends") == 0
    got = carol.json("get", "trip", sent["id"], "-o", str(tmp_path / "carol.png"))
    assert _sha(Path(got["path"])) == _sha(src) and got["size"] == src.stat().st_size
    assert len(blob_paths(carol, parent)) == 4  # kept under the file's home circle, like everyone's
    # The fork's own file limit holds for what it carried: past it, the file is not shown there.
    assert alice.json("file-limit", "trip", "1KiB")["file_limit"] == 1024
    assert alice.log(child) == [] and [e["id"] for e in alice.log(parent)] == [sent["id"]]
    assert alice.cli("get", "trip", sent["id"], ok=False).returncode != 0
    for p in (alice, bob, carol):
        assert p.stop() == 0
