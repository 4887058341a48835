"""The node log's budget (protocol/node/logs.py): folded lines, a per-kind rate, rotation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.node.logs import MAX_LINE, PER_MINUTE, LogBudget, rotating_handler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _close_handlers(tmp_path: Path) -> Iterator[None]:
    yield
    for h in logging.getLogger(f"smallsocial.test.{tmp_path.name}").handlers:
        h.close()


def _logger(tmp_path: Path, clock: Clock, max_bytes: int = 10**9) -> tuple[logging.Logger, Path]:
    path = tmp_path / "node.log"
    handler = rotating_handler(path, max_bytes)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(LogBudget(clock=clock))
    log = logging.getLogger(f"smallsocial.test.{tmp_path.name}")
    for old in log.handlers:
        old.close()
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log, path


def test_a_flood_of_one_kind_is_cut_to_the_budget_and_counted(tmp_path: Path) -> None:
    clock = Clock()
    log, path = _logger(tmp_path, clock)
    for i in range(1000):
        log.info("dropped a record: %s", f"junk {i}")
    log.warning("graylisted %s", "peer")  # another kind is not held back
    lines = path.read_text().splitlines()
    assert len(lines) == PER_MINUTE + 1
    assert lines[-1] == "WARNING graylisted peer"
    clock.now += 61
    log.info("dropped a record: %s", "later")
    last = path.read_text().splitlines()[-1]
    left_out = 1000 - PER_MINUTE
    assert (
        last == f"INFO ({left_out} more like this were left out in the last minute) dropped a record: later"
    )


def test_lines_are_folded_and_cut(tmp_path: Path) -> None:
    log, path = _logger(tmp_path, Clock())
    log.error("Failed to open stream:\n  Error: protocols not supported\n  Timeout: 30s")
    log.info("peer sent %s", "x" * 50_000)
    lines = path.read_text().splitlines()
    assert lines[0] == "ERROR Failed to open stream: | Error: protocols not supported | Timeout: 30s"
    assert len(lines) == 2 and len(lines[1]) < MAX_LINE + 100
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.exception("command failed")
    last = path.read_text().splitlines()[-1]
    assert last.startswith("ERROR command failed | Traceback") and "ValueError: boom | second line" in last


def test_the_log_rotates_and_appends(tmp_path: Path) -> None:
    clock = Clock()
    log, path = _logger(tmp_path, clock, max_bytes=2000)
    for i in range(400):
        clock.now += 61  # past the budget: every line goes through
        log.info("line %d %s", i, "y" * 40)
    assert (tmp_path / "node.log.1").exists() and (tmp_path / "node.log.3").exists()
    assert not (tmp_path / "node.log.4").exists()
    assert path.stat().st_size <= 2000
    log2, _ = _logger(tmp_path, clock, max_bytes=10**9)  # a new start appends
    log2.info("after a restart")
    assert path.read_text().splitlines()[-1] == "INFO after a restart"
    assert "line 399" in path.read_text()
