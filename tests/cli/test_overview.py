"""``smallsocial`` alone, not in a terminal: the overview as text or ``--json``, through the entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocol.node.paths import resolve
from protocol.node.profile import Profile
from smallsocial_tui import entry

pytestmark = pytest.mark.timeout(60)


def test_the_overview_names_me_and_my_circles_in_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = Profile.create(resolve(str(tmp_path), "alice"), "Alice")
    cid = p.new_circle("pals").circle_id
    key = p.identity.peer_id
    p.close()
    where = ["--data-dir", str(tmp_path), "--profile", "alice"]
    assert entry.main(where) == 0  # stdout is not a terminal here: the overview, not the TUI
    out = capsys.readouterr().out
    assert out.startswith(f"You are Alice, key {key}\n") and "pals" in out
    assert entry.main([*where, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["name"] == "Alice" and got["key"] == key
    (c,) = got["circles"]
    assert c["id"] == cid.hex() and c["name"] == "pals" and c["unread"] == 0 and c["members"] == 1


def test_only_the_data_dir_and_profile_take_the_tui_shortcut() -> None:
    assert entry._tui_args(["--data-dir", "d", "--profile", "p"]) is not None
    assert entry._tui_args([]) is not None
    for argv in (["--json"], ["--help"], ["circle", "list"], ["--profile"], ["--prof", "p"]):
        assert entry._tui_args(argv) is None, argv


def test_run_and_the_cli_show_the_name_a_member_announced(tmp_path: Path) -> None:
    """``run``'s lines and the CLI name a member as the TUI does: petname, announced name, short key."""
    from protocol.identity import Identity
    from protocol.node import api
    from smallsocial_tui import cli_kit
    from smallsocial_tui.render import event_line
    from smallsocial_tui.text import short_key

    p = Profile.create(resolve(str(tmp_path), "alice"), "Alice")
    cid = p.new_circle("pals").circle_id
    bob, carol = Identity.generate(), Identity.generate()
    p.store.set_name(bob.public_key, "Bob Builder", 1)

    def said(author: bytes) -> str | None:
        return event_line(p, api.MessageReceived(cid, b"\x01" * 32, author, 1, 1, "text", "hi", None))

    assert said(bob.public_key) == "[pals] Bob Builder: hi"
    assert said(carol.public_key) == f"[pals] {short_key(carol.peer_id)}: hi"  # nothing known: the short key
    assert cli_kit.who(p, p.me) == "you"
    p.close()
