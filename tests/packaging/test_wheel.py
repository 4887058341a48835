"""The installed program, as a new user gets it: a wheel in a fresh venv, run outside the checkout.

The rest of the suite imports the source tree, so a file missing from the package
data (the TUI's stylesheet once was) goes unnoticed there. Here the wheel is built
from a copy of the checkout, installed with ``--no-deps`` into a new venv that
borrows the running environment's dependencies through a ``.pth`` file (no
download, and the wheel's own copy of smallsocial comes first on ``sys.path``),
and ``smallsocial`` runs from an empty directory: in a pseudo-terminal it must
show the onboarding screen, and ``smallsocial demo --no-tui`` must chat.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import termios
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".git", "build", "dist", "__pycache__", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache",
        ".hypothesis", "tests", "bench-results", "fuzz-work", "fuzz-crashes"}  # fmt: skip
ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP or n.endswith(".egg-info")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the checkout (building in place would write into it)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=_ignore)
    out = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
        cwd=src, check=True, timeout=120,
    )  # fmt: skip
    (whl,) = out.glob("smallsocial-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel installed, dependencies borrowed from this environment."""
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=60)
    py = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(py)]
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True, timeout=120)
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # Every site directory this interpreter sees (its venv's, and any a .pth added there,
    # whose own .pth files a borrowed path would not run).
    ours = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    ours += [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    (Path(site) / "_borrowed_deps.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    return env_dir


@pytest.fixture
def user(tmp_path: Path, venv: Path) -> tuple[Path, dict[str, str]]:
    """An empty working directory outside the checkout and an environment like a new user's."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env = {k: v for k, v in env.items() if not k.startswith("SMALLSOCIAL_") or k == "SMALLSOCIAL_DISCOVERY"}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        TERM="xterm-256color",
        COLORTERM="truecolor",
    )
    return home, env


def test_the_wheel_holds_every_file_the_app_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = [p.relative_to(ROOT).as_posix() for p in (ROOT / "smallsocial_tui").rglob("*.tcss")]
    assert needed, "no stylesheet found in the checkout"
    assert not [n for n in needed if n not in names]


def test_the_installed_program_runs_from_outside_the_checkout(
    venv: Path, user: tuple[Path, dict[str, str]]
) -> None:
    home, env = user
    code = "import smallsocial_tui, protocol; print(smallsocial_tui.__file__); print(protocol.__file__)"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(w.startswith(str(venv)) for w in where), where


def _read_until(fd: int, proc: subprocess.Popen[bytes], pattern: str, timeout: float) -> str:
    """Read a pseudo-terminal until ``pattern`` shows in the text without escape codes."""
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            buf += chunk
            text = ANSI.sub("", buf.decode("utf-8", "replace"))
            if pattern in text:
                return text
        elif proc.poll() is not None:
            break
    return ANSI.sub("", buf.decode("utf-8", "replace"))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    yield master, slave
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_smallsocial_opens_the_onboarding_screen(
    venv: Path, user: tuple[Path, dict[str, str]], terminal: tuple[int, int]
) -> None:
    home, env = user
    master, slave = terminal
    proc = subprocess.Popen(
        [str(venv / "bin" / "smallsocial")],
        cwd=home, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
    )  # fmt: skip
    try:
        text = _read_until(master, proc, "Welcome to smallsocial", 60)
        assert "Welcome to smallsocial" in text, text[-2000:]
        assert "Error" not in text, text[-2000:]
        os.write(master, b"\x11")  # ctrl+q
        proc.wait(20)
        assert proc.returncode == 0
    finally:
        _stop(proc)


def test_smallsocial_demo_no_tui_chats(venv: Path, user: tuple[Path, dict[str, str]]) -> None:
    home, env = user
    proc = subprocess.Popen(
        [str(venv / "bin" / "smallsocial"), "demo", "--no-tui", "--friends", "1"],
        cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        text = _read_until(proc.stdout.fileno(), proc, "[demo-friends] alice:", 90)
        assert "[demo-friends] alice:" in text, text[-2000:]
        # Ctrl-C, as a terminal sends it: to the whole group. (This passes even when the
        # suite itself was started in the background, with SIGINT ignored: the demo takes
        # SIGINT back, see tests/demo/test_run_demo.py.)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
        assert proc.returncode == 0, text[-2000:]
    finally:
        _stop(proc)
        proc.stdout.close()
