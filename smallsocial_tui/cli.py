"""The ``smallsocial`` command line: offline circle management and chat.

Every command that prints data takes ``--json``. Errors are one sentence on
stderr and exit code 1 (2 for a usage mistake). CIRCLE is a circle id, an
unambiguous id prefix, or an unambiguous name; KEY is a peer ID (``12D3KooW…``)
or a contact's petname.

Past 400 lines: one short function per subcommand beside the one parser that names their
options, so ``smallsocial X --help`` and what X does are read in one file. Newer commands live in
topic modules (``cli_messages``, ``cli_members``) that :func:`build_parser` registers; what they
share with this module (opening the profile, finding a circle, the node) is in ``cli_kit``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol.carry import HistoryChoice
from protocol.errors import ProtocolError, sentence
from protocol.files import human_size
from protocol.identity import keyfile_is_encrypted, parse_peer_id, peer_id
from protocol.node import api
from protocol.node.paths import PathError, resolve
from protocol.node.store import StoreError
from smallsocial_tui import cli_carry, cli_subtree, control
from smallsocial_tui.cli_kit import CliError
from smallsocial_tui.cli_kit import emit as _emit
from smallsocial_tui.cli_kit import find_circle as _circle
from smallsocial_tui.cli_kit import key_of as _key
from smallsocial_tui.cli_kit import me_cmd as _me_cmd
from smallsocial_tui.cli_kit import open_profile as _open
from smallsocial_tui.cli_kit import passphrase as _passphrase
from smallsocial_tui.cli_kit import via_node as _via_node
from smallsocial_tui.cli_kit import who as _who
from smallsocial_tui.text import json_text, local_time, safe, safe_name, short_key

if TYPE_CHECKING:
    from protocol.node.profile import CircleInfo, LogEntry, Profile


def _own_addrs(profile: Profile) -> list[str]:
    path = profile.paths.root / "addrs"
    return path.read_text().split() if path.exists() else []


def _reachability(profile: Profile) -> dict[str, str]:
    """How friends reach this profile's node, as the node last found (``<profile>/reachability``)."""
    try:
        got = json.loads((profile.paths.root / "reachability").read_text())
        return {"state": str(got["state"]), "hint": str(got["hint"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {
            "state": "unknown",
            "hint": "Start your node (`smallsocial run` or `smallsocial`) to find out.",
        }


def _circle_json(c: CircleInfo) -> dict[str, Any]:
    return {
        "id": c.id.hex(),
        "name": c.name,
        "parent": c.parent.hex() if c.parent else None,
        "status": c.status,
        "members": c.members,
        "epoch": c.epoch,
        "waiting": c.waiting,
    }


# commands ---------------------------------------------------------------------
def cmd_overview(args: argparse.Namespace) -> None:
    """``smallsocial`` alone: the TUI in a terminal, a short overview when piped."""
    if sys.stdin.isatty() and sys.stdout.isatty() and not args.json:
        from smallsocial_tui.app import run_app  # Textual loads only when the TUI runs

        code = run_app(args.data_dir, args.profile)
        if code:
            raise SystemExit(code)
        return
    from smallsocial_tui import cli_devices

    profile = _open(args)
    circles = profile.circles()
    counts = _unread(profile, circles)
    person, device = cli_devices.this_device(profile)  # on a linked device: the person's key
    on = f" (on {safe_name(device or 'a linked device')}, a linked device)" if person != profile.me else ""
    text = f"You are {safe_name(profile.display_name)}, key {peer_id(person)}{on}\n" + (
        _tree(circles, _me_cmd(args), counts)
        if circles
        else "No circles yet. Start one:  smallsocial circle new NAME"
    )
    data = {
        "name": profile.display_name,
        "key": profile.identity.peer_id,
        "person_key": peer_id(person),
        "circles": [
            _circle_json(c) | dict(zip(("unread", "mentions"), counts.get(c.id, (0, 0)), strict=True))
            for c in circles
        ],
    }
    _emit(args, data, text)


def cmd_demo(args: argparse.Namespace) -> None:
    from smallsocial_tui.demo import run_demo

    code = run_demo(friends=args.friends, keep=args.keep, tui=False if args.no_tui else None)
    if code:
        raise SystemExit(code)


def cmd_id(args: argparse.Namespace) -> None:
    profile = _open(args, read_only=not (args.name or args.set_passphrase))
    if args.name:
        try:
            profile.set_display_name(args.name)  # the same 1 to 64 characters the TUI and node allow
        except ValueError as e:
            raise CliError(str(e)) from None
    if args.set_passphrase:
        new = os.environ.get("SMALLSOCIAL_NEW_PASSPHRASE")
        if new is None:
            if not sys.stdin.isatty():
                raise CliError("Set SMALLSOCIAL_NEW_PASSPHRASE or run in a terminal to choose a passphrase.")
            new = getpass.getpass("New passphrase (empty for none): ")
            if new != getpass.getpass("Again: "):
                raise CliError("The two passphrases differ; nothing changed.")
        profile.set_passphrase(new or None)
    from smallsocial_tui import cli_devices

    person, device = cli_devices.this_device(profile)  # on a linked device: its person's key first
    data = {
        "key": profile.identity.peer_id,  # this profile's own (its addresses' /p2p/ part)
        "person_key": peer_id(person),  # the key friends invite: the person's, on a linked device
        "device_name": device,
        "linked_device": person != profile.me,
        "name": profile.display_name,
        "data_dir": str(profile.paths.root),
        "encrypted": keyfile_is_encrypted(profile.paths.keyfile.read_bytes()),
        "addresses": _own_addrs(profile),
        "node_running": control.node_running(profile.paths.root),
        "reachability": _reachability(profile),
    }
    _emit(
        args,
        data,
        f"{peer_id(person)}"
        + cli_devices.linked_note(profile, person, device)
        + f"\nname: {safe_name(profile.display_name)}"
        " (announced to the members of your circles)"
        f"\ndata: {profile.paths.root}"
        + "".join(f"\naddress: {a}" for a in data["addresses"])
        + f"\nreachable: {data['reachability']['state']}: {data['reachability']['hint']}",
    )


def _tree(
    circles: list[CircleInfo],
    cmd: str = "smallsocial",
    counts: dict[bytes, tuple[int, int]] | None = None,
    levels: dict[bytes, str] | None = None,
) -> str:
    ids = {c.id for c in circles}
    kids: dict[bytes | None, list[CircleInfo]] = {}
    for c in circles:
        kids.setdefault(c.parent if c.parent in ids else None, []).append(c)
    lines: list[str] = []

    def walk(parent: bytes | None, prefix: str) -> None:
        items = kids.get(parent, [])
        for i, c in enumerate(items):
            last = i == len(items) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            status = {
                "member": "joining, waiting for the circle to confirm you"
                if c.waiting
                else f"{c.members} member{'s' if c.members != 1 else ''}",
                "invited": f"invited — accept with: {cmd} join {c.id.hex()[:12]}",
                "left": "you left",
                "removed": "you were removed",
            }[c.status]
            unread, mentions = (counts or {}).get(c.id, (0, 0))
            if unread:
                status += f", {unread} unread" + (f", {mentions} mentioning you" if mentions else "")
            if (level := (levels or {}).get(c.id, "quiet")) != "quiet":
                status += f", {level}"
            lines.append(f"{prefix}{branch}{safe_name(c.name)}  {c.id.hex()[:12]}  ({status})")
            walk(c.id, prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    return "\n".join(lines)


def cmd_circle_new(args: argparse.Namespace) -> None:
    profile = _open(args)
    # A running node owns the chain positions: the new circle's handoff to my linked devices
    # is written in my self circle, so it goes through the node (which also joins its topic).
    reply = _via_node(profile, api.CreateCircle(args.name_arg))
    if reply is not None:
        cid, name = reply.circle, reply.name
    else:
        c = profile.new_circle(args.name_arg)
        cid, name = c.circle_id, c.name
    _emit(args, {"id": cid.hex(), "name": name}, f"Created {safe_name(name)}  {cid.hex()}")


def _unread(profile: Profile, circles: list[CircleInfo]) -> dict[bytes, tuple[int, int]]:
    """(unread, mentions of me) per circle I am in: the counts the TUI's circle tree shows."""
    from protocol.node.queries import unread

    return {c.id: unread(profile, c.id) for c in circles if c.status == "member"}


def cmd_circle_list(args: argparse.Namespace) -> None:
    profile = _open(args, read_only=True)
    circles = profile.circles()
    counts = _unread(profile, circles)
    levels = profile.store.notify_levels()
    rows = [
        _circle_json(c)
        | dict(zip(("unread", "mentions"), counts.get(c.id, (0, 0)), strict=True))
        | {"notify": levels.get(c.id, "quiet")}
        for c in circles
    ]
    text = _tree(circles, _me_cmd(args), counts, levels) if circles else "No circles yet."
    _emit(args, rows, text)


def cmd_members(args: argparse.Namespace) -> None:
    profile = _open(args, read_only=True)
    c = _circle(profile, args.circle)
    view = profile.view(c.id)
    roster = view.roster
    names = profile.store.names()
    names[profile.me] = profile.display_name
    rows = [
        {
            "key": peer_id(m.key),
            "role": m.role,
            "invited_by": peer_id(m.invited_by) if m.invited_by else None,
            "name": names.get(m.key, ""),
            "equivocated": view.equivocators.get(m.key),
            "devices": [peer_id(d) for d in roster.keys_of(m.key) if d != m.key],
        }
        for m in roster.persons().values()  # a person's devices are listed under them
    ]

    def line(r: dict[str, Any]) -> str:
        shown = _who(profile, parse_peer_id(r["key"]))
        named = (
            f"  ({safe_name(r['name'], 32)})" if r["name"] and safe_name(r["name"], 24) not in shown else ""
        )
        flag = f"  EQUIVOCATED: {r['equivocated']}" if r["equivocated"] else ""
        devs = f"  +{len(r['devices'])} device(s)" if r["devices"] else ""
        return f"{r['role']:<7} {shown}  {r['key']}{named}{devs}{flag}"

    from smallsocial_tui.cli_members import invite_tree

    _emit(args, rows, invite_tree(rows, line))


def _parse_ttl(text: str) -> int:
    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        value = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    except (ValueError, IndexError):
        raise CliError(f"{text!r} is not a duration; use e.g. 30m, 12h or 7d.") from None
    if not 60 <= value <= 90 * 86400:
        raise CliError("An invitation lasts between 1 minute and 90 days.")
    return value


def cmd_invite(args: argparse.Namespace) -> None:
    from protocol.node.reach import for_token

    profile = _open(args)
    ttl = _parse_ttl(args.expires)
    c = _circle(profile, args.circle)
    invitee = _key(profile, args.key)
    reply = _via_node(profile, api.InviteKey(c.id, invitee, args.role, ttl))
    if reply is not None:
        token = reply.token
    else:
        token = profile.invite(
            c.id, invitee, role=args.role, ttl_s=ttl, addrs=[*args.addr, *for_token(_own_addrs(profile))]
        )
    from smallsocial_tui.cli_family import invite_hint

    hint = invite_hint(profile, _me_cmd(args), c)  # at the soft cap: the token, and the fork to make instead
    if hint and not args.json:
        print(hint, file=sys.stderr)
    data = {"circle": c.id.hex(), "invitee": peer_id(invitee), "token": token, "fork_hint": hint}
    if args.qr:
        from smallsocial_tui.qr import qr_text

        data["qr"] = qr_text(token.upper())  # tokens read either case; upper case makes a smaller code
    _emit(args, data, f"{token}\n{data['qr']}" if args.qr else token)


def cmd_join(args: argparse.Namespace) -> None:
    profile = _open(args)
    arg = "".join(args.token.split())
    if arg.lower().startswith("ssi"):
        reply = _via_node(profile, api.AcceptInvite(arg))
        cid = reply.circle if reply else profile.join_token(arg)
    else:
        try:
            target = _circle(profile, arg, include_invited=True)
        except CliError:
            raise CliError(
                f"{arg[:20]!r} is not a smallsocial invitation (tokens start with ssi) "
                "nor a circle you were invited to by a fork."
            ) from None
        reply = _via_node(profile, api.AcceptFork(target.id))
        cid = reply.circle if reply else profile.accept_fork(target.id)
    info = profile.circle_info(cid)
    assert info is not None
    text = f"Joined {safe_name(info.name)}  {cid.hex()}"
    if info.waiting:
        text += f"\n{info.waiting}"
    if not control.node_running(profile.paths.root):
        text += f"\nStart your node ({_me_cmd(args)} run) to meet the circle and sync."
    _emit(args, _circle_json(info), text)


def cmd_fork(args: argparse.Namespace) -> None:
    profile = _open(args)
    parent = _circle(profile, args.circle)
    members = [_key(profile, m) for m in args.member]
    try:
        history = HistoryChoice.parse(args.history)
    except ValueError as e:
        raise CliError(str(e)) from None
    reply = _via_node(profile, api.ForkCircle(parent.id, args.name_arg, tuple(members), str(history)))
    cid = reply.circle if reply else profile.fork(parent.id, args.name_arg, members, history=history)
    carried = cli_carry.carried_count(profile, cid)
    _emit(
        args,
        {"id": cid.hex(), "parent": parent.id.hex(), "name": args.name_arg, "carried": carried},
        f"Forked {safe_name(args.name_arg)}  {cid.hex()}  from {safe_name(parent.name)}"
        + cli_carry.carried_note(carried),
    )


def cmd_send(args: argparse.Namespace) -> None:
    profile = _open(args)
    c = _circle(profile, args.circle)
    try:
        reply_to = bytes.fromhex(args.reply) if args.reply else None
    except ValueError:
        raise CliError(f"{args.reply!r} is not a record id (64 hex characters).") from None
    node = _via_node(profile, api.SendMessage(c.id, args.text, reply_to))
    if node is not None:
        rid, seq, status = node.record_id.hex(), node.seq, "sent"
    else:
        rec = profile.send_text(c.id, args.text, reply_to=reply_to)
        rid, seq, status = rec.id.hex(), rec.seq, "queued"
    _emit(args, {"id": rid, "circle": c.id.hex(), "seq": seq, "status": status}, rid)


def _print_entry(
    args: argparse.Namespace,
    e: LogEntry,
    who: Callable[[bytes], str],
    reacts: dict[bytes, Any],
    file_of: Callable[[LogEntry], Any] = lambda e: None,
) -> None:
    """One message: a JSON object, or a line (and a line of reactions under it) for a person."""
    from smallsocial_tui.cli_log import reactions_json, reactions_text

    if args.json:
        row = {
            "id": e.id.hex(),
            "author": peer_id(e.author),
            "author_name": who(e.author),
            "seq": e.seq,
            "ts": e.ts,
            "kind": e.kind,
            "text": e.text,
            "ref": e.ref.hex() if e.ref else None,
            "edited": e.edited,
            "deleted": e.deleted,
            "reactions": reactions_json(reacts.get(e.id, {})),
            **cli_carry.entry_json(e),
            "file": file_of(e),
        }
        print(json_text(row), flush=True)
        return
    if e.kind == "react":
        return  # shown under the message it answers, as the TUI does
    when = local_time(e.ts).strftime("%Y-%m-%d %H:%M")
    body = "(message deleted)" if e.deleted else safe(e.text or "")
    extra = (" (edited)" if e.edited and not e.deleted else "") + cli_carry.entry_mark(e)
    if e.kind == "reply" and e.ref:
        body = f"↪ {e.ref.hex()[:8]} {body}"
    print(f"{when}  {who(e.author)}: {body}{extra}", flush=True)
    if e.id in reacts:
        print(f"{'':{len(when)}}  {reactions_text(reacts[e.id], who)}", flush=True)


def cmd_log(args: argparse.Namespace) -> None:
    from smallsocial_tui.cli_files import file_json
    from smallsocial_tui.cli_log import namer, reactions

    profile = _open(args, read_only=True)
    c = _circle(profile, args.circle)

    def file_of(e: LogEntry) -> dict[str, Any] | None:
        return file_json(profile, c.id, e)

    entries = profile.log(c.id)
    who, reacts = namer(profile, c.id), reactions(entries)

    def seen(e: LogEntry) -> tuple[object, ...]:
        return (e.text, e.deleted, tuple((k, tuple(v)) for k, v in reacts.get(e.id, {}).items()))

    shown = {e.id: seen(e) for e in entries}
    for e in entries[-args.limit :] if args.limit else entries:
        _print_entry(args, e, who, reacts, file_of)
    if args.mark_read:
        _mark_read(profile, c.id)
    if not args.follow:
        return
    version = profile.store.data_version()
    while True:  # the store is the source of truth, with or without a running node
        time.sleep(0.2)
        now = profile.store.data_version()
        if now == version:
            continue
        version = now
        profile.forget_views()
        entries = profile.log(c.id)
        who, reacts = namer(profile, c.id), reactions(entries)
        for e in entries:
            if shown.get(e.id) != seen(e):
                shown[e.id] = seen(e)
                _print_entry(args, e, who, reacts, file_of)
        if args.mark_read:
            _mark_read(profile, c.id)


def _mark_read(profile: Profile, circle_id: bytes) -> None:
    """Mark a circle read up to its newest message from someone else, as opening it in the TUI does."""
    after = profile.store.after_marker(circle_id, profile.me)
    if not after:
        return
    last = after[-1][0]
    if _via_node(profile, api.MarkRead(circle_id, last)) is None:
        profile.store.set_read_marker(circle_id, last, int(profile.clock()))


def cmd_run(args: argparse.Namespace) -> None:
    profile = _open(args)
    paths, passphrase = profile.paths, None
    if keyfile_is_encrypted(paths.keyfile.read_bytes()):
        passphrase = _passphrase(paths.keyfile)
    profile.close()
    from protocol.node.loading import collector_paused

    with collector_paused():  # libp2p: 0.5 s of imports, 70 ms less without collections
        from protocol.node.runner import AlreadyRunning, BadAddress, run_headless
    from smallsocial_tui.render import event_line

    try:
        run_headless(paths, passphrase, args.listen, args.peer, as_json=args.json, render=event_line)
    except (AlreadyRunning, BadAddress) as e:
        raise CliError(str(e)) from None


def cmd_circle_pin(args: argparse.Namespace) -> None:
    from protocol.node.profile import relay_key_of

    profile = _open(args)
    c = _circle(profile, args.circle)
    try:
        relay = relay_key_of(args.relay_addr)
    except ValueError as e:
        raise CliError(str(e)) from None
    if _via_node(profile, api.PinRelay(c.id, args.relay_addr.strip())) is None:
        try:
            profile.pin(c.id, args.relay_addr)
        except ValueError as e:
            raise CliError(str(e)) from None
        hint = "; it reaches the relay when your node runs (smallsocial run)"
    else:
        hint = "; your node is handing the circle to the relay now"
    _emit(
        args,
        {"circle": c.id.hex(), "relay": peer_id(relay), "addr": args.relay_addr.strip()},
        f"Pinned {safe_name(c.name)} to relay {short_key(peer_id(relay))}{hint}.",
    )


def cmd_relay(args: argparse.Namespace) -> None:
    paths = resolve(args.data_dir, args.profile or os.environ.get("SMALLSOCIAL_PROFILE") or "relay")
    from protocol.node.relay import Quota, QuotaError

    if args.action == "status":
        from protocol.node.relay_runner import read_status

        status = read_status(paths)
        if status is None:
            raise CliError(f"No relay is running in {paths.root}; start one with `smallsocial relay`.")
        _emit(args, status, f"relay {status['key']}, up as pid {status['pid']}: " + _relay_line(status))
        return
    try:
        quota = Quota.load(
            Path(args.config) if args.config else None,
            records=args.max_records,
            bytes=args.max_bytes,
            retention_days=args.retention_days,
            circles=args.max_circles,
        )
    except QuotaError as e:
        raise CliError(str(e)) from None
    from protocol.node.loading import collector_paused

    with collector_paused():
        from protocol.node.relay_runner import AlreadyRunning, BadAddress, run_relay

    try:
        run_relay(
            paths,
            args.listen,
            quota,
            announce=args.announce,
            peers=args.peer,
            as_json=args.json,
            status_interval=args.status_interval,
            sweep_interval=args.sweep_interval,
        )
    except (AlreadyRunning, BadAddress) as e:
        raise CliError(str(e)) from None


def _relay_line(s: dict[str, Any]) -> str:
    return (
        f"{s['circles']} circle(s), {s['members']} member(s), {s['records']} record(s), "
        f"{human_size(s['bytes'])}, {s['peers']} peer(s), {s['rejected']} rejected, "
        f"{s['over_quota']} refused over quota; addresses: {' '.join(s['addrs'])}"
    )


def cmd_contact_add(args: argparse.Namespace) -> None:
    profile = _open(args)
    key = parse_peer_id(args.key)
    name = args.petname.removeprefix("@")
    if not name or len(name) > 32 or safe(name) != name:
        raise CliError("A petname is 1 to 32 printable characters.")
    profile.store.set_contact(key, name, int(profile.clock()))
    _emit(args, {"petname": name, "key": peer_id(key)}, f"{name} = {peer_id(key)}")


def cmd_contact_list(args: argparse.Namespace) -> None:
    profile = _open(args, read_only=True)
    rows = [
        {"petname": n, "key": peer_id(k)}
        for k, n in sorted(profile.store.contacts().items(), key=lambda x: x[1])
    ]
    _emit(args, rows, "\n".join(f"{r['petname']:<16} {r['key']}" for r in rows) or "No contacts yet.")


def cmd_export(args: argparse.Namespace) -> None:
    profile = _open(args, read_only=True)
    ids = [_circle(profile, c).id for c in args.circle] or [
        c.id for c in profile.circles() if c.status != "invited"
    ]
    data = profile.export(ids)
    out = Path(args.output)
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as e:
        raise CliError(f"Cannot write {out}: {e.strerror}.") from None
    _emit(
        args,
        {"file": str(out), "bytes": len(data), "circles": [i.hex() for i in ids]},
        f"Wrote {len(data)} bytes for {len(ids)} circle(s) to {out}",
    )


def cmd_import(args: argparse.Namespace) -> None:
    profile = _open(args)
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise CliError(f"Cannot read {args.file}: {e.strerror}.") from None
    try:
        rep = profile.import_bundle(data)
    except ValueError as e:
        raise CliError(str(e)) from None
    data_out = {
        "stored": rep.stored,
        "duplicates": rep.duplicates,
        "held": rep.held,
        "dropped": rep.dropped,
        "skipped": rep.skipped,
        "new_circles": [c.hex() for c in rep.new_circles],
    }
    text = f"Stored {rep.stored} new record(s), {rep.duplicates} already known, {rep.held} waiting"
    text += f", {len(rep.dropped)} dropped" if rep.dropped else ""
    text += f", {rep.skipped} for circles you are not in." if rep.skipped else "."
    for reason in rep.dropped[:5]:
        text += f"\n  dropped: {reason}"
    _emit(args, data_out, text)


# parser -----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help="where profiles live")
    common.add_argument("--profile", default=argparse.SUPPRESS, help="profile name (default: default)")
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )

    p = argparse.ArgumentParser(
        prog="smallsocial", parents=[common], description="Peer-to-peer encrypted chat for small circles."
    )
    p.set_defaults(func=cmd_overview)
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    def add(name: str, func: Any, help_: str, parent: Any = sub) -> argparse.ArgumentParser:
        sp = parent.add_parser(name, help=help_, parents=[common], description=help_)
        sp.set_defaults(func=func)
        return sp

    sp = add("demo", cmd_demo, "a circle with simulated friends on 127.0.0.1, opened in the TUI")
    sp.add_argument("--friends", type=int, default=3, choices=range(1, 6), metavar="N", help="1 to 5")
    sp.add_argument("--keep", action="store_true", help="keep the demo's temporary data after exit")
    sp.add_argument("--no-tui", action="store_true", help="print the conversation instead of opening the TUI")

    sp = add(
        "id",
        cmd_id,
        "show my key (on a linked device, my person's: the one friends invite), name and data "
        "directory; with --name, a profile that does not exist yet is made",
    )
    sp.add_argument("--name", help="set my display name")
    sp.add_argument("--set-passphrase", action="store_true", help="protect the key file with a passphrase")

    circle = sub.add_parser("circle", help="create and list circles")
    csub = circle.add_subparsers(title="circle commands", metavar="COMMAND", required=True)
    sp = add("new", cmd_circle_new, "create a circle", csub)
    sp.add_argument("name_arg", metavar="NAME")
    add("list", cmd_circle_list, "circles, as a tree, with unread messages and mentions of me", csub)
    sp = add("pin", cmd_circle_pin, "pin a circle to a relay (it stores and forwards, cannot read)", csub)
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("relay_addr", metavar="RELAY_ADDR", help="/ip4/HOST/tcp/PORT/p2p/RELAY_PEER_ID")

    sp = add("members", cmd_members, "members of a circle, each under the member who invited them")
    sp.add_argument("circle", metavar="CIRCLE")

    sp = add("invite", cmd_invite, "print an invitation token for a key")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("key", metavar="KEY")
    sp.add_argument("--role", choices=["member", "admin"], default="member")
    sp.add_argument("--expires", default="7d", help="how long it stays valid (30m, 12h, 7d; default 7d)")
    sp.add_argument("--qr", action="store_true", help="also print the token as a QR code (to scan)")
    sp.add_argument(
        "--addr",
        action="append",
        default=[],
        metavar="MADDR",
        help="an address where the circle can be reached (repeatable)",
    )

    sp = add("join", cmd_join, "accept an invitation token, or a fork invitation by circle")
    sp.add_argument("token", metavar="TOKEN|CIRCLE")

    sp = add("fork", cmd_fork, "fork a child circle with some members")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("name_arg", metavar="NAME")
    sp.add_argument(
        "--member",
        action="append",
        required=True,
        metavar="KEY",
        help="a parent member to bring along (repeat for each)",
    )
    cli_carry.add_history_argument(sp)

    sp = add("send", cmd_send, "commit a message to the outbox; prints its record id")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("text", metavar="TEXT")
    sp.add_argument("--reply", metavar="ID", help="record id of the message this answers")

    sp = add(
        "log",
        cmd_log,
        "messages of a circle: authors by petname, else the name they announced, else a short key; "
        "edits marked (edited), deleted messages as (message deleted), reactions under each message",
    )
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("--limit", type=int, default=0, help="only the last N")
    sp.add_argument("--follow", action="store_true", help="keep printing new messages")
    sp.add_argument(
        "--mark-read",
        action="store_true",
        help="count what is shown as read (as opening the circle in the TUI does); without it, "
        "log leaves the unread counts of `circle list` as they are, so scripts do not clear them",
    )

    sp = add("run", cmd_run, "a headless member node: stays online, syncs, prints a line per event")
    sp.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="MADDR",
        help="address to listen on (default: all interfaces on the profile's port; 127.0.0.1 when "
        "SMALLSOCIAL_DISCOVERY=off)",
    )
    sp.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="MADDR",
        help="a peer to dial, /ip4/…/tcp/…/p2p/12D3KooW… (repeatable)",
    )

    sp = add("relay", cmd_relay, "run a blind relay for circles pinned to it (or: relay status)")
    sp.add_argument("action", nargs="?", choices=["status"], help="report on the running relay")
    sp.add_argument("--listen", action="append", default=[], metavar="MADDR", help="address to listen on")
    sp.add_argument(
        "--announce", action="append", default=[], metavar="MADDR", help="address members should dial"
    )
    sp.add_argument("--peer", action="append", default=[], metavar="MADDR", help="a peer to dial")
    sp.add_argument("--config", metavar="FILE", help="a TOML file with a [quota] section")
    sp.add_argument("--max-records", type=int, metavar="N", help="records stored per circle")
    sp.add_argument("--max-bytes", type=int, metavar="N", help="bytes stored per circle")
    sp.add_argument("--retention-days", type=float, metavar="D", help="keep messages this many days")
    sp.add_argument("--max-circles", type=int, metavar="N", help="circles this relay takes")
    sp.add_argument("--status-interval", type=float, default=60.0, help=argparse.SUPPRESS)
    sp.add_argument("--sweep-interval", type=float, default=3600.0, help=argparse.SUPPRESS)

    cli_subtree.register(add)  # remove, leave (with --subtree), mute, notify

    from smallsocial_tui import cli_family

    kit = cli_family.Kit(_open, _circle, _emit, _me_cmd, _via_node, _who)
    cli_family.register(sub, csub, add, kit)

    contact = sub.add_parser("contact", help="petnames for keys")
    ksub = contact.add_subparsers(title="contact commands", metavar="COMMAND", required=True)
    sp = add("add", cmd_contact_add, "name a key", ksub)
    sp.add_argument("petname", metavar="PETNAME")
    sp.add_argument("key", metavar="KEY")
    add("list", cmd_contact_list, "my contacts", ksub)

    sp = add("export", cmd_export, "write circles' records to a file (offline sync)")
    sp.add_argument("circle", nargs="*", metavar="CIRCLE")
    sp.add_argument("-o", "--output", required=True, metavar="FILE")

    sp = add("import", cmd_import, "take in records from a file written by export")
    sp.add_argument("file", metavar="FILE")

    from smallsocial_tui import cli_devices, cli_files, cli_history, cli_members, cli_messages, cli_search

    cli_messages.register(add)
    cli_members.register(add)
    cli_search.register(add)
    cli_files.register(add)  # send-file, get
    cli_devices.register(add)  # devices, devices link/add/accept/revoke
    cli_history.register(add)  # history keep|forget
    from smallsocial_tui.cli_rekey import register as register_rekey

    register_rekey(add)  # rekey, rekey-every
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("data_dir", None), ("profile", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        args.func(args)
    except (CliError, ProtocolError, PathError, StoreError) as e:
        print(f"smallsocial: {sentence(e)}", file=sys.stderr)
        return 1
    except sqlite3.OperationalError as e:  # a full disk, most often: one sentence, not a traceback
        print(
            f"smallsocial: the store could not be written ({e}); free some disk space and try again.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `smallsocial … | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
