"""What every ``smallsocial`` subcommand shares: opening the profile, finding a circle or a key,
handing a write to the running node, and printing text or ``--json``.

The subcommands live in :mod:`smallsocial_tui.cli` and its topic modules
(``cli_messages``, ``cli_members``, ...); each imports these from here, so no topic
module imports ``cli`` (which imports them to register their parsers).
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol.identity import keyfile_is_encrypted, parse_peer_id
from protocol.node import api, whois
from protocol.node.paths import resolve
from smallsocial_tui import control
from smallsocial_tui.text import json_text, safe_name

if TYPE_CHECKING:
    from protocol.node.profile import CircleInfo, Profile


class CliError(Exception):
    """A sentence for the user; exit code 1."""


def passphrase(keyfile: Path) -> str | None:
    if not keyfile_is_encrypted(keyfile.read_bytes()):
        return None
    env = os.environ.get("SMALLSOCIAL_PASSPHRASE")
    if env is not None:
        return env
    if sys.stdin.isatty():
        return getpass.getpass("Passphrase: ")
    raise CliError(
        "The identity is protected by a passphrase; set SMALLSOCIAL_PASSPHRASE or run in a terminal."
    )


def open_profile(args: argparse.Namespace, *, create: bool = True, read_only: bool = False) -> Profile:
    """The profile the flags name; one that does not exist is made, except by a ``read_only``
    command given ``--profile NAME`` (a mistyped name would make a second identity unseen)."""
    from protocol.node.profile import Profile  # not at the top: `smallsocial` (the TUI) paints without it

    paths = resolve(args.data_dir, args.profile)
    if not Profile.exists(paths) and read_only and args.profile:
        raise CliError(f"No profile named {args.profile}; `{me_cmd(args)}` makes it.")
    if not Profile.exists(paths):
        if not create:
            raise CliError(f"No identity in {paths.root}; run `smallsocial id` to create one.")
        name = getattr(args, "name", None) or os.environ.get("USER") or "me"
        profile = Profile.create(paths, name)
        print(f"Created a new identity {profile.identity.peer_id} in {paths.root}.", file=sys.stderr)
        return profile
    return Profile.open(paths, passphrase(paths.keyfile))


def key_of(profile: Profile, text: str) -> bytes:
    """A peer ID, or a contact's petname (with or without a leading @); ``CliError`` naming
    what was asked for when it is neither (a text that starts as a key keeps the key's sentence)."""
    name = text.strip().removeprefix("@")
    for key, pet in profile.store.contacts().items():
        if pet == name:
            return key
    if not text.strip().startswith("12D3KooW"):
        shown = safe_name(name, 32)
        raise CliError(
            f"Nobody is named @{shown} here; give their key (12D3KooW…), or name it first with "
            f"`smallsocial contact add {shown} KEY` (`smallsocial contact list` shows your names)."
        )
    return parse_peer_id(text)


def find_circle(profile: Profile, text: str, *, include_invited: bool = False) -> CircleInfo:
    # Match on the stored rows; only the circle found is summarised (its roster folded).
    circles = [c for c in profile.store.circles() if include_invited or c.status != "invited"]
    t = text.strip().lower()
    exact = [c for c in circles if c.id.hex() == t]
    by_prefix = [c for c in circles if len(t) >= 4 and c.id.hex().startswith(t)]
    by_name = [c for c in circles if profile.circle_name(c).lower() == t] if not (exact or by_prefix) else []
    for found in (exact, by_prefix, by_name):
        if len(found) == 1:
            info = profile.circle_info(found[0].id)
            assert info is not None
            return info
        if len(found) > 1:
            ids = ", ".join(c.id.hex()[:12] for c in found)
            raise CliError(f"{text!r} matches {len(found)} circles ({ids}); use more of the id.")
    raise CliError(f"No circle matches {text!r}; see `smallsocial circle list`.")


def via_node(profile: Profile, cmd: api.Command) -> Any:
    """Send a write to the running node, if there is one (it owns the chain positions): its answer.

    The answer is the ``api`` event the command's kind answers with (``MessageSent``,
    ``InviteCreated``, ...); ``None`` when no node runs, and the caller acts offline.
    """
    if not control.node_running(profile.paths.root):
        return None
    try:
        reply = control.call(profile.paths.root, cmd)
    except (OSError, ValueError) as e:
        raise CliError(f"A node is running but did not answer ({e}); stop it or try again.") from None
    if isinstance(reply, api.CommandFailed):
        raise CliError(reply.message)
    return reply


def who(profile: Profile, key: bytes) -> str:
    """ "you", or how the TUI shows a key: a petname, the name its owner announced, the short key."""
    return whois.name(profile, key)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json_text(data) if args.json else text)


def me_cmd(args: argparse.Namespace) -> str:
    """``smallsocial`` with this data dir's and profile's flags, for hints a user can paste."""
    cmd = "smallsocial"
    if args.data_dir:
        cmd += f" --data-dir {shlex.quote(args.data_dir)}"
    return cmd + (f" --profile {shlex.quote(args.profile)}" if args.profile else "")
