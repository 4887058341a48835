"""A hostile relay for the fault tests, run as its own process: ``python -m tests.faults.hostile_relay CFG``.

It is the product's :class:`~protocol.node.relay.RelayNode` run by the product's
``run_relay`` (same status lines, lock, logs, store), with these changes (CFG is a JSON file):

- ``dial_out: false``: it never dials anyone, so members reach it only where they
  were told to (through the test's TCP proxy, for instance).
- hostility, once the file ``<profile>/hostile.on`` exists (the setup before it is
  honest): of the records it would forward or serve, it

  * **withholds** a share (``drop``): chosen by a hash of the record id, never
    forwarded by gossip and never served by sync, so the gap lasts until an honest
    peer fills it;
  * **delays** a share of gossip (``reorder``), republishing it 0.3–3 s later, so
    successors arrive first; serves every sync answer shuffled, in small batches;
  * **duplicates** a share (``dup``) in gossip (a second publish) and in sync (sent twice);
  * **replays** old records by gossip every ``replay_every`` s and in every sync answer;
  * **flips or truncates** bytes of a share (``flip``) of the records it serves by sync
    (the intact record is then not sent in that answer), and publishes flipped copies;
  * **injects** records every ``inject_every`` s and in every sync answer: a message
    signed by its own key (it is no member), and a message forged as a member's
    (a member named as author, signed by the relay's key).

Every act is appended to ``<profile>/hostile.jsonl`` (one JSON object a line) so the
test can compare what was attacked with what members stored and dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import trio
from libp2p.abc import INetStream
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from protocol import circle, crypto, messages, records, sync, wire
from protocol.chain import ChainPos
from protocol.errors import ProtocolError
from protocol.node import relay_runner, syncer, syncwire
from protocol.node.host import LOG, key_of
from protocol.node.paths import resolve
from protocol.node.relay import Quota, RelayNode
from protocol.records import Record

CFG: dict[str, Any] = {}
DEFAULTS: dict[str, Any] = {
    "dial_out": True,
    "seed": 1,
    "drop": 0.0,
    "reorder": 0.0,
    "dup": 0.0,
    "flip": 0.0,
    "replay_every": 0.0,
    "inject_every": 0.0,
    "sync_replays": 0,
    "sync_injects": 0,
}


def forge_as(author: bytes, signer: Any, body: dict[str, Any]) -> bytes:
    """A record whose body names ``author`` but is signed by ``signer``."""
    _, body_bytes = wire.canonical({"v": records.VERSION, **body, "a": author})
    sig = signer.sign(records.DOMAINS[body["t"]] + body_bytes)
    return bytes(wire.encode([body_bytes, sig]))


class HostileRelay(RelayNode):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cfg = {**DEFAULTS, **CFG}
        self.rng = random.Random(self.cfg["seed"])
        root = self.profile.paths.root
        self.on_file = root / "hostile.on"
        self._acts = open(root / "hostile.jsonl", "a")  # noqa: SIM115 (open for the process's life)
        self._spared: set[bytes] | None = None
        self._withheld: set[bytes] = set()
        if not self.cfg["dial_out"]:
            self.core.extra_peers.clear()  # its --peer addresses are not redialled: members come to it

    # bookkeeping -------------------------------------------------------------------
    def act(self, kind: str, **data: Any) -> None:
        self._acts.write(json.dumps({"act": kind, "t": round(time.time(), 3), **data}) + "\n")
        self._acts.flush()

    @property
    def hostile(self) -> bool:
        if not self.on_file.exists():
            return False
        if self._spared is None:  # what it held when turned hostile is left alone
            self._spared = {r.id for c in self._relayed() for r in self.profile.view(c).records.values()}
        return True

    def _relayed(self) -> list[bytes]:
        return [c.id for c in self.profile.store.circles() if c.status == "relay"]

    def withheld(self, record: Record) -> bool:
        """Chosen once per record, by a hash of its id: withheld from gossip and from sync for good."""
        if record.id in self._withheld:
            return True
        if not self.hostile or self._spared is None or record.id in self._spared:
            return False
        if record.type in (records.GENESIS, records.PRESENCE) or record.is_roster:
            return False  # roster records pass: without them nobody can place anything (not the test)
        h = int.from_bytes(hashlib.blake2b(record.id, key=str(self.cfg["seed"]).encode()).digest()[:4], "big")
        if h / 2**32 < self.cfg["drop"]:
            self._withheld.add(record.id)
            self.act("withhold", id=record.id.hex(), author=record.author.hex(), seq=record.seq)
            return True
        return False

    # wiring ------------------------------------------------------------------------------
    def add_handlers(self) -> None:
        super().add_handlers()
        # Its own gossip ids include sender and seqno, so its own caches let it publish a record
        # again (a delay, a duplicate, a replay); members still key messages by record id.
        self.pubsub._msg_id_constructor = lambda m: hashlib.blake2b(m.data + m.from_id + m.seqno).digest()

    def add_tasks(self, nursery: trio.Nursery) -> None:
        super().add_tasks(nursery)
        nursery.start_soon(self._replayer)
        nursery.start_soon(self._injector)

    # gossip ------------------------------------------------------------------------------
    def _validator(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        if forwarder == self.host.get_id():
            return True  # what it publishes itself (delays, replays, forgeries) goes out
        ok = super()._validator(forwarder, msg)
        if not ok or not self.hostile:
            return ok
        try:
            rec = records.parse(msg.data)
        except ProtocolError:
            return ok
        if rec.type == records.PRESENCE:
            return ok  # addresses pass: members must be able to find each other once they may
        if self.withheld(rec):
            return False
        topic = msg.topicIDs[0]
        x = self.rng.random()
        if x < self.cfg["reorder"]:
            self.act("delay", id=rec.id.hex())
            self._later(topic, msg.data, self.rng.uniform(0.3, 3.0))
            return False
        if x < self.cfg["reorder"] + self.cfg["dup"]:
            self.act("dup_gossip", id=rec.id.hex())
            self._later(topic, msg.data, self.rng.uniform(0.05, 1.0))
        if x > 1 - self.cfg["flip"]:
            bad = corrupt(msg.data, self.rng)
            self.act("flip_gossip", of=rec.id.hex(), sha=hashlib.sha256(bad).hexdigest())
            self._later(topic, bad, 0.1)
        return True

    def _later(self, topic: str, raw: bytes, delay: float) -> None:
        async def go() -> None:
            await trio.sleep(delay)
            await self.pubsub.publish(topic, raw)

        if self._nursery is not None:
            self._nursery.start_soon(go)

    async def _replayer(self) -> None:
        every = float(self.cfg["replay_every"])
        if every <= 0:
            return
        while True:
            await trio.sleep(every)
            if not self.hostile:
                continue
            for cid in self._relayed():
                recs = [r for r in self.profile.store.load_records(cid) if r.type != records.GENESIS]
                for r in self.rng.sample(recs, min(3, len(recs))):
                    if r.id not in self._withheld:
                        self.act("replay_gossip", id=r.id.hex())
                        await self.pubsub.publish(circle.topic(cid), r.raw)

    async def _injector(self) -> None:
        every = float(self.cfg["inject_every"])
        if every <= 0:
            return
        while True:
            await trio.sleep(every)
            if not self.hostile:
                continue
            for cid in self._relayed():
                for kind, raw in self.forgeries(cid):
                    self.act(kind, id=records.record_id(raw).hex(), via="gossip")
                    await self.pubsub.publish(circle.topic(cid), raw)
                recs = self.profile.store.load_records(cid, records.MSG)
                if recs:
                    bad = corrupt(self.rng.choice(recs).raw, self.rng)
                    self.act("flip_gossip", sha=hashlib.sha256(bad).hexdigest())
                    await self.pubsub.publish(circle.topic(cid), bad)

    def forgeries(self, cid: bytes) -> list[tuple[str, bytes]]:
        """A message signed by my own key, and one forged as a member's (signed by me)."""
        view = self.profile.view(cid)
        epochs = list(view.roster.epochs)
        members = sorted(view.roster.members)
        if not epochs or not members:
            return []
        epoch = epochs[-1]
        text = messages.Content(messages.TEXT, int(time.time() * 1000), "the relay speaks")
        own = messages.seal(
            self.profile.identity, cid, ChainPos(), epoch, crypto.random_bytes(crypto.KEY_SIZE), text
        ).raw
        victim = self.rng.choice(members)
        seq = max((r.seq for r in view.records.values() if r.author == victim), default=0) + 1
        prev = next((r.id for r in view.records.values() if r.author == victim and r.seq == seq - 1), None)
        body = {
            "t": records.MSG,
            "c": cid,
            "q": seq,
            "p": prev,
            "e": epoch,
            "n": crypto.random_bytes(crypto.NONCE_SIZE),
            "x": crypto.box_encrypt(crypto.random_bytes(32), text.encode(), b"\x00" * crypto.NONCE_SIZE),
        }
        # signed by me but unplaceable: under an epoch nobody knows, and a join citing no real invite
        stray = messages.seal(
            self.profile.identity,
            cid,
            ChainPos(),
            crypto.random_bytes(32),
            crypto.random_bytes(crypto.KEY_SIZE),
            text,
        ).raw
        join = records.sign(
            self.profile.identity,
            {
                "t": records.JOIN,
                "a": self.profile.identity.public_key,
                "c": cid,
                "q": 1,
                "p": None,
                "h": [crypto.random_bytes(32)],
                "ts": int(time.time() * 1000),
                "i": crypto.random_bytes(32),
            },
        ).raw
        return [
            ("inject_own", bytes(own)),
            ("inject_forged", forge_as(victim, self.profile.identity, body)),
            ("inject_unplaceable", bytes(stray)),
            ("inject_join", bytes(join)),
        ]

    # sync --------------------------------------------------------------------------------
    async def _serve_sync(self, stream: INetStream) -> None:
        if not self.hostile:
            await syncer.serve(self, stream)
            return
        pid = stream.muxed_conn.peer_id
        try:
            with trio.fail_after(60):
                await self._serve_hostile(stream, pid)
        except (ProtocolError, trio.TooSlowError) as e:
            LOG.info("sync request from %s refused: %s", pid, e)
        except Exception as e:
            LOG.info("sync stream with %s ended: %s", pid, e)
        finally:
            with contextlib.suppress(Exception):
                await stream.close()

    async def _serve_hostile(self, stream: INetStream, pid: ID) -> None:
        tag, payload = await syncer.read_frame(stream)
        if tag != syncwire.VECTOR:
            return
        cid, theirs = sync.decode_vector(payload)
        key = key_of(pid)
        row = self.profile.store.circle(cid)
        roster = self.profile.view(cid).roster if row is not None else None
        if roster is None or key is None or not (roster.is_member(key) or key in roster.relays):
            await stream.write(syncwire.frame(syncwire.DENIED, b"not a member of that circle"))
            return
        held = self.core.held_seqs(cid)
        plan = sync.plan(held, theirs)
        peer = pid.to_base58()
        out: list[bytes] = []
        for span in plan.send:
            for raw in self.profile.store.raw_range(cid, span.author, span.first, span.last):
                rec = records.parse(raw)
                if self.withheld(rec):
                    continue
                x = self.rng.random()
                if x < self.cfg["flip"]:
                    out.append(corrupt(raw, self.rng))
                    self.act("flip_sync", peer=peer, of=rec.id.hex())
                    continue
                out.append(raw)
                if x < self.cfg["flip"] + self.cfg["dup"]:
                    out.append(raw)
                    self.act("dup_sync", peer=peer, id=rec.id.hex())
        view = self.profile.view(cid)
        theirs_old = [
            r
            for r in self.profile.store.load_records(cid)
            if r.id in view.records and r.type != records.GENESIS and 0 < r.seq <= theirs.get(r.author, 0)
        ]
        for r in self.rng.sample(theirs_old, min(int(self.cfg["sync_replays"]), len(theirs_old))):
            out.append(r.raw)
            self.act("replay_sync", peer=peer, id=r.id.hex())
        for _ in range(int(self.cfg["sync_injects"])):
            for kind, raw in self.forgeries(cid):
                out.append(raw)
                self.act(kind, id=records.record_id(raw).hex(), via="sync", peer=peer)
        self.rng.shuffle(out)  # reordered, and across batches (a puller sorts only within one)
        for i in range(0, len(out), 4):
            await stream.write(syncwire.records_frame(out[i : i + 4]))
        await stream.write(syncwire.frame(syncwire.VECTOR, sync.encode_vector(cid, sync.vector(held))))
        if any(theirs.get(a, 0) > sync.contiguous(s) for a, s in held.items()) or any(
            a not in held for a in theirs
        ):
            self.want_sync(pid, cid)


def corrupt(raw: bytes, rng: random.Random) -> bytes:
    """One flipped bit somewhere, or the record cut short."""
    if rng.random() < 0.25 and len(raw) > 8:
        return raw[: rng.randrange(1, len(raw) - 1)]
    b = bytearray(raw)
    b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


def main() -> None:
    CFG.update(json.loads(Path(sys.argv[1]).read_text()))
    # the product runner, our node
    relay_runner.RelayNode = HostileRelay  # type: ignore[attr-defined]
    paths = resolve(None, None)
    relay_runner.run_relay(
        paths,
        list(CFG["listen"]),
        Quota(),
        announce=CFG.get("announce"),
        as_json=True,
        status_interval=float(CFG.get("status_interval", 0.5)),
    )


if __name__ == "__main__":
    main()
