"""House rules of issue 14: no function over 60 lines and no module over 400 lines in src/sonotype."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import sonotype

PKG = Path(sonotype.__file__).resolve().parent  # the tree under test
MAX_FUNCTION = 60  # lines, ``def`` line to last line (decorators not counted)
MAX_MODULE = 400  # lines

# (module path relative to src/sonotype, function name) -> why it may stay long for now.
# Remove an entry when its function is split; the test fails while an entry is stale.
LONG_FUNCTIONS: dict = {}
# module path relative to src/sonotype -> why it may stay long for now
LONG_MODULES: dict = {}


def long_functions(source: str, limit: int = MAX_FUNCTION) -> list:
    """(name, lines) of every function or method in ``source`` (nested ones too) over ``limit`` lines."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > limit:
                out.append((node.name, n))
    return out


def modules():
    return sorted(PKG.rglob("*.py"))


def test_checker_counts_function_lines():
    body = "\n".join(f"    x{i} = {i}" for i in range(59))
    ok = f"def short():\n{body}\n"  # 60 lines
    assert long_functions(ok) == []
    long = textwrap.dedent("""
        class A:
            @staticmethod
            def method():
        """) + textwrap.indent(f"{body}\n    y = 1\n", "    ")  # 61 lines, inside a class
    assert long_functions(long) == [("method", 61)]


def test_no_function_over_60_lines():
    found = {}
    for path in modules():
        rel = path.relative_to(PKG).as_posix()
        for name, n in long_functions(path.read_text(encoding="utf-8")):
            found[rel, name] = n
    new = {k: n for k, n in found.items() if k not in LONG_FUNCTIONS}
    assert not new, f"functions over {MAX_FUNCTION} lines (split them into named steps): {new}"
    stale = sorted(set(LONG_FUNCTIONS) - set(found))
    assert not stale, f"no longer over {MAX_FUNCTION} lines, remove from LONG_FUNCTIONS: {stale}"


def test_no_module_over_400_lines():
    found = {}
    for path in modules():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_MODULE:
            found[path.relative_to(PKG).as_posix()] = n
    new = {k: n for k, n in found.items() if k not in LONG_MODULES}
    assert not new, f"modules over {MAX_MODULE} lines (split them by job): {new}"
    stale = sorted(set(LONG_MODULES) - set(found))
    assert not stale, f"no longer over {MAX_MODULE} lines, remove from LONG_MODULES: {stale}"
    assert len(modules()) > 50  # the walk found the package
