"""Where a profile lives on disk: platformdirs by default, ``--data-dir`` / ``--profile`` override."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "smallsocial"
DEFAULT_PROFILE = "default"
_PROFILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class PathError(ValueError):
    """A profile name or data directory that cannot be used."""


@dataclass(frozen=True)
class ProfilePaths:
    root: Path

    @property
    def keyfile(self) -> Path:
        return self.root / "identity.key"

    @property
    def storage_key(self) -> Path:
        """The storage key (mode 0600; wrapped under the passphrase when the profile has one)."""
        return self.root / "storage.key"

    @property
    def database(self) -> Path:
        return self.root / "store.sqlite3"

    @property
    def search(self) -> Path:
        """The search index (plaintext of readable messages; deleting it is safe: it is rebuilt)."""
        return self.root / "search.sqlite3"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def resolve(data_dir: str | None = None, profile: str | None = None) -> ProfilePaths:
    """The directory of ``profile`` under ``data_dir`` (or ``$SMALLSOCIAL_DATA_DIR``, or platformdirs)."""
    name = profile or os.environ.get("SMALLSOCIAL_PROFILE") or DEFAULT_PROFILE
    if not _PROFILE_RE.fullmatch(name):
        raise PathError(
            f"{name!r} is not a usable profile name; use letters, digits, '.', '_' or '-' (up to 64)."
        )
    base = data_dir or os.environ.get("SMALLSOCIAL_DATA_DIR") or platformdirs.user_data_dir(APP)
    return ProfilePaths(Path(base).expanduser() / "profiles" / name)
