"""`circle cap`, `circle split`, `tree` and the invite hint at the soft cap, on real profiles.

Six profiles in a temporary data dir share one circle (``tests/family_kit.py``); the
commands run through ``cli.main`` against those profiles' stores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protocol.identity import peer_id
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from smallsocial_tui import cli
from tests.family_kit import Six

pytestmark = pytest.mark.timeout(120)


class World(Six):
    def run(self, who: str, *args: str, code: int = 0, capsys: pytest.CaptureFixture[str]) -> str:
        for p in self.p.values():
            p.forget_views()
        got = cli.main(["--data-dir", str(self.root), "--profile", who, *args])
        out, err = capsys.readouterr()
        assert got == code, (args, out, err)
        self.err = err
        return out if code == 0 else err

    def json(self, who: str, *args: str, capsys: pytest.CaptureFixture[str]) -> Any:
        return json.loads(self.run(who, *args, "--json", capsys=capsys))


@pytest.fixture
def world(tmp_path: Path) -> tuple[World, bytes]:
    w = World(tmp_path)
    return w, w.cid


def test_cap_shows_the_default_and_only_an_admin_sets_it(
    world: tuple[World, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    w, cid = world
    shown = w.json("alice", "circle", "cap", "friends", capsys=capsys)
    assert shown == {"circle": cid.hex(), "soft_cap": 15, "set_by": None, "members": 6}
    assert "soft cap is 15 (the default); 6 members" in w.run(
        "alice", "circle", "cap", "friends", capsys=capsys
    )

    err = w.run("bob", "circle", "cap", "friends", "4", code=1, capsys=capsys)
    assert err.strip() == "smallsocial: Only admins can set the circle's soft cap."
    err = w.run("alice", "circle", "cap", "friends", "1", code=1, capsys=capsys)
    assert err.strip() == "smallsocial: The soft cap is a number from 2 to 1024."
    with pytest.raises(SystemExit) as usage:
        cli.main(["--data-dir", str(w.root), "--profile", "alice", "circle", "cap", "friends", "many"])
    assert usage.value.code == 2
    capsys.readouterr()

    got = w.json("alice", "circle", "cap", "friends", "5", capsys=capsys)
    assert got["soft_cap"] == 5 and got["set_by"] == w.key["alice"]
    w.sync(cid)  # the record reaches bob like any roster record
    assert w.json("bob", "circle", "cap", "friends", capsys=capsys)["soft_cap"] == 5
    assert "soft cap is 5 (set by you)" in w.run("alice", "circle", "cap", "friends", capsys=capsys)
    assert f"(set by {w.key['alice'][:8]}…" in w.run("bob", "circle", "cap", "friends", capsys=capsys)


def test_invite_at_the_cap_still_makes_a_token_and_offers_the_fork(
    world: tuple[World, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    w, cid = world
    newcomer = Profile.create(resolve(str(w.root), "gina"), "gina")
    gina = peer_id(newcomer.me)
    below = w.json("alice", "invite", "friends", gina, capsys=capsys)
    assert below["token"].startswith("ssi2") and below["fork_hint"] is None

    w.run("alice", "circle", "cap", "friends", "6", capsys=capsys)
    out = w.run("alice", "invite", "friends", gina, capsys=capsys)
    assert out.strip().startswith("ssi2")  # stdout: the token alone, still pipeable
    hint = w.err.strip()
    assert len(hint.splitlines()) == 1
    assert "friends has 6 members, its soft cap is 6" in hint
    # The exact command: alice's group by who talks with whom (bob and carol), ready to paste.
    assert (
        f"smallsocial --data-dir {w.root} --profile alice fork {cid.hex()[:12]} friends-2 --member " in hint
    )
    members = {m.split()[0] for m in hint.split("--member ")[1:]}
    assert members == {w.key["bob"], w.key["carol"]}
    assert w.json("alice", "invite", "friends", gina, capsys=capsys)["fork_hint"] == hint


def test_split_groups_by_who_talks_with_whom(
    world: tuple[World, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    w, cid = world
    got = w.json("alice", "circle", "split", "friends", capsys=capsys)
    groups = [sorted(g["members"]) for g in got["groups"]]
    abc = sorted(w.key[n] for n in ("alice", "bob", "carol"))
    def_ = sorted(w.key[n] for n in ("dave", "eve", "frank"))
    assert sorted(groups) == sorted([abc, def_])
    assert got["members"] == 6 and got["soft_cap"] == 15
    for g in got["groups"]:
        others = [k for k in g["members"] if k != w.key["alice"]]
        assert g["fork"].split(" --member ")[1:] == others
        assert f"fork {cid.hex()[:12]} friends-" in g["fork"]
    text = w.run("alice", "circle", "split", "friends", capsys=capsys)
    assert "2 groups" in text and "group 1: " in text and text.count(" --profile alice fork ") == 2
    # The same suggestion on another member's machine.
    assert [
        sorted(g["members"]) for g in w.json("eve", "circle", "split", "friends", capsys=capsys)["groups"]
    ] == groups


def test_tree_shows_forks_and_the_checked_invitation_tree(
    world: tuple[World, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    w, cid = world
    bob = w.p["bob"]
    # bob invites a newcomer himself, then forks a side circle with carol.
    gina = Profile.create(resolve(str(w.root), "gina"), "gina")
    token = bob.invite(cid, gina.me)
    gina.import_bundle(bob.export([cid]))
    gina.join_token(token)
    gina.import_bundle(w.p["alice"].export([cid]))
    for p in w.p.values():
        p.import_bundle(gina.export([cid]))
    side = bob.fork(cid, "side", [w.p["carol"].me])
    w.p["carol"].import_bundle(bob.export([cid, side]))
    w.p["carol"].accept_fork(side)
    bob.import_bundle(w.p["carol"].export([side]))

    bob.store.set_contact(w.p["alice"].me, "alice", 0)
    bob.store.set_contact(w.p["carol"].me, "carol", 0)
    bob.store.set_name(gina.me, "gina", 1)  # the name gina announced (presence does it on a network)
    tree = w.json("bob", "tree", capsys=capsys)["circles"]
    assert [(c["name"], c["depth"]) for c in tree] == [("friends", 0), ("side", 1)]
    assert tree[1]["founder"] == w.key["bob"] and tree[1]["parent"] == cid.hex()
    assert tree[0]["members"] == 7 and tree[1]["members"] == 2 and tree[0]["last_activity"] > 0
    assert tree[0]["unread_below"] >= tree[0]["unread"] >= 1  # a hook for helper A's counts, filled
    text = w.run("bob", "tree", capsys=capsys).splitlines()
    assert text[0].startswith("friends  ") and "founded by alice" in text[0]
    assert text[1].startswith("   side  ") and "forked by you" in text[1] and "2 members" in text[1]

    got = w.json("bob", "tree", "friends", capsys=capsys)
    links = {x["member"]: x for x in got["invitations"]}
    assert got["invitations"][0]["member"] == w.key["alice"] and links[w.key["alice"]]["invited_by"] is None
    gk = peer_id(gina.me)
    assert links[gk]["invited_by"] == w.key["bob"]
    assert links[gk]["path"] == [gk, w.key["bob"], w.key["alice"]]
    assert all(x["verified"] for x in links.values())
    assert links[w.key["carol"]]["other_circles"] == [side.hex()]
    assert links[w.key["dave"]]["other_circles"] == []
    order = [x["member"] for x in got["invitations"]]
    assert order.index(w.key["bob"]) < order.index(gk)  # an inviter before those they invited
    text = w.run("bob", "tree", "friends", capsys=capsys)
    assert "Who invited whom in friends:" in text
    assert "      gina: invited by you, verified" in text  # under bob, under alice
    assert "carol: invited by alice, verified; also in side" in text
