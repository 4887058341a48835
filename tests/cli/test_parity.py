"""What the TUI can do, the CLI can do, on real profiles (subprocesses, no network).

react, edit, delete and role, with their refusals; unread and mention counts in
``circle list`` (and ``log --mark-read`` clearing them); petnames in ``log``; reactions,
edits and deletions shown in ``log``; the invite tree in ``members``; ``id``'s wording.
Records move between profiles as export/import bundles.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_offline_flow import Cli

pytestmark = pytest.mark.timeout(180)


def _log(p: Cli, circle: str, *extra: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in p.run("log", circle, "--json", *extra).stdout.splitlines()]


def _sync(a: Cli, b: Cli, tmp: Path) -> None:
    """Both ways, as a sneakernet: a's records to b, then b's to a."""
    for src, dst in ((a, b), (b, a)):
        src.run("export", "-o", str(tmp / f"{src.profile}.ssb"))
        dst.run("import", str(tmp / f"{src.profile}.ssb"))


@pytest.fixture
def circle(tmp_path: Path) -> tuple[Cli, Cli, Cli, dict[str, str]]:
    """alice founds friends, invites bob, bob invites carol (a member may invite)."""
    alice, bob, carol = Cli(tmp_path, "alice"), Cli(tmp_path, "bob"), Cli(tmp_path, "carol")
    keys = {p.profile: p.json("id", "--name", p.profile)["key"] for p in (alice, bob, carol)}
    alice.run("circle", "new", "friends")
    bob.run("join", alice.json("invite", "friends", keys["bob"])["token"])
    _sync(alice, bob, tmp_path)
    carol.run("join", bob.json("invite", "friends", keys["carol"])["token"])
    _sync(bob, carol, tmp_path)
    _sync(alice, bob, tmp_path)
    return alice, bob, carol, keys


def test_react_edit_delete(circle: tuple[Cli, Cli, Cli, dict[str, str]], tmp_path: Path) -> None:
    alice, bob, _, keys = circle
    mine = bob.json("send", "friends", "hello all")["id"]
    other = bob.json("send", "friends", "a second one")["id"]
    _sync(alice, bob, tmp_path)

    # alice reacts by a prefix of the id; bob edits and deletes his own.
    r = alice.json("react", "friends", mine[:8], "👍")
    assert (r["kind"], r["target"], r["text"], r["status"]) == ("react", mine, "👍", "queued")
    e = bob.json("edit", "friends", mine[:10], "hello everyone")
    assert (e["kind"], e["target"]) == ("edit", mine)
    bob.json("delete", "friends", other)
    bob.run("react", "friends", mine, "🎉")
    _sync(alice, bob, tmp_path)

    for p in (alice, bob):
        rows = {row["id"]: row for row in _log(p, "friends")}
        assert rows[mine]["text"] == "hello everyone" and rows[mine]["edited"]
        assert rows[mine]["reactions"] == {"👍": [keys["alice"]], "🎉": [keys["bob"]]}
        assert rows[other]["deleted"] and rows[other]["text"] is None
    text = alice.run("log", "friends").stdout
    assert "hello everyone (edited)" in text and "(message deleted)" in text
    assert "a second one" not in text
    assert "👍 1 (alice)" in text and "🎉 1 (" in text  # the reactions, under the message
    assert "reacted" not in text  # not as messages of their own

    # Refusals: one sentence each, nothing written.
    before = len(_log(alice, "friends"))
    assert "Only its author may edit" in alice.fails("edit", "friends", mine[:8], "mine now")
    assert "Only its author may delete" in alice.fails("delete", "friends", mine[:8])
    assert "was deleted" in bob.fails("edit", "friends", other[:8], "back")
    assert "was deleted" in alice.fails("react", "friends", other[:8], "👍")
    assert "not a message id" in alice.fails("react", "friends", "zz", "👍")
    assert "not a message id" in alice.fails("react", "friends", "abc", "👍")  # too short
    assert "No message of friends" in alice.fails("react", "friends", "0000000000", "👍")
    assert "1 to 64 bytes" in alice.fails("react", "friends", mine[:8], "x" * 65)
    assert "empty" in bob.fails("edit", "friends", mine[:8], "   ")
    assert len(_log(alice, "friends")) == before


def test_an_ambiguous_prefix_is_refused(circle: tuple[Cli, Cli, Cli, dict[str, str]], tmp_path: Path) -> None:
    """Two ids that share a prefix: the prefix is refused, more of the id is taken."""
    from protocol.node.paths import resolve
    from protocol.node.profile import Profile
    from smallsocial_tui import cli_kit, cli_messages

    alice = circle[0]
    alice.run("send", "friends", "one")
    alice.run("send", "friends", "two")
    profile = Profile.open(resolve(str(tmp_path), "alice"))
    try:
        info = profile.circle_info(profile.circles()[0].id)
        assert info is not None
        entries = profile.log(info.id)
        a, b = (replace(e, id=bytes.fromhex("abcd12") + e.id[3:]) for e in entries)
        profile.log = lambda _cid: [a, b]  # type: ignore[method-assign]
        with pytest.raises(cli_kit.CliError, match="starts the ids of 2 messages"):
            cli_messages.find_message(profile, info, "ABCD1")
        assert cli_messages.find_message(profile, info, b.id.hex()[:8]) == b
    finally:
        profile.close()


def test_role(circle: tuple[Cli, Cli, Cli, dict[str, str]], tmp_path: Path) -> None:
    alice, bob, carol, keys = circle
    assert "Only admins can change roles" in bob.fails("role", "friends", keys["carol"], "admin")
    assert "founder's role cannot change" in alice.fails("role", "friends", keys["alice"], "member")
    dave = Cli(tmp_path, "dave").json("id")["key"]
    assert "is not a member of this circle" in alice.fails("role", "friends", dave, "admin")
    assert "already a member" in alice.fails("role", "friends", keys["bob"], "member")
    assert alice.run("role", "friends", keys["bob"], "owner", ok=False).returncode == 2  # a usage mistake

    alice.run("contact", "add", "bobby", keys["bob"])
    out = alice.run("role", "friends", "bobby", "admin").stdout
    assert out.strip() == "bobby is now an admin of friends."
    assert alice.json("role", "friends", keys["bob"], "member") == {
        "circle": alice.json("circle", "list")[0]["id"],
        "member": keys["bob"],
        "role": "member",
    }
    alice.run("role", "friends", keys["bob"], "admin")
    _sync(alice, bob, tmp_path)
    roles = {m["key"]: m["role"] for m in bob.json("members", "friends")}
    assert roles[keys["bob"]] == "admin"
    # bob may now do what only admins can.
    assert "is now an admin of friends." in bob.run("role", "friends", keys["carol"], "admin").stdout
    assert carol  # (carol's node would learn it at the next sync)


def test_unread_and_mentions_in_circle_list(
    circle: tuple[Cli, Cli, Cli, dict[str, str]], tmp_path: Path
) -> None:
    alice, bob, _, _ = circle
    listed = alice.json("circle", "list")[0]
    assert (listed["unread"], listed["mentions"]) == (0, 0)
    bob.run("send", "friends", "hi @alice")
    bob.run("send", "friends", "and everyone")
    alice.run("send", "friends", "mine do not count")
    _sync(alice, bob, tmp_path)
    listed = alice.json("circle", "list")[0]
    assert (listed["unread"], listed["mentions"]) == (2, 1)
    assert "2 unread, 1 mentioning you" in alice.run("circle", "list").stdout
    assert "2 unread, 1 mentioning you" in alice.run().stdout  # the overview, when piped

    alice.run("log", "friends")  # reading without --mark-read leaves the counts
    assert alice.json("circle", "list")[0]["unread"] == 2
    alice.run("log", "friends", "--mark-read")
    listed = alice.json("circle", "list")[0]
    assert (listed["unread"], listed["mentions"]) == (0, 0)
    assert "unread" not in alice.run("circle", "list").stdout
    bob.run("send", "friends", "one more")
    _sync(alice, bob, tmp_path)
    assert alice.json("circle", "list")[0]["unread"] == 1


def test_names_in_log_and_the_invite_tree(
    circle: tuple[Cli, Cli, Cli, dict[str, str]], tmp_path: Path
) -> None:
    alice, bob, carol, keys = circle
    # Petnames first; the short key when nothing else is known (names come with presence, online).
    lines = bob.run("members", "friends").stdout.splitlines()
    assert lines[0].startswith("admin ") and keys["alice"] in lines[0]
    assert lines[1].startswith("└─ member ") and keys["bob"] in lines[1]
    assert lines[2].startswith("   └─ member ") and keys["carol"] in lines[2]  # invited by bob
    rows = {r["key"]: r for r in bob.json("members", "friends")}
    assert rows[keys["carol"]]["invited_by"] == keys["bob"]

    alice.run("send", "friends", "from alice")
    carol.run("send", "friends", "from carol")
    bob.run("contact", "add", "al", keys["alice"])
    _sync(alice, bob, tmp_path)
    _sync(carol, bob, tmp_path)
    bob.run("send", "friends", "from bob")
    by_text = {r["text"]: r["author_name"] for r in _log(bob, "friends")}
    short = keys["carol"][:8] + "…" + keys["carol"][-6:]
    assert by_text == {"from alice": "al", "from carol": short, "from bob": "bob"}
    text = bob.run("log", "friends").stdout
    assert "  al: from alice" in text and f"  {short}: from carol" in text and "  bob: from bob" in text

    # Names members announced (presence puts them in the store): shown when no petname is set,
    # with the key beside one that looks like a name I already use.
    from protocol.identity import parse_peer_id
    from protocol.node.paths import resolve
    from protocol.node.profile import Profile

    profile = Profile.open(resolve(str(tmp_path), "bob"))
    try:
        profile.store.set_name(parse_peer_id(keys["carol"]), "Carol C", 1)
        profile.store.set_name(parse_peer_id(keys["alice"]), "Mallory", 1)  # the petname wins
    finally:
        profile.close()
    by_text = {r["text"]: r["author_name"] for r in _log(bob, "friends")}
    assert by_text == {"from alice": "al", "from carol": "Carol C", "from bob": "bob"}
    profile = Profile.open(resolve(str(tmp_path), "bob"))
    try:
        profile.store.set_name(parse_peer_id(keys["carol"]), "AL", 2)  # looks like my petname "al"
    finally:
        profile.close()
    assert f"  AL ({short}): from carol" in bob.run("log", "friends").stdout


def test_id_says_the_name_is_announced(circle: tuple[Cli, Cli, Cli, dict[str, str]]) -> None:
    out = circle[0].run("id").stdout
    assert "shown only to you" not in out
    assert "name: alice (announced to the members of your circles)" in out


def test_run_prints_role_changes(circle: tuple[Cli, Cli, Cli, dict[str, str]], tmp_path: Path) -> None:
    """``smallsocial run``'s line for a role change (the node's MemberRoleChanged event)."""
    from protocol.identity import parse_peer_id
    from protocol.node import api
    from protocol.node.paths import resolve
    from protocol.node.profile import Profile
    from smallsocial_tui.render import event_line

    alice, _, _, keys = circle
    alice.run("contact", "add", "bob", keys["bob"])
    cid = bytes.fromhex(alice.json("circle", "list")[0]["id"])
    profile = Profile.open(resolve(str(tmp_path), "alice"))
    try:
        bob = api.MemberRoleChanged(cid, parse_peer_id(keys["bob"]), "admin")
        assert event_line(profile, bob) == "[friends] bob is now admin"
        me = api.MemberRoleChanged(cid, profile.me, "member")
        assert event_line(profile, me) == "[friends] you are now member"
    finally:
        profile.close()
