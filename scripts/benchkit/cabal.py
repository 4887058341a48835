"""The cabal-core catch-up baseline (issue 12): ``scripts/cabalbench/bench.mjs`` run from Python.

:func:`run_catchup` times a returning cabal peer replicating N 400-byte messages from
another process over loopback TCP (npm ``cabal-core``, pinned with its dependencies in
``scripts/cabalbench/package.json`` and ``package-lock.json``), the baseline for our own
catch-up (:func:`benchkit.circles.run_catchup`). The packages are installed on first use
with ``npm ci``; without node or npm it returns ``{"skipped": ...}`` instead of a result.
What bench.mjs measures and prints is described at its top.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

CABALBENCH = Path(__file__).resolve().parents[1] / "cabalbench"
BENCH = CABALBENCH / "bench.mjs"
INSTALL_TIMEOUT_S = 600


def missing_tools() -> str | None:
    """Why the baseline cannot run here (node or npm is not on PATH), else ``None``."""
    absent = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if absent:
        return f"the cabal-core baseline needs node and npm ({' and '.join(absent)} not found)"
    return None


def ensure_installed(log: Callable[[str], None]) -> None:
    """``npm ci`` in scripts/cabalbench unless its packages are there (one installer at a time)."""
    with open(CABALBENCH / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (CABALBENCH / "node_modules" / "cabal-core" / "package.json").exists():
            return
        log("  cabal-core: installing the pinned npm packages (npm ci)")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CABALBENCH, check=True, timeout=INSTALL_TIMEOUT_S, stdin=subprocess.DEVNULL,
        )  # fmt: skip


def run_catchup(
    n: int,
    work: Path,
    log: Callable[[str], None],
    *,
    storage: Literal["disk", "memory"] = "disk",
    timeout: float = 120,
) -> dict[str, Any]:
    """Time cabal-core's catch-up of ``n`` messages (``node bench.mjs N``) and return its JSON.

    Keys: ``n``, ``replicated_s`` and ``indexed_s`` (from the returning peer's TCP connect to
    all n blocks held, and to all n in its messages view), ``write_s`` (the source's n
    publishes), ``source_indexed_s``, ``open_s``, ``catchup_cpu_s`` (the returning process's
    CPU seconds while catching up), ``storage``, ``payload_bytes``, ``cabal_core`` and
    ``node`` (versions). ``storage``: ``"disk"`` (files and LevelDB under ``work``, as
    cabal-client keeps a cabal) or ``"memory"`` (its temp mode). Without node or npm:
    ``{"skipped": sentence}``. Raises ``RuntimeError`` if the run fails or outlasts
    ``timeout`` (bench.mjs's own limit; the process is killed 30 s after it).
    """
    why = missing_tools()
    if why is not None:
        return {"skipped": why}
    ensure_installed(log)
    work.mkdir(parents=True, exist_ok=True)
    cmd = ["node", str(BENCH), str(n), "--storage", storage, "--dir", str(work), "--timeout", str(timeout)]
    proc = subprocess.Popen(
        cmd,
        cwd=CABALBENCH,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)  # its source process exits when its stdin closes
        proc.communicate()
        raise RuntimeError(f"the cabal-core baseline gave no result within {timeout + 30:.0f} s") from None
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        said = err.strip().splitlines()[-1] if err.strip() else "no message"
        raise RuntimeError(f"the cabal-core baseline failed (exit {proc.returncode}): {said}")
    result: dict[str, Any] = json.loads(lines[-1])
    log(
        f"  cabal-core {result['cabal_core']} ({storage}): {n:,} messages replicated in "
        f"{result['replicated_s']} s, indexed in {result['indexed_s']} s"
    )
    return result
