"""The client side of a running node's control socket (plain sockets, no libp2p).

``node_running(root)`` tells whether a node holds the profile's lock; ``call(root, cmd)``
sends one ``api`` command in the codec's JSON form (``protocol/node/codec.py``) and
returns the node's answer as an ``api`` event; ``request`` returns it as its JSON object
with ``ok`` added (false for ``CommandFailed``), for scripts and tests.
"""

from __future__ import annotations

import fcntl
import json
import socket
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
