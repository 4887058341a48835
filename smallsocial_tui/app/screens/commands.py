"""What the user types on the main screen: slash commands, messages, and palette entries.

:class:`Commands` is a separate object that serves one screen, seen through the
narrow :class:`~.host.Host` protocol (so this module never imports the screen). It
turns the composer's text into node commands; a command whose answer matters is
awaited in a worker (:meth:`NodeLink.ask`, by request id) and its result applied
here. Dialogs are opened by :class:`~.dialog_flows.DialogFlows`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial

from textual.app import SystemCommand

from protocol import carry
from protocol.errors import ProtocolError
from protocol.identity import parse_peer_id, peer_id
from protocol.node import api
from smallsocial_tui.app import slash
from smallsocial_tui.app.link import Refused
from smallsocial_tui.app.model import Row, State
from smallsocial_tui.app.screens.dialog_flows import DialogFlows
from smallsocial_tui.app.screens.file_flows import FileFlows
from smallsocial_tui.app.screens.host import Host, writable
from smallsocial_tui.app.screens.subtree_flows import SubtreeFlows
from smallsocial_tui.text import history_line, rekeyed_line, short_key

MessageCommand = api.SendMessage | api.ReactTo | api.EditMessage | api.DeleteMessage


class Commands:
    """The slash commands and dialogs of one main screen."""

    def __init__(self, host: Host, dialogs: DialogFlows) -> None:
        self.host = host
        self.dialogs = dialogs
        self.subtree = SubtreeFlows(host)
        self.files = FileFlows(host)

    @property
    def state(self) -> State:
        return self.host.state

    def _ask(self, work: Awaitable[None]) -> None:
        self.host.run_worker(work, group="commands")

    # sending ----------------------------------------------------------------------------
    def _send_own(self, cmd: MessageCommand, kind: str, text: str | None, ref: bytes | None) -> None:
        """Submit a message-like command; show it once the node says it is committed."""
        self._ask(self._sent(cmd, kind, text, ref))

    async def _sent(self, cmd: MessageCommand, kind: str, text: str | None, ref: bytes | None) -> None:
        try:
            ev = await self.host.link.ask(cmd, api.MessageSent)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        st, circle = self.state, cmd.circle
        hist = st.histories.get(circle)
        if hist is None:
            return
        row = hist.apply(ev.record_id, st.me, int(self.host.session.clock() * 1000), kind, text, ref)
        if row is not None and circle == self.host.current:
            log = self.host.log_view
            log.follow()  # what I send brings me to the bottom
            log.appended() if row.id == ev.record_id else log.changed(row)
            hist.read_marker = ev.record_id

    def _target(self, *, own: bool = False) -> Row | None:
        row = self.host.log_view.selected_row()
        current = self.host.current
        hist = self.state.histories.get(current) if current else None
        if row is None and hist is not None and hist.rows:
            row = hist.last_own(self.state.me) if own else hist.rows[-1]
        if row is None:
            self.host.notify("There is no message to do that to.", severity="warning")
        return row

    def submitted(self, text: str, editing: Row | None) -> None:
        """The composer's enter: an edit, a slash command, or a message."""
        if editing is not None:
            circle = writable(self.host)
            if circle is not None:
                self._send_own(api.EditMessage(circle, editing.id, text), "edit", text, editing.id)
            return
        parsed = slash.parse(text)
        if parsed is None:
            text = text[1:] if text.startswith("//") else text
            circle = writable(self.host)
            if circle is not None:
                self._send_own(api.SendMessage(circle, text), "text", text, None)
            return
        handler: Callable[[str], None] | None = getattr(self, f"slash_{parsed.name}", None)
        if handler is None:
            self.host.notify(f"There is no command /{parsed.name[:20]}; /help lists them.", markup=False)
            return
        handler(parsed.args)

    # members -------------------------------------------------------------------------------
    def resolve_member(self, text: str) -> bytes | None:
        st, current = self.state, self.host.current
        want = text.strip().removeprefix("@").rstrip(":,").strip()
        if not want:
            return None
        keys = st.member_keys(current) if current else []
        for key in keys:
            pid = peer_id(key)
            if want.lower() in (st.who(key).lower(), pid.lower(), short_key(pid).lower()):
                return key
        prefixed = [k for k in keys if len(want) >= 6 and peer_id(k).startswith(want)]
        if len(prefixed) == 1:
            return prefixed[0]
        try:
            return parse_peer_id(want)
        except (ProtocolError, ValueError):
            return None

    # slash commands -------------------------------------------------------------------------
    def slash_send(self, args: str) -> None:
        self.files.send(args)

    def slash_get(self, args: str) -> None:
        self.files.get(args)

    def slash_limit(self, args: str) -> None:
        self.files.limit(args)

    def slash_help(self, args: str) -> None:
        self.host.app.call_later(self.host.app.run_action, "help")

    def slash_quit(self, args: str) -> None:
        self.host.app.call_later(self.host.app.run_action, "quit")

    def slash_new(self, args: str) -> None:
        if not args:
            self.host.notify("Give the circle a name: /new NAME", severity="warning")
            return
        self.host.link.submit(api.CreateCircle(args))

    def slash_invite(self, args: str) -> None:
        want = args.strip()
        if want.startswith("@"):  # a petname of mine (the CLI's invite takes the same)
            key = next((k for k, n in self.state.contacts.items() if n == want[1:]), None)
            if key is None:
                self.host.notify(
                    f"Nobody is named {want[:40]} here; paste their key (12D3KooW…) instead.",
                    severity="warning",
                    markup=False,
                )
                return
            want = peer_id(key)
        self.dialogs.invite(want)

    def slash_join(self, args: str) -> None:
        self.dialogs.join(args)

    def slash_fork(self, args: str) -> None:
        if not args:
            self.dialogs.fork()
            return
        circle = writable(self.host)
        if circle is None:
            return
        words = args.split()
        history = "none"
        if "--history" in words:  # /fork NAME @member … --history last:20 (as the CLI's fork)
            i = words.index("--history")
            history = words[i + 1] if i + 1 < len(words) else ""
            del words[i : i + 2]
            try:
                carry.HistoryChoice.parse(history)
            except ValueError as e:
                self.host.notify(str(e), severity="warning", markup=False)
                return
        name = " ".join(w for w in words if not w.startswith("@"))
        members = []
        for w in (w for w in words if w.startswith("@")):
            key = self.resolve_member(w)
            if key is None:
                self.host.notify(
                    f"{w[:40]} is not a member of this circle.", severity="warning", markup=False
                )
                return
            members.append(key)
        if not name:
            self.host.notify("Give the fork a name: /fork NAME @member …", severity="warning")
            return
        self.host.link.submit(api.ForkCircle(circle, name, tuple(members), history.strip().lower()))

    def slash_accept(self, args: str) -> None:
        if self.host.current is not None:
            self.accept_fork(self.host.current)

    def accept_fork(self, cid: bytes) -> None:
        st = self.state
        if cid not in st.circles or st.circles[cid].summary.status != "invited":
            self.host.notify("This circle has no invitation to accept.", severity="warning")
            return
        self.host.link.submit(api.AcceptFork(cid))

    def slash_remove(self, args: str) -> None:
        circle = writable(self.host)
        key = self.resolve_member(args) if args else None
        if circle is None:
            return
        if key is None:
            self.host.notify("Say whom to remove: /remove @member", severity="warning")
            return
        self.subtree.remove(circle, key)  # asks first when circles lie under it

    def slash_role(self, args: str) -> None:
        circle = writable(self.host)
        if circle is None:
            return
        who, _, role = args.rpartition(" ")
        key = self.resolve_member(who) if who else None
        if key is None or role.lower() not in ("admin", "member"):
            self.host.notify("Usage: /role @member admin|member", severity="warning")
            return
        self._ask(self._role(circle, key, role.lower()))

    async def _role(self, circle: bytes, key: bytes, role: str) -> None:
        try:
            await self.host.link.ask(api.ChangeRole(circle, key, role), api.CommandDone)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        self.host.link.submit(api.LoadMembers(circle))

    def slash_leave(self, args: str) -> None:
        circle = writable(self.host)
        if circle is not None:
            self.subtree.leave(circle)  # asks first when I am in circles under it

    def slash_mute(self, args: str) -> None:
        if self.host.current is not None and self.host.current in self.state.circles:
            self.subtree.mute(self.host.current, args)

    def slash_nick(self, args: str) -> None:
        if not args:
            self.host.notify("Give the new name: /nick NAME", severity="warning")
            return
        self._ask(self._nick(args))

    async def _nick(self, name: str) -> None:
        try:
            await self.host.link.ask(api.SetDisplayName(name), api.CommandDone)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        self.state.name = name
        self.host.notify("Your display name is changed.", timeout=3)
        self.host.update_status()
        current = self.host.current
        self.host.log_view.show(self.state.histories.get(current) if current else None, self.state.me)

    def slash_petname(self, args: str) -> None:
        who, _, name = args.partition(" ")
        key = self.resolve_member(who)
        if key is None or not name.strip():
            self.host.notify("Usage: /petname @member NAME", severity="warning")
            return
        self._ask(self._petname(key, name.strip()))

    async def _petname(self, key: bytes, name: str) -> None:
        try:
            await self.host.link.ask(api.SetPetname(key, name), api.CommandDone)
        except Refused:
            return  # as before: a refused petname changes nothing, quietly
        self.state.contacts[key] = name
        if self.host.current:
            self.host.choose(self.host.current)

    def slash_me(self, args: str) -> None:
        circle = writable(self.host)
        if circle is not None and args:
            text = f"/me {args}"
            self._send_own(api.SendMessage(circle, text), "text", text, None)

    def slash_reply(self, args: str) -> None:
        circle = writable(self.host)
        row = self._target() if circle else None
        if circle is None or row is None:
            return
        if not args:
            self.host.notify("Write the reply: /reply TEXT", severity="warning")
            return
        self._send_own(api.SendMessage(circle, args, reply_to=row.id), "reply", args, row.id)
        self.host.log_view.clear_selection()

    def slash_react(self, args: str) -> None:
        circle = writable(self.host)
        row = self._target() if circle else None
        if circle is None or row is None or not args:
            return
        emoji = args.split()[0]
        self._send_own(api.ReactTo(circle, row.id, emoji), "react", emoji, row.id)

    def slash_edit(self, args: str) -> None:
        circle = writable(self.host)
        row = self._target(own=True) if circle else None
        if circle is None or row is None:
            return
        if row.author != self.state.me:
            self.host.notify("You can only edit your own messages.", severity="warning")
        elif args:
            self._send_own(api.EditMessage(circle, row.id, args), "edit", args, row.id)
        else:
            self.host.composer.start_edit(row)

    def slash_delete(self, args: str) -> None:
        circle = writable(self.host)
        row = self._target(own=True) if circle else None
        if circle is None or row is None:
            return
        if row.author != self.state.me:
            self.host.notify("You can only delete your own messages.", severity="warning")
            return
        self._send_own(api.DeleteMessage(circle, row.id), "delete", None, row.id)

    def slash_pin(self, args: str) -> None:
        circle = writable(self.host)
        if circle is None:
            return
        if not args:
            self.host.notify("Give the relay's address: /pin /ip4/…/tcp/…/p2p/12D3KooW…", severity="warning")
            return
        self._ask(self._pin(circle, args))

    async def _pin(self, circle: bytes, addr: str) -> None:
        try:
            await self.host.link.ask(api.PinRelay(circle, addr), api.CommandDone)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        self.host.notify("The relay now serves this circle.", timeout=4)
        self.host.link.submit(api.LoadOverview())

    def slash_connect(self, args: str) -> None:
        if args:
            self._ask(self._connect(args))

    async def _connect(self, addr: str) -> None:
        try:
            await self.host.link.ask(api.ConnectPeer(addr), api.Event)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        self.host.notify("Connected.", timeout=3)

    def slash_loud(self, args: str) -> None:
        self.host.action_toggle_loud()

    def slash_id(self, args: str) -> None:
        self.dialogs.identity()

    def slash_devices(self, args: str) -> None:
        self.dialogs.identity()

    def slash_link(self, args: str) -> None:
        self.dialogs.devices.add("".join(args.split()))

    def slash_revoke(self, args: str) -> None:
        device = self.dialogs.devices.find(args)
        if device is not None:
            self.dialogs.devices.revoke(device)

    def slash_status(self, args: str) -> None:
        self.dialogs.connection()

    def slash_search(self, args: str) -> None:
        self.host.action_search(args)

    def slash_tree(self, args: str) -> None:
        self.dialogs.family()

    def slash_split(self, args: str) -> None:
        self.dialogs.split()

    def slash_cap(self, args: str) -> None:
        circle = writable(self.host)
        if circle is None:
            return
        if not args:
            s = self.state.circles[circle].summary
            self.host.notify(f"{s.members} members; the soft cap is {s.soft_cap}. Admins set it: /cap N")
            return
        if not args.isdigit():
            self.host.notify("The soft cap is a number: /cap 15", severity="warning")
            return
        self._ask(self._cap(circle, int(args)))

    async def _cap(self, circle: bytes, cap: int) -> None:
        try:
            await self.host.link.ask(api.SetSoftCap(circle, cap), api.CommandDone)
            ev = await self.host.link.ask(api.LoadOverview(), api.OverviewLoaded)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        self.host.overview_loaded(ev)
        self.host.notify(f"The soft cap is now {cap}.", timeout=3)

    def slash_rekey(self, args: str) -> None:
        if args.lower() not in ("", "all"):
            self.host.notify("/rekey: this circle; /rekey all: every circle you are in.", severity="warning")
            return
        circle = None if args else writable(self.host)
        if args or circle is not None:
            self._ask(self._rekey(circle))

    async def _rekey(self, circle: bytes | None) -> None:
        try:
            ev = await self.host.link.ask(api.Rekey(circle), api.Rekeyed)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        if not ev.results:
            self.host.notify("You are not a member of any circle yet; nothing to rekey.", severity="warning")
            return
        self.host.notify("\n".join(rekeyed_line(r) for r in ev.results), timeout=6, markup=False)
        self.host.link.submit(api.LoadOverview())  # the circles' epochs changed

    def slash_history(self, args: str) -> None:
        mode = args.lower() or None
        if mode not in (None, "keep", "forget"):
            self.host.notify(
                "/history keep: old messages stay readable; /history forget: they go.", severity="warning"
            )
            return
        self._ask(self._history(mode))

    async def _history(self, mode: str | None) -> None:
        try:
            ev = await self.host.link.ask(api.SetHistory(mode), api.HistorySetting)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        self.host.notify(history_line(ev.mode, ev.deleted, asked=mode is None), timeout=8, markup=False)

    # the command palette ------------------------------------------------------------------
    def palette(self) -> Iterable[SystemCommand]:
        prefill = self._prefill
        yield SystemCommand("Invite someone", "Make an invitation token for a key", self.dialogs.invite)
        yield SystemCommand("Join a circle", "Paste an invitation token", self.dialogs.join)
        yield SystemCommand("Fork this circle", "A side circle with some of its members", self.dialogs.fork)
        yield SystemCommand("New circle", "Start a circle (/new NAME)", partial(prefill, "/new "))
        yield SystemCommand("Leave this circle", "/leave", partial(self.slash_leave, ""))
        yield SystemCommand("Remove a member", "/remove @member", partial(prefill, "/remove @"))
        yield SystemCommand(
            "Change a member's role", "/role @member admin|member", partial(prefill, "/role @")
        )
        yield SystemCommand("Change my name", "/nick NAME", partial(prefill, "/nick "))
        yield SystemCommand("Reply", "to the selected or last message", partial(prefill, "/reply "))
        yield SystemCommand("React", "to the selected or last message", partial(prefill, "/react "))
        yield SystemCommand("Pin a relay", "/pin RELAY_ADDR", partial(prefill, "/pin "))
        yield SystemCommand(
            "Loud or quiet", "Toggle notifications for this circle", self.host.action_toggle_loud
        )
        yield SystemCommand("Mute or unmute", "This circle (/mute; /mute subtree for all under it)",
                            partial(self.slash_mute, ""))  # fmt: skip
        yield SystemCommand(
            "Keep or forget history",
            "Old messages readable here, or not (/history keep|forget)",
            partial(prefill, "/history "),
        )
        yield SystemCommand("My identity", "My key, name and addresses", self.dialogs.identity)
        yield SystemCommand("Add a device", "Paste its link code (/link CODE)", self.dialogs.devices.add)
        yield SystemCommand("Connection status", "Peers, addresses, relays", self.dialogs.connection)
        yield SystemCommand("Accept fork invitation", "/accept", partial(self.slash_accept, ""))
        yield SystemCommand("Family tree", "Circles, forks, who invited whom (/tree)", self.dialogs.family)
        yield SystemCommand("Suggest a split", "Groups by who talks with whom (/split)", self.dialogs.split)
        yield SystemCommand("Keys and commands", "The help screen", partial(self.slash_help, ""))

    def _prefill(self, text: str) -> None:
        composer = self.host.composer
        composer.value = text
        composer.cursor_position = len(text)
        composer.focus()
