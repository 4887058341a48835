"""The TUI with a fake node never loads libp2p: a whole Pilot session runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, sys, tempfile, pathlib
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from tests.tui.conftest import make_app, world
from tests.tui.fake_node import ident

async def main():
    paths = ProfilePaths(pathlib.Path(tempfile.mkdtemp()) / "p")
    Profile.create(paths, "alice", identity=ident(1)).close()
    node, ids = world()
    app = make_app(paths, node)
    async with app.run_test() as pilot:
        for _ in range(200):
            if app.screen.query("MessageLog") and app.state.histories:
                break
            await pilot.pause(0.02)
        await pilot.press(*"hi", "enter", "ctrl+o", "escape", "ctrl+q")
    assert node.stopped
    print("libp2p" in sys.modules, "trio" in sys.modules)

asyncio.run(main())
"""


@pytest.mark.timeout(60)
def test_a_fake_node_session_loads_no_libp2p() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True, timeout=50
    )
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout + out.stderr
