"""``smallsocial run``: a headless member node in the foreground.

Takes the profile's node lock, serves the control socket, prints each event as a
JSON line in the codec's form (or as the line the caller's ``render`` makes of it:
text is the UI package's business, ``smallsocial_tui/render.py``), and shuts down
cleanly on SIGINT/SIGTERM.
The addresses it listens on are written to ``<profile>/addrs`` so that
invitations made while it is offline still say where to find it.
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TextIO

import multiaddr
import trio

from protocol.display import json_text
from protocol.node import api, control, reach
from protocol.node.host import setup_logging
from protocol.node.node import Node
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile


class AlreadyRunning(RuntimeError):
    pass


Render = Callable[[Profile, api.Event], str | None]
"""How ``run`` shows an event as one line of text (``None``: not shown)."""


class BadAddress(ValueError):
    """A --listen or --peer value that cannot be used; the message is one sentence."""


def _port_free(host: str, port: int) -> bool:
    """Whether nobody listens there (libp2p binds with SO_REUSEPORT and would share the port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As the real listener does: a port left in TIME_WAIT by a killed node is free to
        # listen on again, while one with a live listener still refuses the bind.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _tcp(addr: str) -> tuple[str, int] | None:
    parts = addr.split("/")
    if len(parts) >= 5 and parts[1] in ("ip4", "ip6") and parts[3] == "tcp" and parts[4].isdigit():
        return parts[2], int(parts[4])
    return None


def check_listen(addrs: list[str]) -> None:
    for a in addrs:
        try:
            multiaddr.Multiaddr(a)
        except Exception:
            raise BadAddress(f"{a!r} is not an address to listen on, like /ip4/127.0.0.1/tcp/4001.") from None
        tcp = _tcp(a)
        if tcp is None:
            raise BadAddress(f"{a!r} is not a TCP address, like /ip4/127.0.0.1/tcp/4001.")
        if tcp[1] and not _port_free(*tcp):
            raise BadAddress(f"Port {tcp[1]} on {tcp[0]} is already in use; choose another with --listen.")


def check_peers(addrs: list[str]) -> None:
    for a in addrs:
        try:
            multiaddr.Multiaddr(a)
        except Exception:
            raise BadAddress(
                f"{a!r} is not a peer address, like /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…."
            ) from None
        if "/p2p/" not in a:
            raise BadAddress(f"{a!r} lacks the peer's key; it should end in /p2p/12D3KooW….")


def default_listen(paths: ProfilePaths) -> list[str]:
    """Every interface on the profile's kept port; only 127.0.0.1 with ``SMALLSOCIAL_DISCOVERY=off``."""
    return reach.member_listen(paths.root)


async def run_until_stopped(
    node: Node, paths: ProfilePaths, started: Callable[[trio.Nursery], Awaitable[None]]
) -> None:
    """Run ``node`` until it stops or SIGINT/SIGTERM arrives.

    Once it listens, its addresses go to ``<profile>/addrs`` and ``started(nursery)``
    runs (the control socket for a member node, the status lines for a relay).
    """
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
        await started(n)
        await done.wait()
        n.cancel_scope.cancel()


def run_headless(
    paths: ProfilePaths,
    passphrase: str | None,
    listen: list[str],
    peers: list[str],
    *,
    as_json: bool = False,
    render: Render | None = None,
    out: TextIO = sys.stdout,
    sync_interval: float = 30.0,
) -> None:
    if listen:
        check_listen(listen)
    check_peers(peers)
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
                json_text({"time": datetime.now().isoformat(timespec="seconds"), **control.event_json(ev)})
            )
            out.write("\n")
        else:
            line = render(profile, ev) if render is not None else None
            if line is None:
                return
            out.write(f"{datetime.now():%H:%M:%S} {line}\n")
        out.flush()

    async def main() -> None:
        node = Node(
            profile, emit, listen=listen or default_listen(paths), peers=peers, sync_interval=sync_interval
        )

        async def started(n: trio.Nursery) -> None:
            await n.start(control.serve, node, paths.root / "control.sock")

        await run_until_stopped(node, paths, started)

    try:
        trio.run(main)
    finally:
        profile.close()
        lock.release()
