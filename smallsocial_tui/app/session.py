"""What the app gives its main screen: the state, the settings, the node link, the time zone and clock.

Screens take a :class:`Session` instead of reaching into the app, so no screen
module imports the app module (and the app's package has no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo

from smallsocial_tui.app.link import NodeLink
from smallsocial_tui.app.model import State
from smallsocial_tui.app.settings import Settings


@dataclass(frozen=True)
class Session:
    """One unlocked profile's UI state and its way to the node."""

    state: State
    settings: Settings
    link: NodeLink
    tz: tzinfo | None
    clock: Callable[[], float]
