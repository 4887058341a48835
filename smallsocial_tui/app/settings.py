"""App-local settings kept beside the profile (``<profile>/tui.json``): which circles were loud.

How loudly a circle notifies now lives in the profile's store (``notify_levels``, set
with ``api.SetNotify`` by the TUI and ``smallsocial mute``/``notify`` alike). This file
only carries the loud marks an older version kept here, handed over once
(:meth:`Settings.take_legacy_loud`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class Settings:
    """The loud marks of an older version, until they are moved into the store."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.loud: set[bytes] = set()
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                self.loud = {bytes.fromhex(h) for h in data.get("loud", []) if isinstance(h, str)}
            except (OSError, ValueError, AttributeError):
                self.loud = set()  # a damaged settings file only loses the loud marks

    def take_legacy_loud(self) -> set[bytes]:
        """The loud marks this file held, once: the file forgets them (the store has them now)."""
        got, self.loud = self.loud, set()
        if got:
            self.save()
        return got

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"loud": sorted(c.hex() for c in self.loud)}))
        os.replace(tmp, self.path)
