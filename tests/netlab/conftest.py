"""The lab fixture: namespaces built for a test and removed after it, or a skip with the reason.

``lab`` is a fresh :class:`tests.netlab.lab.Lab` per test (building one takes
about a second; a test may move a host's address). ``member(host, name)`` is a
real ``smallsocial run`` process inside that host's namespace, with default
settings: discovery on (inside the lab only) and its own data directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.netlab.lab import Lab, why_not
from tests.netlab.member import LIVE, Member

_REASON = why_not() if os.environ.get("SMALLSOCIAL_NETLAB", "on") != "off" else "SMALLSOCIAL_NETLAB=off"

LOG_TAIL = 60
"""Lines of each node's log added to a failed test's report."""


def _log_tails() -> str:
    out = []
    for m in LIVE:
        log = m.root / "logs" / "node.log"
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL:] if log.exists() else ["(no log)"]
        out.append(f"--- {m.name} on {m.host}: {log}\n" + "\n".join(lines))
    return "\n".join(out)


@pytest.fixture(autouse=True)
def _forget_live_nodes() -> Iterator[None]:
    LIVE.clear()
    yield
    LIVE.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    """On a failure, the tail of every lab node's log: a lab test that times out says why."""
    report = yield
    if isinstance(report, pytest.TestReport) and report.failed and report.when in ("setup", "call") and LIVE:
        try:
            report.sections.append(("lab node logs", _log_tails()))
        except Exception as e:  # never hide the failure being reported
            report.sections.append(("lab node logs", f"(unreadable: {e!r})"))
    return report


@pytest.fixture
def lab() -> Iterator[Lab]:
    if _REASON:
        pytest.skip(_REASON)
    lab = Lab(f"s{os.getpid() % 1000:03d}-")
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def member(lab: Lab, tmp_path: Path) -> Iterator[Callable[[str, str], Member]]:
    made: list[Member] = []

    def make(host: str, name: str) -> Member:
        m = Member(lab, host, tmp_path / host, name)
        m.cli("id", "--name", name)
        made.append(m)
        return m

    yield make
    for m in made:
        if m.running():
            m.kill()
