"""The demo's world without a front end: real friend nodes, bots, a fork, and a clean tear-down."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from smallsocial_tui.demo import Demo, DemoError
from smallsocial_tui.demo.world import CIRCLE_NAME
from tests.demo.helpers import alive, cli, processes_mentioning, wait_until

pytestmark = pytest.mark.timeout(90)


def test_friends_chat_fork_and_everything_goes_away() -> None:
    demo = Demo(friends=2, interval=(0.5, 1.5), fork_after=(2.0, 2.0), first_after=(0.2, 0.5), seed=7)
    data_dir = demo.data_dir
    try:
        demo.start()
        friend_pids = demo.world.pids()
        assert len(friend_pids) == 2 and all(alive(p) for p in friend_pids)

        circles = cli(data_dir, "you", "circle", "list")
        main = next(c for c in circles if c["name"] == CIRCLE_NAME)
        assert main["status"] == "member" and main["members"] == 3
        contacts = {c["petname"] for c in cli(data_dir, "you", "contact", "list")}
        assert contacts == {"alice", "bob"}

        demo.start_you()
        friends = {demo.world.people[n].key for n in ("alice", "bob")}

        def friend_message_arrived() -> bool:
            return any(e["author"] in friends for e in cli(data_dir, "you", "log", main["id"]))

        wait_until(friend_message_arrived, 30, "a friend's message in you's store")

        def fork_arrived() -> bool:
            return any(c["parent"] == main["id"] for c in cli(data_dir, "you", "circle", "list"))

        wait_until(fork_arrived, 30, "the side circle forked to you")
        child = next(c for c in cli(data_dir, "you", "circle", "list") if c["parent"] == main["id"])
        assert child["status"] == "invited"
        # The circle was past its soft cap (set by its founder), so the fork carries history.
        assert cli(data_dir, "you", "circle", "cap", main["id"])["soft_cap"] == demo.world.soft_cap == 2
        cli(data_dir, "you", "join", child["id"])

        def carried() -> list[dict[str, object]]:
            rows = cli(data_dir, "you", "log", child["id"])
            return [e for e in rows if e.get("carried_from") == main["id"]]

        wait_until(lambda: bool(carried()), 30, "the side circle's carried messages at you")
        parent_ids = {e["id"] for e in cli(data_dir, "you", "log", main["id"])}
        assert {e["id"] for e in carried()} <= parent_ids  # the parent's own messages, by their ids
        all_pids = demo.world.pids()
        assert len(all_pids) == 3
    finally:
        demo.close()
    assert not any(alive(p) for p in all_pids)
    assert processes_mentioning(data_dir) == []
    assert not Path(data_dir).exists()


def test_close_twice_and_keep() -> None:
    demo = Demo(friends=1, keep=True)
    try:
        demo.world.create()
        assert (Path(demo.data_dir) / "profiles" / "you").is_dir()
    finally:
        demo.close()
        demo.close()
    assert Path(demo.data_dir).exists()
    shutil.rmtree(demo.data_dir)


def test_friend_count_is_checked() -> None:
    with pytest.raises(DemoError):
        Demo(friends=0)


def test_the_friends_do_not_repeat_a_line_before_each_was_said() -> None:
    """The bots share one deck per list of lines: a full round of a list holds every line once."""
    import itertools
    import random

    from smallsocial_tui.demo.bots import LINES, Decks

    decks = Decks()
    rngs = [random.Random(i) for i in range(3)]  # three friends dealing from the same deck
    said = [decks.deal(LINES, rngs[i % 3]) for i in range(3 * len(LINES))]
    for k in range(3):
        assert sorted(said[k * len(LINES) : (k + 1) * len(LINES)]) == sorted(LINES)
    assert all(a != b for a, b in itertools.pairwise(said))  # not twice in a row, even at a reshuffle
