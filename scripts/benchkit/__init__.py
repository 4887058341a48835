"""What the benchmark scripts share; ``import benchkit`` from a script beside it.

- :func:`machine_info` and :func:`write_json`: the machine and checkout a run ran on, and
  the one JSON file each benchmark writes (:func:`finish`: with what ran, when and where);
  :func:`override`: a plan with what the command line gave; :func:`workdir`: a run's
  temporary profiles and logs; :func:`verdict` and :func:`print_targets`: a target judged.
- :mod:`benchkit.stats`: percentiles, summaries and table cells; :mod:`benchkit.wire`: the
  workers' JSON-lines protocol and payloads; :mod:`benchkit.procs`: :class:`Worker` (a
  benchmark process on the shared process harness ``smallsocial_tui.nodeproc``) and what a
  process costs (CPU seconds, RSS).
- :mod:`benchkit.nodes`, :mod:`benchkit.circles`, :mod:`benchkit.cluster`: the node
  benchmark's workers, offline circles and catch-up, and a circle of N worker processes
  with its measured phases and 0-loss search (``bench_node``, ``bench_irc``, ``bench_scale``).
- :mod:`benchkit.cabal`: the cabal-core catch-up baseline (``scripts/cabalbench``, node).

Importing it puts this checkout first on ``sys.path`` (its ``protocol/``, not another
installed one) and keeps every node a benchmark starts on 127.0.0.1: no listening on every
interface, no mDNS, UPnP or circuit relay (``SMALLSOCIAL_DISCOVERY=off``, docs/network.md).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ["SMALLSOCIAL_DISCOVERY"] = "off"

from benchkit.procs import Worker, proc_cpu, rss_of  # noqa: E402
from benchkit.stats import fmt, latency_cell, median, percentile, print_rows, rnd, summary, times  # noqa: E402
from benchkit.wire import PAYLOAD_BYTES, Receipts, out, pad, parse_payload, payload, reply  # noqa: E402

__all__ = [
    "PAYLOAD_BYTES",
    "ROOT",
    "Receipts",
    "Worker",
    "finish",
    "fmt",
    "latency_cell",
    "machine_info",
    "median",
    "out",
    "override",
    "pad",
    "parse_payload",
    "parse_sizes",
    "payload",
    "percentile",
    "print_rows",
    "print_targets",
    "proc_cpu",
    "reply",
    "rnd",
    "rss_of",
    "summary",
    "times",
    "verdict",
    "workdir",
    "write_json",
]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
P = TypeVar("P", bound="DataclassInstance")


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


def override(plan: P, **fields: Any) -> P:
    """``plan`` with the fields the command line gave (``None``: not given, the plan's stays)."""
    return dataclasses.replace(plan, **{k: v for k, v in fields.items() if v is not None})


def parse_sizes(text: str) -> tuple[int, ...]:
    """``--members 2,5``: circle sizes of at least 2."""
    sizes = tuple(int(x) for x in text.split(",") if x.strip())
    if not sizes or any(n < 2 for n in sizes):
        raise argparse.ArgumentTypeError("members: one or more sizes of at least 2, e.g. 5 or 2,10")
    return sizes


def finish(
    path: str | Path, benchmark: str, mode: str, machine: dict[str, Any], started: float, **fields: Any
) -> Path:
    """Write a benchmark's JSON: what ran, when, on what machine (and its load at the end), then its
    ``fields`` and the seconds since ``started`` (``time.perf_counter``); say so on stdout."""
    elapsed = time.perf_counter() - started
    result = {
        "benchmark": benchmark,
        "mode": mode,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        **fields,
        "elapsed_s": round(elapsed, 1),
    }
    out = write_json(path, result)
    print(f"\nwhole run {elapsed:.1f} s; wrote {out}")
    return out


@contextlib.contextmanager
def workdir(prefix: str, keep: bool, log: Callable[[str], None]) -> Iterator[Path]:
    """A temporary directory for a run's profiles and logs, removed afterwards unless ``keep``."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def verdict(target: str, value: Any, text: str, ok: bool | None, **extra: Any) -> dict[str, Any]:
    """A target judged: PASS, MISS, or n/a when there was nothing to judge (``ok`` is None)."""
    v = "n/a" if ok is None else ("PASS" if ok else "MISS")
    return {"target": target, "value": value, "target_text": text, "verdict": v, **extra}


def print_targets(checks: list[dict[str, Any]]) -> None:
    """The verdicts under a ``targets:`` heading (``N=...`` before those that name a circle size)."""
    print("\ntargets:")
    for c in checks:
        n = f"N={c['members']} " if c.get("members") else ""
        print(f"  {c['verdict']:<4}  {n}{c['target']}: {fmt(c['value'])} (target {c['target_text']})")
