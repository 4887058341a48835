"""Leave, remove and mute over a subtree from the TUI: the scope dialog, then the node's answer.

:class:`SubtreeFlows` serves :mod:`.commands` (``/leave``, ``/remove``, ``/mute``):
leaving a circle with descendants I am in, or removing someone from a circle with
descendants, asks "this circle only / with its N descendants" (:class:`ScopeDialog`);
a circle without any acts at once, as before.
"""

from __future__ import annotations

from functools import partial

from protocol.node import api
from smallsocial_tui.app.dialogs.scope import ScopeDialog
from smallsocial_tui.app.link import Refused
from smallsocial_tui.app.screens.host import Host


class SubtreeFlows:
    def __init__(self, host: Host) -> None:
        self.host = host

    def under(self, circle: bytes) -> list[bytes]:
        """The circles under ``circle`` that I am in (as the overview says), nearest first."""
        st = self.host.state
        out: list[bytes] = []
        todo, seen = list(st.circles[circle].children), {circle}
        while todo:
            cid = todo.pop(0)
            if cid in seen or cid not in st.circles:
                continue
            seen.add(cid)
            node = st.circles[cid]
            if node.summary.status == "member":
                out.append(cid)
            todo += node.children
        return out

    # leave -------------------------------------------------------------------------------
    def leave(self, circle: bytes) -> None:
        n = len(self.under(circle))
        if not n:
            self.host.link.submit(api.LeaveCircle(circle))
            return
        name = self.host.state.circle_name(circle)
        dialog = ScopeDialog(
            f"Leave {name}?",
            f"You are in {n} circle(s) under it. Leave them too? Each gets a new key without you.",
            "This circle only",
            f"With its {n} descendant{'s' if n != 1 else ''}",
        )
        self.host.app.push_screen(dialog, partial(self._leave_chosen, circle))

    def _leave_chosen(self, circle: bytes, scope: str | None) -> None:
        if scope == "one":
            self.host.link.submit(api.LeaveCircle(circle))
        elif scope == "subtree":
            self.host.run_worker(self._leave_subtree(circle), group="commands")

    async def _leave_subtree(self, circle: bytes) -> None:
        try:
            ev = await self.host.link.ask(api.LeaveSubtree(circle), api.SubtreeLeft)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        self.host.notify(f"You left {len(ev.circles)} circles.", timeout=4)
        self.host.link.submit(api.LoadOverview())

    # remove ------------------------------------------------------------------------------
    def remove(self, circle: bytes, key: bytes) -> None:
        self.host.run_worker(self._remove(circle, key), group="commands")

    async def _remove(self, circle: bytes, key: bytes) -> None:
        """Ask only when they are in a circle under this one (the node's rosters say)."""
        n = 0
        for cid in self.under(circle):
            try:
                ev = await self.host.link.ask(api.LoadMembers(cid), api.MembersLoaded)
            except Refused:
                continue
            n += any(m.key == key for m in ev.members)
        if not n:
            self.host.link.submit(api.RemoveMember(circle, key))
            return
        st = self.host.state
        dialog = ScopeDialog(
            f"Remove {st.who(key)} from {st.circle_name(circle)}?",
            f"They are in {n} circle(s) under it too: remove them from those where you are an admin?",
            "This circle only",
            f"With its {n} descendant{'s' if n != 1 else ''}",
        )
        self.host.app.push_screen(dialog, partial(self._remove_chosen, circle, key))

    def _remove_chosen(self, circle: bytes, key: bytes, scope: str | None) -> None:
        if scope == "one":
            self.host.link.submit(api.RemoveMember(circle, key))
        elif scope == "subtree":
            self.host.run_worker(self._remove_subtree(circle, key), group="commands")

    async def _remove_subtree(self, circle: bytes, key: bytes) -> None:
        try:
            ev = await self.host.link.ask(api.RemoveFromSubtree(circle, key), api.SubtreeRemoved)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        text = f"Removed {self.host.state.who(key)} from {len(ev.removed)} circle(s)"
        if ev.skipped:
            names = ", ".join(self.host.state.circle_name(c) for c in ev.skipped)
            text += f"; not from {names} (you are not an admin there)"
        self.host.notify(text + ".", timeout=6, markup=False)
        self.host.link.submit(api.LoadOverview())

    # mute --------------------------------------------------------------------------------
    def mute(self, circle: bytes, args: str) -> None:
        """``/mute`` toggles this circle; ``/mute subtree`` mutes all under it too; ``off`` unmutes."""
        words = set(args.lower().split())
        node = self.host.state.circles[circle]
        off = "off" in words or (not words and node.muted)
        level = "quiet" if off else "muted"
        self.host.run_worker(self._set(circle, level, "subtree" in words), group="commands")

    async def _set(self, circle: bytes, level: str, subtree: bool) -> None:
        try:
            ev = await self.host.link.ask(api.SetNotify(circle, level, subtree), api.NotifySet)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        n = len(ev.circles)
        what = f"{n} circles" if n > 1 else self.host.state.circle_name(circle)
        self.host.notify(f"Muted {what}." if level == "muted" else f"Unmuted {what}.", timeout=3)
        self.host.link.submit(api.LoadOverview())
