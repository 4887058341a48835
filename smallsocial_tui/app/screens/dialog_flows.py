"""The main screen's dialogs: what each is given, and what is done with the result it dismisses with.

A dialog never touches the node: :class:`DialogFlows` gives it the function that
asks the node (awaiting the answer by request id) and acts on its result, e.g.
lists and opens the circle a join or a fork dismissed with.
"""

from __future__ import annotations

from functools import partial

from protocol.node import api
from smallsocial_tui.app.dialogs.fork import ForkDialog
from smallsocial_tui.app.dialogs.info import ConnectionDialog, IdentityDialog
from smallsocial_tui.app.dialogs.invite import InviteDialog
from smallsocial_tui.app.dialogs.join import JoinDialog
from smallsocial_tui.app.link import Refused
from smallsocial_tui.app.screens.host import Host, writable


class DialogFlows:
    """Opens the dialogs of one main screen and carries out their results."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def invite(self, key: str = "") -> None:
        circle = writable(self.host)
        if circle is not None:
            create = partial(self._invite, circle)
            self.host.app.push_screen(InviteDialog(self.host.state.circle_name(circle), key, create))

    async def _invite(self, circle: bytes, key: bytes, role: str, ttl: int) -> str:
        return (await self.host.link.ask(api.InviteKey(circle, key, role, ttl), api.InviteCreated)).token

    def join(self, token: str = "") -> None:
        self.host.app.push_screen(JoinDialog(token, self._join), self._open_new)

    async def _join(self, token: str) -> api.CircleJoined:
        return await self.host.link.ask(api.AcceptInvite(token), api.CircleJoined)

    def fork(self) -> None:
        circle = writable(self.host)
        if circle is None:
            return
        st = self.host.state
        others = sorted((k for k in st.member_keys(circle) if k != st.me), key=st.who)
        choices = [(st.who(k), k) for k in others]
        dialog = ForkDialog(st.circle_name(circle), choices, partial(self._fork, circle))
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
        self.host.app.push_screen(IdentityDialog(self.host.state))

    def connection(self) -> None:
        self.host.app.push_screen(ConnectionDialog(self.host.state))
