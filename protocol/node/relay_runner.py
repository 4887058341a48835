"""``smallsocial relay``: run a relay in the foreground, and ``relay status`` about a running one.

The relay prints the address(es) to give to members, then one status line a
minute (circles, members seen, records and bytes stored, connected peers,
records rejected and refused over quota), or JSON lines with ``--json``. The
latest status is also written to ``<profile>/relay-status.json`` for
``smallsocial relay status``. SIGINT/SIGTERM stop it cleanly.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any, TextIO

import multiaddr
import trio

from protocol.display import json_text
from protocol.files import human_size
from protocol.node import api, control
from protocol.node.host import setup_logging
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from protocol.node.relay import Quota, RelayNode
from protocol.node.runner import (
    AlreadyRunning,
    BadAddress,
    check_listen,
    check_peers,
    default_listen,
    run_until_stopped,
)

STATUS_FILE = "relay-status.json"
RELAY_SYNC_INTERVAL = 300.0
"""A relay pulls from each member on connect, on a gap and after a hint; the periodic pull is
only a backstop. Every 30 s, as members do, it was a stream per member and circle, which with
hundreds of members kept a relay busy doing nothing."""


def _status_line(s: dict[str, Any]) -> str:
    return (
        f"{s['circles']} circle(s), {s['members']} member(s) seen, {s['records']} record(s), "
        f"{human_size(s['bytes'])}, {s['peers']} peer(s) connected, "
        f"{s['rejected']} rejected, {s['over_quota']} refused over quota"
    )


def _write_status(paths: ProfilePaths, status: dict[str, Any]) -> None:
    tmp = paths.root / (STATUS_FILE + ".tmp")
    tmp.write_text(json.dumps(status))
    os.replace(tmp, paths.root / STATUS_FILE)


def run_relay(
    paths: ProfilePaths,
    listen: list[str],
    quota: Quota,
    *,
    announce: list[str] | None = None,
    peers: list[str] | None = None,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    status_interval: float = 60.0,
    sweep_interval: float = 3600.0,
) -> None:
    if listen:
        check_listen(listen)
    check_peers(peers or [])
    for a in announce or []:
        try:
            multiaddr.Multiaddr(a)
        except Exception:
            raise BadAddress(
                f"{a!r} is not an address to announce, like /ip4/203.0.113.7/tcp/4001."
            ) from None
    lock = control.NodeLock(paths.root)
    if not lock.acquire():
        raise AlreadyRunning("A relay (or node) is already running with this data directory and profile.")
    profile = Profile.open(paths) if Profile.exists(paths) else Profile.create(paths, "relay")
    setup_logging(paths.logs)

    def say(kind: str, text: str, data: dict[str, Any]) -> None:
        if as_json:
            out.write(
                json_text({"time": datetime.now().isoformat(timespec="seconds"), "event": kind, **data})
            )
        else:
            out.write(f"{datetime.now():%H:%M:%S} {text}")
        out.write("\n")
        out.flush()

    def emit(ev: api.Event) -> None:
        pass  # a relay's per-record events are many and unreadable; the status line sums them up

    async def main() -> None:
        node = RelayNode(
            profile,
            emit,
            listen=listen or default_listen(paths),
            peers=peers,
            quota=quota,
            announce=announce,
            sweep_interval=sweep_interval,
            sync_interval=RELAY_SYNC_INTERVAL,
        )

        async def report() -> None:
            while True:
                s = node.status()
                _write_status(paths, {**s, "pid": os.getpid(), "time": datetime.now().isoformat()})
                say("RelayStatus", _status_line(s), s)
                await trio.sleep(status_interval)

        async def started(n: trio.Nursery) -> None:
            addrs = node.public_addrs()
            text = (
                "relay "
                + profile.identity.peer_id
                + "; members pin it with:\n"
                + "\n".join(f"  smallsocial circle pin CIRCLE {a}" for a in addrs)
            )
            if addrs and all("/ip4/127." in a or "/ip6/::1/" in a for a in addrs):
                text += (
                    "\n  (this relay listens on loopback only: for members on other machines run it "
                    "with --listen /ip4/0.0.0.0/tcp/4001 --announce /ip4/YOUR.PUBLIC.IP/tcp/4001)"
                )
            say("RelayStarted", text, {"key": profile.identity.peer_id, "addrs": addrs})
            n.start_soon(report)

        await run_until_stopped(node, paths, started)

    try:
        trio.run(main)
    finally:
        (paths.root / STATUS_FILE).unlink(missing_ok=True)
        profile.close()
        lock.release()


def read_status(paths: ProfilePaths) -> dict[str, Any] | None:
    """The running relay's latest status, or None when no relay runs there."""
    lock = control.NodeLock(paths.root)
    if lock.acquire():
        lock.release()
        return None
    try:
        data = json.loads((paths.root / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = ["AlreadyRunning", "BadAddress", "read_status", "run_relay"]
