"""Picture previews for the message log: a received picture decoded with limits, drawn as lines.

A picture someone sends is untrusted bytes. :func:`load` decodes it only when it is small
enough on disk (:data:`MAX_FILE_BYTES`), a known format (PNG, JPEG, GIF, WebP) and, from its
header alone, at most :data:`MAX_PIXELS` pixels (Pillow's decompression-bomb warning is an
error here too); it then keeps a thumbnail no larger than :data:`MAX_COLS` x :data:`MAX_ROWS`
cells. Anything else is :class:`Refused` with one sentence: the line keeps its text
placeholder ``[image: name WxH]``. Call it off the UI thread (a worker): a picture at the
limit takes a moment to decode.

How the lines are drawn is chosen once, before Textual starts (:func:`detect`, which asks the
terminal through textual-image, and only when its environment names a kitty-graphics
terminal): ``tgp`` (kitty's graphics protocol, through unicode placeholders that
sit in the log's lines like text), ``halfcell`` (coloured ``▀`` cells, any
terminal with colour; also what sixel terminals get, since sixel pictures cannot live inside
a scrolling list of lines) or ``off`` (not a terminal, or ``SMALLSOCIAL_IMAGES=off``).
``SMALLSOCIAL_IMAGES=tgp|halfcell`` forces a way.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.segment import Segment

log = logging.getLogger(__name__)

Mode = Literal["tgp", "halfcell", "off"]
MODES: tuple[Mode, ...] = ("tgp", "halfcell", "off")
MAX_FILE_BYTES = 32 * 1024 * 1024
"""A picture file larger than this is not decoded (the placeholder stays)."""
MAX_PIXELS = 36_000_000
"""Width x height, read from the header before any pixel is decoded (a 6000x6000 photo)."""
MAX_COLS = 40
MAX_ROWS = 12
"""The largest preview, in cells."""
FORMATS = ("PNG", "JPEG", "GIF", "WEBP")

_mode: Mode = "off"
_cell: tuple[int, int] = (10, 20)
"""A terminal cell in pixels (textual-image asks the terminal; VT340's when it cannot)."""


class Refused(Exception):
    """A picture not previewed, and why (one sentence)."""


def mode() -> Mode:
    return _mode


def set_mode(value: Mode, cell: tuple[int, int] | None = None) -> None:
    global _mode, _cell
    _mode = value
    if cell is not None:
        _cell = cell


def detect() -> Mode:
    """Choose how previews are drawn, asking the terminal. Call before the app runs: once Textual
    reads the keyboard, the terminal's answers would go to it."""
    wanted = os.environ.get("SMALLSOCIAL_IMAGES", "auto").strip().lower()
    if wanted == "off" or not (sys.__stdout__ and sys.__stdout__.isatty()):
        set_mode("off")
        return _mode
    if wanted != "tgp" and not kitty_like(os.environ):
        # No sign of kitty's graphics protocol: half-blocks, without asking the terminal (the
        # question and textual-image's imports would hold up the first paint by up to 0.2 s).
        set_mode("halfcell")
        return _mode
    try:
        from textual_image import renderable
        from textual_image._terminal import get_cell_size

        size = get_cell_size()
        found: Mode = "tgp" if renderable.Image is renderable.TGPImage else "halfcell"
    except Exception as e:  # a terminal that answers oddly: the text placeholder will do
        log.info("no picture previews: %s", e)
        set_mode("off")
        return _mode
    set_mode(wanted if wanted in ("tgp", "halfcell") else found, (size.width, size.height))  # type: ignore[arg-type]
    return _mode


def kitty_like(env: dict[str, str] | os._Environ[str]) -> bool:
    """Whether the terminal says it may speak kitty's graphics protocol (kitty, WezTerm, Ghostty,
    Konsole); only then is it asked."""
    term, program = env.get("TERM", ""), env.get("TERM_PROGRAM", "").lower()
    return (
        "kitty" in term
        or "ghostty" in term
        or "KITTY_WINDOW_ID" in env
        or "KONSOLE_VERSION" in env
        or program in ("wezterm", "ghostty")
    )


class Preview:
    """A decoded thumbnail, drawn as ``rows`` lines of ``cols`` cells."""

    def __init__(self, image: Any, cols: int, rows: int, how: Mode) -> None:
        self.image, self.cols, self.rows, self.how = image, cols, rows, how
        self._lines: list[list[Segment]] | None = None

    def lines(self, console: Console) -> list[list[Segment]]:
        """The preview's lines (kept: a kitty picture is sent to the terminal once)."""
        if self._lines is None:
            self._lines = self._tgp(console) if self.how == "tgp" else self._halfcells()
        return self._lines

    def _halfcells(self) -> list[list[Segment]]:
        """Two pixels a cell: ``▀`` in the upper one's colour on the lower one's."""
        from rich.color import Color
        from rich.segment import Segment
        from rich.style import Style

        img = self.image.resize((self.cols, self.rows * 2))
        px = img.load()
        out = []
        for y in range(self.rows):
            line = []
            for x in range(self.cols):
                up, down = px[x, 2 * y], px[x, 2 * y + 1]
                line.append(Segment("▀", Style(color=Color.from_rgb(*up), bgcolor=Color.from_rgb(*down))))
            out.append(Segment.simplify(line))
        return [list(line) for line in out]

    def _tgp(self, console: Console) -> list[list[Segment]]:
        from textual_image.renderable.tgp import Image

        options = console.options.update(width=self.cols, height=self.rows)
        return console.render_lines(Image(self.image, self.cols, self.rows), options, pad=False)[: self.rows]


def _fit(width: int, height: int, how: Mode) -> tuple[int, int, int, int]:
    """Thumbnail pixels and cells for a picture of ``width`` x ``height``: (px w, px h, cols, rows)."""
    cw, ch = (1, 2) if how == "halfcell" else _cell
    scale = min(1.0, MAX_COLS * cw / width, MAX_ROWS * ch / height)
    pw, ph = max(1, round(width * scale)), max(1, round(height * scale))
    cols, rows = max(1, -(-pw // cw)), max(1, -(-ph // ch))
    return pw, ph, min(cols, MAX_COLS), min(rows, MAX_ROWS)


def load(path: Path, how: Mode | None = None) -> Preview:
    """Decode the picture at ``path`` into a preview, within the limits above; ``Refused`` if not."""
    how = how or _mode
    if how == "off":
        raise Refused("This terminal shows no pictures.")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise Refused(f"Cannot read {path.name}: {e.strerror or e}.") from None
    if size > MAX_FILE_BYTES:
        raise Refused(f"{path.name} is too large to preview.")
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise Refused("Pillow is not installed.") from None

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as img:
                width, height = img.size
                if width < 1 or height < 1 or width * height > MAX_PIXELS:
                    raise Refused(f"{path.name} is {width}x{height}: too many pixels to preview.")
                pw, ph, cols, rows = _fit(width, height, how)
                img.draft("RGB", (pw, ph))  # JPEG: decode at a fraction of the size
                thumb = img.convert("RGB")
                thumb.thumbnail((pw, ph))
                thumb = thumb.resize((pw, ph))
    except Refused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise Refused(f"{path.name} is not a picture this can preview ({e}).") from None
    except Exception as e:  # a crafted file can make a decoder raise anything: no preview, no crash
        raise Refused(f"{path.name} does not decode ({type(e).__name__}: {e}).") from None
    return Preview(thumb, cols, rows, how)
