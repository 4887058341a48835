"""Files in the TUI with real nodes: alice sends a picture with /send and the picker, bob's /get
fetches it with a progress bar in its line, saves it, and shows the picture's placeholder and,
the terminal showing pictures, its preview (alice sees hers once sent)."""

from __future__ import annotations

import os
import zlib
from datetime import UTC
from pathlib import Path

import pytest
from PIL import Image
from textual.widgets import Input

from protocol import files
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from smallsocial_tui import imagepreview
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.dialogs.file_picker import FilePicker
from smallsocial_tui.app.dialogs.invite import InviteDialog
from smallsocial_tui.app.node_client import real_node_factory
from smallsocial_tui.app.screens.file_flows import bar
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.imageinfo import dimensions
from tests.tui.helpers import log_lines, log_text, wait_for

pytestmark = [pytest.mark.timeout(150)]

LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


def png(width: int, height: int, extra: int) -> bytes:
    """A PNG header of that size, then ``extra`` random bytes (enough for the placeholder)."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + len(ihdr).to_bytes(4, "big")
        + chunk
        + zlib.crc32(chunk).to_bytes(4, "big")
        + os.urandom(extra)
    )


def _app(root: Path, name: str) -> SmallSocialApp:
    paths = ProfilePaths(root / "profiles" / name)
    Profile.create(paths, name).close()
    return SmallSocialApp(paths, real_node_factory(listen=LOOPBACK, peers=[], sync_interval=2.0), tz=UTC)


async def _say(pilot, app: SmallSocialApp, text: str) -> None:  # type: ignore[no-untyped-def]
    app.screen.query_one(Composer).value = text
    await pilot.press("enter")


def test_image_sizes_and_bar() -> None:
    assert dimensions(png(640, 480, 10)) == (640, 480)
    assert dimensions(b"GIF89a" + (3).to_bytes(2, "little") + (5).to_bytes(2, "little")) == (3, 5)
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0\x00\x04ab"
        + b"\xff\xc0\x00\x11\x08"
        + (7).to_bytes(2, "big")
        + (9).to_bytes(2, "big")
    )
    assert dimensions(jpeg) == (9, 7)
    assert dimensions(b"not a picture") is None
    assert bar(1, 2) == "[##########..........]  50%"


@pytest.mark.asyncio
async def test_send_with_the_picker_and_get_with_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    picture = tmp_path / "cat.png"
    Image.frombytes("RGB", (640, 480), os.urandom(640 * 480 * 3)).save(picture)  # noise: ~0.9 MB, 4 chunks
    data = picture.read_bytes()
    assert len(data) > 3 * files.CHUNK_SIZE
    monkeypatch.setattr(imagepreview, "_mode", "halfcell")  # as in a terminal that shows pictures
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    monkeypatch.setenv("SMALLSOCIAL_DOWNLOADS", str(downloads))
    alice, bob = _app(tmp_path, "alice"), _app(tmp_path, "bob")
    async with alice.run_test(size=(140, 40)) as pa, bob.run_test(size=(140, 40)) as pb:
        await wait_for(pa, lambda: alice.started and alice.state.peer_id, timeout=30)
        await wait_for(pb, lambda: bob.started and bob.state.peer_id, timeout=30)
        await _say(pa, alice, "/new club")
        await wait_for(pa, lambda: alice.screen.current is not None, timeout=20)
        await _say(pa, alice, f"/invite {bob.state.peer_id}")
        await wait_for(pa, lambda: isinstance(alice.screen, InviteDialog))
        await pa.press("enter")
        await wait_for(pa, lambda: alice.screen.token is not None, timeout=20)
        token = alice.screen.token
        await pa.press("escape")
        await wait_for(pa, lambda: isinstance(alice.screen, MainScreen))
        await _say(pb, bob, f"/join {token}")
        await wait_for(pb, lambda: isinstance(bob.screen, MainScreen) and bob.screen.current is not None, 30)

        # /send with no path opens the picker; a typed path sends.
        await _say(pa, alice, "/send")
        await wait_for(pa, lambda: isinstance(alice.screen, FilePicker))
        alice.screen.query_one("#path", Input).value = str(tmp_path / "missing.png")
        alice.screen.query_one("#path", Input).focus()
        await pa.pause()
        await pa.press("enter")
        await wait_for(
            pa, lambda: isinstance(alice.screen, FilePicker) and alice.screen.query_one("#error").display
        )
        alice.screen.query_one("#path", Input).value = str(picture)
        await pa.press("enter")
        await wait_for(pa, lambda: isinstance(alice.screen, MainScreen))
        line = f"[file] cat.png ({files.human_size(len(data))})"
        await wait_for(pa, lambda: line in log_text(alice), timeout=20)
        await wait_for(pb, lambda: line in log_text(bob), timeout=45)

        progress: list[str] = []
        bob.screen.commands.files.progress = _recording(bob.screen.commands.files.progress, progress)
        await _say(pb, bob, "/get")
        await wait_for(pb, lambda: "[image: cat.png 640x480]" in log_text(bob), timeout=60)
        assert "saved to" in log_text(bob)
        assert (downloads / "cat.png").read_bytes() == data
        assert progress  # the line showed a bar while the chunks came in
        # the picture itself, drawn under its line: 640x480 fits the bound as 32 x 12 cells
        await wait_for(pb, lambda: _drawn(bob) == imagepreview.MAX_ROWS, timeout=30)
        await wait_for(pa, lambda: _drawn(alice) == imagepreview.MAX_ROWS, timeout=30)

        await pa.press("ctrl+q")
        await pb.press("ctrl+q")
        await wait_for(pa, lambda: not alice.node._thread.alive, timeout=20)  # type: ignore[union-attr]
        await wait_for(pb, lambda: not bob.node._thread.alive, timeout=20)  # type: ignore[union-attr]


def _drawn(app: SmallSocialApp) -> int:
    """Lines of the log that hold a picture's half cells (32 of them in a row)."""
    return sum("│ " + "▀" * 32 in line for line in log_lines(app))


def _recording(fn, seen: list[str]):  # type: ignore[no-untyped-def]
    def wrapped(ev):  # type: ignore[no-untyped-def]
        seen.append(f"{ev.have}/{ev.total}")
        fn(ev)

    return wrapped
