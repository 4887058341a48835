"""A relay's retention sweep takes file blobs with the announcements: blobs stored before the cut
are deleted with the messages received before it, and the circle's byte quota counts them off,
so a file it refused at its quota is taken once the old one expired."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol import files
from tests.node.files_kit import blob_paths, node_log
from tests.node.harness import Peer, wait_until
from tests.relay.kit import RelayPeer

pytestmark = pytest.mark.timeout(240)


def test_retention_deletes_file_blobs_and_frees_the_quota(
    make_peer: Callable[[str], Peer], make_relay: Callable[..., RelayPeer], tmp_path: Path
) -> None:
    relay = make_relay()
    # about 9 s of retention, swept every second; 700 kB for the circle: one 2-chunk file at a time
    relay.start("--retention-days", "0.0001", "--sweep-interval", "1", "--max-bytes", str(700_000))
    alice = make_peer("alice")
    circle = str(alice.json("circle", "new", "friends")["id"])
    assert relay.addr is not None
    alice.json("circle", "pin", "friends", relay.addr)
    alice.start()
    wait_until(lambda: relay.status.get("circles") == 1, 30, what="the relay to take the circle")

    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(os.urandom(2 * files.CHUNK_SIZE - 100))
    second.write_bytes(os.urandom(2 * files.CHUNK_SIZE - 100))
    one = alice.json("send-file", "friends", str(first))
    wait_until(lambda: len(blob_paths(relay, circle)) == 3, 60, what="the relay to take the first file")
    taken = {p.name for p in blob_paths(relay, circle)}
    two = alice.json("send-file", "friends", str(second))
    wait_until(lambda: "is at its byte quota" in node_log(relay), 60, what="the quota to refuse the second")
    # The announcement is small: it is stored (gossip may bring it after the upload's refusal).
    wait_until(lambda: two["id"] in relay.record_ids(circle), 20, what="the relay to store the announcement")

    # The sweep deletes the first file's announcement and its blobs, and counts them off the quota:
    # alice's uploader, backing off, offers the second file again and the relay now takes it.
    wait_until(lambda: one["id"] not in relay.record_ids(circle), 60, what="retention to take the message")
    wait_until(lambda: not taken & {p.name for p in blob_paths(relay, circle)}, 30, what="its blobs to go")
    # The three blobs were stored at slightly different moments: a sweep a second can cut between
    # them (under load it did: 2, then 1), so the sweeps' counts add up to three.
    swept = re.findall(r"retention: deleted (\d+) file blob\(s\) of circle", node_log(relay))
    assert sum(map(int, swept)) == 3, swept
    wait_until(
        lambda: not list((alice.root / "files" / circle).glob("up-*")),
        90,
        what="the relay to take the second",
    )
    assert "relay took file" in node_log(alice)
    assert alice.stop() == 0 and relay.stop() == 0
