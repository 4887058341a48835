#!/usr/bin/env python3
"""Mutation testing of the sans-IO core: does a test fail when a check is broken?

    scripts/mutate.py                       # carry chain devicecert files invitation records roster
                                            # searchtext wire
    scripts/mutate.py --module chain --sample 40 --seed 7
    scripts/mutate.py --list --module wire            # the mutants, without running anything

How it works (no dependency beyond pytest):

1. *Mutants.* Each target module ``protocol/<name>.py`` is parsed and every place one of
   these operators applies becomes one mutant: a comparison swapped (``<``/``<=``,
   ``>``/``>=``, ``==``/``!=``, ``in``/``not in``, ``is``/``is not``), an arithmetic or
   bit operator swapped, ``and``/``or`` swapped, a ``not`` or unary minus dropped, an
   ``if``/``while``/conditional/comprehension condition negated, a ``raise`` removed,
   a call statement removed, an integer constant moved by one either way, a boolean
   constant flipped. Strings, f-strings, annotations and ``assert`` are left alone.
   A mutant's key (``module:function:operator:before→after``, plus ``#n`` when the
   same text occurs twice) does not depend on line numbers.
2. *Coverage.* The tests (``--tests``, default the fast core suites) run once in a
   child process under ``sys.settrace``, recording which test reaches which line of
   the targets. The baseline must pass.
3. *Runs.* Each mutant is compiled from the modified tree (the files on disk are never
   touched; the mutant is served by an import hook) and run in a forked child against
   the tests that reach its line, fastest first, stopping at the first failure. A
   mutant in module-level code (a constant, a schema), or on a line that runs once per
   process (a cache filled on first use), runs against every test that reaches the
   module. A failure or a timeout kills the mutant; all passing means it survived.
4. *Report.* A table per module, the survivors, and a JSON file (``--json``). A
   survivor whose key appears in ``docs/mutation.md`` is *equivalent* there (it
   changes nothing observable, and that file says why); the score counts killed over
   all mutants, and "excl. equiv." leaves the documented ones out.

``--sample N`` runs N mutants per module, picked by ``--seed`` (same seed, same
mutants); ``--match TEXT`` only the mutants whose key contains it; ``--survivors-of
REPORT`` only what survived an earlier run (after adding tests); ``--min-score`` makes
the exit status fail below a score. Run it under ``flock /tmp/smallsocial-heavy.lock``
on a shared machine.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.abc
import importlib.util
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import CodeType, FrameType, ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODULES = (
    "carry",
    "chain",
    "devicecert",
    "files",
    "invitation",
    "records",
    "roster",
    "searchtext",
    "wire",
)
DEFAULT_TESTS = ("tests/protocol", "tests/test_vectors.py", "tests/test_fuzz_corpus.py")
EQUIVALENTS_DOC = ROOT / "docs" / "mutation.md"
COLLECTION = "<collection>"
"""Where the coverage run files lines that ran outside any test."""

_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BIN_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.BitXor: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
_SKIP_FIELDS = {"annotation", "returns", "type_comment", "decorator_list"}


# --- mutants -------------------------------------------------------------------------------


@dataclass
class Mutant:
    module: str
    key: str
    op: str
    line: int
    lines: tuple[int, int]
    """The line span whose coverage selects the tests (the enclosing statement's header)."""
    import_time: bool
    """In module-level code: every test that reaches the module runs it."""
    apply: Callable[[], Callable[[], None]] = field(repr=False, compare=False)
    """Change the shared tree; returns the function that undoes it."""


def _header(stmt: ast.stmt) -> tuple[int, int]:
    body = getattr(stmt, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.AST):
        return stmt.lineno, max(stmt.lineno, body[0].lineno - 1)
    return stmt.lineno, stmt.end_lineno or stmt.lineno


def _set(parent: ast.AST, name: str, index: int | None, value: Any) -> Callable[[], Callable[[], None]]:
    def apply() -> Callable[[], None]:
        if index is None:
            old = getattr(parent, name)
            setattr(parent, name, value)
            return lambda: setattr(parent, name, old)
        seq = getattr(parent, name)
        old = seq[index]
        seq[index] = value
        return lambda: seq.__setitem__(index, old)

    return apply


def _located(new: ast.AST, like: ast.AST) -> ast.AST:
    ast.copy_location(new, like)
    return ast.fix_missing_locations(new)


class _Finder:
    """Walks one module's tree and lists its mutants."""

    def __init__(self, module: str, tree: ast.Module) -> None:
        self.module = module
        self.tree = tree
        self.out: list[Mutant] = []
        self.seen: dict[str, int] = defaultdict(int)
        self.scope: list[str] = []
        self.stmts: list[ast.stmt] = []
        self.nodes: list[ast.AST] = []
        self.in_function = 0

    def add(self, node: ast.AST, op: str, before: str, after: str, apply: Callable[..., Any]) -> None:
        where = ".".join(self.scope) or "<module>"
        base = f"{self.module}:{where}:{op}:{_short(before)}→{_short(after)}"
        self.seen[base] += 1
        key = base if self.seen[base] == 1 else f"{base}#{self.seen[base]}"
        stmt = self.stmts[-1]
        self.out.append(
            Mutant(
                self.module,
                key,
                op,
                getattr(node, "lineno", stmt.lineno),
                _header(stmt),
                self.in_function == 0,
                apply,
            )
        )

    def walk(self, node: ast.AST) -> None:
        if isinstance(node, (ast.JoinedStr, ast.Assert)):
            return
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return  # docstrings
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return
        is_stmt = isinstance(node, ast.stmt)
        is_scope = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        is_func = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if is_stmt:
            self.stmts.append(node)  # type: ignore[arg-type]
        if is_scope:
            self.scope.append(node.name)  # type: ignore[attr-defined]
        if is_func and not isinstance(node, ast.Lambda):
            self.in_function += 1
        self.nodes.append(node)
        self.visit(node)
        for name, value in ast.iter_fields(node):
            if name in _SKIP_FIELDS:
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and name == "args":
                self.in_function -= 1  # defaults are evaluated at import
                self.walk(value)
                self.in_function += 1
                continue
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        self.list_item(node, name, i, item)
                        self.walk(item)
            elif isinstance(value, ast.AST):
                self.walk(value)
        self.nodes.pop()
        if is_func and not isinstance(node, ast.Lambda):
            self.in_function -= 1
        if is_scope:
            self.scope.pop()
        if is_stmt:
            self.stmts.pop()

    def list_item(self, parent: ast.AST, name: str, i: int, item: ast.AST) -> None:
        """Mutants that replace a statement, or a condition in a comprehension."""
        if isinstance(item, ast.Raise) or (isinstance(item, ast.Expr) and isinstance(item.value, ast.Call)):
            self.stmts.append(item)
            op = "remove raise" if isinstance(item, ast.Raise) else "remove call"
            self.add(item, op, ast.unparse(item), "pass", _set(parent, name, i, _pass(item)))
            self.stmts.pop()
        elif isinstance(parent, ast.comprehension) and name == "ifs":
            self.negate(parent, name, i, item)

    def negate(self, parent: ast.AST, name: str, index: int | None, test: ast.expr) -> None:
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return  # dropping the `not` is already a mutant; `not not x` would be the same test
        new = _located(ast.UnaryOp(ast.Not(), test), test)
        self.add(
            test, "negate condition", ast.unparse(test), ast.unparse(new), _set(parent, name, index, new)
        )

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            self.negate(node, "test", None, node.test)
        if isinstance(node, ast.Compare):
            for i, cmp in enumerate(node.ops):
                swap = _CMP_SWAP.get(type(cmp))
                if swap is not None:
                    before = ast.unparse(node)
                    undo = _set(node, "ops", i, swap())
                    after = _unparse_with(undo)(node)
                    self.add(node, "comparison", before, after, undo)
        elif isinstance(node, (ast.BinOp, ast.AugAssign)):
            bswap = _BIN_SWAP.get(type(node.op))
            if bswap is not None and not _type_union(node):
                apply = _set(node, "op", None, bswap())
                self.add(node, "operator", ast.unparse(node), _unparse_with(apply)(node), apply)
        elif isinstance(node, ast.BoolOp):
            new_op: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            apply = _set(node, "op", None, new_op)
            self.add(node, "and/or", ast.unparse(node), _unparse_with(apply)(node), apply)
        elif isinstance(node, ast.Constant) and type(node.value) in (bool, int):
            # Shown in the expression around it, so the key says which constant.
            around = self.nodes[-2] if len(self.nodes) > 1 else node
            if isinstance(around, ast.Call) and len(ast.unparse(around)) > 60:
                around = _Shown(around, node)
            news = [not node.value] if type(node.value) is bool else [node.value + 1, node.value - 1]
            for new in news:
                apply = _set(node, "value", None, new)
                self.add(node, "constant", _show(around), _unparse_with(apply)(around), apply)
        for name, value in ast.iter_fields(node):
            if name in _SKIP_FIELDS:
                continue
            # A `not x` or `-x` anywhere: drop the operator.
            items = value if isinstance(value, list) else [value]
            for i, child in enumerate(items):
                if isinstance(child, ast.UnaryOp) and isinstance(child.op, (ast.Not, ast.USub)):
                    if isinstance(child.op, ast.USub) and isinstance(child.operand, ast.Constant):
                        continue  # a negative literal: the constant mutants cover it
                    index = i if isinstance(value, list) else None
                    apply = _set(node, name, index, child.operand)
                    self.add(child, "drop unary", ast.unparse(child), ast.unparse(child.operand), apply)


class _Shown(ast.AST):
    """A long call shown with its other arguments clipped: enough to tell which constant."""

    def __init__(self, call: ast.Call, const: ast.Constant) -> None:
        super().__init__()
        self.call = call
        self.const = const


def _show(node: ast.AST) -> str:
    if isinstance(node, _Shown):
        name = ast.unparse(node.call.func)
        args = [*node.call.args, *(k.value for k in node.call.keywords)]
        shown = [repr(node.const.value) if a is node.const else _clip(ast.unparse(a), 16) for a in args]
        return f"{name}({', '.join(shown)})"
    return ast.unparse(node)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _type_union(node: ast.AST) -> bool:
    """``A | B | None`` of capitalized names: a type alias, not a computation."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _type_union(node.left) and _type_union(node.right)
    if isinstance(node, ast.Subscript):
        return _type_union(node.value)
    if isinstance(node, ast.Name):
        return node.id[:1].isupper() or node.id in ("bool", "int", "str", "bytes", "float")
    return isinstance(node, ast.Constant) and node.value is None


def _pass(like: ast.stmt) -> ast.stmt:
    new = _located(ast.Pass(), like)
    assert isinstance(new, ast.stmt)
    return new


def _unparse_with(apply: Callable[[], Callable[[], None]]) -> Callable[[ast.AST], str]:
    def show(node: ast.AST) -> str:
        undo = apply()
        try:
            return _show(node)
        finally:
            undo()

    return show


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 70 else text[:67] + "..."


def find_mutants(module: str) -> tuple[ast.Module, list[Mutant]]:
    path = ROOT / "protocol" / f"{module}.py"
    tree = ast.parse(path.read_text(), str(path))
    finder = _Finder(module, tree)
    finder.stmts.append(tree)  # type: ignore[arg-type]
    for stmt in tree.body:
        finder.walk(stmt)
    return tree, finder.out


def compile_mutant(tree: ast.Module, mutant: Mutant) -> CodeType:
    undo = mutant.apply()
    try:
        return compile(tree, str(ROOT / "protocol" / f"{mutant.module}.py"), "exec", dont_inherit=True)
    finally:
        undo()


# --- children ------------------------------------------------------------------------------


class _MutantLoader(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves one module from a compiled mutant instead of its file."""

    def __init__(self, fullname: str, code: CodeType) -> None:
        self.fullname = fullname
        self.code = code

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.fullname:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=self.code.co_filename)

    def create_module(self, spec: Any) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.__file__ = self.code.co_filename
        exec(self.code, module.__dict__)


def _hypothesis_profile() -> None:
    """Same examples every run, no database in the tree, no deadline on a loaded machine."""
    from hypothesis import settings

    settings.register_profile("mutate", database=None, derandomize=True, deadline=None)
    settings.load_profile("mutate")


_PYTEST_BASE = (
    "-q",
    "--no-header",
    "-p",
    "no:cacheprovider",
    # hypothesis is imported before pytest starts (once, in the parent), so it cannot be rewritten.
    "-W",
    "ignore::pytest.PytestAssertRewriteWarning",
)


def _pytest_args(test_ids: Sequence[str]) -> list[str]:
    return ["-x", *_PYTEST_BASE, *test_ids]


def _fork(body: Callable[[], int], quiet: bool = True) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            os.setpgid(0, 0)
            if quiet:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            code = body()
        except BaseException:
            code = 98
        finally:
            os._exit(code)
    return pid


class _Cover:
    """A pytest plugin: which test reaches which line of the target files."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.current: str | None = None
        self.hits: dict[str, set[tuple[str, int]]] = defaultdict(set)
        self.durations: dict[str, float] = {}
        self.failed: list[str] = []
        self.order: list[str] = []

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        module = self.files.get(frame.f_code.co_filename)
        if module is None:
            return None
        hits = self.hits

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "line":
                hits[self.current or COLLECTION].add((module, frame.f_lineno))
            return local

        return local

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.current = nodeid
        self.order.append(nodeid)
        self.durations[nodeid] = time.perf_counter()

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            self.failed.append(report.nodeid)
        if report.when == "teardown":
            self.durations[report.nodeid] = time.perf_counter() - self.durations[report.nodeid]
            self.current = None


def coverage_map(modules: Sequence[str], tests: Sequence[str], out: Path) -> dict[str, Any]:
    """Run the tests once, traced, in a child; return per-test lines and durations."""

    def body() -> int:
        import pytest

        _hypothesis_profile()
        files = {str(ROOT / "protocol" / f"{m}.py"): m for m in modules}
        cover = _Cover(files)
        sys.settrace(cover.trace)
        try:
            code = pytest.main([*_PYTEST_BASE, *tests], plugins=[cover])
        finally:
            sys.settrace(None)
        data = {
            "code": int(code),
            "failed": cover.failed,
            "durations": cover.durations,
            "order": cover.order,
            "hits": {t: sorted(h) for t, h in cover.hits.items()},
        }
        out.write_text(json.dumps(data))
        return 0

    pid = _fork(body)
    _, status = os.waitpid(pid, 0)
    if not out.exists():
        raise SystemExit(f"the coverage run died (status {status})")
    data: dict[str, Any] = json.loads(out.read_text())
    if data["code"] != 0 or data["failed"]:
        raise SystemExit(f"the tests fail without any mutant: {data['failed'] or data['code']}")
    return data


# --- the run -------------------------------------------------------------------------------


@dataclass
class Result:
    module: str
    key: str
    op: str
    line: int
    status: str  # killed, timeout, survived, uncovered
    tests: int
    seconds: float
    equivalent: bool = False


def _select(
    mutant: Mutant,
    by_line: dict[str, dict[int, set[str]]],
    durations: dict[str, float],
    first: dict[str, str],
) -> list[str]:
    lines = by_line.get(mutant.module, {})
    chosen: set[str] = set()
    span = range(mutant.lines[0], mutant.lines[1] + 1)
    reached = set().union(*(lines.get(ln, set()) for ln in span))
    # Module-level code, or a line run once per process (a cache filled on first use:
    # while collecting, or in the first test that reaches the module only), whose
    # effect every later test sees: every test that reaches the module.
    if mutant.import_time or COLLECTION in reached or reached == {first.get(mutant.module)}:
        for ts in lines.values():
            chosen |= ts
    else:
        for ln in span:
            chosen |= lines.get(ln, set())
    chosen.discard(COLLECTION)
    return sorted(chosen, key=lambda t: (durations.get(t, 0.0), t))


def run_mutants(
    trees: dict[str, ast.Module],
    mutants: Sequence[Mutant],
    cover: dict[str, Any],
    jobs: int,
    timeout_factor: float,
    progress: Callable[[Result, int, int], None],
) -> list[Result]:
    durations: dict[str, float] = cover["durations"]
    by_line: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for test, hits in cover["hits"].items():
        for module, line in hits:
            by_line[module][line].add(test)
    first: dict[str, str] = {}  # the first test (in run order) that reaches each module
    for test in cover["order"]:
        for module, _ in cover["hits"].get(test, ()):
            first.setdefault(module, test)
    results: list[Result] = []
    queue = list(mutants)
    running: dict[int, tuple[Mutant, int, float, float]] = {}
    done = 0

    def finish(m: Mutant, status: str, n: int, started: float) -> None:
        nonlocal done
        done += 1
        r = Result(m.module, m.key, m.op, m.line, status, n, round(time.monotonic() - started, 3))
        results.append(r)
        progress(r, done, len(mutants))

    while queue or running:
        while queue and len(running) < jobs:
            m = queue.pop(0)
            test_ids = _select(m, by_line, durations, first)
            started = time.monotonic()
            if not test_ids:
                finish(m, "uncovered", 0, started)
                continue
            code = compile_mutant(trees[m.module], m)
            budget = 10.0 + timeout_factor * sum(durations.get(t, 0.0) for t in test_ids)

            def body(code: CodeType = code, test_ids: list[str] = test_ids, m: Mutant = m) -> int:
                import pytest

                sys.meta_path.insert(0, _MutantLoader("protocol." + m.module.replace("/", "."), code))
                _hypothesis_profile()
                return int(pytest.main(_pytest_args(test_ids)))

            running[_fork(body)] = (m, len(test_ids), started, started + budget)
        time.sleep(0.005)
        for pid, (m, n, started, deadline) in list(running.items()):
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == 0:
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    del running[pid]
                    finish(m, "timeout", n, started)
                continue
            del running[pid]
            ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            finish(m, "survived" if ok else "killed", n, started)
    return results


def _preload() -> None:
    """Import the heavy third-party modules once, so that each forked child starts warm."""
    import importlib.metadata

    names = ["pytest", "hypothesis", "hypothesis.strategies", "msgpack", "nacl.bindings", "nacl.signing"]
    names += ["nacl.public", "nacl.secret", "nacl.pwhash", "nacl.hash", "base58"]
    # pytest's plugins (textual-snapshot alone takes a quarter of a second to import)
    names += [ep.value.split(":")[0] for ep in importlib.metadata.entry_points(group="pytest11")]
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def summarize(results: Sequence[Result], modules: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for module in modules:
        rs = [r for r in results if r.module == module]
        killed = sum(r.status in ("killed", "timeout") for r in rs)
        survived = [r for r in rs if r.status in ("survived", "uncovered")]
        equivalent = sum(r.equivalent for r in survived)
        total = len(rs)
        rows.append(
            {
                "module": module,
                "mutants": total,
                "killed": killed,
                "survived": len(survived),
                "equivalent": equivalent,
                "score": round(100.0 * killed / total, 1) if total else 100.0,
                "score_excl_equivalent": round(100.0 * killed / (total - equivalent), 1)
                if total > equivalent
                else 100.0,
            }
        )
    return rows


def _table(rows: Sequence[dict[str, Any]]) -> str:
    head = f"{'module':<12}{'mutants':>8}{'killed':>8}{'survived':>9}{'equiv.':>8}{'score':>8}"
    head += f"{'excl. equiv.':>14}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['module']:<12}{r['mutants']:>8}{r['killed']:>8}{r['survived']:>9}{r['equivalent']:>8}"
            f"{r['score']:>7.1f}%{r['score_excl_equivalent']:>13.1f}%"
        )
    return "\n".join(lines)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--module", action="append", choices=None, help="target module in protocol/ (repeatable)")
    p.add_argument(
        "--tests", action="append", help=f"test paths (repeatable; default {' '.join(DEFAULT_TESTS)})"
    )
    p.add_argument("--sample", type=int, default=0, help="mutants per module, picked by --seed (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    p.add_argument("--timeout-factor", type=float, default=5.0, help="timeout: 10 s + this x the tests' time")
    p.add_argument(
        "--json", type=Path, default=ROOT / "build" / "mutation.json", help="where to write results"
    )
    p.add_argument("--equivalents", type=Path, default=EQUIVALENTS_DOC, help="doc naming equivalent mutants")
    p.add_argument(
        "--min-score", type=float, default=0.0, help="exit 1 if a module scores below (excl. equiv.)"
    )
    p.add_argument("--match", help="only the mutants whose key contains this text")
    p.add_argument(
        "--survivors-of", type=Path, metavar="JSON", help="only the mutants a previous report says survived"
    )
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--quiet", action="store_true", help="no line per mutant")
    return p.parse_args(argv)


def select(mutants: Sequence[Mutant], sample: int, seed: int, module: str) -> list[Mutant]:
    if sample <= 0 or sample >= len(mutants):
        return list(mutants)
    picked = random.Random(f"{seed}:{module}").sample(range(len(mutants)), sample)
    return [mutants[i] for i in sorted(picked)]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    modules = tuple(args.module or DEFAULT_MODULES)
    for m in modules:
        if not (ROOT / "protocol" / f"{m}.py").is_file():
            raise SystemExit(f"no module protocol/{m}.py")
    tests = tuple(args.tests or DEFAULT_TESTS)
    trees: dict[str, ast.Module] = {}
    chosen: list[Mutant] = []
    again: set[str] = set()
    if args.survivors_of:
        previous = json.loads(args.survivors_of.read_text())["mutants"]
        again = {m["key"] for m in previous if m["status"] in ("survived", "uncovered")}
    for m in modules:
        tree, found = find_mutants(m)
        trees[m] = tree
        if args.match:
            found = [mu for mu in found if args.match in mu.key]
        if args.survivors_of:
            found = [mu for mu in found if mu.key in again]
        chosen += select(found, args.sample, args.seed, m)
        if args.list:
            for mu in found:
                print(f"{mu.line:>5}  {mu.key}")
    if args.list:
        return 0
    _preload()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        cover = coverage_map(modules, tests, Path(tmp) / "cover.json")
    print(
        f"coverage: {len(cover['durations'])} tests in {time.monotonic() - t0:.1f} s; {len(chosen)} mutants"
    )
    doc = args.equivalents.read_text() if args.equivalents.is_file() else ""

    def progress(r: Result, done: int, total: int) -> None:
        if not args.quiet and r.status in ("survived", "uncovered"):
            print(f"[{done}/{total}] {r.status.upper()} line {r.line}: {r.key}", flush=True)
        elif not args.quiet and done % 50 == 0:
            print(f"[{done}/{total}] {time.monotonic() - t0:.0f} s", flush=True)

    results = run_mutants(trees, chosen, cover, args.jobs, args.timeout_factor, progress)
    for r in results:
        r.equivalent = r.status in ("survived", "uncovered") and f"`{r.key}`" in doc
    rows = summarize(results, modules)
    elapsed = time.monotonic() - t0
    print()
    print(_table(rows))
    survivors = sorted((r for r in results if r.status in ("survived", "uncovered")), key=lambda r: r.key)
    if survivors:
        print("\nsurvivors (E: listed as equivalent in docs/mutation.md):")
        for r in survivors:
            print(f"  {'E' if r.equivalent else ' '} {r.module}.py:{r.line} [{r.status}] `{r.key}`")
    print(f"\n{len(results)} mutants in {elapsed:.0f} s (seed {args.seed}, sample {args.sample or 'all'})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "seed": args.seed,
        "sample": args.sample,
        "modules": list(modules),
        "tests": list(tests),
        "seconds": round(elapsed, 1),
        "summary": rows,
        "mutants": [asdict(r) for r in sorted(results, key=lambda r: (r.module, r.line, r.key))],
    }
    args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"results: {args.json}")
    low = [r["module"] for r in rows if r["score_excl_equivalent"] < args.min_score]
    if low:
        print(f"below {args.min_score}%: {', '.join(low)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
