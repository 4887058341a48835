"""What the user asks for on the main screen: slash commands, key actions and palette entries.

A mixin of :class:`~smallsocial_tui.app.screens.main.MainScreen`: it turns the
composer's text and the keys into node commands, and shows my own messages once
the node has committed them (``MessageSent``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand

from protocol.errors import ProtocolError
from protocol.identity import parse_peer_id, peer_id
from protocol.node import api
from smallsocial_tui.app import slash
from smallsocial_tui.app.widgets.circle_tree import CircleTree
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.app.widgets.message_log import MessageLog
from smallsocial_tui.text import short_key

if TYPE_CHECKING:
    from smallsocial_tui.app.screens.main import MainScreen

    _Base = MainScreen
else:
    _Base = object


class CommandsMixin(_Base):
    # sending ----------------------------------------------------------------------------
    def _circle_for_writing(self) -> bytes | None:
        st = self.ss.state
        if self.current is None or self.current not in st.circles:
            self.notify("Pick a circle first (or start one with /new NAME).", severity="warning")
            return None
        status = st.circles[self.current].summary.status
        if status != "member":
            what = "accept the invitation with /accept" if status == "invited" else f"you have {status} it"
            self.notify(f"You cannot write in this circle: {what}.", severity="warning")
            return None
        return self.current

    def _send_own(self, cmd: api.Command, kind: str, text: str | None, ref: bytes | None) -> None:
        """Submit a message-like command; show it once the node says it is committed."""
        circle = cmd.circle

        def answer(ev: api.Event) -> None:
            if isinstance(ev, api.MessageSent):
                st = self.ss.state
                hist = st.histories.get(circle)
                if hist is None:
                    return
                ts = int(self.ss.clock() * 1000)
                row = hist.apply(ev.record_id, st.me, ts, kind, text, ref)
                if row is not None and circle == self.current:
                    log = self.query_one(MessageLog)
                    log._follow = True  # what I send brings me to the bottom
                    log.appended() if row.id == ev.record_id else log.changed(row)
                    hist.read_marker = ev.record_id
            elif isinstance(ev, api.CommandFailed):
                self.notify(ev.message, severity="error", markup=False)

        self.ss.submit(cmd, answer)

    def _target(self, *, own: bool = False) -> Any:
        log = self.query_one(MessageLog)
        row = log.selected_row()
        hist = self.ss.state.histories.get(self.current) if self.current else None
        if row is None and hist is not None and hist.rows:
            row = hist.last_own(self.ss.state.me) if own else hist.rows[-1]
        if row is None:
            self.notify("There is no message to do that to.", severity="warning")
        return row

    def on_composer_submitted(self, event: Composer.Submitted) -> None:
        # named handlers (not @on): a plain mixin's @on handlers are not collected by Textual
        if event.editing is not None:
            circle = self._circle_for_writing()
            if circle is not None:
                cmd = api.EditMessage(circle, event.editing.id, event.text)
                self._send_own(cmd, "edit", event.text, event.editing.id)
            return
        parsed = slash.parse(event.text)
        if parsed is None:
            text = event.text[1:] if event.text.startswith("//") else event.text
            circle = self._circle_for_writing()
            if circle is not None:
                self._send_own(api.SendMessage(circle, text), "text", text, None)
            return
        handler = getattr(self, f"slash_{parsed.name}", None)
        if handler is None:
            self.notify(f"There is no command /{parsed.name[:20]}; /help lists them.", markup=False)
            return
        handler(parsed.args)

    def on_composer_recall_requested(self) -> None:
        hist = self.ss.state.histories.get(self.current) if self.current else None
        row = hist.last_own(self.ss.state.me) if hist else None
        if row is not None and row.text:
            self.query_one(Composer).start_edit(row)

    # members -------------------------------------------------------------------------------
    def resolve_member(self, text: str) -> bytes | None:
        st = self.ss.state
        want = text.strip().removeprefix("@").rstrip(":,").strip()
        if not want:
            return None
        keys = st.member_keys(self.current) if self.current else []
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
    def slash_help(self, args: str) -> None:
        self.app.action_help()  # type: ignore[attr-defined]

    def slash_quit(self, args: str) -> None:
        self.app.run_action("quit")

    def slash_new(self, args: str) -> None:
        if not args:
            self.notify("Give the circle a name: /new NAME", severity="warning")
            return
        self.ss.submit(api.CreateCircle(args))

    def slash_invite(self, args: str) -> None:
        self.action_invite(args)

    def slash_join(self, args: str) -> None:
        self.action_join(args)

    def slash_fork(self, args: str) -> None:
        if not args:
            self.action_fork()
            return
        circle = self._circle_for_writing()
        if circle is None:
            return
        words = args.split()
        name = " ".join(w for w in words if not w.startswith("@"))
        members = []
        for w in (w for w in words if w.startswith("@")):
            key = self.resolve_member(w)
            if key is None:
                self.notify(f"{w[:40]} is not a member of this circle.", severity="warning", markup=False)
                return
            members.append(key)
        if not name:
            self.notify("Give the fork a name: /fork NAME @member …", severity="warning")
            return
        self.ss.submit(api.ForkCircle(circle, name, tuple(members)))

    def slash_accept(self, args: str) -> None:
        if self.current is not None:
            self.accept_fork(self.current)

    def accept_fork(self, cid: bytes) -> None:
        st = self.ss.state
        if cid not in st.circles or st.circles[cid].summary.status != "invited":
            self.notify("This circle has no invitation to accept.", severity="warning")
            return
        self.ss.submit(api.AcceptFork(cid))

    def slash_remove(self, args: str) -> None:
        circle = self._circle_for_writing()
        key = self.resolve_member(args) if args else None
        if circle is None:
            return
        if key is None:
            self.notify("Say whom to remove: /remove @member", severity="warning")
            return
        self.ss.submit(api.RemoveMember(circle, key))

    def slash_leave(self, args: str) -> None:
        circle = self._circle_for_writing()
        if circle is not None:
            self.ss.submit(api.LeaveCircle(circle))

    def slash_nick(self, args: str) -> None:
        if not args:
            self.notify("Give the new name: /nick NAME", severity="warning")
            return

        def done(ev: api.Event) -> None:
            if isinstance(ev, api.CommandDone):
                self.ss.state.name = args
                self.notify("Your display name is changed.", timeout=3)
                self._update_status()
                self.query_one(MessageLog).show(self.ss.state.histories.get(self.current), self.ss.state.me)
            elif isinstance(ev, api.CommandFailed):
                self.notify(ev.message, severity="error", markup=False)

        self.ss.submit(api.SetDisplayName(args), done)

    def slash_petname(self, args: str) -> None:
        who, _, name = args.partition(" ")
        key = self.resolve_member(who)
        if key is None or not name.strip():
            self.notify("Usage: /petname @member NAME", severity="warning")
            return

        def done(ev: api.Event) -> None:
            if isinstance(ev, api.CommandDone):
                self.ss.state.contacts[key] = name.strip()
                self.choose(self.current) if self.current else None

        self.ss.submit(api.SetPetname(key, name.strip()), done)

    def slash_me(self, args: str) -> None:
        circle = self._circle_for_writing()
        if circle is not None and args:
            text = f"/me {args}"
            self._send_own(api.SendMessage(circle, text), "text", text, None)

    def slash_reply(self, args: str) -> None:
        circle = self._circle_for_writing()
        row = self._target() if circle else None
        if circle is None or row is None:
            return
        if not args:
            self.notify("Write the reply: /reply TEXT", severity="warning")
            return
        self._send_own(api.SendMessage(circle, args, reply_to=row.id), "reply", args, row.id)
        self.query_one(MessageLog).clear_selection()

    def slash_react(self, args: str) -> None:
        circle = self._circle_for_writing()
        row = self._target() if circle else None
        if circle is None or row is None or not args:
            return
        emoji = args.split()[0]
        self._send_own(api.ReactTo(circle, row.id, emoji), "react", emoji, row.id)

    def slash_edit(self, args: str) -> None:
        circle = self._circle_for_writing()
        row = self._target(own=True) if circle else None
        if circle is None or row is None:
            return
        if row.author != self.ss.state.me:
            self.notify("You can only edit your own messages.", severity="warning")
        elif args:
            self._send_own(api.EditMessage(circle, row.id, args), "edit", args, row.id)
        else:
            self.query_one(Composer).start_edit(row)

    def slash_delete(self, args: str) -> None:
        circle = self._circle_for_writing()
        row = self._target(own=True) if circle else None
        if circle is None or row is None:
            return
        if row.author != self.ss.state.me:
            self.notify("You can only delete your own messages.", severity="warning")
            return
        self._send_own(api.DeleteMessage(circle, row.id), "delete", None, row.id)

    def slash_pin(self, args: str) -> None:
        circle = self._circle_for_writing()
        if circle is None:
            return
        if not args:
            self.notify("Give the relay's address: /pin /ip4/…/tcp/…/p2p/12D3KooW…", severity="warning")
            return

        def done(ev: api.Event) -> None:
            if isinstance(ev, api.CommandDone):
                self.notify("The relay now serves this circle.", timeout=4)
                self.ss.submit(api.LoadOverview())
            elif isinstance(ev, api.CommandFailed):
                self.notify(ev.message, severity="error", markup=False)

        self.ss.submit(api.PinRelay(circle, args), done)

    def slash_connect(self, args: str) -> None:
        if args:
            self.ss.submit(api.ConnectPeer(args), lambda ev: self._done_note(ev, "Connected."))

    def _done_note(self, ev: api.Event, text: str) -> None:
        if isinstance(ev, api.CommandFailed):
            self.notify(ev.message, severity="error", markup=False)
        else:
            self.notify(text, timeout=3)

    def slash_loud(self, args: str) -> None:
        self.action_toggle_loud()

    def slash_id(self, args: str) -> None:
        self.action_identity()

    def slash_status(self, args: str) -> None:
        self.action_connection()

    # key actions ---------------------------------------------------------------------------
    def action_jump(self, n: int) -> None:
        order = self.ss.state.order()
        if 0 < n <= len(order):
            self.choose(order[n - 1])

    def action_next_circle(self, step: int) -> None:
        order = self.ss.state.order()
        if not order:
            return
        i = order.index(self.current) if self.current in order else -step
        self.choose(order[(i + step) % len(order)])

    def action_page(self, step: int) -> None:
        log = self.query_one(MessageLog)
        if step == -2:
            log.scroll_home(animate=False)
        elif step == 2:
            log.scroll_end(animate=False)
        elif step > 0:
            log.scroll_page_down(animate=False)
        else:
            log.scroll_page_up(animate=False)

    def action_toggle_loud(self) -> None:
        if self.current is None:
            return
        loud = self.ss.settings.toggle_loud(self.current)
        self.ss.state.circles[self.current].loud = loud
        self.query_one(CircleTree).refresh_labels(self.ss.state)
        self._update_status()
        self.notify(
            "Loud: every message here notifies." if loud else "Quiet: only mentions notify.", timeout=3
        )

    def action_focus_composer(self) -> None:
        self.query_one(MessageLog).clear_selection()
        self.query_one(Composer).focus()

    def action_invite(self, key: str = "") -> None:
        from smallsocial_tui.app.dialogs.invite import InviteDialog

        circle = self._circle_for_writing()
        if circle is not None:
            self.app.push_screen(InviteDialog(circle, key))

    def action_join(self, token: str = "") -> None:
        from smallsocial_tui.app.dialogs.join import JoinDialog

        self.app.push_screen(JoinDialog(token))

    def action_fork(self) -> None:
        from smallsocial_tui.app.dialogs.fork import ForkDialog

        circle = self._circle_for_writing()
        if circle is not None:
            self.app.push_screen(ForkDialog(circle))

    def action_identity(self) -> None:
        from smallsocial_tui.app.dialogs.info import IdentityDialog

        self.app.push_screen(IdentityDialog())

    def action_connection(self) -> None:
        from smallsocial_tui.app.dialogs.info import ConnectionDialog

        self.app.push_screen(ConnectionDialog())

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Invite someone", "Make an invitation token for a key", self.action_invite)
        yield SystemCommand("Join a circle", "Paste an invitation token", self.action_join)
        yield SystemCommand("Fork this circle", "A side circle with some of its members", self.action_fork)
        yield SystemCommand("New circle", "Start a circle (/new NAME)", lambda: self._prefill("/new "))
        yield SystemCommand("Leave this circle", "/leave", lambda: self.slash_leave(""))
        yield SystemCommand("Remove a member", "/remove @member", lambda: self._prefill("/remove @"))
        yield SystemCommand("Change my name", "/nick NAME", lambda: self._prefill("/nick "))
        yield SystemCommand("Reply", "to the selected or last message", lambda: self._prefill("/reply "))
        yield SystemCommand("React", "to the selected or last message", lambda: self._prefill("/react "))
        yield SystemCommand("Pin a relay", "/pin RELAY_ADDR", lambda: self._prefill("/pin "))
        yield SystemCommand("Loud or quiet", "Toggle notifications for this circle", self.action_toggle_loud)
        yield SystemCommand("My identity", "My key, name and addresses", self.action_identity)
        yield SystemCommand("Connection status", "Peers, addresses, relays", self.action_connection)
        yield SystemCommand("Accept fork invitation", "/accept", lambda: self.slash_accept(""))
        yield SystemCommand("Keys and commands", "The help screen", self.app.action_help)  # type: ignore[attr-defined]

    def _prefill(self, text: str) -> None:
        composer = self.query_one(Composer)
        composer.value = text
        composer.cursor_position = len(text)
        composer.focus()
