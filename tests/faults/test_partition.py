"""Partition and heal: four member nodes split in two by block files, both sides post, one removal.

a founds the circle; b, c, d join; every node reaches every other. Then each node's block
file (``<profile>/blocked``, applied by its dialer within ~2 s) cuts the circle into {a, b}
and {c, d}. Both sides post; on a's side a (the founder, an admin) removes c, who is on
the other side and keeps posting, not knowing. Healing empties the block files. Then,
measured from the heal:

- a, b and d (the remaining members) hold the same records, the same roster
  (``smallsocial members --json``) and the same epoch (``circle list --json``);
- c, removed, agrees on the roster and the epoch and knows she is out;
- no store has a gap or a duplicate; every store passes ``integrity_check``.

What c posted after the removal's cut was taken in by d while they were cut off from a:
a and b refuse it (the cut is part of the removal record), and d drops it once the
removal reaches her, so the remaining members end with the same records and messages.
The long version repeats split, post and heal (the removal in the first round).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.faults import kit
from tests.faults.kit import CIRCLE, Node, wait_until

SHORT = {"rounds": 1, "per_node": 5, "hold_s": 6}
LONG = {"rounds": 4, "per_node": 25, "hold_s": 25}
HEAL_BOUND_S = 30.0  # generous; the target (issue 6) is 10 s, the real figure goes in the report

pytestmark = pytest.mark.timeout(240)


def _block(node: Node, *others: Node) -> None:
    (node.root / "blocked").write_text("".join(f"{o.key_cache}\n" for o in others))


def _roster_ids(node: Node, circle: str) -> set[str]:
    return {i for i, _, _, t in kit.rows(node, circle) if t not in ("msg",)}


def _cut_records(node: Node, circle: str, author: str, cut: int) -> set[str]:
    return {i for i, a, q, _ in kit.rows(node, circle) if a == author and q > cut}


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(SHORT, id="short"),
        pytest.param(LONG, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(900)]),
    ],
)
def test_partition_and_heal(make_node: Callable[..., Node], settings: dict[str, int]) -> None:
    a, b, c, d = (make_node(n) for n in ("a", "b", "c", "d"))
    nodes = (a, b, c, d)
    for n in nodes:
        n.key_cache = n.key  # type: ignore[attr-defined]
    circle = a.json("circle", "new", CIRCLE)["id"]
    for n in nodes:
        n.start()
    kit.join(a, b, circle, a)
    kit.join(a, c, circle, a, b)
    kit.join(a, d, circle, a, b, c)
    # everyone reaches everyone (addresses spread by presence announcements)
    wait_until(lambda: all(n.peers() == 3 for n in nodes), 45, 0.3, "a full mesh of 4")
    hexkey = {n.name: kit.author_hex(n) for n in nodes}
    remaining = (a, b, d)

    heal_s: list[float] = []
    split_s: list[float] = []
    posted = 0
    kept_by_d: set[str] = set()
    cut = None
    for rnd in range(settings["rounds"]):
        kit.note(round=rnd)
        side1, side2 = (a, b), (c, d)  # c, once removed, still runs a node and still connects
        t0 = time.monotonic()
        for n in side1:
            _block(n, *side2)
        for n in side2:
            _block(n, *side1)
        wait_until(
            lambda s1=side1, s2=side2: (
                all(n.peers() == len(s1) - 1 for n in s1) and all(n.peers() == len(s2) - 1 for n in s2)
            ),
            20,
            0.2,
            "the partition",
        )
        split_s.append(time.monotonic() - t0)

        # both sides post; on side 1, a removes c (first round) halfway through
        writers = [a, b, c, d] if rnd == 0 else [a, b, d]
        for i in range(settings["per_node"]):
            for n in writers:
                r = kit.send(n, circle, f"round {rnd} {n.name} {i}")
                assert r.get("ok"), (n.name, r)
                posted += 1
            if rnd == 0 and i == settings["per_node"] // 2:
                removed = kit.remove(a, circle, c.key_cache)  # type: ignore[attr-defined]
                assert removed.get("ok"), removed
                # the cut: what a held of c's chain when she removed her
                cut = max(q for _, au, q, _ in kit.rows(a, circle) if au == hexkey["c"])
        # a partition that lasts: the dialers back off from peers they may not reach
        time.sleep(max(0.5, settings["hold_s"] - (time.monotonic() - t0)))
        # the sides really were apart: neither holds what the other posted
        side2_posts = {i for i, au, _, t in kit.rows(d, circle) if t == "msg" and au == hexkey["d"]}
        assert side2_posts - kit.ids(a, circle), "a got d's posts through the partition"
        if rnd == 0:
            assert kit.epoch_keys(a, circle) - kit.epoch_keys(d, circle), "d got the new epoch early"

        # heal
        t_heal = time.monotonic()
        for n in nodes:
            (n.root / "blocked").write_text("")
        assert cut is not None

        def converged(cut: int = cut) -> bool:
            sets = [kit.ids(n, circle) for n in remaining]
            same = sets[0] == sets[1] == sets[2]
            return same and _roster_ids(c, circle) >= _roster_ids(a, circle)

        wait_until(converged, 90, 0.1, f"the circle to converge after the heal (round {rnd})")
        heal_s.append(time.monotonic() - t_heal)
        kept_by_d = _cut_records(d, circle, hexkey["c"], cut)
        assert not kept_by_d, f"d kept {len(kept_by_d)} of c's records past the removal's cut"

        # the same roster and epoch everywhere, c knows she is out
        rosters = {n.name: kit.members(n) for n in nodes}
        assert rosters["a"] == rosters["b"] == rosters["c"] == rosters["d"], rosters
        assert c.key_cache not in {m["key"] for m in rosters["a"]}  # type: ignore[attr-defined]
        rows = {n.name: kit.circle_row(n, circle) for n in nodes}
        epochs = {k: v["epoch"] for k, v in rows.items()}
        assert epochs["a"] == epochs["b"] == epochs["d"] == epochs["c"], epochs
        assert rows["c"]["status"] == "removed", rows["c"]
        assert kit.epoch_keys(a, circle) == kit.epoch_keys(b, circle) == kit.epoch_keys(d, circle)
        assert not (kit.epoch_keys(c, circle) - {circle})
        for n in nodes:
            assert kit.integrity(n) == "ok"
        # (c, removed, is served roster records only: her copy of others' chains has holes)
        for n in remaining:
            assert not kit.chain_problems(n, circle), (n.name, kit.chain_problems(n, circle))

    # a, b and d show the same messages, each once
    texts: dict[str, Any] = {n.name: sorted(n.texts(circle)) for n in (a, b, d)}
    assert texts["a"] == texts["b"] == texts["d"]
    assert len(texts["a"]) == len(set(texts["a"])), "a message shown twice"
    shown_only_by_d = set(texts["d"]) - set(texts["a"])
    assert {n.name: n.stop() for n in nodes} == {"a": 0, "b": 0, "c": 0, "d": 0}
    kit.report(
        "partition",
        rounds=settings["rounds"],
        posted=posted,
        split_s=[round(x, 2) for x in split_s],
        heal_s=[round(x, 2) for x in heal_s],
        heal_s_max=round(max(heal_s), 2),
        within_10s=all(x <= 10 for x in heal_s),
        records=len(kit.ids(a, circle)),
        kept_by_d_past_cut=len(kept_by_d),
        shown_only_by_d=len(shown_only_by_d),
    )
    assert max(heal_s) <= HEAL_BOUND_S, heal_s
