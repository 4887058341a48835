"""Non-member raw py-libp2p peers that flood a circle's gossipsub topic (run as its own process).

``python -m tests.faults.flooder CONFIG.json``; the config names the circle, the member to
connect to, the rate and duration, how many flooding hosts share the rate (``peers``: each
py-libp2p host has its own per-peer send queue, which drops past 32), an epoch id and one
of the member's records. The flooder
publishes, in turn: random junk, records validly signed by a non-member (its own chain),
records that claim the member as author but are signed by the flooder, the member's record
with a flipped byte, and replays of the member's record. It prints ``{"flooding": true}``
when the flood starts and a JSON summary when it ends.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import multiaddr
import trio
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from protocol import circle, crypto, messages, records, wire
from protocol.chain import ChainPos
from protocol.identity import Identity
from protocol.node.host import make_gossipsub, make_host, setup_logging
from tests.attacks.stranger import push_to

LISTEN = "/ip4/127.0.0.1/tcp/0"
KINDS = ("junk", "non_member_signed", "forged_author", "tampered", "replay")


def forge_as(author: bytes, signer: Identity, body: dict[str, Any]) -> bytes:
    """A record whose body names ``author`` but is signed by ``signer``."""
    _, body_bytes = wire.canonical({"v": records.VERSION, **body, "a": author})
    sig = signer.sign(records.DOMAINS[body["t"]] + body_bytes)
    return bytes(wire.encode([body_bytes, sig]))


def payloads(cfg: dict[str, Any], count: int) -> list[tuple[str, bytes]]:
    cid = bytes.fromhex(cfg["circle"])
    epoch = bytes.fromhex(cfg["epoch"])
    victim = records.parse(bytes.fromhex(cfg["record"]))
    mallory = Identity.generate()
    fake_key = crypto.random_bytes(crypto.KEY_SIZE)
    pos = ChainPos()
    out: list[tuple[str, bytes]] = []
    rng = random.Random(7)
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        text = messages.Content(messages.TEXT, int(time.time() * 1000), f"flood {i}")
        if kind == "junk":
            data = os.urandom(rng.randint(40, 600))
        elif kind == "non_member_signed":
            rec = messages.seal(mallory, cid, pos, epoch, fake_key, text)
            pos = ChainPos(rec.seq + 1, rec.id)
            data = rec.raw
        elif kind == "forged_author":
            body = {
                "t": records.MSG,
                "c": cid,
                "q": victim.seq + 1 + i,
                "p": crypto.random_bytes(32),
                "e": epoch,
                "n": crypto.random_bytes(crypto.NONCE_SIZE),
                "x": crypto.random_bytes(80),
            }
            data = forge_as(victim.author, mallory, body)
        elif kind == "tampered":
            raw = bytearray(victim.raw)
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            data = bytes(raw)
        else:
            data = victim.raw
        out.append((kind, data))
    return out


async def main(cfg: dict[str, Any]) -> None:
    rate, duration = float(cfg["rate"]), float(cfg["duration"])
    n_peers = int(cfg.get("peers", 1))
    todo = payloads(cfg, int(rate * duration))
    topic = circle.topic(bytes.fromhex(cfg["circle"]))
    target = info_from_p2p_addr(multiaddr.Multiaddr(cfg["target"]))
    summary: dict[str, Any] = {"peers": n_peers}
    sent = dict.fromkeys(KINDS, 0)
    async with AsyncExitStack() as stack:
        sybils = []
        for _ in range(n_peers):  # one py-libp2p host each: one per-peer send queue each
            host = make_host(Identity.generate(), [LISTEN])
            gs = make_gossipsub()
            ps = Pubsub(host, gs)
            await stack.enter_async_context(host.run(listen_addrs=[multiaddr.Multiaddr(LISTEN)]))
            await host.get_network().auto_connector.stop()  # type: ignore[attr-defined]
            await stack.enter_async_context(background_trio_service(ps))
            await stack.enter_async_context(background_trio_service(gs))
            await ps.wait_until_ready()
            await host.connect(target)
            sybils.append((host, gs, ps))
        summary["peer_ids"] = [h.get_id().to_base58() for h, _, _ in sybils]
        for _, _, ps in sybils:  # the member tells strangers nothing of its topics: push anyway
            await push_to(ps, target.peer_id, topic, timeout=20)
        print(json.dumps({"flooding": True}), flush=True)
        t0 = trio.current_time()

        async def flood(k: int, ps: Pubsub) -> None:
            for i in range(k, len(todo), n_peers):
                kind, data = todo[i]
                await trio.sleep_until(t0 + i / rate)
                await ps.publish(topic, data)
                sent[kind] += 1

        async with trio.open_nursery() as nursery:
            for k, (_, _, ps) in enumerate(sybils):
                nursery.start_soon(flood, k, ps)
        summary["seconds"] = round(trio.current_time() - t0, 3)
        summary["published"] = sent
        summary["rate"] = round(len(todo) / max(summary["seconds"], 1e-9), 1)
        await trio.sleep(1.0)
        with trio.move_on_after(2):
            for host, _, _ in sybils:
                await host.disconnect(target.peer_id)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    config = json.loads(Path(sys.argv[1]).read_text())
    setup_logging(Path(config["log_dir"]))
    trio.run(main, config)
