"""The size of a PNG, GIF or JPEG picture from its first bytes, without an imaging library.

Used for the TUI's text placeholder ``[image: name WxH]`` where no inline preview is drawn.
Reads at most :data:`MAX_SCAN` bytes; anything it does not recognise is ``None``.
"""

from __future__ import annotations

from pathlib import Path

MAX_SCAN = 256 * 1024
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG whose file starts with ``data``."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 <= len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in _JPEG_SOF:
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
            if length < 2:
                return None
            i += 2 + length
    return None


def file_dimensions(path: Path) -> tuple[int, int] | None:
    try:
        with path.open("rb") as f:
            return dimensions(f.read(MAX_SCAN))
    except OSError:
        return None
