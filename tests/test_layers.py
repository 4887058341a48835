"""The layering promise: the core imports no IO framework; the UI never imports libp2p."""

from __future__ import annotations

import ast
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


# ---- the shape: import cycles and private names across modules (issue 11) ------------------

PACKAGES = ("protocol", "smallsocial_tui")


def _sources() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imports(mod: str, is_init: bool, mods: set[str], tree: ast.Module) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import in ``tree``, typing-only ones too."""
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = mod.split(".")[: len(mod.split(".")) - node.level + is_init]
                target = ".".join(base + ([node.module] if node.module else []))
            for a in node.names:
                full = f"{target}.{a.name}"
                out.append((full, None) if full in mods else (target, a.name))
    return out


def _private_defs(tree: ast.Module) -> set[str]:
    """Private names a module defines: functions, classes, module globals, attributes of self."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if _is_private(n)}


def _shape(
    texts: dict[str, tuple[bool, str]] | None = None,
) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """The import graph inside our packages, and each module's uses of other modules' private names.

    ``texts``: module name -> (is a package's ``__init__``, source); default our packages.
    """
    if texts is None:
        texts = {m: (p.name == "__init__.py", p.read_text()) for m, p in _sources().items()}
    trees = {m: ast.parse(src) for m, (_, src) in texts.items()}
    defs = {m: _private_defs(t) for m, t in trees.items()}
    ours = set().union(*defs.values())
    graph: dict[str, set[str]] = {m: set() for m in texts}
    private: dict[str, list[str]] = {}
    for mod, tree in trees.items():
        for target, name in _imports(mod, texts[mod][0], set(texts), tree):
            if target in texts and target != mod:
                graph[mod].add(target)
                if name and _is_private(name):
                    private.setdefault(mod, []).append(f"{target}.{name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr in ours:
                own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                if not own and node.attr not in defs[mod]:
                    private.setdefault(mod, []).append(f"?.{node.attr}")
    return graph, private


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def test_no_import_cycle_inside_our_packages() -> None:
    """Typing-only imports count: a module that needs another's type takes a narrow Protocol."""
    graph, _ = _shape()
    assert [sorted(c) for c in _cycles(graph)] == []


def test_no_use_of_another_modules_private_names() -> None:
    """``from m import _x`` and ``obj._x`` where ``_x`` is defined in our code but not in this module."""
    _, private = _shape()
    assert private == {}


def test_the_shape_checks_see_what_they_guard() -> None:
    """The scanner finds a planted cycle and planted private uses (so a pass means something)."""
    planted = {
        "p": (True, ""),
        "p.a": (False, "from p import b\nb.B()._hidden()\nself._mine = 1\n"),
        "p.b": (False, "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.a import _x\n"
                       "class B:\n    def _hidden(self) -> None: ...\n"),
        "p.c": (False, "from . import a\n"),
    }  # fmt: skip
    graph, private = _shape(planted)
    assert graph == {"p": set(), "p.a": {"p.b"}, "p.b": {"p.a"}, "p.c": {"p.a"}}
    assert _cycles(graph) == [{"p.a", "p.b"}]
    assert private == {"p.a": ["?._hidden"], "p.b": ["p.a._x"]}
    graph, _ = _shape()
    assert "protocol.node.store" in graph["protocol.node.profile"]
