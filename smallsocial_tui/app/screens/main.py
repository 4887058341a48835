"""The main screen: circle tree, messages, members, composer and status bar; node events land here.

Each kind of node event arrives as its own typed message (:mod:`..messages`) and
has its own ``on_<kind>`` handler below. What the user asks for (slash commands,
dialogs) is :class:`.commands.Commands`, a separate object given this screen;
what the screen says in words is :mod:`.texts`; the dialogs are opened by
:class:`.dialog_flows.DialogFlows`. The module runs past 400 lines for one reason:
a short handler for each of about twenty kinds of node event sits beside the
layout, on the screen that shows what they change.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static, Tree

from protocol import timeline
from protocol.node import api
from smallsocial_tui.app import messages
from smallsocial_tui.app.link import NodeLink
from smallsocial_tui.app.model import History, State
from smallsocial_tui.app.screens import texts
from smallsocial_tui.app.screens.commands import Commands
from smallsocial_tui.app.screens.dialog_flows import DialogFlows
from smallsocial_tui.app.session import Session
from smallsocial_tui.app.widgets.circle_tree import CircleTree
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.app.widgets.members import MembersPanel
from smallsocial_tui.app.widgets.message_log import MessageLog
from smallsocial_tui.app.widgets.status_bar import StatusBar
from smallsocial_tui.text import safe


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(f"alt+{n}", f"jump({n})", f"Circle {n}", show=False, priority=True) for n in range(1, 10)),
        Binding("ctrl+n", "next_circle(1)", "Next circle", priority=True),
        Binding("ctrl+p", "next_circle(-1)", "Previous circle", priority=True),
        Binding("pageup", "page(-1)", "Page up", show=False, priority=True),
        Binding("pagedown", "page(1)", "Page down", show=False, priority=True),
        Binding("ctrl+home", "page(-2)", "Oldest", show=False, priority=True),
        Binding("ctrl+end", "page(2)", "Newest", show=False, priority=True),
        Binding("ctrl+l", "toggle_loud", "Loud/quiet", priority=True),
        Binding("ctrl+o", "invite", "Invite", priority=True),
        Binding("f3", "join", "Join", show=False, priority=True),
        Binding("ctrl+f", "fork", "Fork", priority=True),
        Binding("ctrl+s", "search", "Search", priority=True),
        Binding("f4", "family", "Family tree", show=False, priority=True),
        Binding("ctrl+g", "identity", "Identity", show=False, priority=True),
        Binding("ctrl+t", "connection", "Connection", show=False, priority=True),
        Binding("question_mark", "app.help", "Help", show=False),
        Binding("escape", "focus_composer", "Composer", show=False),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.current: bytes | None = None
        self.gaps: dict[bytes, dict[bytes, int]] = {}
        self.dialogs = DialogFlows(self)
        self.commands = Commands(self, self.dialogs)
        self._sync_timer: Timer | None = None
        self._read_timer: Timer | None = None
        self._read_due: dict[bytes, bytes] = {}
        self._arrived: set[bytes] = set()
        """Circles many messages arrived in at once (a catch-up), read again in one go."""
        self._arrived_timer: Timer | None = None
        self._cap_told: set[bytes] = set()
        self._jump: tuple[bytes, bytes, bool] | None = None
        """A search result to show once its circle's history is loaded: (circle, message, asked
        for the history around it already)."""
        """Circles past their soft cap whose admin (me) was told of /split this session."""

    @property
    def state(self) -> State:
        return self.session.state

    @property
    def link(self) -> NodeLink:
        return self.session.link

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield CircleTree(id="circles")
            with Vertical(id="middle"):
                yield Static(id="title")
                yield Static(id="notice")
                yield MessageLog(self.state.who, tz=self.session.tz, id="log")
                yield Static(id="gap")
                yield Composer(self._names, id="composer")
            yield MembersPanel(id="members")
        yield StatusBar(id="status")

    def on_mount(self) -> None:
        self.composer.focus()
        self._notice(Text("Starting the node…", style=Style(dim=True)))
        self._update_title()
        self.update_status()

    # helpers -------------------------------------------------------------------------
    @property
    def log_view(self) -> MessageLog:
        return self.query_one(MessageLog)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    def _names(self) -> list[str]:
        st = self.state
        names = [st.who(k) for k in st.member_keys(self.current) if k != st.me] if self.current else []
        return [n for n in names if " " not in n]

    def _notice(self, text: Text | None) -> None:
        notice = self.query_one("#notice", Static)
        notice.display = text is not None
        self.log_view.display = text is None
        if text is not None:
            notice.update(text)

    def update_status(self, note: str = "") -> None:
        self.query_one(StatusBar).update_from(self.state, self.current, note)

    def _update_title(self) -> None:
        self.query_one("#title", Static).update(texts.title(self.state, self.current))

    def _update_composer(self) -> None:
        node = self.state.circles.get(self.current) if self.current else None
        status = node.summary.status if node else "member"
        if self.composer.editing is None:
            self.composer.placeholder = texts.PLACEHOLDERS.get(status, texts.PLACEHOLDERS["member"])

    def _update_gap(self) -> None:
        gap = self.query_one("#gap", Static)
        h = self.state.histories.get(self.current) if self.current else None
        n = sum(self.gaps.get(self.current, {}).values()) if self.current else 0
        n = max(n, h.missing if h else 0)
        gap.display = n > 0
        if n:
            gap.update(Text(f"{n} missing — syncing…", style=Style(color="yellow", italic=True)))

    # choosing a circle ------------------------------------------------------------------
    def choose(self, cid: bytes) -> None:
        st = self.state
        if cid not in st.circles:
            return
        self.current = cid
        tree = self.query_one(CircleTree)
        tree.select_circle(cid)
        tree.refresh_labels(st)  # the open circle's name is bold
        self.log_view.clear_selection()
        node = st.circles[cid]
        self._update_title()
        if node.summary.status == "invited":
            self._notice(texts.invited(st, cid))
        else:
            hist = st.histories.get(cid)
            if hist is None:
                self._notice(Text("Loading…", style=Style(dim=True)))
                self.link.submit(api.LoadHistory(cid))
            else:
                self._notice(None)
                self.log_view.show(hist, st.me)
                self._mark_read(cid)
            self._update_composer()
        self.query_one(MembersPanel).show(st, st.members.get(cid))
        if node.summary.status != "invited":  # no roster of mine to read until I accept
            self.link.submit(api.LoadMembers(cid))
        self._update_gap()
        self.update_status()

    def _mark_read(self, cid: bytes) -> None:
        st = self.state
        hist = st.histories.get(cid)
        node = st.circles.get(cid)
        if hist is None or not hist.rows or node is None or node.summary.status != "member":
            return
        if node.summary.unread or hist.read_marker != hist.rows[-1].id:
            hist.read_marker = hist.rows[-1].id
            self._read_due[cid] = hist.rows[-1].id
            if self._read_timer is None:  # a burst of messages sends one MarkRead, not one each
                self._read_timer = self.set_timer(0.3, self.flush_read)
        if node.summary.unread or node.summary.mentions:
            st.clear_unread(cid)
            self.query_one(CircleTree).refresh_labels(st)

    def flush_read(self) -> None:
        """Send the read markers a burst has left waiting (the app calls it before quitting)."""
        self._read_timer = None
        due, self._read_due = self._read_due, {}
        for cid, record in due.items():
            self.link.submit(api.MarkRead(cid, record))

    def on_key(self, event: events.Key) -> None:
        """A letter typed while the message list has the focus (after a search's jump, or
        picking a message with the arrows) goes to the composer, not nowhere: the message
        stays selected, so ``/reply …`` typed now answers it."""
        if self.focused is self.log_view and event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            self.composer.focus()
            self.composer.insert_text_at_cursor(event.character)

    # the widgets' messages ---------------------------------------------------------------
    @on(MessageLog.Selected)
    def _message_selected(self, event: MessageLog.Selected) -> None:
        row = event.row
        if row is None:
            self.update_status()
            return
        who = self.state.who(row.author)
        self.update_status(f"{who}'s message selected: /reply, /react, /edit, /delete; escape clears")

    @on(Tree.NodeSelected, "#members")
    def _member_selected(self, event: Tree.NodeSelected[bytes]) -> None:
        """Enter on a member: mention them in the composer."""
        key = event.node.data
        if key is None or key == self.state.me:
            return
        composer = self.composer
        name = self.state.who(key).replace(" ", "")
        composer.value = f"{composer.value}@{name} " if composer.value else f"@{name}: "
        composer.cursor_position = len(composer.value)
        composer.focus()

    @on(Tree.NodeSelected, "#circles")
    def _tree_selected(self, event: Tree.NodeSelected[bytes]) -> None:
        cid = event.node.data
        if cid is None:
            return
        if cid == self.current and self.state.circles[cid].summary.status == "invited":
            self.commands.accept_fork(cid)
        elif cid != self.current:
            self.choose(cid)

    def on_composer_submitted(self, event: Composer.Submitted) -> None:
        self.commands.submitted(event.text, event.editing)

    def on_composer_recall_requested(self) -> None:
        hist = self.state.histories.get(self.current) if self.current else None
        row = hist.last_own(self.state.me) if hist else None
        if row is not None and row.text:
            self.composer.start_edit(row)

    # node events: the state and what shows -----------------------------------------------
    def on_node_failed(self, message: messages.NodeFailed) -> None:
        self._notice(texts.node_failed(message.reason))
        self.update_status("node not running")

    def on_node_started(self, message: messages.NodeStarted) -> None:
        self.state.peer_id, self.state.addrs = message.event.peer_id, message.event.addrs
        self.update_status()

    def on_node_stopped(self, message: messages.NodeStopped) -> None:
        with suppress(NoMatches):  # the app is quitting and the widgets are gone: nothing to show
            self.update_status("node stopped")

    def on_addresses_changed(self, message: messages.AddressesChanged) -> None:
        self.state.addrs = message.event.addrs

    def on_reachability(self, message: messages.Reachability) -> None:
        self.state.reach = (message.event.state, message.event.hint)
        self.update_status()

    def on_overview_loaded(self, message: messages.OverviewLoaded) -> None:
        self.overview_loaded(message.event)

    def overview_loaded(self, ev: api.OverviewLoaded) -> None:
        """Show a new overview (also what a command that awaited one calls)."""
        st = self.state
        legacy = self.session.settings.take_legacy_loud()  # an older version's tui.json, moved once
        for cid in legacy:
            self.link.submit(api.SetNotify(cid, "loud"))
        st.load_overview(ev, legacy)
        self.query_one(CircleTree).rebuild(st)
        if self.current is None or self.current not in st.circles:
            order = [c for c in st.order() if st.circles[c].summary.status != "invited"] or st.order()
            if order:
                self.choose(order[0])
            else:
                self.current = None
                self._notice(texts.welcome(st))
                self._update_title()
        elif st.circles[self.current].summary.status != "invited" and self.current not in st.histories:
            self.choose(self.current)  # it just became readable (a fork I accepted): show it
        else:
            self._update_title()
            self._update_composer()
        self.update_status()

    def on_history_loaded(self, message: messages.HistoryLoaded) -> None:
        ev = message.event
        hist = History.from_loaded(ev)
        self.state.histories[ev.circle] = hist
        self.gaps.pop(ev.circle, None)
        if ev.circle == self.current:
            self._notice(None)
            self.log_view.show(hist, self.state.me)
            self._mark_read(ev.circle)
            self._update_gap()
            self._show_jump()

    def on_members_loaded(self, message: messages.MembersLoaded) -> None:
        ev, st = message.event, self.state
        st.members[ev.circle] = ev
        for m in ev.members:
            if m.name and m.key != st.me:
                st.names[m.key] = m.name
        if ev.circle == self.current:
            self.query_one(MembersPanel).show(st, ev)
            self._past_cap(ev)

    def _past_cap(self, ev: api.MembersLoaded) -> None:
        """An admin who opens a circle past its soft cap is told (once a session) of /split."""
        st, node = self.state, self.state.circles.get(ev.circle)
        mine = next((m for m in ev.members if m.key == st.me), None)
        if node is None or mine is None or mine.role != "admin" or ev.circle in self._cap_told:
            return
        if len(ev.members) > node.summary.soft_cap:
            self._cap_told.add(ev.circle)
            self.notify(texts.past_cap(st, ev.circle, len(ev.members), node.summary.soft_cap), timeout=12)

    def on_member_role_changed(self, message: messages.MemberRoleChanged) -> None:
        ev, st = message.event, self.state
        self.notify(texts.role_changed(st, ev.circle, ev.member, ev.role), timeout=4, markup=False)
        if ev.circle == self.current:
            self.link.submit(api.LoadMembers(ev.circle))

    def on_name_changed(self, message: messages.NameChanged) -> None:
        self.state.names[message.event.key] = message.event.name
        self.names_changed()

    def names_changed(self) -> None:
        self.log_view.names_changed()
        if self.current is not None:
            self.query_one(MembersPanel).show(self.state, self.state.members.get(self.current))

    @on(messages.MembershipChanged)
    def _membership_changed(self, message: messages.MembershipChanged[api.MemberJoined]) -> None:
        ev, st = message.event, self.state
        if ev.member == st.me:
            st.histories.pop(ev.circle, None)
        self.notify(texts.membership(st, message.VERB, ev.circle, ev.member), timeout=4, markup=False)
        if ev.circle == self.current:
            self.link.submit(api.LoadMembers(ev.circle))
        self.link.submit(api.LoadOverview())

    @on(messages.CircleAdded)
    def _circle_added(self, message: messages.CircleAdded[api.CircleCreated]) -> None:
        """Created, joined or forked elsewhere (another terminal, or without waiting): list it."""
        self.link.submit(api.LoadOverview())

    def on_circle_forked(self, message: messages.CircleForked) -> None:
        if message.event.invited:
            self.notify(texts.fork_invitation(self.state, message.event), timeout=10, markup=False)
            self.app.bell()

    def on_message_sent(self, message: messages.MessageSent) -> None:
        if message.event.circle in self.state.histories:  # written from another terminal: show it too
            self.link.submit(api.LoadHistory(message.event.circle))

    def on_peer_connected(self, message: messages.PeerConnected) -> None:
        self.state.connected.add(message.event.peer_id)
        self._peers_changed()

    def on_peer_disconnected(self, message: messages.PeerDisconnected) -> None:
        self.state.connected.discard(message.event.peer_id)
        self._peers_changed()

    def _peers_changed(self) -> None:
        self.update_status()
        if self.current is not None:
            self.link.submit(api.LoadMembers(self.current))

    def on_sync_progress(self, message: messages.SyncProgress) -> None:
        if message.event.circle in self._arrived:
            self._reload_arrived()
        self.state.syncing = True
        if message.event.received and self.gaps.pop(message.event.circle, None) is not None:
            self._update_gap()
        if self._sync_timer is not None:
            self._sync_timer.stop()
        self._sync_timer = self.set_timer(2.0, self._sync_idle)
        self.update_status()

    def _sync_idle(self) -> None:
        self.state.syncing = False
        self._sync_timer = None
        self.update_status()

    def on_gap_detected(self, message: messages.GapDetected) -> None:
        ev = message.event
        self.gaps.setdefault(ev.circle, {})[ev.author] = ev.missing
        self.state.syncing = True
        self._update_gap()
        self.update_status()

    def on_equivocated(self, message: messages.Equivocated) -> None:
        ev = message.event
        self.notify(texts.equivocated(self.state, ev), severity="warning", timeout=10, markup=False)
        if ev.circle == self.current:
            self.link.submit(api.LoadMembers(ev.circle))
            self.link.submit(api.LoadHistory(ev.circle))

    def on_history_carried(self, message: messages.HistoryCarried) -> None:
        """A fork's carried history arrived: shown first, so the loaded history is read again."""
        if message.event.circle in self.state.histories:
            self.link.submit(api.LoadHistory(message.event.circle))

    def on_message_received(self, message: messages.MessageReceived) -> None:
        ev, st = message.event, self.state
        hist = st.histories.get(ev.circle)
        row = hist.apply(ev.record_id, ev.author, ev.ts, ev.kind, ev.text, ev.ref) if hist else None
        viewing = ev.circle == self.current and self.log_view.display
        if row is not None and viewing:
            if row.id == ev.record_id:
                self.log_view.appended()
            else:
                self.log_view.changed(row)
        if ev.kind not in timeline.READABLE or ev.author == st.me:
            return
        mentioned = timeline.mentions(ev.text, st.name)
        if viewing:
            self._mark_read(ev.circle)
        else:
            st.bump(ev.circle, mention=mentioned)
            self.query_one(CircleTree).refresh_labels(st)
        node = st.circles.get(ev.circle)
        if node is not None and node.muted:
            return
        if mentioned or (node is not None and node.loud):
            title = f"{st.who(ev.author)} in {st.circle_name(ev.circle)}"
            self.notify(safe(ev.text or "")[:200] or "…", title=title, markup=False, timeout=6)
            self.app.bell()

    def on_messages_arrived(self, message: messages.MessagesArrived) -> None:
        """Many messages at once (a catch-up's batch, sealed in the store): the histories loaded
        and the unread counts are read again from the node when the sync answer ends
        (``SyncProgress``), or when no batch has come for a second; not once a batch."""
        self._arrived.add(message.event.circle)
        if self._arrived_timer is not None:
            self._arrived_timer.stop()
        self._arrived_timer = self.set_timer(1.0, self._reload_arrived)

    def _reload_arrived(self) -> None:
        if self._arrived_timer is not None:
            self._arrived_timer.stop()
            self._arrived_timer = None
        circles, self._arrived = self._arrived, set()
        for cid in circles & self.state.histories.keys():
            self.link.submit(api.LoadHistory(cid))  # shown (and marked read) when it comes
        if circles:
            self.link.submit(api.LoadOverview())

    def on_file_sent(self, message: messages.FileSent) -> None:
        if message.event.circle in self.state.histories:  # sent from another terminal: show it too
            self.link.submit(api.LoadHistory(message.event.circle))

    def on_file_progress(self, message: messages.FileProgress) -> None:
        self.commands.files.progress(message.event)

    def on_file_fetched(self, message: messages.FileFetched) -> None:
        self.commands.files.fetched(message.event)

    def on_link_requested(self, message: messages.LinkRequested) -> None:
        self.dialogs.devices.requested(message.event)

    def on_link_cancelled(self, message: messages.LinkCancelled) -> None:
        self.dialogs.devices.cancelled(message.event)

    def on_device_linked(self, message: messages.DeviceLinked) -> None:
        self.dialogs.devices.linked(message.event)

    def on_device_unlinked(self, message: messages.DeviceUnlinked) -> None:
        self.dialogs.devices.unlinked(message.event)

    def on_unmount(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.stop()
        if self._read_timer is not None:
            self._read_timer.stop()
        if self._arrived_timer is not None:
            self._arrived_timer.stop()

    # key actions ---------------------------------------------------------------------------
    def action_jump(self, n: int) -> None:
        order = self.state.order()
        if 0 < n <= len(order):
            self.choose(order[n - 1])

    def action_next_circle(self, step: int) -> None:
        order = self.state.order()
        if not order:
            return
        i = order.index(self.current) if self.current in order else -step
        self.choose(order[(i + step) % len(order)])

    def action_page(self, step: int) -> None:
        log = self.log_view
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
        node = self.state.circles[self.current]
        loud = not node.loud
        self.link.submit(api.SetNotify(self.current, "loud" if loud else "quiet"))
        node.loud, node.muted = loud, False
        self.query_one(CircleTree).refresh_labels(self.state)
        self.update_status()
        self.notify(
            "Loud: every message here notifies." if loud else "Quiet: only mentions notify.", timeout=3
        )

    def action_focus_composer(self) -> None:
        self.log_view.clear_selection()
        self.composer.focus()

    def action_invite(self) -> None:
        self.dialogs.invite()

    def action_join(self) -> None:
        self.dialogs.join()

    def action_fork(self) -> None:
        self.dialogs.fork()

    def action_family(self) -> None:
        self.dialogs.family()

    def action_identity(self) -> None:
        self.dialogs.identity()

    def action_connection(self) -> None:
        self.dialogs.connection()

    def action_search(self, text: str = "") -> None:
        """The search screen (ctrl+s, /search TEXT); the message it dismisses with is shown."""
        from smallsocial_tui.app.screens.search import SearchScreen

        async def ask(q: str) -> api.SearchResults:
            return await self.link.ask(api.SearchMessages(q), api.SearchResults)

        self.app.push_screen(SearchScreen(ask, text, self.session.tz), self.jump_to)

    def jump_to(self, found: tuple[bytes, bytes] | None) -> None:
        """Open ``found``'s circle with that message in view and selected."""
        if found is None or found[0] not in self.state.circles:
            return
        circle, message = found
        self._jump = (circle, message, False)
        if circle != self.current:
            self.choose(circle)  # loads its history if not loaded yet: shown from there
        if circle in self.state.histories:
            self._show_jump()

    def _show_jump(self) -> None:
        if self._jump is None or self._jump[0] != self.current:
            return
        circle, message, asked = self._jump
        hist = self.state.histories.get(circle)
        if hist is None:
            return
        if message in hist.by_id:
            self._jump = None
            self.log_view.focus()
            self.log_view.call_after_refresh(self.log_view.select_id, message)
        elif not asked:  # older than the history loaded: ask for it from that message on
            self._jump = (circle, message, True)
            self.link.submit(api.LoadHistory(circle, around=message))
        else:
            self._jump = None
            self.notify("That message is no longer in the circle's history.", severity="warning")

    def palette_commands(self) -> Iterable[SystemCommand]:
        return self.commands.palette()
