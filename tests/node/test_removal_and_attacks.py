"""Removal and attacks across real node processes (threat cases 6, 7, 8, 9, 12, 15, 16).

test_removal_rekeys_and_locks_out: carol is removed while her node is down; the rekey reaches
bob; carol's stale post is refused by everyone; once back online carol learns she was removed and
reads nothing sent after it.

test_non_member_raw_peer_is_ignored: a bare py-libp2p host (its own process, its own trio.run)
that is no member joins the circle's gossipsub topic at alice and publishes garbage, a
non-member's validly signed record, forged records and replays. Nothing of it is stored or
forwarded to bob (who is connected only to alice), and the circle keeps working.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocol import crypto, messages, records, wire
from protocol.chain import ChainPos
from protocol.identity import Identity, parse_peer_id
from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(120)

CIRCLE = "friends"
# gossipsub replays its message cache (3 heartbeats of 1 s) to peers that subscribe late;
# waiting longer than that makes sure only our sync protocol can bring old records to carol.
MCACHE_AGE_S = 4.5


# helpers ---------------------------------------------------------------------------------
def _sql(peer: Peer, query: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{peer.root / 'store.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        return list(db.execute(query, args))
    finally:
        db.close()


def _epoch_ids(peer: Peer, circle: str) -> set[str]:
    rows = _sql(peer, "SELECT epoch FROM epoch_keys WHERE circle = ?", bytes.fromhex(circle))
    return {bytes(r[0]).hex() for r in rows}


def _held_ids(peer: Peer, circle: str) -> set[str]:
    rows = _sql(peer, "SELECT id FROM held WHERE circle = ?", bytes.fromhex(circle))
    return {bytes(r[0]).hex() for r in rows}


def _raw(peer: Peer, record_id: str) -> bytes:
    rows = _sql(peer, "SELECT raw FROM records WHERE id = ?", bytes.fromhex(record_id))
    assert rows, f"{record_id} not in {peer.name}'s store"
    return bytes(rows[0][0])


def _members(peer: Peer) -> set[str]:
    return {m["key"] for m in peer.json("members", CIRCLE)}


def _status(peer: Peer, circle: str) -> str:
    return str(next(c["status"] for c in peer.json("circle", "list") if c["id"] == circle))


def _drops(peer: Peer, since: int = 0) -> list[str]:
    return [str(e.get("reason")) for e in peer.events[since:] if e.get("event") == "RecordDropped"]


def _join(inviter: Peer, joiner: Peer, circle: str, *watchers: Peer) -> None:
    token = inviter.json("invite", CIRCLE, joiner.key)["token"]
    joiner.json("join", token)
    for w in watchers:
        wait_until(
            lambda w=w: w.saw("MemberJoined", circle=circle, member=joiner.key),
            30,
            what=f"{w.name} to see {joiner.name} join",
        )


# 1. removal ----------------------------------------------------------------------------
def test_removal_rekeys_and_locks_out(make_peer: Callable[[str], Peer]) -> None:
    alice, bob, carol = make_peer("alice"), make_peer("bob"), make_peer("carol")
    circle = alice.json("circle", "new", CIRCLE)["id"]
    for p in (alice, bob, carol):
        p.start()
    _join(alice, bob, circle, alice)
    _join(bob, carol, circle, alice, bob)

    before = {p.name: f"{p.name} before the removal" for p in (alice, bob, carol)}
    for p in (alice, bob, carol):
        p.json("send", CIRCLE, before[p.name])
    for p in (alice, bob, carol):
        wait_until(lambda p=p: set(before.values()) <= set(p.texts(circle)), 45, what=f"{p.name} reads all")
    assert _members(bob) == {alice.key, bob.key, carol.key}
    bob_epochs = _epoch_ids(bob, circle)
    carol_epochs = _epoch_ids(carol, circle)

    # carol goes offline; alice removes her through alice's running node.
    assert carol.stop() == 0
    assert alice.json("remove", CIRCLE, carol.key)["removed"] == carol.key

    # the removal and its rekey reach bob: carol is no longer listed, bob holds a new epoch key.
    wait_until(lambda: _members(bob) == {alice.key, bob.key}, 30, what="bob to see carol removed")
    wait_until(lambda: len(_epoch_ids(bob, circle)) > len(bob_epochs), 30, what="bob's new epoch key")
    new_epochs = _epoch_ids(bob, circle) - bob_epochs
    assert new_epochs and new_epochs == _epoch_ids(alice, circle) - bob_epochs
    assert bob.saw("MemberRemoved", circle=circle, member=carol.key)

    secret = "alice after the removal: carol must not read this"
    secret_id = alice.json("send", CIRCLE, secret)["id"]
    wait_until(lambda: secret in bob.texts(circle), 30, what="bob to read alice's post-removal message")
    # the post-removal message is sealed under the new epoch, which carol never got.
    assert bytes(records.parse(_raw(bob, secret_id)).body["e"]).hex() in new_epochs
    published_at = time.monotonic()

    # carol, offline, still thinks she is a member and writes to her outbox.
    assert carol.json("circle", "list")[0]["status"] == "member"
    stale = carol.json("send", CIRCLE, "carol after the removal")
    assert stale["status"] == "queued"
    stale_id = stale["id"]

    time.sleep(max(0.0, MCACHE_AGE_S - (time.monotonic() - published_at)))
    marks = {p.name: len(p.events) for p in (alice, bob)}
    carol.start()

    # carol's node publishes its outbox at once, but alice and bob no longer tell a departed
    # member that they are in the circle's topic, nor take her subscription (guard.py): her
    # stale post reaches neither of them, so neither has anything to drop.
    # carol learns that she was removed from sync: alice and bob serve a departed member the
    # roster records it lacks (and nothing else), so her node can tell her why she is out.
    wait_until(lambda: _status(carol, circle) == "removed", 45, what="carol's circle to become 'removed'")
    assert carol.saw("MemberRemoved", circle=circle, member=carol.key)
    assert carol.key not in _members(carol)

    for p in (alice, bob):
        assert stale_id not in p.record_ids(circle), f"{p.name} stored the removed member's post"
        assert stale_id not in _held_ids(p, circle), f"{p.name} held the removed member's post"
        assert not any("removed" in r for r in _drops(p, marks[p.name])), f"{p.name} got carol's post"
    assert secret_id in alice.record_ids(circle)

    # carol cannot decrypt anything sent after the removal, whether or not she holds its bytes.
    assert not (_epoch_ids(carol, circle) & new_epochs)
    assert _epoch_ids(carol, circle) == carol_epochs
    texts = carol.texts(circle)
    assert secret not in texts
    assert set(before.values()) <= set(texts)  # a removed member keeps what she had
    assert not any(e.get("event") == "MessageReceived" and e.get("text") == secret for e in carol.events)

    # and her node refuses to post again, saying why.
    again = carol.cli("send", CIRCLE, "let me back in", ok=False)
    assert again.returncode != 0
    assert "not a member" in (again.stderr + again.stdout)

    for p in (alice, bob, carol):
        assert p.stop() == 0
        assert p.integrity_ok()


# 2. a raw libp2p peer that is not a member ---------------------------------------------
ATTACKER = r"""
import json, sys
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, ".")  # run from the checkout: tests.attacks is not installed

from protocol.node.host import make_gossipsub, make_host, setup_logging

import multiaddr
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from protocol import circle, sync
from protocol.identity import Identity
from protocol.node import syncwire
from tests.attacks.stranger import push_to

cfg = json.loads(Path(sys.argv[1]).read_text())
setup_logging(Path(cfg["log_dir"]))
LISTEN = "/ip4/127.0.0.1/tcp/0"


async def read_frame(stream):
    async def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = await stream.read(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    n = int.from_bytes(await exactly(4), "big")
    body = await exactly(n)
    return body[:1], body[1:]


async def main():
    out = {}
    cid = bytes.fromhex(cfg["circle"])
    topic = circle.topic(cid)
    host = make_host(Identity.generate(), [LISTEN])
    gs = make_gossipsub()
    ps = Pubsub(host, gs)
    out["peer_id"] = host.get_id().to_base58()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(host.run(listen_addrs=[multiaddr.Multiaddr(LISTEN)]))
        await host.get_network().auto_connector.stop()
        await stack.enter_async_context(background_trio_service(ps))
        await stack.enter_async_context(background_trio_service(gs))
        await ps.wait_until_ready()
        target = info_from_p2p_addr(multiaddr.Multiaddr(cfg["target"]))
        await host.connect(target)
        t0 = trio.current_time()
        # alice tells a stranger nothing of her topics and takes no graft from it: this peer
        # stays out of her mesh, checks the rules of gossipsub and pushes anyway
        await trio.sleep(1.0)
        out["in_alices_mesh"] = target.peer_id in gs.mesh.get(topic, set())
        out["told_topic"] = target.peer_id in ps.peer_topics.get(topic, set())
        await push_to(ps, target.peer_id, topic)
        out["mesh_s"] = round(trio.current_time() - t0, 3)
        out["published"] = []
        for name, data in cfg["payloads"]:
            await ps.publish(topic, bytes.fromhex(data))
            out["published"].append(name)
            await trio.sleep(0.15)
        # ask alice for the circle's records over the sync protocol, too
        stream = await host.new_stream(target.peer_id, [TProtocol(syncwire.PROTOCOL)])
        await stream.write(syncwire.frame(syncwire.VECTOR, sync.encode_vector(cid, {})))
        tag, payload = await read_frame(stream)
        out["sync_reply"] = [tag.decode(), payload[:100].decode(errors="replace")]
        await stream.close()
        await trio.sleep(1.0)
        with trio.move_on_after(2):
            await host.disconnect(target.peer_id)
    print(json.dumps(out), flush=True)


trio.run(main)
"""


def run_attacker(tmp_path: Path, circle: str, target: str, payloads: dict[str, bytes]) -> dict[str, Any]:
    """Run ATTACKER against ``target``: it publishes ``payloads`` on the circle's topic and
    asks for the circle by sync; returns its JSON report."""
    cfg = tmp_path / "attacker.json"
    cfg.write_text(
        json.dumps(
            {
                "circle": circle,
                "target": target,
                "log_dir": str(tmp_path / "attacker-logs"),
                "payloads": [[k, v.hex()] for k, v in payloads.items()],
            }
        )
    )
    script = tmp_path / "attacker.py"
    script.write_text(ATTACKER)
    proc = subprocess.run(
        [sys.executable, str(script), str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def _forge_as(author: bytes, signer: Identity, body: dict[str, Any]) -> bytes:
    """A record whose body names ``author`` but is signed by ``signer``."""
    version = records.TYPE_VERSIONS.get(body["t"], records.VERSION)  # else a schema error, not a forgery
    _, body_bytes = wire.canonical({"v": version, **body, "a": author})
    sig = signer.sign(records.DOMAINS[body["t"]] + body_bytes)
    return wire.encode([body_bytes, sig])


def test_non_member_raw_peer_is_ignored(make_peer: Callable[[str], Peer], tmp_path: Path) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", CIRCLE)["id"]
    cid = bytes.fromhex(circle)
    alice.start()
    bob.start()
    _join(alice, bob, circle, alice)  # bob knows only alice's address: he dials nobody else
    sent = {p.name: p.json("send", CIRCLE, f"{p.name} before the attack")["id"] for p in (alice, bob)}
    for p in (alice, bob):
        wait_until(lambda p=p: set(sent.values()) <= p.record_ids(circle), 30, what=f"{p.name} in sync")

    alice_msg = records.parse(_raw(alice, sent["alice"]))
    bob_raw = _raw(alice, sent["bob"])
    epoch = bytes(alice_msg.body["e"])
    mallory = Identity.generate()
    text = messages.Content(messages.TEXT, int(time.time() * 1000), "hello from outside")
    flipped = bytearray(alice_msg.raw)
    flipped[-1] ^= 0x01  # the last byte of the signature
    body_flip = bytearray(alice_msg.raw)
    at = alice_msg.raw.index(bytes(alice_msg.body["x"]))  # inside the ciphertext, not a msgpack header:
    body_flip[at + 10] ^= 0x40  # the record still decodes, and its signature no longer covers it
    next_pos = ChainPos(alice_msg.seq + 5, alice_msg.id)
    forged_body = {
        "t": records.MSG,
        "c": cid,
        "q": next_pos.seq,
        "p": next_pos.prev,
        "e": epoch,
        "n": crypto.random_bytes(crypto.NONCE_SIZE),
        "x": crypto.box_encrypt(crypto.random_bytes(32), text.encode(), b"\x00" * crypto.NONCE_SIZE),
    }
    payloads = {
        "garbage": os.urandom(300),
        "non_member_signed": messages.seal(
            mallory, cid, ChainPos(), epoch, crypto.random_bytes(crypto.KEY_SIZE), text
        ).raw,
        "non_member_unknown_epoch": messages.seal(
            mallory,
            cid,
            ChainPos(2, crypto.random_bytes(32)),
            crypto.random_bytes(32),
            crypto.random_bytes(crypto.KEY_SIZE),
            text,
        ).raw,
        "flipped_signature": bytes(flipped),
        "flipped_body": bytes(body_flip),
        "claims_alice_signed_by_mallory": _forge_as(alice_msg.author, mallory, forged_body),
        "replay_alice": alice_msg.raw,
        "replay_bob": bob_raw,
    }
    # each forgery is what it claims to be before we send it
    assert records.parse(payloads["non_member_signed"]).author == mallory.public_key
    for name in ("flipped_signature", "flipped_body", "claims_alice_signed_by_mallory"):
        with pytest.raises(records.VerifyError):  # decodes and passes the schema: only the signature fails
            records.parse(payloads[name])

    ids_before = {p.name: p.record_ids(circle) for p in (alice, bob)}
    held_before = {p.name: _held_ids(p, circle) for p in (alice, bob)}
    assert ids_before["alice"] == ids_before["bob"]
    marks = {p.name: len(p.events) for p in (alice, bob)}

    assert alice.addr is not None
    t0 = time.monotonic()
    report = run_attacker(tmp_path, circle, alice.addr, payloads)
    assert report["published"] == list(payloads)
    assert report["told_topic"] is False and report["in_alices_mesh"] is False, report
    # the sync protocol does not serve a non-member either
    assert report["sync_reply"][0] == "D", report["sync_reply"]
    attacker = report["peer_id"]
    assert alice.saw("PeerConnected", peer_id=attacker)

    # alice dropped each bad record with a reason (the replays are silent duplicates)
    # The garbage, a non-member's record, three bad signatures: they come in the order alice's
    # pubsub validates them, so wait for all of them, not for a count.
    def dropped_all() -> bool:
        got = _drops(alice, marks["alice"])
        return any("not a member" in r for r in got) and sum("does not verify" in r for r in got) >= 3

    try:
        wait_until(dropped_all, 15, what="alice to drop the attack")
    except AssertionError:
        raise AssertionError(_drops(alice, marks["alice"])) from None
    reasons = _drops(alice, marks["alice"])
    assert any("not a member" in r for r in reasons), reasons
    assert sum("does not verify" in r for r in reasons) >= 3, reasons  # not "a 64-byte signature"
    time.sleep(1.5)  # anything alice wrongly forwarded would reach bob within this

    for p in (alice, bob):
        assert p.record_ids(circle) == ids_before[p.name], f"{p.name} stored part of the attack"
    # bob is connected only to alice: he saw no attacker and had nothing to drop
    assert not bob.saw("PeerConnected", peer_id=attacker)
    assert _drops(bob, marks["bob"]) == []
    assert not any(
        e.get("event") == "MessageReceived" and e.get("author") == mallory.peer_id
        for p in (alice, bob)
        for e in p.events
    )
    for p in (alice, bob):
        assert p.texts(circle).count("alice before the attack") == 1  # a replay is shown once

    # the circle still works both ways
    after = {p.name: p.json("send", CIRCLE, f"{p.name} after the attack")["id"] for p in (alice, bob)}
    for p in (alice, bob):
        wait_until(
            lambda p=p: {"alice after the attack", "bob after the attack"} <= set(p.texts(circle)),
            30,
            what=f"{p.name} to read both post-attack messages",
        )
        assert p.record_ids(circle) == ids_before[p.name] | set(after.values())
    assert parse_peer_id(attacker) not in {parse_peer_id(k) for k in _members(alice)}
    print(f"attack round trip {time.monotonic() - t0:.1f}s, drops at alice: {reasons}")
    for p in (alice, bob):
        assert p.stop() == 0
        assert p.integrity_ok()

    # Not stored means not in the "held" table either: held records are kept on disk with no
    # bound and no expiry, so a non-member's record parked there is a free disk-filling write.
    for p in (alice, bob):
        extra = _held_ids(p, circle) - held_before[p.name]
        assert not extra, f"{p.name} parked {len(extra)} record(s) of a non-member in 'held'"
