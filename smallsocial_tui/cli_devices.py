"""A person's devices on the command line: ``smallsocial devices`` and its subcommands.

- ``devices [--json]``: my person and their devices, with the circles each is linked in.
- ``devices link [--name NAME] [--qr] [--wait S]`` on the NEW device (a fresh profile: its own
  key): prints the link code and waits to be linked over the network (:mod:`smallsocial_tui.cli_link`);
  ``--offline`` only prints a code for the file path below.
- ``devices add CODE [--yes]`` on the device that holds the person's key: reaches the new
  device, shows the six digits to compare and, on yes, links it (:mod:`smallsocial_tui.cli_link`).
- ``devices add CODE -o FILE`` (offline): certifies the new key, links it in every circle
  (through the running node when one runs) and writes the link bundle, sealed to the new
  device, to FILE; ``devices accept FILE`` on the new device takes it in (its node stopped).
- ``devices revoke NAME|KEY``: unlinks that device (and rekeys) in every circle.

docs/protocol.md section 8.5 has the rules; :mod:`protocol.node.devices` the profile side.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.identity import peer_id
from protocol.node import api
from smallsocial_tui import cli_kit, cli_link, control
from smallsocial_tui.text import safe_name, short_key

Add = Callable[..., argparse.ArgumentParser]


def this_device(profile: Any) -> tuple[bytes, str]:
    """(my person's key, this device's name): (my key, "") on a person's own device or a
    profile not linked to anyone."""
    from protocol.node import devices

    mine = next((d for d in devices.listing(profile) if d.is_me), None)
    if mine is None or mine.person == profile.me:
        return profile.me, ""
    return mine.person, mine.name


def linked_note(profile: Any, person: bytes, device: str) -> str:
    """``smallsocial id``'s line under the key on a linked device ("" on any other)."""
    if person == profile.me:
        return ""
    who = safe_name(profile.display_name)  # a linked device takes its person's name (8.5)
    return (
        f"\nThis is {safe_name(device or 'a device')}, a linked device of {who}: friends invite the "
        f"key above, {who}'s.\ndevice key: {profile.identity.peer_id}"
    )


def cmd_list(args: argparse.Namespace) -> None:
    from protocol.node import devices, whois

    profile = cli_kit.open_profile(args, read_only=True)
    found = devices.listing(profile)
    rows = [
        {
            "key": peer_id(d.key),
            "name": d.name,
            "person": peer_id(d.person),
            "this_device": d.is_me,
            "person_key": d.key == d.person,
            "circles": [c.hex() for c in d.circles],
            "unlinked_in": [c.hex() for c in d.unlinked_in],
        }
        for d in found
    ]
    by = whois.unlinked_by(profile) if not rows else None
    if by is not None:  # named as I knew my person: a petname, their announced name, or mine (theirs)
        known = profile.store.contacts().get(by) or profile.store.names().get(by)
        who = safe_name(whois.name(profile, by) if known else profile.display_name)
        text = (
            f"This device was unlinked by {who} ({short_key(peer_id(by))}); it cannot read new "
            "messages in their circles. Make a new profile here to be linked again."
        )
    elif not rows:
        text = "No devices linked: this is your only one. Link another with `smallsocial devices link` on it."
    else:
        lines = []
        for d in found:
            tags = [t for t, on in (("this device", d.is_me), ("person key", d.key == d.person)) if on]
            state = f"in {len(d.circles)} circle(s)" if d.circles else "unlinked"
            tag = f" ({', '.join(tags)})" if tags else ""
            lines.append(f"{safe_name(d.name or '-')}  {short_key(peer_id(d.key))}{tag}  {state}")
        text = "\n".join(lines)
    cli_kit.emit(args, rows, text)


def cmd_link(args: argparse.Namespace) -> None:
    from protocol.node import devices

    if not args.offline:
        cli_link.cmd_link_online(args)
        return

    profile = cli_kit.open_profile(args)
    code = devices.request(profile, args.name or socket.gethostname() or "device")
    data = {"code": code, "key": profile.identity.peer_id}
    text = (
        f"{code}\n\nOn the device that holds your key, run:\n"
        f"  smallsocial devices add {code} -o link.bundle\n"
        "then copy link.bundle here and run: smallsocial devices accept link.bundle"
    )
    if args.qr:
        from smallsocial_tui.qr import qr_text

        print(qr_text(code.upper()), file=sys.stderr)
    cli_kit.emit(args, data, text)


def cmd_add(args: argparse.Namespace) -> None:
    from protocol.node import devices

    if args.output is None:
        cli_link.cmd_add_online(args)
        return

    profile = cli_kit.open_profile(args)
    device, name = devices.parse_request(args.code)
    out = Path(args.output)
    if out.exists():
        raise cli_kit.CliError(f"{out} exists; name another file for the link bundle.")
    if cli_kit.via_node(profile, api.LinkDevice(args.code, str(out.resolve()))) is None:
        circles = devices.add_to_file(profile, args.code, str(out))
    else:
        profile.forget_views()
        circles = [
            c
            for c in (x.id for x in profile.store.circles("member"))
            if device in profile.view(c).roster.members
        ]
    data = {
        "device": peer_id(device),
        "name": name,
        "circles": [c.hex() for c in circles],
        "bundle": str(out),
    }
    cli_kit.emit(
        args,
        data,
        f"Linked {safe_name(name)} ({short_key(peer_id(device))}) in {len(circles)} circle(s). "
        f"Copy {out} to it and run: smallsocial devices accept {out.name}",
    )


def cmd_accept(args: argparse.Namespace) -> None:
    from protocol.node import devices

    profile = cli_kit.open_profile(args)
    if control.node_running(profile.paths.root):
        raise cli_kit.CliError("Stop this device's node (smallsocial run) before accepting a link bundle.")
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise cli_kit.CliError(f"Cannot read {args.file}: {e.strerror}.") from None
    circles = devices.accept(profile, data)
    names = {c.id: c.name for c in profile.circles()}
    cli_kit.emit(
        args,
        {"circles": [{"id": c.hex(), "name": names.get(c, "")} for c in circles]},
        f"This device is now linked; it is in {len(circles)} circle(s): "
        + ", ".join(safe_name(names.get(c, "")) for c in circles),
    )


def device_key(profile: Any, text: str) -> tuple[bytes, str]:
    """(key, name) of one of my person's linked devices, by its name or key; ``CliError`` with
    a sentence for an unknown name and for a device unlinked already."""
    from protocol.errors import ProtocolError
    from protocol.identity import parse_peer_id
    from protocol.node import devices

    want = text.strip()
    mine = [d for d in devices.listing(profile) if d.key != d.person]
    found = [d for d in mine if d.name and d.name == want]
    if not found:
        try:
            key = parse_peer_id(want)
        except ProtocolError:
            raise cli_kit.CliError(
                f"No linked device is named {safe_name(want)}; `smallsocial devices` lists them."
            ) from None
        found = [d for d in mine if d.key == key] or [
            devices.DeviceInfo(key, "", key, (), (), key == profile.me)
        ]
    live = [d for d in found if d.circles]
    if not live and found[0].unlinked_in:
        raise cli_kit.CliError(f"The device {safe_name(found[0].name or want)} was already unlinked.")
    d = (live or found)[0]
    return d.key, d.name


def cmd_revoke(args: argparse.Namespace) -> None:
    from protocol.node import devices

    profile = cli_kit.open_profile(args)
    device, name = device_key(profile, args.device)
    if cli_kit.via_node(profile, api.UnlinkDevice(device)) is None:
        circles = devices.revoke(profile, device)
    else:
        profile.forget_views()
        circles = [c.id for c in profile.store.circles() if device in profile.view(c.id).roster.departed]
    cli_kit.emit(
        args,
        {"device": peer_id(device), "circles": [c.hex() for c in circles]},
        f"Unlinked {safe_name(name) + ' ' if name else ''}({short_key(peer_id(device))}) "
        f"in {len(circles)} circle(s); "
        "each has a new key it cannot read.",
    )


def register(add: Add) -> None:
    """Add ``devices`` and its subcommands (``add`` is ``build_parser``'s helper)."""
    dp = add("devices", cmd_list, "my devices (list); link, add, accept, revoke")
    dsub = dp.add_subparsers(title="devices commands", metavar="COMMAND")
    sp = add("link", cmd_link, "on a new device: print its link code and wait to be linked", dsub)
    sp.add_argument("--name", help="this device's name (default: the host name)")
    sp.add_argument("--qr", action="store_true", help="also draw the code as a QR code (on stderr)")
    sp.add_argument("--wait", type=int, default=600, metavar="S", help="how long to wait, in seconds (600)")
    sp.add_argument("--offline", action="store_true", help="only print a code for `add CODE -o FILE`")
    sp = add("add", cmd_add, "on the device with your key: link the device of CODE", dsub)
    sp.add_argument("code", metavar="CODE")
    sp.add_argument("--yes", action="store_true", help="do not ask: link if the device answers (scripts)")
    sp.add_argument("-o", "--output", metavar="FILE", help="offline: write the link bundle to FILE instead")
    sp = add("accept", cmd_accept, "on the new device: take in the link bundle", dsub)
    sp.add_argument("file", metavar="FILE")
    sp = add("revoke", cmd_revoke, "unlink a device (by name or key) in every circle", dsub)
    sp.add_argument("device", metavar="NAME|KEY")
