"""The main screen's dialogs: what each is given, and what is done with the result it dismisses with.

A dialog never touches the node: :class:`DialogFlows` gives it the function that
asks the node (awaiting the answer by request id) and acts on its result, e.g.
lists and opens the circle a join or a fork dismissed with.
"""

from __future__ import annotations

from functools import partial

from protocol.node import api
from smallsocial_tui.app.dialogs.fork import ForkDialog
from smallsocial_tui.app.dialogs.info import ConnectionDialog
from smallsocial_tui.app.dialogs.invite import ForkOffer, InviteDialog
from smallsocial_tui.app.dialogs.join import JoinDialog
from smallsocial_tui.app.dialogs.split import SplitDialog
from smallsocial_tui.app.link import Refused
from smallsocial_tui.app.screens.device_flows import DeviceFlows
from smallsocial_tui.app.screens.family import FamilyScreen
from smallsocial_tui.app.screens.host import Host, writable


class DialogFlows:
    """Opens the dialogs of one main screen and carries out their results."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.devices = DeviceFlows(host)

    def invite(self, key: str = "") -> None:
        circle = writable(self.host)
        if circle is not None:
            create = partial(self._invite, circle)
            name = self.host.state.circle_name(circle)
            self.host.app.push_screen(InviteDialog(name, key, create, self._offer(circle)))

    def _offer(self, circle: bytes) -> ForkOffer | None:
        """At the soft cap, the invite dialog offers a fork (and the split suggestion) instead."""
        s = self.host.state.circles[circle].summary
        if s.members < s.soft_cap:
            return None
        text = (
            f"{self.host.state.circle_name(circle)} has {s.members} members; its soft cap is {s.soft_cap}. "
            "Rather than grow it, fork a smaller circle and invite them there (or invite anyway)."
        )
        return ForkOffer(text, self.fork, self.split)

    def split(self) -> None:
        """The split suggestion for the open circle; a group accepted opens the fork dialog with it."""
        circle = writable(self.host)
        if circle is not None:
            self.host.run_worker(self._split(circle), group="commands")

    async def _split(self, circle: bytes) -> None:
        try:
            ev = await self.host.link.ask(api.LoadSplit(circle), api.SplitSuggested)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        st = self.host.state
        groups = [[(st.who(k), k) for k in g] for g in ev.groups]
        name = st.circle_name(circle)

        def chosen(i: int | None) -> None:
            if i is not None:
                self.fork(name=f"{name}-{i + 1}", chosen=frozenset(ev.groups[i]))

        self.host.app.push_screen(SplitDialog(name, ev.size, ev.soft_cap, groups), chosen)

    def family(self) -> None:
        """The family tree screen; the circle it dismisses with is opened."""
        st = self.host.state
        screen = FamilyScreen(self._family, st.who, self.host.current, self.host.session.tz)
        self.host.app.push_screen(screen, self._open)

    async def _family(self, circle: bytes | None) -> api.FamilyLoaded:
        return await self.host.link.ask(api.LoadFamily(circle), api.FamilyLoaded)

    def _open(self, circle: bytes | None) -> None:
        if circle is not None:
            self.host.choose(circle)

    async def _invite(self, circle: bytes, key: bytes, role: str, ttl: int) -> str:
        return (await self.host.link.ask(api.InviteKey(circle, key, role, ttl), api.InviteCreated)).token

    def join(self, token: str = "") -> None:
        self.host.app.push_screen(JoinDialog(token, self._join), self._open_new)

    async def _join(self, token: str) -> api.CircleJoined:
        return await self.host.link.ask(api.AcceptInvite(token), api.CircleJoined)

    def fork(self, *, name: str = "", chosen: frozenset[bytes] = frozenset()) -> None:
        circle = writable(self.host)
        if circle is None:
            return
        st = self.host.state
        others = sorted((k for k in st.member_keys(circle) if k != st.me), key=st.who)
        choices = [(st.who(k), k) for k in others]
        fork = partial(self._fork, circle)
        dialog = ForkDialog(st.circle_name(circle), choices, fork, name=name, chosen=chosen)
        self.host.app.push_screen(dialog, self._open_new)

    async def _fork(
        self, circle: bytes, name: str, members: tuple[bytes, ...], history: str = "none"
    ) -> api.CircleForked:
        return await self.host.link.ask(api.ForkCircle(circle, name, members, history), api.CircleForked)

    def _open_new(self, circle: bytes | None) -> None:
        """A dialog's result: the circle I joined or forked (None: closed), to list and open."""
        if circle is not None:
            self.host.run_worker(self._list_and_open(circle), group="commands")

    async def _list_and_open(self, circle: bytes) -> None:
        try:
            ev = await self.host.link.ask(api.LoadOverview(), api.OverviewLoaded)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        self.host.overview_loaded(ev)
        self.host.choose(circle)

    def identity(self) -> None:
        self.devices.identity()  # it lists my devices and offers their actions

    def connection(self) -> None:
        self.host.app.push_screen(ConnectionDialog(self.host.state))
