"""Files through a real relay: a member offline at sending fetches later from the relay, a tampered
chunk from a member is refused and fetched elsewhere, the relay cannot read what it stores, takes
uploads only from members and within its byte quota."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol import files
from protocol.node import blobstore
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from tests.node.files_kit import blob_paths, file_entry, node_log, run_stranger
from tests.node.harness import Peer, wait_until
from tests.relay.kit import RelayPeer, files_under

pytestmark = pytest.mark.timeout(240)


def _pinned(make_peer: Callable[[str], Peer], relay: RelayPeer, *names: str) -> tuple[str, list[Peer]]:
    peers = [make_peer(n) for n in names]
    founder = peers[0]
    circle = str(founder.json("circle", "new", "friends")["id"])
    assert relay.addr is not None
    founder.json("circle", "pin", "friends", relay.addr)
    for p in peers[1:]:
        p.json("join", founder.json("invite", "friends", p.key)["token"])
    return circle, peers


def test_offline_member_fetches_from_the_relay_and_a_tampered_chunk_is_refused(
    make_peer: Callable[[str], Peer], make_relay: Callable[..., RelayPeer], tmp_path: Path
) -> None:
    relay = make_relay()
    relay.start()
    circle, (alice, bob, carol) = _pinned(make_peer, relay, "alice", "bob", "carol")
    alice.start()
    bob.start(alice.addr or "")
    wait_until(lambda: relay.status.get("circles") == 1, 30, what="the relay to take the circle")
    data = os.urandom(2 * files.CHUNK_SIZE + 999)
    src = tmp_path / "plans.pdf"
    src.write_bytes(data)
    sent = alice.json("send-file", "friends", str(src))
    blobs = 1 + 3  # the manifest and three chunks
    wait_until(lambda: len(blob_paths(relay, circle)) == blobs, 60, what="the relay to take every blob")
    wait_until(lambda: not list((alice.root / "files" / circle).glob("up-*")), 30, what="alice's upload mark")

    file_entry(bob, circle, sent["id"])
    bob.json("get", "friends", sent["id"], "-o", str(tmp_path / "bob.pdf"))
    assert (tmp_path / "bob.pdf").read_bytes() == data
    assert alice.stop() == 0
    # bob turns hostile: he holds the file key (a member) and swaps chunk 1 for other bytes sealed
    # under it at the same index, so its AEAD opens; only its id (the manifest's) gives it away.
    profile = Profile.open(resolve(str(alice.data_dir), "alice"))
    try:
        cid = bytes.fromhex(circle)
        info = blobstore.describe(profile, cid, bytes.fromhex(sent["id"]))
        ids = blobstore.chunk_ids(blobstore.BlobStore(alice.root), cid, info)
    finally:
        profile.close()
    assert ids is not None
    forged = files.seal_blob(info.key, 1, info.size, info.chunk_size, os.urandom(info.chunk_size))
    (bob.root / "files" / circle / ids[1].hex()).write_bytes(forged)

    # carol was offline when alice sent; alice is gone now: bob (first, a member) and the relay.
    carol.start(bob.addr or "")
    wait_until(lambda: carol.saw("PeerConnected", peer_id=bob.key), 30, what="carol to reach bob")
    file_entry(carol, circle, sent["id"], 60)
    got = carol.json("get", "friends", sent["id"], "-o", str(tmp_path / "carol.pdf"))
    assert (tmp_path / "carol.pdf").read_bytes() == data and got["size"] == len(data)
    assert f"refused what {bob.key} sent" in node_log(carol)
    assert bob.stop() == 0 and carol.stop() == 0 and relay.stop() == 0

    # What the relay keeps is ciphertext: neither the bytes, nor the name, nor the file key.
    needles = [data[:32], data[-32:], b"plans.pdf", b"application/pdf"]
    for path in files_under(relay.root):
        body = path.read_bytes()
        for needle in needles:
            assert needle not in body, f"{path} holds {needle[:20]!r}"


def test_the_relay_refuses_strangers_and_keeps_to_its_quota(
    make_peer: Callable[[str], Peer], make_relay: Callable[..., RelayPeer], tmp_path: Path
) -> None:
    relay = make_relay()
    relay.start("--max-bytes", str(600_000))
    circle, (alice,) = _pinned(make_peer, relay, "alice")
    alice.start()
    wait_until(lambda: relay.status.get("circles") == 1, 30, what="the relay to take the circle")
    small = tmp_path / "small.txt"
    small.write_bytes(os.urandom(50_000))
    alice.json("send-file", "friends", str(small))
    wait_until(lambda: len(blob_paths(relay, circle)) == 2, 60, what="the relay to take the small file")
    ids = [p.name for p in blob_paths(relay, circle)]
    assert relay.addr is not None
    report = run_stranger(tmp_path, circle, relay.addr, ids)
    assert report["get"] == ["D", "not a member of that circle"], report
    assert report["put"] == ["D", "this node does not relay that circle"] or report["put"][1] == (
        "not a member of that circle"
    ), report

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * files.CHUNK_SIZE))  # over the relay's 600 kB for the circle
    alice.json("send-file", "friends", str(big))
    wait_until(lambda: "is at its byte quota" in node_log(relay), 60, what="the relay to refuse at its quota")
    used = sum(p.stat().st_size for p in blob_paths(relay, circle))
    assert used <= 600_000
    assert list((alice.root / "files" / circle).glob("up-*"))  # still waiting for a relay that takes it
    assert alice.stop() == 0 and relay.stop() == 0
