"""The split suggestion (issue 13): greedy modularity over the reply and reaction graph."""

from __future__ import annotations

import random

import pytest

from protocol import schema, split


def k(n: int) -> bytes:
    return bytes([n]) * 32


def clique(ids: list[int]) -> list[split.Link]:
    return [(k(a), k(b)) for a in ids for b in ids if a < b]


def test_two_groups_that_talk_among_themselves_are_found() -> None:
    a, b = [1, 2, 3, 4], [5, 6, 7, 8]
    talk = clique(a) * 3 + clique(b) * 3 + [(k(4), k(5))]
    groups = split.suggest([k(i) for i in range(1, 9)], talk)
    assert groups == [tuple(k(i) for i in a), tuple(k(i) for i in b)]


def test_the_same_input_in_any_order_gives_the_same_groups() -> None:
    rng = random.Random(7)
    members = [k(i) for i in range(1, 21)]
    talk = [(k(rng.randrange(1, 11)), k(rng.randrange(1, 11))) for _ in range(60)]
    talk += [(k(rng.randrange(11, 21)), k(rng.randrange(11, 21))) for _ in range(60)]
    talk += [(k(3), k(15)), (k(12), k(7))]
    first = split.suggest(members, talk)
    for _ in range(5):
        rng.shuffle(talk)
        rng.shuffle(members)
        swapped = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in talk]
        assert split.suggest(members, swapped) == first
    assert sorted(m for g in first for m in g) == sorted(members)  # everyone, once
    assert len(first) >= 2


def test_members_who_talked_with_nobody_join_the_smallest_group() -> None:
    talk = clique([1, 2, 3]) * 2 + clique([4, 5]) * 2
    groups = split.suggest([k(i) for i in (1, 2, 3, 4, 5, 9)], talk)
    assert groups == [(k(1), k(2), k(3)), (k(4), k(5), k(9))]


def test_nothing_to_split_by_gives_one_group() -> None:
    members = [k(3), k(1), k(2)]
    assert split.suggest(members, []) == [(k(1), k(2), k(3))]
    assert split.suggest([], []) == []


def test_non_members_and_self_links_are_ignored() -> None:
    talk = [(k(1), k(1)), (k(1), k(99)), *clique([1, 2]), *clique([3, 4])]
    assert split.suggest([k(1), k(2), k(3), k(4)], talk) == [(k(1), k(2)), (k(3), k(4))]


def test_links_from_replies_and_reactions() -> None:
    msgs = [
        (b"m1", k(1), None),
        (b"m2", k(2), b"m1"),  # reply to 1
        (b"m3", k(1), b"m1"),  # to oneself: nothing
        (b"m4", k(3), b"gone"),  # to a message not kept: nothing
        (b"m5", k(3), b"m2"),  # reaction to 2
    ]
    assert split.links(msgs) == [(k(2), k(1)), (k(3), k(2))]


def test_more_members_than_a_circle_holds_is_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        split.suggest([i.to_bytes(32, "big") for i in range(schema.MAX_MEMBERS + 1)], [])


def test_a_full_circle_splits_quickly() -> None:
    rng = random.Random(1)
    members = [i.to_bytes(32, "big") for i in range(schema.MAX_MEMBERS)]
    talk = []
    for _ in range(3000):
        g = rng.randrange(8) * 128
        talk.append((members[g + rng.randrange(128)], members[g + rng.randrange(128)]))
    groups = split.suggest(members, talk)
    assert sum(len(g) for g in groups) == schema.MAX_MEMBERS
    assert 2 <= len(groups) <= 16
