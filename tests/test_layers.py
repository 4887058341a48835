"""The layering promise: the core imports no IO framework; the UI never imports libp2p."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules(package: str, skip: str | None = None) -> list[str]:
    path = ROOT / package
    names = [package]
    for info in pkgutil.walk_packages([str(path)], prefix=package + "."):
        if skip and (info.name == skip or info.name.startswith(skip + ".")):
            continue
        if info.name.endswith(".__main__"):
            continue
        names.append(info.name)
    return names


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_core_imports_no_trio_libp2p_or_textual() -> None:
    modules = _modules("protocol", skip="protocol.node")
    assert "protocol.roster" in modules and "protocol.invitation" in modules
    loaded = _imported_after(modules)
    assert not loaded & {"trio", "libp2p", "textual", "socket", "asyncio"}, loaded


def test_ui_never_imports_libp2p() -> None:
    modules = _modules("smallsocial_tui")
    assert "smallsocial_tui.cli" in modules
    loaded = _imported_after(modules)
    assert "libp2p" not in loaded


def test_core_sources_name_no_io_framework() -> None:
    """A static check too, so a lazy import inside a function is caught."""
    for path in (ROOT / "protocol").glob("*.py"):
        text = path.read_text()
        for banned in (
            "import trio",
            "import libp2p",
            "from libp2p",
            "import textual",
            "from textual",
            "import socket",
            "import time",
            "from time",
            "datetime.now",
            "import sqlite3",
        ):
            assert banned not in text, f"{path.name} contains {banned!r}"
