"""The client side of a running node's control socket (plain sockets, no libp2p).

``node_running(root)`` tells whether a node holds the profile's lock; ``call(root, cmd)``
sends one ``api`` command in the codec's JSON form (``protocol/node/codec.py``) and
returns the node's answer as an ``api`` event; ``request`` returns it as its JSON object
with ``ok`` added (false for ``CommandFailed``), for scripts and tests. :class:`Watch`
holds a connection open: the node's events as they come, and commands sent on it (how
the TUI attaches to a node started by ``smallsocial run``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.node import api, codec


def node_running(root: Path) -> bool:
    path = root / "node.lock"
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def call(root: Path, cmd: api.Command, timeout: float = 30.0) -> api.Event:
    """Send ``cmd`` to the node running for ``root``; its answer (``CommandFailed`` included).

    ``OSError`` if no node answers, ``ValueError`` if the answer is not an event.
    """
    return codec.event_from_json(_exchange(root, codec.to_json(cmd), timeout))


def request(root: Path, cmd: api.Command, timeout: float = 30.0) -> dict[str, Any]:
    """:func:`call`, the answer as its JSON object with ``ok`` (false for ``CommandFailed``)."""
    reply = codec.to_json(call(root, cmd, timeout))
    return {"ok": reply["event"] != "CommandFailed", **reply}


def _exchange(root: Path, obj: dict[str, Any], timeout: float) -> object:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(root / "control.sock"))
        s.sendall(json.dumps(obj).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    if b"\n" not in buf:
        raise ValueError("the node closed the control socket without an answer")
    reply: object = json.loads(buf.partition(b"\n")[0])
    return reply


class Watch:
    """A running node's events, each to ``on_event`` from a reader thread, and commands to it.

    ``on_closed`` is called once, from the reader thread, when the node ends the connection
    (it stopped, or this watcher fell too far behind); not after :meth:`close`.
    """

    def __init__(
        self, root: Path, on_event: Callable[[api.Event], None], on_closed: Callable[[], None]
    ) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(10.0)
        self._sock.connect(str(root / "control.sock"))  # OSError: no node listens there
        self._sock.sendall(b'{"watch": true}\n')
        self._sock.settimeout(None)
        self._on_event, self._on_closed = on_event, on_closed
        self._send_lock = threading.Lock()
        self._closing = False
        self._reader = threading.Thread(target=self._read, name="smallsocial-watch", daemon=True)
        self._reader.start()

    def send(self, cmd: api.Command) -> None:
        """Hand ``cmd`` to the node; its answer comes as an event. ``OSError`` if the node is gone."""
        line = json.dumps(codec.to_json(cmd)).encode() + b"\n"
        with self._send_lock:
            self._sock.sendall(line)

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if threading.current_thread() is not self._reader:
            self._reader.join(5.0)

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    try:
                        ev = codec.event_from_json(json.loads(line))
                    except ValueError:
                        continue  # a newer node's event this client does not know
                    self._on_event(ev)
        except OSError:
            pass
        self._sock.close()
        if not self._closing:
            self._on_closed()
