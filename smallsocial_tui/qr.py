"""A QR code drawn as text: the invite dialog shows one, and so does ``smallsocial invite --qr``."""

from __future__ import annotations


def qr_text(data: str) -> str:
    """A QR code of ``data`` drawn with half-block characters (two modules per character cell).

    Upper-case base32 fits QR's alphanumeric mode: a token's code is then about a sixth smaller.
    """
    import segno  # only when a code is shown: not on the way to the TUI's first paint

    qr = segno.make(data, error="l", micro=False)
    matrix = [[bool(v) for v in row] for row in qr.matrix_iter(scale=1, border=2)]
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    chars = {(False, False): "█", (True, True): " ", (True, False): "▄", (False, True): "▀"}
    # light modules are drawn as the glyph: on the usual dark background the code reads as printed
    lines = []
    for top, bottom in zip(matrix[0::2], matrix[1::2], strict=True):
        lines.append("".join(chars[(t, b)] for t, b in zip(top, bottom, strict=True)))
    return "\n".join(lines)
