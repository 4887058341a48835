"""Subtrees on real profiles (records moved as bundles, no network): leave a circle and all
under it, remove a member from every descendant I administer, mute a subtree, and what a
fork inherits (relay pins, notification level; petnames are global)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from protocol import subtree as pure
from protocol.errors import RosterError
from protocol.identity import Identity
from protocol.node import api, queries, subtree
from protocol.node.commands import decide
from protocol.node.events import Emit
from protocol.node.profile import Profile
from tests.node.test_store_profile import make

pytestmark = pytest.mark.timeout(120)


def sync(*people: Profile) -> None:
    """Everyone gets everyone's records of every circle they know (twice: joins confirm)."""
    for _ in range(2):
        for a in people:
            for b in people:
                if a is not b:
                    ids = [c.id for c in a.store.circles() if c.status != "invited"]
                    b.import_bundle(a.export(ids))


def fork(forker: Profile, parent: bytes, name: str, *members: Profile, all_: list[Profile]) -> bytes:
    cid = forker.fork(parent, name, [m.me for m in members])
    sync(*all_)
    for m in members:
        m.accept_fork(cid)
    sync(*all_)
    return cid


@pytest.fixture
def tree(tmp_path: Path) -> tuple[dict[str, Profile], dict[str, bytes]]:
    """friends (alice, bob, carol, dave) → side → deeper → deepest, all founded by alice
    with bob and dave; and carols, carol's fork of friends with alice and dave."""
    people = {n: make(tmp_path, n, i + 1) for i, n in enumerate(("alice", "bob", "carol", "dave"))}
    alice, bob, carol, dave = people.values()
    everyone = list(people.values())
    friends = alice.new_circle("friends").circle_id
    for p in (bob, carol, dave):
        p.join_token(alice.invite(friends, p.me))
    sync(*everyone)
    ids = {"friends": friends}
    parent = friends
    for name in ("side", "deeper", "deepest"):
        parent = ids[name] = fork(alice, parent, name, bob, dave, all_=everyone)
    ids["carols"] = fork(carol, friends, "carols", alice, dave, all_=everyone)
    return people, ids


def members(p: Profile, cid: bytes) -> set[bytes]:
    """Who ``p``'s store lists in the circle (nobody when ``p`` never was in it)."""
    row = p.store.circle(cid)
    return set(p.view(cid).roster.members) if row is not None and row.status != "invited" else set()


def test_descendants_are_listed_deepest_first_and_a_cycle_is_cut() -> None:
    a, b, c, d, e = (bytes([i]) * 32 for i in range(5))
    parents = {a: None, b: a, c: b, d: c, e: a}
    got = pure.descendants(a, parents)
    assert got[:3] == [d, c, b] or got.index(d) < got.index(c) < got.index(b)
    assert set(got) == {b, c, d, e} and a not in got
    assert pure.descendants(c, parents) == [d]
    assert pure.descendants(a, {a: c, b: a, c: b}) == [c, b]  # a cycle: each once, never the root


def test_leave_subtree_leaves_all_deepest_first_and_the_others_see_it(tree) -> None:  # type: ignore[no-untyped-def]
    people, ids = tree
    bob = people["bob"]
    chain = [ids[n] for n in ("friends", "side", "deeper", "deepest")]
    assert subtree.descendants_in(bob, ids["friends"]) == chain[:0:-1]  # bob is not in carols
    left = subtree.leave_subtree(bob, ids["friends"])
    assert left == chain[::-1]
    for cid in chain:
        assert bob.store.circle(cid).status == "left"  # type: ignore[union-attr]
    sync(*people.values())
    for p in people.values():
        for cid in chain:
            assert bob.me not in members(p, cid), (p.display_name, cid.hex()[:8])
    with pytest.raises(RosterError):
        subtree.leave_subtree(bob, ids["friends"])  # not in it any more: one sentence


def test_remove_subtree_removes_where_i_am_admin_and_skips_the_rest(tree) -> None:  # type: ignore[no-untyped-def]
    people, ids = tree
    alice, dave = people["alice"], people["dave"]
    done = subtree.remove_subtree(alice, ids["friends"], dave.me)
    assert done.removed == tuple(ids[n] for n in ("friends", "side", "deeper", "deepest"))
    assert done.skipped == (ids["carols"],)  # carol's fork: alice is a member, not an admin
    sync(*people.values())
    for p in people.values():
        if p is dave:
            continue
        for n in ("friends", "side", "deeper", "deepest"):
            assert dave.me not in members(p, ids[n])
    for p in (alice, people["carol"]):
        assert dave.me in members(p, ids["carols"])


def test_a_refused_removal_at_the_top_changes_nothing(tree) -> None:  # type: ignore[no-untyped-def]
    people, ids = tree
    bob, dave = people["bob"], people["dave"]
    with pytest.raises(RosterError):
        subtree.remove_subtree(bob, ids["friends"], dave.me)  # bob is no admin of friends
    assert all(dave.me in members(bob, ids[n]) for n in ("friends", "side", "deeper", "deepest"))


def test_the_node_answers_subtree_commands_with_one_event_per_circle(tree) -> None:  # type: ignore[no-untyped-def]
    people, ids = tree
    alice, bob, dave = people["alice"], people["bob"], people["dave"]

    class Ctx:
        profile, stats, connected = alice, {}, ()

        def public_addrs(self) -> list[str]:
            return []

        def token_addrs(self) -> list[str]:
            return []

    ctx = Ctx()
    out = [e.event for e in decide(ctx, api.RemoveFromSubtree(ids["side"], dave.me)) if isinstance(e, Emit)]  # type: ignore[arg-type]
    assert isinstance(out[0], api.SubtreeRemoved) and out[0].skipped == ()
    assert [e.circle for e in out[1:]] == [ids["side"], ids["deeper"], ids["deepest"]]
    ctx.profile = bob
    out = [e.event for e in decide(ctx, api.LeaveSubtree(ids["deeper"])) if isinstance(e, Emit)]  # type: ignore[arg-type]
    assert out[0] == api.SubtreeLeft(out[0].request_id, (ids["deepest"], ids["deeper"]))  # type: ignore[union-attr]
    assert {type(e) for e in out[1:]} == {api.MemberLeft}


def test_mute_a_subtree_is_in_the_store_and_the_overview(tree) -> None:  # type: ignore[no-untyped-def]
    people, ids = tree
    alice = people["alice"]
    got = subtree.set_level(alice, ids["side"], "muted", subtree=True)
    assert got == [ids["side"], ids["deeper"], ids["deepest"]]
    subtree.set_level(alice, ids["friends"], "loud")
    levels = {c.id: c.notify for c in queries.overview(alice, 1, [], []).circles}
    assert levels == {
        ids["friends"]: "loud", ids["side"]: "muted", ids["deeper"]: "muted",
        ids["deepest"]: "muted", ids["carols"]: "quiet",
    }  # fmt: skip
    subtree.set_level(alice, ids["deeper"], "quiet", subtree=True)
    assert alice.store.notify_levels() == {ids["friends"]: "loud", ids["side"]: "muted"}
    with pytest.raises(ValueError, match="loud, quiet or muted"):
        subtree.set_level(alice, ids["side"], "shouty")


def test_a_fork_inherits_pins_and_levels_and_shows_petnames(tmp_path: Path) -> None:
    alice, bob = make(tmp_path, "alice", 1), make(tmp_path, "bob", 2)
    relay = Identity.from_seed(b"r" * 32)
    addr = f"/ip4/127.0.0.1/tcp/4999/p2p/{relay.peer_id}"
    friends = alice.new_circle("friends").circle_id
    bob.join_token(alice.invite(friends, bob.me))
    sync(alice, bob)
    alice.pin(friends, addr)
    alice.store.set_notify_level(friends, "loud", 0)
    bob.store.set_notify_level(friends, "muted", 0)
    alice.store.set_contact(bob.me, "bobby", 0)
    sync(alice, bob)

    side = alice.fork(friends, "side", [bob.me])
    roster = alice.view(side).roster
    assert list(roster.relays) == [relay.public_key]
    assert roster.relays[relay.public_key].addrs == (addr,)
    assert addr in alice.store.peer_addrs(side)
    assert alice.store.notify_level(side) == "loud"
    sync(alice, bob)
    bob.accept_fork(side)
    assert bob.store.notify_level(side) == "muted"  # the invitee's own level for the parent
    sync(alice, bob)
    assert relay.public_key in bob.view(side).roster.relays  # the pin reached bob with the roster
    # Petnames are global to a profile (contacts have no circle): the child shows them too.
    shown = {m.key: m for m in queries.members(alice, 1, side, []).members}
    assert bob.me in shown
    from smallsocial_tui.app.model import State

    st = State()
    st.contacts = alice.store.contacts()
    assert st.who(bob.me) == "bobby"


def test_a_fork_of_an_unpinned_circle_pins_nothing(tmp_path: Path) -> None:
    alice, bob = make(tmp_path, "alice", 1), make(tmp_path, "bob", 2)
    friends = alice.new_circle("friends").circle_id
    bob.join_token(alice.invite(friends, bob.me))
    sync(alice, bob)
    side = alice.fork(friends, "side", [bob.me])
    assert alice.view(side).roster.relays == {}
    assert alice.store.notify_level(side) == "quiet"


def test_chain_order_is_kept(tree) -> None:  # type: ignore[no-untyped-def]
    people, ids = tree
    rows = {r.id: r.parent for r in people["alice"].store.circles()}
    chain = [ids[n] for n in ("friends", "side", "deeper", "deepest")]
    assert all(rows[child] == parent for parent, child in pairwise(chain))
