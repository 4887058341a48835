"""Files on real member nodes: sent in a circle of three, fetched by each, refused to strangers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol import files
from tests.node.files_kit import blob_paths, file_entry, run_stranger
from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def _three(make_peer: Callable[[str], Peer]) -> tuple[str, Peer, Peer, Peer]:
    alice, bob, carol = make_peer("alice"), make_peer("bob"), make_peer("carol")
    circle = alice.json("circle", "new", "friends")["id"]
    for p in (alice, bob, carol):
        p.start()
    for p in (bob, carol):
        p.json("join", alice.json("invite", "friends", p.key)["token"])
        wait_until(lambda p=p: alice.saw("MemberJoined", circle=circle, member=p.key), 30, what="a join")
    return circle, alice, bob, carol


def test_a_file_sent_in_a_circle_of_three_arrives_intact_at_each(
    make_peer: Callable[[str], Peer], tmp_path: Path
) -> None:
    circle, alice, bob, carol = _three(make_peer)
    src = tmp_path / "holiday photo.jpg"
    data = os.urandom(3 * files.CHUNK_SIZE + 12345)
    src.write_bytes(data)
    sent = alice.json("send-file", "friends", str(src))
    assert sent["status"] == "sent" and sent["size"] == len(data) and sent["name"] == "holiday photo.jpg"
    for p in (bob, carol):
        entry = file_entry(p, circle, sent["id"])
        assert (
            entry["kind"] == "file"
            and entry["text"] == f"[file] holiday photo.jpg ({files.human_size(len(data))})"
        )
        out = tmp_path / f"{p.name}.jpg"
        got = p.json("get", "friends", sent["id"][:10], "-o", str(out))
        assert got["size"] == len(data) and got["mime"] == "image/jpeg"
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    # The plain log shows the file line; blobs on disk are ciphertext only.
    assert "[file] holiday photo.jpg" in carol.cli("log", "friends").stdout
    for path in blob_paths(bob, circle):
        assert data[:64] not in path.read_bytes()
    # A second get is served from the blobs already here, and into a directory.
    again = bob.json("get", "friends", sent["id"], "-o", str(tmp_path))
    assert Path(again["path"]) == tmp_path / "holiday photo (1).jpg"  # the sender's own copy is there
    assert src.read_bytes() == data
    for p in (alice, bob, carol):
        assert p.stop() == 0


def test_a_stranger_gets_no_blob_and_cannot_upload(make_peer: Callable[[str], Peer], tmp_path: Path) -> None:
    alice = make_peer("alice")
    circle = alice.json("circle", "new", "friends")["id"]
    src = tmp_path / "secret.txt"
    src.write_bytes(b"members only " * 1000)
    sent = alice.json("send-file", "friends", str(src))
    assert sent["status"] == "queued"  # no node: sealed into the profile, sent when one runs
    ids = [p.name for p in blob_paths(alice, circle)]
    assert ids
    addr = alice.start()
    report = run_stranger(tmp_path, circle, addr, ids)
    assert report["get"] == ["D", "not a member of that circle"], report
    assert report["put"][0] == "D", report  # a member node takes no uploads; a relay only a member's


def test_get_says_what_to_do(make_peer: Callable[[str], Peer], tmp_path: Path) -> None:
    alice = make_peer("alice")
    alice.json("circle", "new", "friends")
    sent = alice.json("send", "friends", "just text")
    bad = alice.cli("get", "friends", sent["id"], ok=False)
    assert bad.returncode != 0 and "not a file" in bad.stderr
    missing = alice.cli("send-file", "friends", str(tmp_path / "nope.bin"), ok=False)
    assert missing.returncode != 0 and "is not a file you can read" in missing.stderr
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(files.MAX_FILE_BYTES + 1)
    over = alice.cli("send-file", "friends", str(big), ok=False)
    assert over.returncode != 0 and "over this circle's limit of" in over.stderr


def test_get_never_replaces_a_file_nor_makes_a_hidden_one(
    make_peer: Callable[[str], Peer], tmp_path: Path
) -> None:
    """The sender picks the name; the receiver's files are safe from it (no node needed: the
    sender's own blobs are all here)."""
    alice = make_peer("alice")
    alice.json("circle", "new", "friends")
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / ".bashrc").write_text("echo pwned\n")
    sent = alice.json("send-file", "friends", str(evil / ".bashrc"))
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("my own\n")
    (home / "bashrc").write_text("mine too\n")
    got = alice.json("get", "friends", sent["id"], "-o", str(home))
    assert Path(got["path"]) == home / "bashrc (1)"  # no leading dot, and the taken name kept
    assert (home / ".bashrc").read_text() == "my own\n" and (home / "bashrc").read_text() == "mine too\n"
    assert (home / "bashrc (1)").read_text() == "echo pwned\n"
    again = alice.json("get", "friends", sent["id"], "-o", str(home))
    assert Path(again["path"]) == home / "bashrc (2)"
    # an explicit file path that exists is refused with one sentence, and left as it was
    mine = home / "notes.txt"
    mine.write_text("keep me\n")
    refused = alice.cli("get", "friends", sent["id"], "-o", str(mine), ok=False)
    assert refused.returncode == 1 and "already exists" in refused.stderr, refused.stderr
    assert mine.read_text() == "keep me\n"
    assert not [p for p in home.iterdir() if p.name.endswith(".part")]
    replaced = alice.json("get", "friends", sent["id"], "-o", str(mine), "--overwrite")
    assert Path(replaced["path"]) == mine and mine.read_text() == "echo pwned\n"
