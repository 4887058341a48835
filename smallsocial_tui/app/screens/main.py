"""The main screen: circle tree, messages, members, composer and status bar; node events land here.

Slash commands and the key actions are in :mod:`.commands` (a mixin), so this
module is the layout and what each node event changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static, Tree

from protocol.node import api
from smallsocial_tui.app.model import History, mentions
from smallsocial_tui.app.screens.commands import CommandsMixin
from smallsocial_tui.app.widgets.circle_tree import CircleTree
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.app.widgets.members import MembersPanel
from smallsocial_tui.app.widgets.message_log import MessageLog
from smallsocial_tui.app.widgets.status_bar import StatusBar
from smallsocial_tui.text import safe

if TYPE_CHECKING:
    from smallsocial_tui.app.app import SmallSocialApp


class MainScreen(CommandsMixin, Screen[None]):
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
        Binding("ctrl+g", "identity", "Identity", show=False, priority=True),
        Binding("ctrl+t", "connection", "Connection", show=False, priority=True),
        Binding("question_mark", "app.help", "Help", show=False),
        Binding("escape", "focus_composer", "Composer", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.current: bytes | None = None
        self.gaps: dict[bytes, dict[bytes, int]] = {}
        self._sync_timer: Timer | None = None
        self._read_timer: Timer | None = None
        self._read_due: dict[bytes, bytes] = {}
        self._ready = False
        self._early: list[tuple[api.Event, bool]] = []
        """Node events that arrived before this screen's widgets existed, replayed on mount."""

    @property
    def ss(self) -> SmallSocialApp:
        return cast("SmallSocialApp", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield CircleTree(id="circles")
            with Vertical(id="middle"):
                yield Static(id="title")
                yield Static(id="notice")
                yield MessageLog(self.ss.state.who, tz=self.ss.tz, id="log")
                yield Static(id="gap")
                yield Composer(self._names, id="composer")
            yield MembersPanel(id="members")
        yield StatusBar(id="status")

    def on_mount(self) -> None:
        self.query_one(Composer).focus()
        self._notice(Text("Starting the node…", style=Style(dim=True)))
        self._update_title()
        self._update_status()
        if self.ss.start_error is not None:
            self.node_failed(self.ss.start_error)
        self._ready = True
        early, self._early = self._early, []
        for ev, mine in early:
            self.handle_event(ev, mine=mine)

    # helpers -------------------------------------------------------------------------
    @property
    def log_view(self) -> MessageLog:
        return self.query_one(MessageLog)

    def _names(self) -> list[str]:
        st = self.ss.state
        names = [st.who(k) for k in st.member_keys(self.current) if k != st.me] if self.current else []
        return [n for n in names if " " not in n]

    def _notice(self, text: Text | None) -> None:
        notice = self.query_one("#notice", Static)
        notice.display = text is not None
        self.log_view.display = text is None
        if text is not None:
            notice.update(text)

    def _update_status(self, note: str = "") -> None:
        self.query_one(StatusBar).update_from(self.ss.state, self.current, note)

    def _update_title(self) -> None:
        st, title = self.ss.state, self.query_one("#title", Static)
        if self.current is None or self.current not in st.circles:
            title.update(Text("smallsocial", style=Style(bold=True)))
            return
        s = st.circles[self.current].summary
        t = Text(st.circle_name(self.current), style=Style(bold=True))
        if s.parent and s.parent in st.circles:
            t.append(f"  fork of {st.circle_name(s.parent)}", Style(dim=True))
        t.append(f"  · {s.members} member{'s' if s.members != 1 else ''}", Style(dim=True))
        if s.relays:
            t.append(f" · {len(s.relays)} relay{'s' if len(s.relays) != 1 else ''}", Style(dim=True))
        title.update(t)

    def _update_composer(self) -> None:
        composer = self.query_one(Composer)
        node = self.ss.state.circles.get(self.current) if self.current else None
        status = node.summary.status if node else "member"
        if composer.editing is None:
            composer.placeholder = {
                "member": "Message, or /help",
                "left": "You have left this circle; /help",
                "removed": "You were removed from this circle; /help",
                "invited": "Type /accept to join this circle",
            }.get(status, "Message, or /help")

    def _update_gap(self) -> None:
        gap = self.query_one("#gap", Static)
        h = self.ss.state.histories.get(self.current) if self.current else None
        n = sum(self.gaps.get(self.current, {}).values()) if self.current else 0
        n = max(n, h.missing if h else 0)
        gap.display = n > 0
        if n:
            gap.update(Text(f"{n} missing — syncing…", style=Style(color="yellow", italic=True)))

    def _welcome(self) -> Text:
        st = self.ss.state
        t = Text()
        t.append("Welcome to smallsocial.\n\n", Style(bold=True))
        t.append("You have no circles yet. Start one with  /new NAME  or join one with  /join TOKEN\n")
        t.append("(a friend makes the token for your key with /invite).\n\nYour key: ")
        t.append(st.peer_id or "…", Style(bold=True))
        t.append("\nCopy it with ctrl+g, and F1 lists every key.")
        return t

    # choosing a circle ------------------------------------------------------------------
    def choose(self, cid: bytes) -> None:
        st = self.ss.state
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
            parent = node.summary.parent
            t = Text()
            t.append("You are invited into ", Style())
            t.append(st.circle_name(cid), Style(bold=True))
            if parent:
                t.append(f", a fork of {st.circle_name(parent)}")
            t.append(".\n\nType  /accept  (or press enter on it in the tree) to join it.")
            self._notice(t)
        else:
            hist = st.histories.get(cid)
            if hist is None:
                self._notice(Text("Loading…", style=Style(dim=True)))
                self.ss.submit(api.LoadHistory(cid))
            else:
                self._notice(None)
                self.log_view.show(hist, st.me)
                self._mark_read(cid)
            self._update_composer()
        self.query_one(MembersPanel).show(st, st.members.get(cid))
        if node.summary.status != "invited":  # no roster of mine to read until I accept
            self.ss.submit(api.LoadMembers(cid))
        self._update_gap()
        self._update_status()

    def _mark_read(self, cid: bytes) -> None:
        st = self.ss.state
        hist = st.histories.get(cid)
        node = st.circles.get(cid)
        if hist is None or not hist.rows or node is None or node.summary.status != "member":
            return
        if node.summary.unread or hist.read_marker != hist.rows[-1].id:
            hist.read_marker = hist.rows[-1].id
            self._read_due[cid] = hist.rows[-1].id
            if self._read_timer is None:  # a burst of messages sends one MarkRead, not one each
                self._read_timer = self.set_timer(0.3, self._flush_read)
        if node.summary.unread or node.summary.mentions:
            st.clear_unread(cid)
            self.query_one(CircleTree).refresh_labels(st)

    def _flush_read(self) -> None:
        self._read_timer = None
        due, self._read_due = self._read_due, {}
        for cid, record in due.items():
            self.ss.submit(api.MarkRead(cid, record))

    @on(MessageLog.Selected)
    def _message_selected(self, event: MessageLog.Selected) -> None:
        row = event.row
        if row is None:
            self._update_status()
            return
        who = self.ss.state.who(row.author)
        self._update_status(f"{who}'s message selected: /reply, /react, /edit, /delete; escape clears")

    @on(Tree.NodeSelected, "#members")
    def _member_selected(self, event: Tree.NodeSelected[bytes]) -> None:
        """Enter on a member: mention them in the composer."""
        key = event.node.data
        if key is None or key == self.ss.state.me:
            return
        composer = self.query_one(Composer)
        name = self.ss.state.who(key).replace(" ", "")
        composer.value = f"{composer.value}@{name} " if composer.value else f"@{name}: "
        composer.cursor_position = len(composer.value)
        composer.focus()

    @on(Tree.NodeSelected, "#circles")
    def _tree_selected(self, event: Tree.NodeSelected[bytes]) -> None:
        cid = event.node.data
        if cid is None:
            return
        st = self.ss.state
        if cid == self.current and st.circles[cid].summary.status == "invited":
            self.accept_fork(cid)
        elif cid != self.current:
            self.choose(cid)

    # node events ---------------------------------------------------------------------
    def handle_event(self, ev: api.Event, *, mine: bool = True) -> None:
        """Apply one node event; ``mine`` is False for answers to someone else's request
        (``smallsocial send`` from another terminal goes through this node's control socket)."""
        if not self._ready:  # the node can answer before the screen has composed its widgets
            self._early.append((ev, mine))
            return
        try:
            tree = self.query_one(CircleTree)
        except NoMatches:  # the app is quitting and the widgets are gone: nothing to show
            return
        st = self.ss.state
        if isinstance(ev, api.OverviewLoaded):
            st.load_overview(ev, self.ss.settings.loud)
            tree.rebuild(st)
            if self.current is None or self.current not in st.circles:
                order = [c for c in st.order() if st.circles[c].summary.status != "invited"] or st.order()
                if order:
                    self.choose(order[0])
                else:
                    self.current = None
                    self._notice(self._welcome())
                    self._update_title()
            elif st.circles[self.current].summary.status != "invited" and self.current not in st.histories:
                self.choose(self.current)  # it just became readable (a fork I accepted): show it
            else:
                self._update_title()
                self._update_composer()
            self._update_status()
        elif isinstance(ev, api.HistoryLoaded):
            hist = History.from_loaded(ev)
            st.histories[ev.circle] = hist
            self.gaps.pop(ev.circle, None)
            if ev.circle == self.current:
                self._notice(None)
                self.log_view.show(hist, st.me)
                self._mark_read(ev.circle)
                self._update_gap()
        elif isinstance(ev, api.NameChanged):
            st.names[ev.key] = ev.name
            self._names_changed()
        elif isinstance(ev, api.MembersLoaded):
            st.members[ev.circle] = ev
            for m in ev.members:
                if m.name and m.key != st.me:
                    st.names[m.key] = m.name
            if ev.circle == self.current:
                self.query_one(MembersPanel).show(st, ev)
        elif isinstance(ev, api.MessageReceived):
            self._received(ev)
        elif isinstance(ev, (api.MemberJoined, api.MemberLeft, api.MemberRemoved)):
            verb = {api.MemberJoined: "joined", api.MemberLeft: "left", api.MemberRemoved: "was removed from"}
            who = "You" if ev.member == st.me else st.who(ev.member)
            text = f"{who} {verb[type(ev)]} {st.circle_name(ev.circle)}"
            if isinstance(ev, api.MemberRemoved) and ev.member == st.me:
                text = f"You were removed from {st.circle_name(ev.circle)}"
            elif isinstance(ev, api.MemberJoined) and ev.member != st.me and ev.member not in st.contacts:
                text += f"; name them with /petname @{who} NAME"
            if ev.member == st.me:
                st.histories.pop(ev.circle, None)
            self.notify(text, timeout=4, markup=False)
            if ev.circle == self.current:
                self.ss.submit(api.LoadMembers(ev.circle))
            self.ss.submit(api.LoadOverview())
        elif isinstance(ev, (api.CircleCreated, api.CircleJoined)):
            if mine:
                self.ss.submit(api.LoadOverview(), lambda e: self._after_overview(e, ev.circle))
            else:
                self.ss.submit(api.LoadOverview())
        elif isinstance(ev, api.MessageSent) and not mine and ev.circle in st.histories:
            self.ss.submit(api.LoadHistory(ev.circle))  # written from another terminal: show it too
        elif isinstance(ev, api.CircleForked):
            if ev.invited:
                self.notify(
                    f"You are invited into the fork {safe(ev.name)[:40]} of {st.circle_name(ev.parent)}; "
                    "select it and type /accept.",
                    timeout=10,
                    markup=False,
                )
                self.app.bell()
                self.ss.submit(api.LoadOverview())
            elif mine:
                self.ss.submit(api.LoadOverview(), lambda e: self._after_overview(e, ev.circle))
            else:
                self.ss.submit(api.LoadOverview())
        elif isinstance(ev, api.PeerConnected):
            st.connected.add(ev.peer_id)
            self._peers_changed()
        elif isinstance(ev, api.PeerDisconnected):
            st.connected.discard(ev.peer_id)
            self._peers_changed()
        elif isinstance(ev, api.SyncProgress):
            st.syncing = True
            if ev.received and self.gaps.pop(ev.circle, None) is not None:
                self._update_gap()
            if self._sync_timer is not None:
                self._sync_timer.stop()
            self._sync_timer = self.set_timer(2.0, self._sync_idle)
            self._update_status()
        elif isinstance(ev, api.Equivocated):
            self.notify(
                f"{st.who(ev.author)} signed two versions of their history in {st.circle_name(ev.circle)}: "
                f"{ev.reason}; both are kept, one is shown to everyone",
                severity="warning",
                timeout=10,
                markup=False,
            )
            if ev.circle == self.current:
                self.ss.submit(api.LoadMembers(ev.circle))
                self.ss.submit(api.LoadHistory(ev.circle))
        elif isinstance(ev, api.GapDetected):
            self.gaps.setdefault(ev.circle, {})[ev.author] = ev.missing
            st.syncing = True
            self._update_gap()
            self._update_status()
        elif isinstance(ev, api.NodeStarted):
            st.peer_id, st.addrs = ev.peer_id, ev.addrs
            self._update_status()
        elif isinstance(ev, api.AddressesChanged):
            st.addrs = ev.addrs
        elif isinstance(ev, api.Reachability):
            st.reach = (ev.state, ev.hint)
            self._update_status()
        elif isinstance(ev, api.NodeStopped):
            self._update_status("node stopped")

    def _names_changed(self) -> None:
        st = self.ss.state
        self.log_view.names_changed()
        if self.current is not None:
            self.query_one(MembersPanel).show(st, st.members.get(self.current))

    def _after_overview(self, ev: api.Event, cid: bytes) -> None:
        self.handle_event(ev)
        self.choose(cid)

    def _peers_changed(self) -> None:
        self._update_status()
        if self.current is not None:
            self.ss.submit(api.LoadMembers(self.current))

    def _sync_idle(self) -> None:
        self.ss.state.syncing = False
        self._sync_timer = None
        self._update_status()

    def _received(self, ev: api.MessageReceived) -> None:
        st = self.ss.state
        hist = st.histories.get(ev.circle)
        row = hist.apply(ev.record_id, ev.author, ev.ts, ev.kind, ev.text, ev.ref) if hist else None
        viewing = ev.circle == self.current and self.log_view.display
        if row is not None and viewing:
            if row.id == ev.record_id:
                self.log_view.appended()
            else:
                self.log_view.changed(row)
        if ev.kind not in ("text", "reply") or ev.author == st.me:
            return
        mentioned = mentions(ev.text, st.name)
        if viewing:
            self._mark_read(ev.circle)
        else:
            st.bump(ev.circle, mention=mentioned)
            self.query_one(CircleTree).refresh_labels(st)
        node = st.circles.get(ev.circle)
        if mentioned or (node is not None and node.loud):
            title = f"{st.who(ev.author)} in {st.circle_name(ev.circle)}"
            body = safe(ev.text or "")
            self.notify(body[:200] or "…", title=title, markup=False, timeout=6)
            self.app.bell()

    def on_unmount(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.stop()
        if self._read_timer is not None:
            self._read_timer.stop()

    def node_failed(self, message: str) -> None:
        t = Text("The node did not start.\n\n", style=Style(bold=True, color="red"))
        t.append(safe(message))
        t.append("\n\nctrl+q quits.", style=Style(dim=True))
        self._notice(t)
        self._update_status("node not running")
