"""The local control socket: how ``smallsocial send``/``log --follow`` reach a running node.

A running node holds an exclusive lock on ``<profile>/node.lock`` and listens on
the Unix socket ``<profile>/control.sock`` (mode 0600, inside the 0700 profile
directory). Requests and replies are JSON lines. A write made by the CLI while
a node runs must go through the node (it owns the chain positions in memory),
so every write goes through here; reads go to the store directly.

A request is one ``api`` command in the codec's JSON form (``codec.py``); the answer is
one event (``CommandFailed`` with a sentence if the command failed or the request was
not a command).

Or the first line is ``{"watch": true}``: the connection then carries every event the node
emits, as the TUI that started a node gets them (a ``NodeStarted`` and the current
``Reachability`` first), and each further line is a command whose answer arrives among
those events. This is how ``smallsocial`` attaches to a node already started by
``smallsocial run``. A watcher that falls ``WATCH_QUEUE`` events behind is cut off.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

import trio

from protocol.node import api, codec
from protocol.node.node import Node

MAX_LINE = 256 * 1024
WATCH_QUEUE = 10_000
"""Events a watcher may fall behind before it is cut off (the node never waits for a watcher)."""


class Watchers:
    """Every event the node emits goes on to its own sink and to each watcher's queue.

    :meth:`install` wraps ``node.emit`` (every part of the node calls ``node.emit(...)``),
    so watchers see exactly what a TUI owning the node sees.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self._sink = node.emit
        self._queues: set[trio.MemorySendChannel[api.Event]] = set()

    def install(self) -> None:
        self.node.emit = self.emit

    def uninstall(self) -> None:
        self.node.emit = self._sink

    def emit(self, ev: api.Event) -> None:
        self._sink(ev)
        for q in list(self._queues):
            try:
                q.send_nowait(ev)
            except trio.WouldBlock:  # too far behind: cut off, it reconnects and reloads
                q.close()
                self._queues.discard(q)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._queues.discard(q)

    def open(self) -> tuple[trio.MemorySendChannel[api.Event], trio.MemoryReceiveChannel[api.Event]]:
        send, recv = trio.open_memory_channel[api.Event](WATCH_QUEUE)
        self._queues.add(send)
        return send, recv

    def close(self, send: trio.MemorySendChannel[api.Event]) -> None:
        self._queues.discard(send)
        send.close()


class NodeLock:
    """The exclusive lock that says a node is running for a profile."""

    def __init__(self, root: Path) -> None:
        self.path = root / "node.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - held for the node's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def event_json(ev: api.Event) -> dict[str, Any]:
    """An event in the one JSON form (``codec.to_json``), as the socket and ``run --json`` write it."""
    return codec.to_json(ev)


async def serve(node: Node, path: Path, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(16)
    listener = trio.SocketListener(sock)
    watchers = Watchers(node)
    watchers.install()
    task_status.started()
    try:
        await trio.serve_listeners(lambda s: _client(node, s, watchers), [listener])
    finally:
        watchers.uninstall()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def _readline(stream: trio.SocketStream, buf: bytearray) -> bytes | None:
    while b"\n" not in buf:
        if len(buf) > MAX_LINE:
            return None
        chunk = await stream.receive_some(65536)
        if not chunk:
            return None
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


async def _send(stream: trio.SocketStream, obj: dict[str, Any]) -> None:
    await stream.send_all(json.dumps(obj).encode() + b"\n")


async def _client(node: Node, stream: trio.SocketStream, watchers: Watchers) -> None:
    buf = bytearray()
    try:
        line = await _readline(stream, buf)
        if line is None:
            return
        try:
            obj = json.loads(line)
            if obj == {"watch": True}:
                await _watch(node, stream, buf, watchers)
                return
            cmd = codec.command_from_json(obj)
        except ValueError as e:  # JSONDecodeError is one
            await _send(stream, event_json(api.CommandFailed(0, f"Bad request: {e}.")))
            return
        await _send(stream, event_json(await node.call(cmd)))
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
        pass
    finally:
        await stream.aclose()


async def _watch(node: Node, stream: trio.SocketStream, buf: bytearray, watchers: Watchers) -> None:
    """Events out as they come, commands in: until either side closes."""
    from protocol.node import announce, reach

    send, recv = watchers.open()
    addrs = node.public_addrs()
    send.send_nowait(api.NodeStarted(node.profile.identity.peer_id, tuple(addrs)))
    send.send_nowait(
        api.Reachability(*reach.reachability(addrs, announce.relayed(node), reach.discovery_on()))
    )

    async def events_out() -> None:
        async for ev in recv:
            await _send(stream, event_json(ev))

    async def commands_in() -> None:
        while (line := await _readline(stream, buf)) is not None:
            try:
                cmd = codec.command_from_json(json.loads(line))
            except ValueError as e:
                send.send_nowait(api.CommandFailed(0, f"Bad request: {e}."))
                continue
            await node.call(cmd)  # its answer is emitted: it reaches this watcher with the rest

    try:
        async with trio.open_nursery() as n:

            async def one(fn: Any) -> None:
                try:
                    await fn()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass  # the client went away: only this watch ends, never the node
                finally:
                    n.cancel_scope.cancel()  # either side done: the watch is over

            n.start_soon(one, events_out)
            n.start_soon(one, commands_in)
    finally:
        watchers.close(send)
