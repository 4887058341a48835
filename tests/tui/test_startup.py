"""Start-up order: ``smallsocial`` paints its main screen before the node (and libp2p) is imported,
and without loading the command line's machinery.

The command runs in a pseudo-terminal, as a user starts it, with a profile that holds a
circle. A few lines run before the CLI in the same process and note, at the first paint
of the main screen, which of the node's packages are loaded; the node must then still come
up (the circle, which only the node's overview names, appears) and ctrl+q must end it cleanly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from protocol.node.paths import resolve
from protocol.node.profile import Profile
from smallsocial_tui.app.node_client import ThreadNode

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")

# Runs before the CLI: at the main screen's first paint, write which node packages are loaded.
PROBE = """
import json, os, sys
import textual.app
_display = textual.app.App._display
def display(self, screen, renderable):
    _display(self, screen, renderable)
    out = os.environ["PAINT_PROBE"]
    if type(screen).__name__ == "MainScreen" and renderable is not None and not os.path.exists(out):
        heavy = ("libp2p", "trio", "protocol.node.bridge", "smallsocial_tui.cli")
        loaded = sorted(m for m in heavy if m in sys.modules)
        with open(out, "w") as f:
            json.dump(loaded, f)
textual.app.App._display = display
from smallsocial_tui.entry import main
sys.exit(main())
"""


def _read_until(fd: int, proc: subprocess.Popen[bytes], pattern: str, timeout: float) -> str:
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                break
            text = ANSI.sub("", buf.decode("utf-8", "replace"))
            if pattern in text:
                return text
        elif proc.poll() is not None:
            break
    return ANSI.sub("", buf.decode("utf-8", "replace"))


def test_main_screen_paints_before_the_node_imports_libp2p_and_the_node_still_starts(
    tmp_path: Path,
) -> None:
    paths = resolve(str(tmp_path), "alice")
    profile = Profile.create(paths, "alice")
    profile.new_circle("paintclub")
    profile.close()
    probe = tmp_path / "paint.json"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SMALLSOCIAL_") and k not in ("COLUMNS", "LINES")  # the pty's size rules
    }
    env.update(
        SMALLSOCIAL_DISCOVERY="off",
        PAINT_PROBE=str(probe),
        PYTHONPATH=str(ROOT),
        TERM="xterm-256color",
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-c", PROBE, "--data-dir", str(tmp_path), "--profile", "alice"],
        env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    try:
        text = _read_until(master, proc, "paintclub", 60)  # the node's overview names the circle
        assert "paintclub" in text, text[-2000:]
        # neither the node's imports nor the command line's (the TUI alone skips the CLI parser)
        assert json.loads(probe.read_text()) == [], "the first paint waited for imports it does not need"
        assert (paths.root / "addrs").exists()  # the node listened (it writes its addresses then)
        os.write(master, b"\x11")  # ctrl+q: the node stops, the app exits
        proc.wait(30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        with contextlib.suppress(OSError):
            os.close(master)


def test_a_node_stopped_before_it_starts_does_not_start(tmp_path: Path) -> None:
    """The app may quit while the node's imports run: ``start`` then starts nothing."""
    from protocol.node.bridge import BridgeError

    paths = resolve(str(tmp_path), "alice")
    Profile.create(paths, "alice").close()
    events: list[object] = []
    node = ThreadNode(paths, None, events.append, listen=["/ip4/127.0.0.1/tcp/0"])
    assert node.stop()
    with pytest.raises(BridgeError, match="stopped before it started"):
        node.start()
    assert not (paths.root / "addrs").exists() and events == []  # it never listened
