"""protocol.timeline: the edit fold, deletes and mentions that the node's history and the TUI share."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import messages
from protocol.timeline import CHANGES, READABLE, Change, Version, fold, mentions, revise

ALICE, BOB = b"a" * 32, b"b" * 32
MSG = b"m" * 32


def edit(ts: int, text: str, author: bytes = ALICE) -> Change:
    return Change(messages.EDIT, author, ts, MSG, text)


def delete(ts: int, author: bytes = ALICE) -> Change:
    return Change(messages.DELETE, author, ts, MSG)


def test_kinds() -> None:
    assert READABLE == ("text", "reply", "file")
    assert CHANGES == ("edit", "delete")


def test_an_edit_replaces_the_text() -> None:
    assert revise(Version("helo"), ALICE, edit(5, "hello")) == Version("hello", True, False, 5)


def test_only_the_author_changes_a_message() -> None:
    assert revise(Version("mine"), ALICE, edit(5, "yours", author=BOB)) is None
    assert revise(Version("mine"), ALICE, delete(5, author=BOB)) is None


def test_a_reaction_is_no_change() -> None:
    assert revise(Version("hi"), ALICE, Change(messages.REACT, ALICE, 5, MSG, "👍")) is None


def test_the_newest_edit_wins_whatever_arrives_last() -> None:
    newer = revise(Version("a"), ALICE, edit(9, "newest"))
    assert newer is not None
    assert revise(newer, ALICE, edit(4, "older")) == Version("newest", True, False, 9)
    equal = revise(newer, ALICE, edit(9, "same time"))
    assert equal == Version("same time", True, False, 9)  # a tie: the later one


def test_a_delete_is_final() -> None:
    gone = revise(Version("a"), ALICE, delete(3))
    assert gone == Version(None, False, True, 3)
    after = revise(gone, ALICE, edit(8, "back?"))
    assert after == Version(None, True, True, 8)


def test_fold_skips_unknown_and_foreign_targets() -> None:
    other = b"o" * 32
    shown = {MSG: (ALICE, "helo"), other: (BOB, "bob's")}
    changes = [
        edit(5, "hello"),
        Change(messages.EDIT, ALICE, 6, other, "not mine"),
        Change(messages.DELETE, ALICE, 7, b"x" * 32),
    ]
    assert fold(shown, changes) == {MSG: Version("hello", True, False, 5)}


CHANGE = st.one_of(
    st.builds(edit, st.integers(0, 20), st.sampled_from(["one", "two", "three"])),
    st.builds(delete, st.integers(0, 20)),
    st.builds(edit, st.integers(0, 20), st.just("foreign"), st.just(BOB)),
)


@given(st.lists(CHANGE, max_size=5, unique_by=lambda c: c.ts))
def test_the_fold_does_not_depend_on_arrival_order(changes: list[Change]) -> None:
    """Live (one change at a time, as they arrive) equals loaded (all at once), in every order."""
    results = {
        fold({MSG: (ALICE, "orig")}, order).get(MSG, Version("orig"))
        for order in itertools.permutations(changes)
    }
    assert len(results) == 1


def test_sorted_by_time_is_what_the_node_used_to_show() -> None:
    """The node applied changes sorted by time; the fold gives the same, in any order."""
    changes = [edit(1, "first"), edit(7, "third"), edit(4, "second")]
    for order in itertools.permutations(changes):
        assert fold({MSG: (ALICE, "x")}, order)[MSG].text == "third"


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("hi @alice", "alice", True),
        ("@ALICE: look", "alice", True),
        ("@alice.", "alice", True),
        ("mail bob@alice.org", "alice", False),
        ("@@alice", "alice", False),
        ("@alicetta", "alice", False),
        ("@Alice Liddell, hi", "Alice Liddell", True),
        ("@a.b", "a.b", True),
        ("no mention", "alice", False),
        (None, "alice", False),
        ("@", "", False),
    ],
)
def test_mentions(text: str | None, name: str, expected: bool) -> None:
    assert mentions(text, name) is expected
