"""The client side of a running node's control socket (plain sockets, no libp2p).

``node_running(root)`` tells whether a node holds the profile's lock;
``request(root, {...})`` sends one JSON request and returns the reply.
"""

from __future__ import annotations

import fcntl
import json
import socket
from pathlib import Path
from typing import Any


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


def request(root: Path, obj: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
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
    reply = json.loads(buf.partition(b"\n")[0] or b"{}")
    if not isinstance(reply, dict):
        raise ValueError("the node sent a reply that is not an object")
    return reply
