"""The local control socket: how ``smallsocial send``/``log --follow`` reach a running node.

A running node holds an exclusive lock on ``<profile>/node.lock`` and listens on
the Unix socket ``<profile>/control.sock`` (mode 0600, inside the 0700 profile
directory). Requests and replies are JSON lines. A write made by the CLI while
a node runs must go through the node (it owns the chain positions in memory),
so every write command has an op here; reads go to the store directly.

Ops: ``send``, ``circle_new``, ``invite``, ``join``, ``fork``, ``remove``,
``leave``, ``connect``, ``pin``, ``react``, ``status``, ``follow`` (then a stream of event lines).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import trio

from protocol.identity import parse_peer_id, peer_id
from protocol.node import api
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
    out: dict[str, Any] = {"event": type(ev).__name__}
    for k, v in asdict(ev).items():
        if isinstance(v, bytes):
            out[k] = peer_id(v) if k in ("author", "member") else v.hex()
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def _bytes(req: dict[str, Any], name: str) -> bytes:
    return bytes.fromhex(str(req[name]))


def command_from(req: dict[str, Any]) -> api.Command:
    op = req.get("op")
    if op == "send":
        reply = req.get("reply")
        return api.SendMessage(
            _bytes(req, "circle"), str(req["text"]), bytes.fromhex(reply) if reply else None
        )
    if op == "circle_new":
        return api.CreateCircle(str(req["name"]))
    if op == "invite":
        return api.InviteKey(
            _bytes(req, "circle"),
            parse_peer_id(str(req["key"])),
            str(req.get("role", "member")),
            req.get("ttl_s"),
        )
    if op == "join":
        return api.AcceptInvite(str(req["token"]))
    if op == "accept_fork":
        return api.AcceptFork(_bytes(req, "circle"))
    if op == "fork":
        members = tuple(parse_peer_id(str(k)) for k in req["members"])
        return api.ForkCircle(_bytes(req, "circle"), str(req["name"]), members)
    if op == "remove":
        return api.RemoveMember(_bytes(req, "circle"), parse_peer_id(str(req["key"])))
    if op == "leave":
        return api.LeaveCircle(_bytes(req, "circle"))
    if op == "connect":
        return api.ConnectPeer(str(req["addr"]))
    if op == "react":
        return api.ReactTo(_bytes(req, "circle"), _bytes(req, "target"), str(req["emoji"]))
    if op == "pin":
        return api.PinRelay(_bytes(req, "circle"), str(req["addr"]))
    raise ValueError(f"unknown op {op!r}")


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
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("a request is a JSON object")
            if req.get("op") == "status":
                await _send(
                    stream,
                    {
                        "ok": True,
                        "peer_id": node.profile.identity.peer_id,
                        "addrs": node.addrs,
                        "peers": len(node.connected),
                        "stats": dict(node.stats),
                    },
                )
                return
            if req.get("op") == "follow":
                circle = bytes.fromhex(str(req["circle"]))
                events = node.listen_events()
                await _send(stream, {"ok": True})
                async for ev in events:
                    if getattr(ev, "circle", None) == circle:
                        await _send(stream, event_json(ev))
                return
            cmd = command_from(req)
        except (ValueError, KeyError, TypeError) as e:
            await _send(stream, {"ok": False, "error": f"Bad request: {e}"})
            return
        ev = await node.call(cmd)
        if isinstance(ev, api.CommandFailed):
            await _send(stream, {"ok": False, "error": ev.message})
        else:
            await _send(stream, {"ok": True, **event_json(ev)})
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
        pass
    finally:
        await stream.aclose()
