"""One harness for ``smallsocial`` processes: start one, read its JSON lines, talk to it, end it.

The tests' kits, the benchmarks, ``scripts/stress`` and the demo all start node processes
through this module. The demo ships in the wheel and uses it, so it lives in the package and
imports no libp2p: the control socket's client is :mod:`smallsocial_tui.control` (plain sockets).

- :class:`JsonProc`: any child whose stdout carries JSON lines (a node, a relay, a benchmark
  worker). Every object it prints is kept in :attr:`JsonProc.events` with ``"_t"``, the
  monotonic time it arrived, and handed to subscribers. Optionally: commands as JSON lines on
  its stdin, its stderr appended to a file or kept in memory, its own session (one signal
  reaches its whole group), a ``preexec`` hook. It is signalled, stopped (SIGTERM) and killed
  (SIGKILL) by its pid.
- :class:`NodeProc`: ``smallsocial run --json`` for one profile of a data dir: ``start``
  returns once it listens (its ``NodeStarted`` address), ``serving=True`` also waits until its
  control socket answers; :meth:`NodeProc.request` talks to that socket; :meth:`NodeProc.cli`
  runs a one-shot command line on the same profile. :class:`RelayProc` is ``smallsocial relay --json``.
- :func:`run_cli`: one ``smallsocial ARGS`` run to completion.

A little past 400 lines: the process, the node on top of it and the one-shot command line
are one harness, read together.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from protocol.node import api
from smallsocial_tui import control

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
ARRIVAL = "_t"
"""The key each kept JSON object gets: ``time.monotonic()`` when its line was read."""
PROGRAM = (sys.executable, "-m", "smallsocial_tui")
"""The ``smallsocial`` command line, run with this interpreter."""

Event = dict[str, Any]


class ProcError(RuntimeError):
    """A process did not start, answer or stop in time; the message names it and ends with its stderr."""


def cli_env(data_dir: Path, profile: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``smallsocial`` run on ``profile`` of ``data_dir`` (never a passphrase)."""
    env = {**(os.environ if base is None else base), "SMALLSOCIAL_DATA_DIR": str(data_dir)}
    env["SMALLSOCIAL_PROFILE"] = profile
    env.pop("SMALLSOCIAL_PASSPHRASE", None)
    return env


def run_cli(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    program: Sequence[str] = PROGRAM,
    timeout: float = 60,
    text: bool = True,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[Any]:
    """``smallsocial ARGS`` to completion, stdin closed, stdout and stderr captured."""
    return subprocess.run(
        [*program, *args],
        env=dict(env),
        capture_output=True,
        text=text,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=preexec,
        check=False,
    )


class JsonProc:
    """A child process whose stdout JSON lines are kept, stamped with their arrival, as they come."""

    def __init__(
        self,
        name: str,
        *,
        stderr_path: Path | None = None,
        stdin: bool = False,
        cwd: Path | None = None,
        new_session: bool = False,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.stderr_path = stderr_path
        """Where its stderr is appended; ``None``: kept in :attr:`stderr_lines`."""
        self.stdin = stdin
        self.cwd = cwd
        self.new_session = new_session
        self.preexec = preexec
        self.proc: subprocess.Popen[str] | None = None
        self.events: list[Event] = []
        self.stderr_lines: list[str] = []
        self.spawned: float | None = None
        """``time.time()`` of the last spawn."""
        self.cond = threading.Condition()
        self._subscribers: list[Callable[[Event], None]] = []
        self._threads: list[threading.Thread] = []
        self._err: IO[str] | None = None

    # starting -----------------------------------------------------------------------------
    def spawn(self, args: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Start ``args``; its lines are read from now on (:attr:`events` keeps those of earlier runs)."""
        if self.running():
            raise ProcError(f"{self.name} is already running")
        self.reap(0)  # one that ended by itself: close its pipes before the next
        if self.stderr_path is not None:
            self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
            self._err = open(self.stderr_path, "a")  # noqa: SIM115 - closed when reaped
        self.spawned = time.time()
        self.proc = proc = subprocess.Popen(
            list(args),
            env=None if env is None else dict(env),
            cwd=self.cwd,
            stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._err if self._err is not None else subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=self.new_session,
            preexec_fn=self.preexec,
        )
        self._threads = [
            threading.Thread(target=self._read, args=(proc,), name=f"{self.name}-out", daemon=True)
        ]
        if self._err is None:
            self._threads.append(threading.Thread(target=self._drain, args=(proc,), daemon=True))
        for t in self._threads:
            t.start()

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` (on the reader thread) for every object the process prints."""
        self._subscribers.append(callback)

    def take(self, obj: Event) -> None:
        """Keep one object (under :attr:`cond`); subclasses route some elsewhere."""
        self.events.append(obj)

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            obj[ARRIVAL] = time.monotonic()
            with self.cond:
                self.take(obj)
                self.cond.notify_all()
            for cb in list(self._subscribers):
                with contextlib.suppress(Exception):  # a subscriber's bug must not stop the reader
                    cb(obj)
        with self.cond:
            self.cond.notify_all()

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.stderr_lines.append(line)

    # talking ------------------------------------------------------------------------------
    def send(self, obj: Mapping[str, Any]) -> None:
        """One JSON line on its stdin (a process spawned with ``stdin=True``)."""
        assert self.proc is not None and self.proc.stdin is not None, f"{self.name} takes no input"
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, pred: Callable[[], Any], timeout: float, what: str) -> Any:
        """``pred()``'s first true value (checked whenever a line arrives); :class:`ProcError`
        if ``timeout`` passes or the process ends with its output read first."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = pred()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or not self._alive():
                    why = f"timed out after {timeout}s" if left <= 0 else "it ended"
                    raise ProcError(f"{self.name}: {why} waiting for {what}\n{self.stderr_text()[-3000:]}")
                self.cond.wait(min(left, 0.2))

    def _alive(self) -> bool:
        proc = self.proc
        return proc is not None and (proc.poll() is None or any(t.is_alive() for t in self._threads[:1]))

    def find(self, event: str, key: str = "event", **match: Any) -> Event | None:
        """The first kept object whose ``key`` is ``event`` and whose fields match."""
        for e in list(self.events):
            if e.get(key) == event and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    def saw(self, event: str, **fields: Any) -> bool:
        return self.find(event, **fields) is not None

    def stderr_text(self) -> str:
        if self.stderr_lines:
            return "".join(self.stderr_lines)
        if self.stderr_path is not None and self.stderr_path.exists():
            return self.stderr_path.read_text(errors="replace")
        return ""

    # ending -------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` by pid (to its whole group if it has its own session); nothing if it ended."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.new_session:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)

    def reap(self, timeout: float = 10.0, *, kill: bool = True) -> int | None:
        """Wait up to ``timeout`` s for it to end (then SIGKILL, or :class:`ProcError` if not ``kill``);
        its exit code. Closes the pipes and joins the readers; :attr:`proc` stays for its pid."""
        proc = self.proc
        if proc is None:
            return None
        try:
            proc.wait(max(0.0, timeout))
        except subprocess.TimeoutExpired:
            if not kill:
                raise ProcError(f"{self.name} (pid {proc.pid}) did not end within {timeout}s") from None
            self.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        for t in self._threads:
            t.join(5)
        for f in (proc.stdin, proc.stdout, proc.stderr, self._err):
            if f is not None:
                with contextlib.suppress(OSError, ValueError):
                    f.close()
        self._err = None
        return proc.returncode

    def close(self, op: Mapping[str, Any] | None = None, timeout: float = 15.0) -> int | None:
        """Send ``op`` (its stop command) if it runs, close its stdin, and reap it."""
        if self.proc is None:
            return None
        if op is not None and self.running():
            with contextlib.suppress(OSError, ValueError, AssertionError):
                self.send(op)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()
        return self.reap(timeout)


class NodeProc(JsonProc):
    """``smallsocial run --json`` for profile ``name`` of ``data_dir``, on 127.0.0.1 unless told.

    After :meth:`stop` or :meth:`kill`, :attr:`proc` is ``None``: the caller ended it.
    """

    STARTED = "NodeStarted"
    """The JSON line that carries the process's listen addresses."""

    def __init__(
        self,
        data_dir: Path,
        name: str,
        *,
        program: Sequence[str] = PROGRAM,
        stderr_path: Path | None = None,
        base_env: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "profiles" / name
        super().__init__(name, stderr_path=stderr_path or self.root / "stderr.log", **kw)
        self.program = list(program)
        self.base_env = base_env
        """The environment to start from (default: this process's)."""
        self.extra_env: dict[str, str] = {}
        self.addr: str | None = None
        self.serve_lag: float | None = None
        """Seconds from its address to its control socket answering (a start with ``serving``)."""

    @property
    def env(self) -> dict[str, str]:
        return {**cli_env(self.data_dir, self.name, self.base_env), **self.extra_env}

    def command(self, listen: str, peers: tuple[str, ...]) -> list[str]:
        args = [*self.program, "run", "--json", "--listen", listen]
        for p in peers:
            args += ["--peer", p]
        return args

    def take(self, obj: Event) -> None:
        super().take(obj)
        if obj.get("event") == self.STARTED and obj.get("addrs"):
            self.addr = str(obj["addrs"][0])

    def start(self, *peers: str, listen: str = LOOPBACK, timeout: float = 30, serving: bool = False) -> str:
        """Start it and return its first address once it listens (``serving``: once its control
        socket answers too: it prints its address before it binds ``control.sock``)."""
        self.launch(*peers, listen=listen)
        return self.wait_started(timeout, serving=serving)

    def launch(self, *peers: str, listen: str = LOOPBACK) -> None:
        """Start it without waiting (see :meth:`wait_started`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.addr = self.serve_lag = None
        self.spawn(self.command(listen, peers), self.env)

    def wait_started(self, timeout: float = 30, *, serving: bool = False) -> str:
        addr: str = self.wait_for(lambda: self.addr, timeout, f"{self.name}'s node to listen")
        if serving:
            self.serve_lag = self.wait_serving(timeout)
        return addr

    def wait_serving(self, timeout: float = 30) -> float:
        """Seconds until its control socket answered a status request."""
        t0 = time.monotonic()
        while not self.serving():
            if not self.running():
                raise ProcError(f"{self.name}'s node stopped before serving:\n{self.stderr_text()[-3000:]}")
            if time.monotonic() - t0 > timeout:
                raise ProcError(f"{self.name}'s control socket did not answer within {timeout}s")
            time.sleep(0.05)
        return time.monotonic() - t0

    def serving(self) -> bool:
        try:
            return bool(self.request(api.GetStatus(), 5)["ok"])
        except (OSError, ValueError):
            return False

    def request(self, cmd: api.Command, timeout: float = 30.0) -> dict[str, Any]:
        """One command on its control socket; the answer as JSON, with ``ok`` (see control.request)."""
        return control.request(self.root, cmd, timeout)

    def status(self, timeout: float = 5.0) -> dict[str, Any]:
        """``NodeStatus`` as JSON: ``peer_id``, ``addrs``, ``peers``, ``stats``."""
        return self.request(api.GetStatus(), timeout)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then its exit code (0 for a clean shutdown); :class:`ProcError` if it hangs."""
        assert self.proc is not None, f"{self.name} is not running"
        self.signal(signal.SIGTERM)
        code = self.reap(timeout, kill=False)
        self.proc = None
        return int(code or 0)

    def kill(self) -> None:
        """SIGKILL by pid, and reap it."""
        assert self.proc is not None, f"{self.name} is not running"
        self.signal(signal.SIGKILL)
        self.reap()
        self.proc = None

    # one-shot commands on the same profile --------------------------------------------------
    def cli(self, *args: str, ok: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``smallsocial ARGS`` on this profile; ``ok``: its exit code must be 0."""
        p = run_cli(args, self.env, program=self.program, timeout=timeout)
        if ok and p.returncode != 0:
            what = f"smallsocial {' '.join(args)} exited {p.returncode}"
            raise ProcError(f"{self.name}: {what}\n{p.stdout}{p.stderr}")
        return p

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    @property
    def key(self) -> str:
        """Its peer ID (a CLI call)."""
        return str(self.json("id")["key"])


class RelayProc(NodeProc):
    """``smallsocial relay --json``; its status arrives every ``status_interval`` s.

    ``start(*extra)`` passes extra relay flags (``--max-records 25``) instead of peers.
    """

    STARTED = "RelayStarted"
    status_interval = 0.5

    def command(self, listen: str, peers: tuple[str, ...]) -> list[str]:
        args = [*self.program, "relay", "--json", "--listen", listen]
        return [*args, "--status-interval", str(self.status_interval), *peers]

    @property
    def status_line(self) -> Event:
        """Its last ``RelayStatus`` line (``{}`` before the first)."""
        last = [e for e in self.events if e.get("event") == "RelayStatus"]
        return last[-1] if last else {}

    @property
    def key(self) -> str:
        return self.addr.rsplit("/p2p/", 1)[1] if self.addr else ""
