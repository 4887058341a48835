"""``smallsocial send-file`` and ``get``: files and pictures from the command line.

``send-file CIRCLE PATH`` seals the file into the circle (docs/protocol.md 10.1) and announces
it with a ``file`` message, through the running node when one runs (it publishes it and hands
the blobs to the circle's relays), else straight into the profile (queued; the next node run
sends it). ``get CIRCLE FILE_ID [-o PATH]`` saves a file message's file: from the blobs here,
or, with a node running, after it fetched the rest from members and relays. FILE_ID is the
message's id as ``log --json`` prints it, or a unique prefix. A progress bar goes to stderr
when it is a terminal. ``file-limit CIRCLE [SIZE]`` shows the circle's file limit, or sets it
(admins: a ``filecap`` roster record; ``0`` takes no files), which sending and fetching hold to.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol import files, messages
from protocol.errors import ProtocolError
from protocol.node import api, blobstore
from smallsocial_tui import cli_kit, control
from smallsocial_tui.cli_messages import find_message
from smallsocial_tui.text import safe_name

Add = Callable[[str, Any, str], argparse.ArgumentParser]
GET_TIMEOUT = 3600.0


class Bar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, enabled: bool | None = None) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.last = -1.0

    def __call__(self, have: int, total: int) -> None:
        if not self.enabled:
            return
        frac = have / total if total else 1.0
        now = time.monotonic()
        if frac < 1.0 and now - self.last < 0.1:
            return
        self.last = now
        filled = int(frac * 30)
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {frac * 100:5.1f}% "
            f"{files.human_size(have)} / {files.human_size(total)} "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.last >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()


def cmd_send_file(args: argparse.Namespace) -> None:
    from protocol.node.file_commands import send_file

    profile = cli_kit.open_profile(args)
    circle = cli_kit.find_circle(profile, args.circle)
    path = Path(args.path).expanduser()
    if not path.is_file():
        raise cli_kit.CliError(f"{args.path} is not a file you can read.")
    size = path.stat().st_size
    why = files.over_limit(size, profile.view(circle.id).roster.file_cap)
    if why is not None:
        raise cli_kit.CliError(f"Cannot send {path.name}: {why}.")
    if control.node_running(profile.paths.root):
        reply = cli_kit.via_node(profile, api.SendFile(circle.id, str(path.resolve())))
        if not isinstance(reply, api.FileSent):
            raise cli_kit.CliError(f"The node answered {type(reply).__name__}; try again.")
        rid, seq, status, name = reply.record_id, reply.seq, "sent", reply.name
    else:
        bar = Bar(f"sealing {safe_name(path.name)}")
        try:
            info, rec = send_file(profile, circle.id, path, bar)
        except ValueError as e:
            raise cli_kit.CliError(str(e)) from None
        finally:
            bar.close()
        rid, seq, status, name = rec.id, rec.seq, "queued", info.name
    data = {
        "id": rid.hex(),
        "circle": circle.id.hex(),
        "seq": seq,
        "status": status,
        "name": name,
        "size": size,
    }
    cli_kit.emit(args, data, f"{rid.hex()} {status}: {safe_name(name)} ({files.human_size(size)})")


def _fetch_via_node(
    profile: Any, circle_id: bytes, record_id: bytes, info: files.FileInfo, home: bytes
) -> None:
    """Have the running node fetch the file, drawing progress from the blobs as they land (under
    ``home``: the circle the file was announced in)."""
    store = blobstore.BlobStore(profile.paths.root)
    answer: list[api.Event | Exception] = []

    def call() -> None:
        try:
            answer.append(
                control.call(profile.paths.root, api.FetchFile(circle_id, record_id, True), GET_TIMEOUT)
            )
        except (OSError, ValueError) as e:
            answer.append(e)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    bar = Bar(f"fetching {safe_name(info.name)}")
    try:
        while worker.is_alive():
            with contextlib.suppress(Exception):  # a manifest being written: the next look sees it whole
                bar(blobstore.have(store, home, info), info.size)
            worker.join(0.2)
        bar(blobstore.have(store, home, info), info.size)
    finally:
        bar.close()
    reply = answer[0] if answer else ValueError("no answer")
    if isinstance(reply, Exception):
        raise cli_kit.CliError(f"A node is running but did not answer ({reply}); try again.")
    if isinstance(reply, api.CommandFailed):
        raise cli_kit.CliError(reply.message)
    if isinstance(reply, api.FileFetched) and not reply.ok:
        raise cli_kit.CliError(reply.message)


def file_json(profile: Any, circle_id: bytes, entry: Any) -> dict[str, Any] | None:
    """A file message's fields for ``log --json`` (None for other messages, and for a file whose
    descriptor does not open): name, size, mime type, BLAKE2b-256, bytes here and whether all are."""
    if entry.kind != messages.FILE or entry.deleted:
        return None
    try:
        info, home = blobstore.locate(profile, circle_id, entry.id)
        store = blobstore.BlobStore(profile.paths.root)
        here = blobstore.have(store, home, info)
    except (ValueError, ProtocolError):
        return None
    return {
        "name": info.name,
        "size": info.size,
        "mime": info.mime,
        "blake2b": info.digest.hex(),
        "here": here,
        "complete": here == info.size and blobstore.complete(store, home, info),
    }


def cmd_get(args: argparse.Namespace) -> None:
    profile = cli_kit.open_profile(args)
    circle = cli_kit.find_circle(profile, args.circle)
    entry = find_message(profile, circle, args.file_id)
    if entry.kind != messages.FILE:
        raise cli_kit.CliError(f"Message {entry.id.hex()[:12]} is not a file.")
    try:
        info, home = blobstore.locate(profile, circle.id, entry.id)
    except ValueError as e:
        raise cli_kit.CliError(str(e)) from None
    out = Path(args.output).expanduser() if args.output else Path.cwd()
    if not out.is_dir() and not out.parent.is_dir():
        raise cli_kit.CliError(f"{out.parent} is not a directory.")
    store = blobstore.BlobStore(profile.paths.root)
    if not blobstore.complete(store, home, info):
        if not control.node_running(profile.paths.root):
            have = blobstore.have(store, home, info)
            raise cli_kit.CliError(
                f"Only {files.human_size(have)} of {files.human_size(info.size)} is here; start the node "
                f"(`{cli_kit.me_cmd(args)} run` or the TUI) so it can fetch the rest, then run get again."
            )
        _fetch_via_node(profile, circle.id, entry.id, info, home)
    try:
        out = blobstore.assemble(store, home, info, out, overwrite=args.overwrite)
    except ValueError as e:
        raise cli_kit.CliError(str(e)) from None
    data = {
        "id": entry.id.hex(),
        "circle": circle.id.hex(),
        "name": info.name,
        "size": info.size,
        "mime": info.mime,
        "path": str(out),
        "blake2b": info.digest.hex(),
    }
    cli_kit.emit(args, data, f"saved {safe_name(info.name)} ({files.human_size(info.size)}) to {out}")


def cmd_file_limit(args: argparse.Namespace) -> None:
    from protocol.identity import peer_id
    from protocol.node.file_commands import set_file_cap

    profile = cli_kit.open_profile(args)
    circle = cli_kit.find_circle(profile, args.circle)
    if args.size is not None:
        try:
            cap = files.parse_size(args.size)
        except ValueError as e:
            raise cli_kit.CliError(str(e)) from None
        if cli_kit.via_node(profile, api.SetFileCap(circle.id, cap)) is None:
            try:
                set_file_cap(profile, circle.id, cap)
            except ProtocolError as e:
                raise cli_kit.CliError(str(e)) from None
        profile.forget_views()
    roster = profile.view(circle.id).roster
    by = roster.file_cap_by
    data = {
        "circle": circle.id.hex(),
        "file_limit": roster.file_cap,
        "set_by": peer_id(by) if by else None,
    }
    who = f"set by {cli_kit.who(profile, by)}" if by else "the default"
    verb = "is now" if args.size is not None else "is"
    limit = files.human_size(roster.file_cap) if roster.file_cap else "0 (no files)"
    cli_kit.emit(args, data, f"{safe_name(circle.name)}: the file limit {verb} {limit} ({who}).")


def register(add: Add) -> None:
    """Add ``send-file`` and ``get`` to the parser (``add`` is ``build_parser``'s helper)."""
    sp = add("send-file", cmd_send_file, "send a file to a circle (encrypted; up to its file limit)")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("path", metavar="PATH")
    sp = add("get", cmd_get, "save a file sent to a circle, fetching what is missing")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("file_id", metavar="FILE_ID", help="the file message's id from `log --json`, or a prefix")
    sp.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="a directory (default: here) to save under the file's name, never replacing a file: "
        "'name (1).ext' when taken; or a file path, refused if it exists",
    )
    sp.add_argument("--overwrite", action="store_true", help="with -o FILE: replace it if it exists")
    sp = add("file-limit", cmd_file_limit, "show a circle's file limit, or set it (admins)")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument(
        "size",
        metavar="SIZE",
        nargs="?",
        help="bytes, or with KiB or MiB (10MiB); at most 64 MiB; 0: no files",
    )
