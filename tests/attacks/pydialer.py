"""A py-libp2p peer that dials a node with one security transport, to show which ones it refuses.

``python -m tests.attacks.pydialer CONFIG.json`` prints one JSON line: ``{"connected": bool,
"error": str}``. CONFIG: ``{"target": multiaddr, "security": "plaintext" | "secio" | "tls" |
"noise", "claim": a peer ID or null}``. With ``claim``, the plaintext transport presents that
peer's Ed25519 public key (a member's, which is public) as its own: plaintext proves nothing about
the key, so if a node accepted it, this peer would be that member to the node.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import Ed25519PublicKey, create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.security.secio import transport as secio
from libp2p.security.tls.transport import PROTOCOL_ID as TLS_PROTOCOL_ID
from libp2p.security.tls.transport import TLSTransport

from protocol.identity import parse_peer_id
from protocol.node.host import setup_logging


def security(kind: str, key_pair: KeyPair, claim: bytes | None) -> dict[TProtocol, object]:
    if kind == "plaintext":
        presented = KeyPair(key_pair.private_key, Ed25519PublicKey.from_bytes(claim)) if claim else key_pair
        return {TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(presented)}
    if kind == "secio":
        return {TProtocol(secio.ID): secio.Transport(key_pair)}
    if kind == "tls":
        return {TProtocol(TLS_PROTOCOL_ID): TLSTransport(key_pair)}
    from libp2p.crypto.x25519 import create_new_key_pair as x25519

    return {TProtocol(NOISE_PROTOCOL_ID): NoiseTransport(key_pair, noise_privkey=x25519().private_key)}


async def dial(cfg: dict[str, object]) -> dict[str, object]:
    key_pair = create_new_key_pair()
    claim = parse_peer_id(str(cfg["claim"])) if cfg.get("claim") else None
    host = new_host(key_pair=key_pair, sec_opt=security(str(cfg["security"]), key_pair, claim))  # type: ignore[arg-type]
    info = info_from_p2p_addr(multiaddr.Multiaddr(str(cfg["target"])))
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            with trio.fail_after(10):
                await host.connect(info)
            with trio.fail_after(10):
                stream = await host.new_stream(info.peer_id, [TProtocol("/ipfs/ping/1.0.0")])
                await stream.write(b"\x00" * 32)
                echoed = await stream.read(32)
            return {"connected": True, "ping": len(echoed) == 32}
        except BaseException as e:  # what failed is the report
            if isinstance(e, trio.Cancelled):
                raise
            return {"connected": False, "error": f"{type(e).__name__}: {e}"[:300]}


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    setup_logging(Path(str(cfg["log_dir"])))
    print(json.dumps(trio.run(dial, cfg)), flush=True)


if __name__ == "__main__":
    main()
