"""The local control socket: how ``smallsocial send``/``log --follow`` reach a running node.

A running node holds an exclusive lock on ``<profile>/node.lock`` and listens on
the Unix socket ``<profile>/control.sock`` (mode 0600, inside the 0700 profile
directory). Requests and replies are JSON lines. A write made by the CLI while
a node runs must go through the node (it owns the chain positions in memory),
so every write goes through here; reads go to the store directly.

A request is one ``api`` command in the codec's JSON form (``codec.py``); the answer is
one event (``CommandFailed`` with a sentence if the command failed or the request was
not a command).
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
    task_status.started()
    try:
        await trio.serve_listeners(lambda s: _client(node, s), [listener])
    finally:
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


async def _client(node: Node, stream: trio.SocketStream) -> None:
    buf = bytearray()
    try:
        line = await _readline(stream, buf)
        if line is None:
            return
        try:
            cmd = codec.command_from_json(json.loads(line))
        except ValueError as e:  # JSONDecodeError is one
            await _send(stream, event_json(api.CommandFailed(0, f"Bad request: {e}.")))
            return
        await _send(stream, event_json(await node.call(cmd)))
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
        pass
    finally:
        await stream.aclose()
