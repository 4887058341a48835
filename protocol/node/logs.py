"""The node log's budget: a flood of bad input cannot grow ``node.log`` without bound.

Each dropped record, each closed stream and each of py-libp2p's errors about a peer is a
log line, and a peer decides how many of those there are. :class:`LogBudget` folds every
line onto one line of at most :data:`MAX_LINE` characters and lets at most :data:`PER_MINUTE`
lines of one kind (logger, level and message template) through per minute; the next line of
that kind says how many were left out. :func:`rotating_handler` appends to ``node.log`` and
rolls it over at :data:`MAX_BYTES`, keeping :data:`BACKUPS` old files (``node.log.1`` ...).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

PER_MINUTE = 20
"""Lines of one kind let through per minute."""
MAX_LINE = 1000
"""Characters of one log message, after folding its lines."""
MAX_KINDS = 1000
"""Kinds of line tracked at once (templates are few; this bounds the table anyway)."""
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 3


class LogBudget(logging.Filter):
    """One line per message, and at most ``per_minute`` lines of a kind per minute."""

    def __init__(self, per_minute: int = PER_MINUTE, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.per_minute = per_minute
        self.clock = clock
        self._kinds: dict[tuple[str, int, str], list[float]] = {}
        """kind -> [window start, lines let through, lines left out]"""

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        kind = (record.name, record.levelno, str(record.msg)[:200])
        state = self._kinds.get(kind)
        if state is None or now - state[0] >= 60.0:
            if state is None and len(self._kinds) >= MAX_KINDS:
                self._kinds = {k: s for k, s in self._kinds.items() if now - s[0] < 60.0}
                if len(self._kinds) >= MAX_KINDS:
                    return False
            left_out = int(state[2]) if state is not None else 0
            state = [now, 0, 0]
            self._kinds[kind] = state
            if left_out:
                record.msg = f"({left_out} more like this were left out in the last minute) {record.msg}"
        if state[1] >= self.per_minute:
            state[2] += 1
            return False
        state[1] += 1
        _fold(record)
        return True


def _fold(record: logging.LogRecord) -> None:
    """Render the message now, on one line, cut to ``MAX_LINE`` characters (tracebacks too)."""
    text = record.getMessage()
    limit = MAX_LINE
    if record.exc_info and record.exc_info[1] is not None:
        text = f"{text}\n{logging.Formatter().formatException(record.exc_info)}"
        record.exc_info = None
        record.exc_text = None
        limit = 4 * MAX_LINE  # a traceback of our own is worth keeping whole
    one = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    if len(one) > limit:
        one = one[:limit] + f"... ({len(one) - limit} more characters)"
    record.msg, record.args = one, None


def rotating_handler(path: Path, max_bytes: int = MAX_BYTES) -> logging.Handler:
    """Append to ``path``; past ``max_bytes`` it becomes ``path.1`` and a new one starts."""
    return RotatingFileHandler(path, mode="a", maxBytes=max_bytes, backupCount=BACKUPS)
