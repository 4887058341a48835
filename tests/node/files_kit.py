"""Helpers for file tests on real nodes: a stranger's file-stream client, finding a file message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.node.harness import Peer, wait_until

STRANGER = r"""
import json, sys
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, ".")

from protocol.node.host import make_host, setup_logging

import multiaddr
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr

from protocol.identity import Identity
from protocol.node import filewire
from protocol.node.syncer import read_frame

cfg = json.loads(Path(sys.argv[1]).read_text())
setup_logging(Path(cfg["log_dir"]))
LISTEN = "/ip4/127.0.0.1/tcp/0"


async def main():
    out = {}
    cid = bytes.fromhex(cfg["circle"])
    host = make_host(Identity.generate(), [LISTEN])
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(host.run(listen_addrs=[multiaddr.Multiaddr(LISTEN)]))
        await host.get_network().auto_connector.stop()
        target = info_from_p2p_addr(multiaddr.Multiaddr(cfg["target"]))
        await host.connect(target)
        for name, frame in (
            ("get", filewire.get_frame(cid, [bytes.fromhex(i) for i in cfg["ids"]])),
            ("put", filewire.frame(filewire.PUT, cid + b"x" * 1000)),
        ):
            stream = await host.new_stream(target.peer_id, [TProtocol(filewire.PROTOCOL)])
            await stream.write(frame)
            with trio.fail_after(10):
                tag, payload = await read_frame(stream)
            out[name] = [tag.decode(), payload[:100].decode(errors="replace")]
            await stream.close()
        with trio.move_on_after(2):
            await host.disconnect(target.peer_id)
    print(json.dumps(out), flush=True)


trio.run(main)
"""


def run_stranger(tmp_path: Path, circle: str, target: str, ids: list[str]) -> dict[str, Any]:
    """A fresh key (in no circle) asks ``target`` for blobs and offers it one; the answers."""
    cfg = tmp_path / "stranger.json"
    cfg.write_text(
        json.dumps(
            {"circle": circle, "target": target, "ids": ids, "log_dir": str(tmp_path / "stranger-logs")}
        )
    )
    script = tmp_path / "stranger.py"
    script.write_text(STRANGER)
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


def file_entry(peer: Peer, circle: str, msg_id: str, timeout: float = 30) -> dict[str, Any]:
    """Wait until ``peer``'s log shows the file message ``msg_id``; its ``log --json`` entry."""
    found: list[dict[str, Any]] = []

    def shown() -> bool:
        found[:] = [e for e in peer.log(circle) if e["id"] == msg_id]
        return bool(found)

    wait_until(shown, timeout, what=f"{peer.name} to see the file message")
    return found[0]


def blob_paths(peer: Peer, circle: str) -> list[Path]:
    d = peer.root / "files" / circle
    return sorted(p for p in d.iterdir() if len(p.name) == 64) if d.is_dir() else []


def node_log(peer: Peer) -> str:
    path = peer.root / "logs" / "node.log"
    return path.read_text(errors="replace") if path.exists() else ""
