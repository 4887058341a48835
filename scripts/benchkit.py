"""What every benchmark script shares: a description of the machine and checkout it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

# Benchmarks stay on 127.0.0.1: no listening on every interface, no mDNS, UPnP or circuit
# relay (docs/network.md); every node a benchmark starts, in any process, inherits this.
os.environ["SMALLSOCIAL_DISCOVERY"] = "off"


def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        return ""


def machine_info(root: Path, **extra: Any) -> dict[str, Any]:
    """Python, CPU, platform, load and the git commit (and whether protocol/ had local edits)."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "git_commit": _git(root, "rev-parse", "--short", "HEAD") or None,
        "protocol_modified": bool(_git(root, "status", "--porcelain", "--", "protocol")),
        **extra,
    }
