"""Slash commands of the composer: their table, parsing, and tab completion (no Textual)."""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (arguments, what it does)
    "help": ("", "list commands and keys"),
    "new": ("NAME", "start a new circle"),
    "invite": ("[KEY]", "invite someone by their key (opens the invite dialog)"),
    "join": ("[TOKEN]", "join a circle with an invitation token"),
    "fork": (
        "[NAME @member … [--history last:N|days:D|all]]",
        "fork a side circle with some of this circle's members (and, if you like, recent history)",
    ),
    "accept": ("", "accept the fork invitation of the selected circle"),
    "remove": ("@member", "remove a member from this circle (asks about the circles under it)"),
    "role": ("@member admin|member", "make a member an admin or a plain member (admins only)"),
    "leave": ("", "leave this circle (asks about the circles under it you are in)"),
    "nick": ("NAME", "change my display name"),
    "petname": ("@member NAME", "my own name for someone (never sent)"),
    "me": ("TEXT", "say what you are doing"),
    "reply": ("TEXT", "reply to the selected (or last) message"),
    "react": ("EMOJI", "react to the selected (or last) message"),
    "edit": ("TEXT", "replace my last message"),
    "delete": ("", "delete the selected (or my last) message"),
    "search": ("[TEXT]", "find messages in all my circles; enter opens one in its circle (ctrl+s)"),
    "tree": ("", "the family tree: circles, forks, who invited whom (f4)"),
    "split": ("", "how this circle could split, by who talks with whom"),
    "cap": ("[N]", "show or set (admins) the soft cap: inviting past it suggests a fork"),
    "pin": ("RELAY_ADDR", "let a relay store and forward this circle"),
    "connect": ("ADDR", "connect to a peer's address"),
    "loud": ("", "toggle loud (notify on every message) for this circle"),
    "mute": ("[subtree] [off]", "mute this circle (and all under it): no notifications, no unread rolled up"),
    "send": ("[PATH]", "send a file to this circle (no PATH: pick one)"),
    "get": ("[DIR]", "fetch the selected (or last) file and save it in DIR (default ~/Downloads)"),
    "limit": ("[SIZE]", "show or set (admins) this circle's file limit: 10MiB, 512KiB, 0 for no files"),
    "rekey": ("[all]", "a new key for this circle now (all: every circle you are in), after a lost device"),
    "history": ("[keep|forget]", "keep old messages readable here, or forget them once a new key came"),
    "id": ("", "show my key and addresses"),
    "devices": ("", "my devices: add one, revoke one, or link this one (ctrl+g)"),
    "link": ("[CODE]", "add a device: paste the code it shows, compare the six digits, link"),
    "revoke": ("NAME|KEY", "revoke one of my devices (asks first): it cannot read new messages"),
    "status": ("", "show peers, addresses and relays"),
    "quit": ("", "stop the node and quit"),
}


@dataclass(frozen=True)
class Slash:
    name: str
    args: str


def parse(text: str) -> Slash | None:
    """``/name args`` → Slash; plain text (or ``//text``, sent as ``/text``) → None."""
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, _, args = text[1:].partition(" ")
    return Slash(name.lower(), args.strip())


def complete(text: str, names: list[str]) -> list[str]:
    """The possible completions of ``text`` (its last word: a /command or an @name), as full texts."""
    head, sep, word = text.rpartition(" ")
    prefix = head + sep
    if not sep and word.startswith("/"):
        stem = word[1:].lower()
        return [f"/{c} " for c in COMMANDS if c.startswith(stem)]
    if word.startswith("@"):
        stem = word[1:].lower()
        found = [n for n in names if n.lower().startswith(stem)]
        end = ": " if not prefix else " "
        return [f"{prefix}@{n}{end}" for n in found]
    return []


def help_lines() -> list[tuple[str, str]]:
    return [(f"/{name} {args}".rstrip(), what) for name, (args, what) in COMMANDS.items()]
