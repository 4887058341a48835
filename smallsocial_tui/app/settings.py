"""App-local settings kept beside the profile (``<profile>/tui.json``): which circles are loud."""

from __future__ import annotations

import json
import os
from pathlib import Path


class Settings:
    """Loud circles notify on every message; quiet ones (the default) only count, and notify on mentions."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.loud: set[bytes] = set()
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                self.loud = {bytes.fromhex(h) for h in data.get("loud", []) if isinstance(h, str)}
            except (OSError, ValueError, AttributeError):
                self.loud = set()  # a damaged settings file only loses the loud marks

    def toggle_loud(self, circle: bytes) -> bool:
        if circle in self.loud:
            self.loud.discard(circle)
        else:
            self.loud.add(circle)
        self.save()
        return circle in self.loud

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"loud": sorted(c.hex() for c in self.loud)}))
        os.replace(tmp, self.path)
