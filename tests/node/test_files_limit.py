"""A circle's file limit on real nodes: an admin sets it (``file-limit``), a member's node refuses
to send past it, and an announcement past it that arrives anyway is dropped with a logged reason
and cannot be fetched."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def test_the_file_limit_is_set_by_admins_and_held_to_at_send_and_receive(
    make_peer: Callable[[str], Peer], tmp_path: Path
) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    assert alice.json("file-limit", "friends") == {"circle": circle, "file_limit": 64 * 2**20, "set_by": None}
    addr = alice.start()
    bob.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 30, what="a join")

    # Bad sizes and a member's try are refused with one sentence, and change nothing.
    for bad, says in (("ten", "is not a size"), ("65MiB", "up to 64 MiB"), ("-1", "is not a size")):
        p = alice.cli("file-limit", "friends", bad, ok=False)
        assert p.returncode != 0 and says in p.stderr, p.stderr
    p = bob.cli("file-limit", "friends", "1KiB", ok=False)
    assert p.returncode != 0 and "Only admins" in p.stderr, p.stderr

    # bob, offline, seals a 200 KiB file before he knows of the limit alice sets meanwhile.
    assert bob.stop() == 0
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(200 * 1024))
    set_ = alice.json("file-limit", "friends", "100 KiB")  # through alice's running node
    assert set_["file_limit"] == 100 * 1024 and set_["set_by"] == alice.key
    assert "friends: the file limit is 100 KiB (set by you)." in alice.cli("file-limit", "friends").stdout
    queued = bob.json("send-file", "friends", str(big))
    assert queued["status"] == "queued"
    bob.start(addr)
    wait_until(lambda: bob.json("file-limit", "friends")["file_limit"] == 100 * 1024, 45, what="the limit")
    # alice's node took bob's record (the chain has it) but dropped the announcement, saying why.
    wait_until(
        lambda: alice.saw("RecordDropped", circle=circle), 45, what="the announcement dropped at alice"
    )
    why = alice.find("RecordDropped", circle=circle)["reason"]
    assert "200 KiB is over this circle's limit of 100 KiB per file" in why, why
    assert queued["id"] in alice.record_ids(circle)
    assert all(e["id"] != queued["id"] for e in alice.log(circle))
    p = alice.cli("get", "friends", queued["id"], ok=False)
    assert p.returncode != 0

    # Now that bob knows it, his node refuses to send past it, and takes what fits.
    p = bob.cli("send-file", "friends", str(big), ok=False)
    assert p.returncode != 0 and "over this circle's limit of 100 KiB per file" in p.stderr, p.stderr
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(100 * 1024))
    sent = bob.json("send-file", "friends", str(small))
    got = alice.json("get", "friends", sent["id"], "-o", str(tmp_path / "got.bin"))
    assert Path(got["path"]).read_bytes() == small.read_bytes()
    assert alice.stop() == 0 and bob.stop() == 0
