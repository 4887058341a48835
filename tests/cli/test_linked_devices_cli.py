"""Linked devices as a user of the CLI sees them (docs/protocol.md 8.5), through ``cli.main``.

alice links her laptop (the offline bundle path, on real profiles and SQLite); bob is in
alice's circle. A linked device shows its person's key as the key to give friends; inviting a
device's key is refused naming its person; member counts count people; unknown names get a
sentence that says what to do; an unlinked device's ``devices`` says who unlinked it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocol.identity import Identity, peer_id
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from smallsocial_tui import cli
from tests.devices_kit import alice_laptop_bob, make

pytestmark = pytest.mark.timeout(60)


class World:
    def __init__(self, root: Path) -> None:
        self.root = root

    def make(self, name: str, n: int) -> Profile:
        return make(self.root, name, n)

    def cli(self, capsys: pytest.CaptureFixture[str], who: str, *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(["--data-dir", str(self.root), "--profile", who, *args])
        out, err = capsys.readouterr()
        return code, out, err

    def ok(self, capsys: pytest.CaptureFixture[str], who: str, *args: str) -> str:
        code, out, err = self.cli(capsys, who, *args)
        assert code == 0, (args, out, err)
        return out

    def fails(self, capsys: pytest.CaptureFixture[str], who: str, *args: str) -> str:
        code, out, err = self.cli(capsys, who, *args)
        assert code == 1, (args, out, err)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("smallsocial: "), err
        return lines[0]


@pytest.fixture
def world(tmp_path: Path) -> World:
    """alice and bob in "friends", alice's laptop linked there (named "laptop")."""
    alice_laptop_bob(tmp_path)
    return World(tmp_path)


def key_of(w: World, who: str) -> str:
    p = Profile.open(resolve(str(w.root), who))
    try:
        return p.identity.peer_id
    finally:
        p.close()


def test_a_linked_device_shows_its_persons_key(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    alice_key, laptop_key = key_of(world, "alice"), key_of(world, "laptop")
    out = world.ok(capsys, "laptop", "id")
    lines = out.splitlines()
    assert lines[0] == alice_key  # the key friends invite
    assert "This is laptop, a linked device of alice" in lines[1]
    assert f"device key: {laptop_key}" in out
    over = world.ok(capsys, "laptop")  # `smallsocial` piped: the overview
    assert over.startswith(f"You are alice, key {alice_key} (on laptop, a linked device)\n")
    shown = json.loads(world.ok(capsys, "laptop", "id", "--json"))
    assert shown["person_key"] == alice_key and shown["key"] == laptop_key  # key: as scripts read it
    assert shown["device_name"] == "laptop" and shown["linked_device"] is True
    # the person's own device, and a profile linked to nobody: as before
    mine = json.loads(world.ok(capsys, "alice", "id", "--json"))
    assert mine["key"] == mine["person_key"] == alice_key and mine["linked_device"] is False
    assert world.ok(capsys, "alice", "id").splitlines()[1].startswith("name: ")
    world.make("fresh", 7).close()
    fresh = world.ok(capsys, "fresh", "id").splitlines()
    assert fresh[0] == key_of(world, "fresh") and fresh[1].startswith("name: ")


def test_inviting_a_devices_key_is_refused_naming_its_person(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    alice_key, laptop_key = key_of(world, "alice"), key_of(world, "laptop")
    world.ok(capsys, "bob", "circle", "new", "bobs")
    said = world.fails(capsys, "bob", "invite", "bobs", laptop_key)
    assert said == (
        f"smallsocial: That key is a linked device of alice ({alice_key}); invite alice's key instead."
    )
    assert world.ok(capsys, "bob", "invite", "bobs", alice_key).startswith("ssi")  # the person: fine
    # alice's own device, in a circle she made after linking it
    world.ok(capsys, "alice", "circle", "new", "later")
    assert "one of your own linked devices" in world.fails(capsys, "alice", "invite", "later", laptop_key)


def test_member_counts_count_people(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    for who in ("alice", "bob", "laptop"):
        rows = json.loads(world.ok(capsys, who, "circle", "list", "--json"))
        assert [(r["name"], r["members"]) for r in rows] == [("friends", 2)], who
        assert "(2 members" in world.ok(capsys, who, "circle", "list")


def test_unknown_names_get_a_sentence_that_says_what_to_do(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert world.fails(capsys, "alice", "devices", "revoke", "phone") == (
        "smallsocial: No linked device is named phone; `smallsocial devices` lists them."
    )
    said = world.fails(capsys, "alice", "invite", "friends", "@bobby")
    assert said.startswith("smallsocial: Nobody is named @bobby here;")
    said = world.fails(capsys, "alice", "fork", "friends", "kids", "--member", "@bobby")
    assert said.startswith("smallsocial: Nobody is named @bobby here;")
    assert "not a complete key" in world.fails(capsys, "alice", "invite", "friends", "12D3KooWBwysBenJ7aw")
    # revoke by name; then again: already unlinked
    assert world.ok(capsys, "alice", "devices", "revoke", "laptop").startswith("Unlinked laptop (")
    assert world.fails(capsys, "alice", "devices", "revoke", "laptop") == (
        "smallsocial: The device laptop was already unlinked."
    )


def test_devices_lists_unlinked_devices_by_name_and_an_unlinked_device_is_told(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.ok(capsys, "alice", "devices", "revoke", "laptop")
    listed = world.ok(capsys, "alice", "devices")
    assert any(line.startswith("laptop ") and line.endswith("unlinked") for line in listed.splitlines())
    rows = json.loads(world.ok(capsys, "alice", "devices", "--json"))
    assert [r["name"] for r in rows if not r["circles"]] == ["laptop"]
    # the laptop learns of it when it syncs (here: the records, imported)
    alice = Profile.open(resolve(str(world.root), "alice"))
    laptop = Profile.open(resolve(str(world.root), "laptop"))
    try:
        laptop.import_bundle(alice.export([c.id for c in alice.circles()]))
        alice_key = alice.identity.peer_id
    finally:
        alice.close()
        laptop.close()
    told = world.ok(capsys, "laptop", "devices")
    assert told.startswith("This device was unlinked by alice (") and "No devices linked" not in told
    assert peer_id(Identity.from_seed(bytes([1]) * 32).public_key) == alice_key


def test_a_mistyped_profile_on_a_read_only_command_makes_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    hint = f"smallsocial --data-dir {world.root} --profile alcie"
    for args in (("id",), ("circle", "list"), ("devices",), ("log", "friends"), ("contact", "list")):
        said = world.fails(capsys, "alcie", *args)
        assert said == f"smallsocial: No profile named alcie; `{hint}` makes it.", args
    assert not (world.root / "profiles" / "alcie").exists()
    # a command that writes, and id --name, still make it (as README's first steps do)
    assert world.ok(capsys, "newbie", "id", "--name", "newbie").startswith("12D3KooW")
    assert (world.root / "profiles" / "newbie").exists()
