"""What the main screen's command objects need of it: the narrow :class:`Host` protocol.

:mod:`.commands` and :mod:`.dialog_flows` see the screen only through it, so
neither imports the screen module; :func:`writable` is shared by both.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal, Protocol

from textual.app import App

from protocol.node import api
from smallsocial_tui.app.link import NodeLink
from smallsocial_tui.app.model import State
from smallsocial_tui.app.session import Session
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.app.widgets.message_log import MessageLog


class Host(Protocol):
    """What the commands need of the screen they serve."""

    current: bytes | None
    session: Session

    @property
    def state(self) -> State: ...
    @property
    def link(self) -> NodeLink: ...
    @property
    def app(self) -> App[Any]: ...
    @property
    def log_view(self) -> MessageLog: ...
    @property
    def composer(self) -> Composer: ...
    def choose(self, cid: bytes) -> None: ...
    def update_status(self, note: str = "") -> None: ...
    def overview_loaded(self, ev: api.OverviewLoaded) -> None: ...
    def action_toggle_loud(self) -> None: ...
    def action_search(self, text: str = "") -> None: ...
    def run_worker(self, work: Awaitable[None], name: str | None = "", group: str = "default") -> Any: ...
    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Literal["information", "warning", "error"] = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...


def writable(host: Host) -> bytes | None:
    """The open circle when I may write in it; otherwise None, and the reason is shown."""
    st, current = host.state, host.current
    if current is None or current not in st.circles:
        host.notify("Pick a circle first (or start one with /new NAME).", severity="warning")
        return None
    status = st.circles[current].summary.status
    if status != "member":
        what = "accept the invitation with /accept" if status == "invited" else f"you have {status} it"
        host.notify(f"You cannot write in this circle: {what}.", severity="warning")
        return None
    return current
