"""Fixtures for the fault tests, and the rule that long (``slow``) versions run only when asked.

A test here has a short version (the normal suite) and a long one marked ``slow``; the long
ones are skipped unless ``--run-slow`` is given (with ``tests/faults`` on the command line)
or ``SMALLSOCIAL_STRESS=1`` is set, which is what ``scripts/stress`` does.

A failing fault test, whatever it failed on, gets a "fault context" section in its report:
:func:`tests.faults.kit.failure_report` (the seed and round it noted, each of its nodes'
process state and the tail of their logs), printed with the failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.faults import kit
from tests.faults.kit import Node, kill_quietly, stress


def pytest_addoption(parser: pytest.Parser) -> None:
    with contextlib.suppress(ValueError):  # someone else may define the same option
        parser.addoption("--run-slow", action="store_true", default=False, help="run the long fault tests")


@pytest.fixture(autouse=True)
def _fresh_failure_context() -> Iterator[None]:
    kit.NOTES.clear()
    kit.WATCHED.clear()
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    """On any failure (assertion, exception, timeout) add the seed, round and node log tails."""
    report = yield
    if isinstance(report, pytest.TestReport) and report.failed and report.when in ("setup", "call"):
        try:
            context = kit.failure_report()
        except Exception as e:  # never hide the failure being reported
            context = f"(no fault context: {e!r})"
        report.sections.append(("fault context", context))
    return report


@pytest.fixture(autouse=True)
def _skip_slow_unless_asked(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("slow") is None:
        return
    try:
        asked = bool(request.config.getoption("--run-slow"))
    except ValueError:
        asked = False
    if not (asked or stress()):
        pytest.skip("long version: run scripts/stress (or SMALLSOCIAL_STRESS=1, --run-slow)")


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """``make_node("alice")``: a profile with an identity in the test's data dir; killed afterwards."""
    made: list[Node] = []

    def make(name: str, data_dir: Path | None = None) -> Node:
        n = Node(data_dir or tmp_path, name)
        n.cli("id", "--name", name)
        made.append(n)
        kit.WATCHED.append(n)
        return n

    yield make
    for n in made:
        kill_quietly(n)
