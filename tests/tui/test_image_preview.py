"""Picture previews in the message log: a fetched picture is drawn under its line where the
terminal shows pictures; a decompression bomb, a broken PNG or a terminal without pictures keep
the text placeholder, and nothing crashes or stalls."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui import imagepreview
from smallsocial_tui.app.widgets.message_log import MessageLog
from tests.tui.conftest import make_app, world
from tests.tui.helpers import log_text, ready, wait_for

pytestmark = [pytest.mark.timeout(60)]


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def bomb(path: Path, side: int = 100_000) -> Path:
    """A PNG that says it is ``side`` x ``side`` pixels, with a few MB of zeros compressed to KBs."""
    comp = zlib.compressobj(9)
    body = comp.compress(b"\0" * (8 * 1024 * 1024)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    )
    return path


def picture(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    Image.new("RGB", size, (200, 30, 30)).save(path)
    return path


def test_load_fits_a_picture_in_the_bounds(tmp_path: Path) -> None:
    p = imagepreview.load(picture(tmp_path / "wide.png", (4000, 300)), "halfcell")
    assert p.cols == imagepreview.MAX_COLS and 1 <= p.rows <= imagepreview.MAX_ROWS
    p = imagepreview.load(picture(tmp_path / "tall.png", (30, 3000)), "halfcell")
    assert p.rows == imagepreview.MAX_ROWS and p.cols <= imagepreview.MAX_COLS


def test_a_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    for side in (100_000, 7_000):  # past Pillow's own limit, and past ours only (49 Mpx)
        started = time.monotonic()
        with pytest.raises(imagepreview.Refused, match="pixels"):
            imagepreview.load(bomb(tmp_path / f"bomb{side}.png", side), "halfcell")
        assert time.monotonic() - started < 1.0


def test_broken_large_and_foreign_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = picture(tmp_path / "ok.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(whole[:60])
    with pytest.raises(imagepreview.Refused, match="does not decode"):
        imagepreview.load(tmp_path / "broken.png", "halfcell")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\xff" * 100)
    with pytest.raises(imagepreview.Refused):
        imagepreview.load(tmp_path / "junk.png", "halfcell")
    Image.new("RGB", (8, 8)).save(tmp_path / "pic.bmp")  # a format outside the list is not decoded
    with pytest.raises(imagepreview.Refused, match="not a picture"):
        imagepreview.load(tmp_path / "pic.bmp", "halfcell")
    monkeypatch.setattr(imagepreview, "MAX_FILE_BYTES", len(whole) - 1)
    with pytest.raises(imagepreview.Refused, match="too large"):
        imagepreview.load(tmp_path / "ok.png", "halfcell")
    with pytest.raises(imagepreview.Refused):
        imagepreview.load(tmp_path / "ok.png", "off")


def _preview_lines(app: object) -> int:
    log = app.screen.query_one(MessageLog)  # type: ignore[attr-defined]
    rows = log.history.rows if log.history is not None else []
    return sum(r.preview.rows for r in rows if r.preview is not None)


def _halfcells(app: object) -> int:
    return log_text(app).count("▀")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mode", "make", "shown"),
    [
        ("halfcell", picture, True),
        ("off", picture, False),
        ("halfcell", bomb, False),
        ("halfcell", lambda p: p.write_bytes(picture(p).read_bytes()[:60]) and p, False),
    ],
    ids=["preview", "no-pictures-terminal", "bomb", "broken"],
)
async def test_a_fetched_picture_shows_as_a_preview(
    profile_paths: ProfilePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode, make, shown
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(imagepreview, "_mode", mode)
    node, ids = world()
    rid = node.add_message(ids["friends"], ids["bob"], "[file] cat.png (1.2 kB)", kind="file").id
    saved = make(tmp_path / "cat.png")
    app = make_app(profile_paths, node)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        assert _preview_lines(app) == 0
        node.emit(api.FileFetched(None, ids["friends"], rid, True, "", 1200, 1200, str(saved)))
        await wait_for(pilot, lambda: "saved to" in log_text(app))
        if shown:
            await wait_for(pilot, lambda: _preview_lines(app) > 0)
            assert "[image: cat.png 64x48]" in log_text(app)  # the text stays above the picture
            assert _halfcells(app) == 32 * _preview_lines(app)  # 64 px wide in 32 cells, drawn
        else:
            await pilot.pause(0.5)  # the worker had its chance
            assert _preview_lines(app) == 0 and _halfcells(app) == 0
        app.screen.query_one(MessageLog).focus()
        await pilot.press("up")  # the app still answers keys
        await wait_for(pilot, lambda: app.screen.query_one(MessageLog).selected is not None)


def test_only_a_kitty_like_terminal_is_asked_about_pictures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking the terminal (and importing textual-image) costs the first paint up to 0.2 s: only
    terminals that may speak kitty's graphics protocol are asked; others get half-blocks."""
    import sys

    from smallsocial_tui import imagepreview

    assert imagepreview.kitty_like({"TERM": "xterm-kitty"}) and imagepreview.kitty_like(
        {"TERM_PROGRAM": "WezTerm"}
    )
    assert not imagepreview.kitty_like({"TERM": "xterm-256color", "TERM_PROGRAM": "tmux"})

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "__stdout__", Tty())
    monkeypatch.setitem(sys.modules, "textual_image", None)  # an import of it would fail: "off"
    monkeypatch.delenv("SMALLSOCIAL_IMAGES", raising=False)
    for k in ("KITTY_WINDOW_ID", "KONSOLE_VERSION", "TERM_PROGRAM"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    try:
        assert imagepreview.detect() == "halfcell"  # decided without asking
        monkeypatch.setenv("TERM", "xterm-kitty")
        assert imagepreview.detect() == "off"  # asked (here: the import fails, so no previews)
    finally:
        imagepreview.set_mode("off")
