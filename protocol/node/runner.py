"""``smallsocial run``: a headless member node in the foreground.

Takes the profile's node lock, serves the control socket, prints a one-line
status per event (or JSON lines), and shuts down cleanly on SIGINT/SIGTERM.
The addresses it listens on are written to ``<profile>/addrs`` so that
invitations made while it is offline still say where to find it.
"""

from __future__ import annotations

import json
import signal
import sys
from datetime import datetime
from typing import Any, TextIO

import trio

from protocol.identity import peer_id
from protocol.node import api, control
from protocol.node.host import setup_logging
from protocol.node.node import Node
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile


class AlreadyRunning(RuntimeError):
    pass


def _line(profile: Profile, ev: api.Event) -> str | None:
    def who(k: bytes) -> str:
        return "you" if k == profile.me else peer_id(k)[-8:]

    def name(c: bytes) -> str:
        row = profile.store.circle(c)
        return profile.circle_name(row) if row else c.hex()[:12]

    if isinstance(ev, api.NodeStarted):
        return f"node {ev.peer_id} listening on " + " ".join(ev.addrs)
    if isinstance(ev, api.MessageReceived):
        text = (ev.text or "").encode("unicode_escape").decode() if ev.text else ev.kind
        return f"[{name(ev.circle)}] {who(ev.author)}: {text}"
    if isinstance(ev, api.MessageSent):
        return f"[{name(ev.circle)}] sent {ev.record_id.hex()[:12]}"
    if isinstance(ev, api.MemberJoined):
        return f"[{name(ev.circle)}] {who(ev.member)} joined"
    if isinstance(ev, (api.MemberLeft, api.MemberRemoved)):
        verb = "left" if isinstance(ev, api.MemberLeft) else "was removed"
        return f"[{name(ev.circle)}] {who(ev.member)} {verb}"
    if isinstance(ev, api.PeerConnected):
        return f"peer connected {ev.peer_id}"
    if isinstance(ev, api.PeerDisconnected):
        return f"peer disconnected {ev.peer_id}"
    if isinstance(ev, api.SyncProgress):
        return f"[{name(ev.circle)}] synced {ev.received} record(s) from {ev.peer_id[-8:]}"
    if isinstance(ev, api.GapDetected):
        return f"[{name(ev.circle)}] {ev.missing} missing from {who(ev.author)}, syncing"
    if isinstance(ev, api.CircleForked) and ev.invited:
        return f"invited to fork {ev.name} of {name(ev.parent)}: smallsocial join {ev.circle.hex()[:12]}"
    if isinstance(ev, api.RecordDropped):
        return f"dropped a record: {ev.reason}"
    if isinstance(ev, api.CommandFailed):
        return f"error: {ev.message}"
    return None


def default_listen(paths: ProfilePaths) -> list[str]:
    """The address this profile's node used last time (a stable address for friends), else any port."""
    saved = paths.root / "addrs"
    if saved.exists():
        for line in saved.read_text().split():
            addr = line.split("/p2p/")[0]
            if addr.startswith("/ip4/127.0.0.1/tcp/") or addr.startswith("/ip4/"):
                return [addr]
    return ["/ip4/127.0.0.1/tcp/0"]


def run_headless(
    paths: ProfilePaths,
    passphrase: str | None,
    listen: list[str],
    peers: list[str],
    *,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    sync_interval: float = 30.0,
) -> None:
    setup_logging(paths.logs)
    lock = control.NodeLock(paths.root)
    if not lock.acquire():
        raise AlreadyRunning("A node is already running for this profile.")
    profile = Profile.open(paths, passphrase)

    def emit(ev: api.Event) -> None:
        if isinstance(ev, api.RecordDropped) and not as_json:
            return
        if as_json:
            out.write(
                json.dumps({"time": datetime.now().isoformat(timespec="seconds"), **control.event_json(ev)})
            )
            out.write("\n")
        else:
            line = _line(profile, ev)
            if line is None:
                return
            out.write(f"{datetime.now():%H:%M:%S} {line}\n")
        out.flush()

    async def main() -> None:
        node = Node(
            profile, emit, listen=listen or default_listen(paths), peers=peers, sync_interval=sync_interval
        )
        done = trio.Event()

        async def run_node(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await node.run(task_status=task_status)
            finally:
                done.set()

        async def signals() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                async for _ in received:
                    node.stop()
                    return

        async with trio.open_nursery() as n:
            n.start_soon(signals)
            await n.start(run_node)
            (paths.root / "addrs").write_text("\n".join(node.public_addrs()) + "\n")
            await n.start(control.serve, node, paths.root / "control.sock")
            await done.wait()
            n.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        profile.close()
        lock.release()
