"""Linking a device over the network from the command line: ``devices link`` and ``devices add``.

Both talk to this profile's node: the running one (``smallsocial run`` or the TUI) through its
control socket, or one started here for the while (:class:`NodeSession`).

- ``devices link [--name N] [--qr] [--wait S]`` on the NEW device: prints its link code (its
  key, addresses and a one-time secret), then waits; when the person's device reaches it,
  prints the six digits to compare, and at the end "Linked as NAME to PERSON: N circles".
- ``devices add CODE [--yes]`` on the device with the person's key: reaches the new device,
  shows "Link device NAME? The new device shows 123 456. [y/N]" and, on yes, links it.

The stream is :mod:`protocol.node.linking`; docs/protocol.md 8.5 says what crosses it.
"""

from __future__ import annotations

import argparse
import json
import queue
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from protocol.identity import peer_id
from protocol.node import api
from protocol.node.paths import resolve
from smallsocial_tui import cli_kit, control
from smallsocial_tui.text import safe_name, short_key


class NodeSession:
    """This profile's node for one command: the running one, or one started in this process."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.paths = resolve(args.data_dir, args.profile)
        self.events: queue.Queue[api.Event | None] = queue.Queue()
        self._watch: control.Watch | None = None
        self._thread: Any = None
        root = self.paths.root
        if control.node_running(root):
            try:
                self._watch = control.Watch(root, self.events.put, lambda: self.events.put(None))
            except OSError as e:
                raise cli_kit.CliError(
                    f"A node is running but did not answer ({e}); stop it or try again."
                ) from None
            return
        from protocol.node.bridge import BridgeError, NodeThread
        from protocol.node.reach import member_listen

        cli_kit.open_profile(args).close()  # creates the identity on first use, as other commands do
        self._thread = NodeThread(
            self.paths,
            self.events.put,
            passphrase=cli_kit.passphrase(self.paths.keyfile),
            listen=member_listen(root),
            serve_control=True,
        )
        try:
            self._thread.start()
        except BridgeError as e:
            raise cli_kit.CliError(str(e)) from None

    def send(self, cmd: api.Command) -> None:
        try:
            if self._watch is not None:
                self._watch.send(cmd)
            else:
                self._thread.submit(cmd)
        except Exception as e:  # OSError, BridgeError: the node went away
            raise cli_kit.CliError(f"The node stopped ({e}).") from None

    def wait(self, want: Callable[[api.Event], bool], timeout: float, what: str) -> api.Event:
        """The first event ``want`` takes; ``CliError`` with ``what`` when none comes in time."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise cli_kit.CliError(what)
            try:
                ev = self.events.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if ev is None or isinstance(ev, api.NodeStopped):
                raise cli_kit.CliError("The node stopped.")
            if want(ev):
                return ev

    def answer(self, cmd: api.Command, timeout: float, what: str) -> api.Event:
        """Send ``cmd``; its answer (``CliError`` with its sentence when it failed)."""
        self.send(cmd)
        ev = self.wait(lambda e: getattr(e, "request_id", None) == cmd.request_id, timeout, what)
        if isinstance(ev, api.CommandFailed):
            raise cli_kit.CliError(ev.message)
        return ev

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        if self._thread is not None:
            self._thread.stop(10.0)


def _line(args: argparse.Namespace, data: dict[str, Any], text: str, err: bool = False) -> None:
    """One step: a JSON line with ``--json``, else the text."""
    out = sys.stderr if err and not args.json else sys.stdout
    print(json.dumps(data) if args.json else text, file=out, flush=True)


def cmd_link_online(args: argparse.Namespace) -> None:
    """``devices link``: show the code, wait for the person's device, take the link in."""
    name = args.name or socket.gethostname() or "device"
    session = NodeSession(args)
    try:
        ready = session.answer(api.AwaitLink(name, args.wait), 30, "The node did not make a link code.")
        assert isinstance(ready, api.LinkCodeReady)
        _line(
            args,
            {"code": ready.code, "expires_s": ready.expires_s},
            f"{ready.code}\n\nOn your device that holds your key, run:\n"
            f"  smallsocial devices add {ready.code}\n"
            f"(or, in its TUI: ctrl+g, Add a device). Waiting up to {_span(args.wait)}… (ctrl+c stops)",
        )
        if args.qr:
            from smallsocial_tui.qr import qr_text

            print(qr_text(ready.code.upper()), file=sys.stderr, flush=True)
        deadline = time.monotonic() + args.wait
        while True:
            ev = session.wait(
                lambda e: isinstance(e, (api.LinkRequested, api.LinkCancelled, api.DeviceLinked)),
                max(1.0, deadline - time.monotonic()),
                "Nobody linked this device in time; run `devices link` again.",
            )
            if isinstance(ev, api.LinkRequested):
                who = ev.person_name or short_key(peer_id(ev.person))
                _line(
                    args,
                    {"requested_by": peer_id(ev.person), "name": ev.person_name, "digits": ev.digits},
                    f"{safe_name(who)}'s device is linking this one. Check that it shows {ev.digits}.",
                )
            elif isinstance(ev, api.LinkCancelled):
                _line(args, {"cancelled": ev.message}, f"{ev.message} Still waiting…", err=True)
            elif isinstance(ev, api.DeviceLinked):
                who = ev.person_name or short_key(peer_id(ev.person))
                _line(
                    args,
                    {
                        "linked": True,
                        "person": peer_id(ev.person),
                        "name": ev.name,
                        "circles": [
                            {"id": c.hex(), "name": n}
                            for c, n in zip(ev.circles, ev.circle_names, strict=True)
                        ],
                    },
                    f"Linked as {safe_name(ev.name)} to {safe_name(who)}: {len(ev.circles)} circle(s)"
                    + (": " + ", ".join(safe_name(n) for n in ev.circle_names) if ev.circle_names else "."),
                )
                return
    finally:
        session.close()


def _span(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"


def _ask(prompt: str) -> bool:
    print(prompt, end=" ", file=sys.stderr, flush=True)
    try:
        return input().strip().lower() in ("y", "yes")
    except EOFError:
        return False


def cmd_add_online(args: argparse.Namespace) -> None:
    """``devices add CODE``: reach the new device, confirm with the user, link it."""
    from protocol.node import devices

    devices.parse_request(args.code)  # a damaged code says so before any node starts
    session = NodeSession(args)
    try:
        start = api.StartLink(args.code)
        ev = session.answer(start, 60, "The new device did not answer in time.")
        assert isinstance(ev, api.LinkConfirm)
        prompt = f"Link device {safe_name(ev.name)}? The new device shows {ev.digits}. [y/N]"
        if args.yes:
            print(prompt, "yes (--yes)", file=sys.stderr, flush=True)
        yes = args.yes or _ask(prompt)
        done = session.answer(
            api.ConfirmLink(start.request_id, yes), 360, "The new device did not take the link in time."
        )
        if not yes:
            raise cli_kit.CliError("Not linked: nothing was written.")
        assert isinstance(done, api.DeviceLinkDone)
        cli_kit.emit(
            args,
            {
                "device": peer_id(done.device),
                "name": done.name,
                "digits": ev.digits,
                "circles": [c.hex() for c in done.circles],
            },
            f"Linked {safe_name(done.name)} ({short_key(peer_id(done.device))}) "
            f"in {len(done.circles)} circle(s).",
        )
    finally:
        session.close()
