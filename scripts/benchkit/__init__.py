"""What the benchmark scripts share; ``import benchkit`` from a script beside it.

- :func:`machine_info` and :func:`write_json`: the machine and checkout a run ran on, and
  the one JSON file each benchmark writes.
- :mod:`benchkit.stats`: percentiles, summaries and table cells; :mod:`benchkit.wire`: the
  workers' JSON-lines protocol and payloads; :mod:`benchkit.procs`: :class:`Worker` (a
  benchmark process on the shared process harness ``smallsocial_tui.nodeproc``) and what a
  process costs (CPU seconds, RSS).
- :mod:`benchkit.nodes`, :mod:`benchkit.circles`, :mod:`benchkit.cluster`: the node
  benchmark's workers, offline circles and catch-up, and a circle of N worker processes
  with its measured phases and 0-loss search (``bench_node``, ``bench_irc``, ``bench_scale``).

Importing it puts this checkout first on ``sys.path`` (its ``protocol/``, not another
installed one) and keeps every node a benchmark starts on 127.0.0.1: no listening on every
interface, no mDNS, UPnP or circuit relay (``SMALLSOCIAL_DISCOVERY=off``, docs/network.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ["SMALLSOCIAL_DISCOVERY"] = "off"

from benchkit.procs import Worker, proc_cpu, rss_of  # noqa: E402
from benchkit.stats import fmt, median, percentile, print_rows, rnd, summary, times  # noqa: E402
from benchkit.wire import PAYLOAD_BYTES, Receipts, out, pad, parse_payload, payload, reply  # noqa: E402

__all__ = [
    "PAYLOAD_BYTES",
    "ROOT",
    "Receipts",
    "Worker",
    "fmt",
    "machine_info",
    "median",
    "out",
    "pad",
    "parse_payload",
    "parse_sizes",
    "payload",
    "percentile",
    "print_rows",
    "proc_cpu",
    "reply",
    "rnd",
    "rss_of",
    "summary",
    "times",
    "write_json",
]


def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        return ""


def machine_info(root: Path = ROOT, *, libp2p: bool = False, **extra: Any) -> dict[str, Any]:
    """Python, CPU, platform, load and the git commit (and whether protocol/ had local edits);
    ``libp2p``: py-libp2p's version too."""
    if libp2p:
        try:
            from importlib.metadata import version

            extra["libp2p"] = version("libp2p")
        except Exception:
            extra["libp2p"] = "?"
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


def write_json(path: str | Path, result: dict[str, Any]) -> Path:
    """Write a benchmark's result (indented, one trailing newline), making its directory."""
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    return out_path


def parse_sizes(text: str) -> tuple[int, ...]:
    """``--members 2,5``: circle sizes of at least 2."""
    sizes = tuple(int(x) for x in text.split(",") if x.strip())
    if not sizes or any(n < 2 for n in sizes):
        raise argparse.ArgumentTypeError("members: one or more sizes of at least 2, e.g. 5 or 2,10")
    return sizes
